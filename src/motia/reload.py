"""`motia dev` / `motia run --watch`: run the app in a child process and restart it when a step file, a
helper module or `.env` changes. The child keeps the same ports and data directory; a child whose steps do not
load (a syntax error in a step) prints why and answers every request on the app's port with a 503 naming the
file and line (`serve_unavailable`) until the watcher restarts it after the next change."""

from __future__ import annotations

import html
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

IGNORED_DIRS = frozenset({".git", ".motia", ".venv", "venv", "__pycache__", "node_modules", ".nox", ".mypy_cache",
                          ".pytest_cache", ".ruff_cache", "dist", "build"})
WATCHED_NAMES = frozenset({".env", ".env.local"})
# Set in the child's environment: a start-up error is served as a 503 instead of ending the process.
CHILD_ENV = "MOTIA_WATCH_CHILD"


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
    return subprocess.Popen([sys.executable, "-m", "motia.cli", "run", *run_args], cwd=root,
                            env={**os.environ, CHILD_ENV: "1"})


def serve_unavailable(host: str, port: int, error: str) -> None:
    """In a watched child whose steps do not load: answer every request with 503 and the error (an HTML page
    for a browser, the JSON error envelope otherwise), until SIGTERM (the watcher's restart)."""
    import uvicorn

    from .errors import SERVICE_UNAVAILABLE, error_body

    message = f"The app cannot start: {error}\nFix it and save; motia dev restarts the app."
    envelope = error_body(SERVICE_UNAVAILABLE, message)
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>motia: the app cannot start</title>"
            f"</head><body><h1>The app cannot start</h1><pre>{html.escape(error)}</pre>"
            f"<p>Fix it and save: <code>motia dev</code> restarts the app.</p></body></html>").encode()

    async def unavailable(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        accept = dict(scope["headers"]).get(b"accept", b"")
        body, content_type = (page, b"text/html; charset=utf-8") if b"text/html" in accept else \
            (envelope, b"application/json")
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", content_type), (b"content-length", str(len(body)).encode()), (b"retry-after", b"1")]})
        await send({"type": "http.response.body", "body": body})

    print(f"motia: serving 503 on http://{host}:{port} until the steps load", file=sys.stderr, flush=True)
    uvicorn.run(unavailable, host=host, port=port, log_level="warning", lifespan="off", access_log=False)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(15)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
