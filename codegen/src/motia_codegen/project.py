"""Loading a project's steps for the generators (the same discovery `motia run` does)."""

from __future__ import annotations

from pathlib import Path

from motia.discovery import discover, step_dirs
from motia.registry import Registry


def load(root: Path, steps_dir: Path | None = None) -> Registry:
    """Discover the project at `root` (raises motia.StepError, with file and line, for a broken step)."""
    return discover(root, steps_dir)


def import_root(root: Path, steps_dir: Path | None = None) -> Path:
    """The directory step modules are imported from (`steps/x_step.py` is `steps.x_step` from here): where the
    client module goes by default, so that steps can import it."""
    primary = step_dirs(root.resolve(), steps_dir)[0]
    return primary.parent


def source_label(root: Path, steps_dir: Path | None = None) -> str:
    """The steps directory relative to the project root, for generated docstrings (no absolute paths)."""
    primary = step_dirs(root.resolve(), steps_dir)[0]
    try:
        return primary.relative_to(root.resolve()).as_posix()
    except ValueError:
        return primary.name
