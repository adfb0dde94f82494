"""`motia dev` / `motia run --watch`: run the app in a child process and restart it when a step file, a
helper module or `.env` changes. The child keeps the same ports and data directory; a child that fails
to start (a syntax error in a step) prints why, and the watcher waits for the next change."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

IGNORED_DIRS = frozenset({".git", ".motia", ".venv", "venv", "__pycache__", "node_modules", ".nox", ".mypy_cache",
                          ".pytest_cache", ".ruff_cache", "dist", "build"})
WATCHED_NAMES = frozenset({".env", ".env.local"})


def should_watch(path: str) -> bool:
    file = Path(path)
    if any(part in IGNORED_DIRS for part in file.parts):
        return False
    return file.suffix == ".py" or file.name in WATCHED_NAMES


def watching(root: Path) -> str:
    """What the watcher says when it starts: the directory, the files it reacts to and those it skips."""
    where = "." if root.resolve() == Path.cwd().resolve() else str(root)
    return (f"motia: watching {where} for changes to *.py, {' and '.join(sorted(WATCHED_NAMES))} "
            f"(skipping {', '.join(sorted(IGNORED_DIRS))}); the app restarts on each change")


def run_with_reload(root: Path, run_args: list[str]) -> int:
    from watchfiles import watch

    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(watching(root), file=sys.stderr, flush=True)
    child = _start(root, run_args)
    try:
        for changes in watch(root, watch_filter=lambda _change, path: should_watch(path), stop_event=stop,
                             debounce=300, rust_timeout=500, yield_on_timeout=False):
            names = sorted({str(Path(path).relative_to(root)) for _, path in changes if path.startswith(str(root))})
            print(f"motia: {', '.join(names) or 'files'} changed; restarting", file=sys.stderr, flush=True)
            _stop(child)
            child = _start(root, run_args)
    finally:
        _stop(child)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _start(root: Path, run_args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "motia.cli", "run", *run_args], cwd=root)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(15)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
