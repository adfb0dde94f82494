"""`.env` and `.env.local` from the project root: loaded before the steps, never overriding the real
environment (`.env.local` wins over `.env`). Values are never logged."""

from __future__ import annotations

import os
from pathlib import Path


def load_env_files(root: Path) -> list[str]:
    """Set the variables the files define and the environment lacks; returns the names set."""
    from dotenv import dotenv_values

    merged: dict[str, str] = {}
    for name in (".env", ".env.local"):
        path = root / name
        if path.is_file():
            merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    applied = []
    for key, value in merged.items():
        if key not in os.environ:
            os.environ[key] = value
            applied.append(key)
    return applied
