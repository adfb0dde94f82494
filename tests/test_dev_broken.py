"""`motia dev` while a step file is broken: the app's port answers 503 naming the file and line, and serves the
app again once the file is fixed."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ReadProcess
from tests.test_dev import free_port

pytestmark = pytest.mark.slow

BROKEN = 'from motia import get\n\n\n@get("/ping")\nasync def ping(:\n    return {"pong": True}\n'
FIXED = 'from motia import get\n\n\n@get("/ping")\nasync def ping():\n    return {"pong": True}\n'


def answer(url: str, *, status: int, timeout: float = 30.0, **headers: str) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, headers=headers, timeout=2)
            if response.status_code == status:
                return response
            last = response
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"no {status} from {url} in {timeout}s; last: {last}")


def test_a_broken_step_is_a_503_naming_it_until_it_is_fixed(tmp_path: Path):
    steps = tmp_path / "steps"
    steps.mkdir()
    (steps / "ping_step.py").write_text(BROKEN)
    port = free_port()
    process = ReadProcess(
        [sys.executable, "-m", "motia.cli", "dev", "--port", str(port), "--stream-port", "0", "--memory"],
        cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/ping"
    try:
        unavailable = answer(url, status=503)
        error = unavailable.json()["error"]
        assert error["code"] == "SERVICE_UNAVAILABLE"
        assert "ping_step.py:5" in error["message"] and "motia dev restarts the app" in error["message"]
        page = answer(url, status=503, accept="text/html")
        assert page.headers["content-type"].startswith("text/html")
        assert "<h1>The app cannot start</h1>" in page.text and "ping_step.py:5" in page.text
        (steps / "ping_step.py").write_text(FIXED)
        assert answer(url, status=200).json() == {"pong": True}
    finally:
        os.killpg(process.proc.pid, signal.SIGTERM)
        process.proc.wait(30)
