"""Fixtures for the generators: a fixture app with every schema form, and step discovery that leaves no trace.

Discovery imports step files as `steps.<name>` modules; several projects discovered in one process must not
see each other's modules, so each load restores `sys.modules` and `sys.path` afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from motia.discovery import discover
from motia.registry import Registry
from tests.conftest import ROOT

APP = Path(__file__).resolve().parent / "app"
EXAMPLES = ["hello", "seed", "orders", "todo"]


@pytest.fixture
def isolated_imports() -> Iterator[None]:
    """Snapshot `sys.modules` and `sys.path`, restore them after the test."""
    modules = dict(sys.modules)
    path = list(sys.path)
    try:
        yield
    finally:
        for name in [name for name in sys.modules if name not in modules]:
            del sys.modules[name]
        sys.modules.update(modules)
        sys.path[:] = path


@pytest.fixture
def load(isolated_imports: None) -> Iterator[Callable[[Path], Registry]]:
    """`load(project_dir)` -> the project's Registry, discovered the way `motia run` does."""

    def load_project(project: Path) -> Registry:
        return discover(project)

    yield load_project


def codegen(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`motia codegen ...` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "motia.cli", "codegen", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def app_copy(tmp_path: Path) -> Path:
    """A copy of the fixture app, to generate into."""
    target = tmp_path / "app"
    shutil.copytree(APP, target, ignore=shutil.ignore_patterns("__pycache__", ".mypy_cache"))
    return target


def example(name: str) -> Path:
    return ROOT / "examples" / name
