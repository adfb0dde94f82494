"""Writing generated files, or (`--check`) comparing them with what is on disk and showing the difference."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any


def render_document(document: dict[str, Any], path: Path) -> str:
    """JSON (2-space indent) or, for `.yaml`/`.yml`, YAML; keys stay in the generator's (sorted) order."""
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        class Dumper(yaml.SafeDumper):
            def ignore_aliases(self, data: Any) -> bool:
                return True  # a schema used twice is written twice, not as an `&id001` anchor

        return str(yaml.dump(document, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=120))
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def stale_diff(path: Path, content: str) -> str | None:
    """None when `path` holds exactly `content`; otherwise a unified diff from the file to `content`."""
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if current == content:
        return None
    before = (current or "").splitlines(keepends=True)
    after = content.splitlines(keepends=True)
    label = str(path)
    diff = "".join(difflib.unified_diff(before, after, f"{label} (on disk)" if current is not None else "/dev/null",
                                        f"{label} (generated)"))
    return diff or f"{label}: differs only in line endings\n"


def write(path: Path, content: str) -> bool:
    """Write `content` unless the file already holds it; True when the file changed."""
    if path.exists() and path.read_text(encoding="utf-8") == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return True
