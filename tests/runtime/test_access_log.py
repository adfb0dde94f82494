"""The access log: one line per request from a real `motia run --access-log` / `motia dev`, off by default in
`motia run`; client errors with their reason (details at DEBUG); no headers, bodies or credential query values."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import MotiaProcess, ReadProcess, eventually

pytestmark = pytest.mark.slow

STEPS = textwrap.dedent('''
    import msgspec

    from motia import ApiRequest, FlowContext, api


    class NewUser(msgspec.Struct):
        name: str
        age: int


    @api("POST", "/users", status=201)
    async def create_user(req: ApiRequest[NewUser], ctx: FlowContext) -> dict:
        return {"id": 1}


    @api("GET", "/users/:id")
    async def get_user(req: ApiRequest[None], ctx: FlowContext) -> dict:
        ctx.logger.info("user read")
        return {"id": req.path_params["id"]}


    @api("GET", "/closed", condition=lambda req, ctx: False)
    async def closed(req: ApiRequest[None], ctx: FlowContext) -> None: ...
''')

SECRETS = ("s3cret-token", "Bearer topsecret", "hunter2", "Ada Lovelace")
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "users_step.py").write_text(STEPS)
    return tmp_path


def requests(client: httpx.Client) -> None:
    assert client.get("/users/7", params={"token": "s3cret-token", "page": "2"},
                      headers={"authorization": "Bearer topsecret"}).status_code == 200
    assert client.get("/users/8", headers={"traceparent": TRACEPARENT}).status_code == 200
    assert client.post("/users", json={"name": "Ada Lovelace", "age": "hunter2"}).status_code == 400
    assert client.get("/nowhere").status_code == 404
    assert client.delete("/users/7").status_code == 405
    assert client.get("/closed").status_code == 422
    assert client.post("/users", content=b"x" * 2_000_000, headers={"content-type": "application/json"}).status_code \
        == 413


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_every_request_is_a_line_with_its_status_duration_and_trace_id(project):
    app = MotiaProcess(project, "--memory", "--stream-port", "0", "--access-log", "--log-format", "json",
                       "--log-level", "debug")
    requests(app.client)
    output = app.stop()
    lines = json_lines(output)
    access = [line for line in lines if line["logger"] == "motia.access" and line["level"] == "info"]
    assert [(a["fields"]["method"], a["fields"]["path"], a["fields"]["status"]) for a in access] == [
        ("GET", "/users/7?token=***&page=2", 200),
        ("GET", "/users/8", 200),
        ("POST", "/users", 400),
        ("GET", "/nowhere", 404),
        ("DELETE", "/users/7", 405),
        ("GET", "/closed", 422),
        ("POST", "/users", 413),
    ]
    assert all(isinstance(a["fields"]["duration_ms"], float) and len(a["trace_id"]) == 32 for a in access)
    # A request's own traceparent is its trace id; one without gets a new id, which its handler logs under too.
    assert access[1]["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    handler_lines = [line for line in lines if line.get("step") == "get_user"]
    assert [line["trace_id"] for line in handler_lines] == [access[0]["trace_id"], access[1]["trace_id"]]
    # Client errors say why, in one line at INFO; the validation details follow at DEBUG.
    assert access[2]["message"].endswith("VALIDATION_ERROR: $.age: Expected int, got str")
    assert access[3]["message"].endswith("NOT_FOUND: Not Found")
    assert access[4]["message"].endswith("METHOD_NOT_ALLOWED: Method DELETE not allowed on /users/7")
    assert access[5]["message"].endswith("CONDITION_NOT_MET: Request condition not met")
    assert "PAYLOAD_TOO_LARGE: Request body exceeds the limit" in access[6]["message"]
    details = [line for line in lines if line["logger"] == "motia.access" and line["level"] == "debug"]
    assert [d["fields"]["details"] for d in details] == [[{"message": "Expected int, got str", "path": "$.age"}]]
    for secret in SECRETS:
        assert secret not in output


def test_the_human_line_reads_method_path_status_and_duration(project):
    app = MotiaProcess(project, "--memory", "--stream-port", "0", "--access-log")
    app.client.get("/users/8", headers={"traceparent": TRACEPARENT})
    app.client.post("/users", json={"name": "Ada Lovelace", "age": "hunter2"})
    output = app.stop()
    lines = [line for line in output.splitlines() if "[http " in line]
    assert len(lines) == 2, output
    assert " INFO  [http 0af76519] GET /users/8 200 " in lines[0] and lines[0].endswith("ms")
    assert "] POST /users 400 " in lines[1]
    assert lines[1].endswith("ms VALIDATION_ERROR: $.age: Expected int, got str")
    assert "hunter2" not in output and "Ada Lovelace" not in output


def test_motia_run_writes_no_access_log_unless_asked(project):
    app = MotiaProcess(project, "--memory", "--stream-port", "0")
    assert app.client.get("/users/1").status_code == 200
    assert app.client.get("/nowhere").status_code == 404
    output = app.stop()
    assert "[http " not in output and "/nowhere" not in output


def test_motia_dev_writes_the_access_log_by_default(project):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with serving(project, "dev", "--port", str(port), "--stream-port", "0", "--memory") as dev:
        assert httpx.get(f"http://127.0.0.1:{port}/users/3", timeout=5).status_code == 200
        eventually(lambda: any("] GET /users/3 200 " in line for line in dev.lines), timeout=10)


@contextlib.contextmanager
def serving(cwd: Path, *args: str) -> Iterator[ReadProcess]:
    """`motia ARGS` serving HTTP (its output read as it comes), stopped with SIGTERM on the way out."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = ReadProcess([sys.executable, "-m", "motia.cli", *args], cwd=cwd, env=env, start_new_session=True)
    try:
        eventually(lambda: any("serving HTTP on" in line for line in server.lines), timeout=30)
        yield server
    finally:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            raise


def test_access_log_for_a_worker_of_another_engine_is_refused(project):
    result = subprocess.run([sys.executable, "-m", "motia.cli", "run", "--engine", "ws://127.0.0.1:1", "--access-log"],
                            cwd=project, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "error: --access-log logs the HTTP requests this process serves; a worker of another engine (--engine) " \
           "serves none (the engine does)" in result.stderr


def test_motia_engine_writes_the_access_log_when_asked(tmp_path):
    """`motia engine` takes the options `motia run` shares with it, `--access-log` among them."""
    with serving(tmp_path, "engine", "--port", "0", "--stream-port", "0", "--engine-port", "0", "--memory",
                 "--access-log") as engine:
        url = next(re.search(r"serving HTTP on (http://\S+)", line).group(1)  # type: ignore[union-attr]
                   for line in engine.lines if "serving HTTP on" in line)
        assert httpx.get(f"{url}/__motia/health", timeout=5).status_code == 200
        assert httpx.get(f"{url}/nowhere", timeout=5).status_code == 404
        eventually(lambda: any("] GET /__motia/health 200 " in line for line in engine.lines), timeout=10)
        eventually(lambda: any("] GET /nowhere 404 " in line for line in engine.lines), timeout=10)
