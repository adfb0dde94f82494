"""`motia dev`: a real file change in a subprocess restarts the app on the same port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import eventually

pytestmark = pytest.mark.slow

STEP = textwrap.dedent('''
    import os

    from motia import get

    from .helpers import VERSION


    @get("/version")
    async def version():
        return {{"version": VERSION, "step": {step}, "greeting": os.environ.get("GREETING")}}
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Output:
    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in iter(stream.readline, ""):
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)


def poll(url: str, check, timeout: float = 20.0):
    """The app's JSON answer at `url` once `check(answer)` holds (the app restarts in between: errors retry)."""
    def answer():
        try:
            response = httpx.get(url, timeout=2)
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        # 503 while a step is broken (tests/test_dev_broken.py)
        return body if response.status_code == 200 and check(body) else None

    return eventually(answer, timeout, interval=0.1)


def test_dev_restarts_on_step_helper_and_env_changes_and_survives_a_syntax_error(tmp_path: Path):
    steps = tmp_path / "steps"
    steps.mkdir()
    (steps / "helpers.py").write_text("VERSION = 1\n")
    (steps / "version_step.py").write_text(STEP.format(step=1))
    (tmp_path / ".env").write_text("GREETING=hello\n")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "GREETING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "motia.cli", "dev", "--port", str(port), "--stream-port", "0", "--memory"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    output = Output(process.stdout)
    url = f"http://127.0.0.1:{port}/version"
    try:
        assert poll(url, lambda r: r["step"] == 1) == {"version": 1, "step": 1, "greeting": "hello"}
        (steps / "version_step.py").write_text(STEP.format(step=2))
        poll(url, lambda r: r["step"] == 2)
        (steps / "helpers.py").write_text("VERSION = 2\n")
        poll(url, lambda r: r["version"] == 2)
        (tmp_path / ".env").write_text("GREETING=bonjour\n")
        poll(url, lambda r: r["greeting"] == "bonjour")
        (steps / "version_step.py").write_text("def broken(:\n")
        eventually(lambda: "syntax error" in output.text, timeout=20, interval=0.1)
        assert "steps/version_step.py:1: syntax error" in output.text
        assert process.poll() is None, "the watcher keeps running after a broken step"
        (steps / "version_step.py").write_text(STEP.format(step=3))
        poll(url, lambda r: r["step"] == 3)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(30) == 0
        finally:
            process.kill()
    assert "changed; restarting" in output.text
