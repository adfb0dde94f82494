"""examples/engine-config: `motia engine --config` on an iii config.yaml shaped like iii's own test configuration
(a plain and an RBAC worker port with a session middleware, HTTP on its own port, file-based kv adapters)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import ROOT
from tests.protocol.conftest import CallFailed, RawWorker
from tests.protocol.test_processes import Process

CONFIG = ROOT / "examples" / "engine-config" / "config.yaml"
pytestmark = pytest.mark.slow


class Engine:
    def __init__(self, process: Process) -> None:
        self.process = process
        ports = [process.wait_for(r"worker port on (ws://\S+)(.*)", after=0)]
        ports.append(process.wait_for(r"worker port on (ws://\S+) \((.*)\)", after=0))
        self.plain, self.rbac = ports[0].group(1), ports[1].group(1)
        self.guards = ports[1].group(2)
        self.http = httpx.Client(base_url=process.wait_for(r"serving HTTP on (http://\S+)").group(1), timeout=10)

    @property
    def output(self) -> str:
        return "".join(self.process.lines)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    for variable in ("III_WORKER_PORT", "III_RBAC_WORKER_PORT", "III_HTTP_PORT", "III_STREAM_PORT"):
        monkeypatch.setenv(variable, "0")
    monkeypatch.delenv("MOTIA_WORKER_TOKEN", raising=False)
    monkeypatch.delenv("III_DATA_DIR", raising=False)  # the default, ./data, in the engine's directory
    process = Process(tmp_path, "engine", "--config", str(CONFIG))
    try:
        yield Engine(process)
    finally:
        assert process.stop() == 0


def _session(frame: dict[str, Any]) -> Any:
    """The functions of the trusted worker the RBAC port relies on, and one public function."""
    data = frame.get("data") or {}
    if frame["function_id"] == "session::authenticate":
        if data["headers"].get("x-api-key") != "key-1":
            raise CallFailed("UNAUTHORIZED", "bad api key")
        return {"context": {"user": "ada"}}
    if frame["function_id"] == "session::middleware":
        return {"middleware_saw": data["function_id"], "user": data["context"]["user"]}
    if frame["function_id"] == "session::on_function_registration":
        return {}
    return {"status_code": 200, "body": {"hello": "from public::hello"}}


def test_the_sample_config_serves_http_on_its_port_and_both_worker_ports(engine, tmp_path):
    trusted = RawWorker(engine.plain)
    for function_id in ("session::authenticate", "session::middleware", "session::on_function_registration",
                        "public::hello"):
        trusted.register(function_id)
    trusted.bind("http", "public::hello", {"api_path": "hello", "http_method": "GET"})
    trusted.sync()
    trusted.serve(_session)
    assert engine.http.get("/hello").json() == {"hello": "from public::hello"}
    assert engine.guards == "rbac, middleware"

    with connect(engine.rbac, open_timeout=5, additional_headers={"x-api-key": "wrong"}) as ws:
        refused = json.loads(ws.recv(5))
        with pytest.raises(ConnectionClosed):
            ws.recv(5)
    assert refused["error"] == {"code": "AUTH_ERROR", "message": "bad api key"}

    session = RawWorker(engine.rbac, additional_headers={"x-api-key": "key-1"})
    assert session.call("public::hello")["result"] == {"middleware_saw": "public::hello", "user": "ada"}
    assert session.call("session::authenticate")["error"]["code"] == "FORBIDDEN"
    session.close()

    trusted.close()

    # iii-http-functions.security: only https URLs of api.example.com may be called.
    hooks = RawWorker(engine.plain)
    hooks.register("outside::hook", invocation={"url": "https://127.0.0.1:9/hook", "method": "POST"})
    hooks.sync()
    refused_call = hooks.call("outside::hook", {})["error"]
    assert refused_call["code"] == "url_not_allowed"
    assert "url_allowlist" in refused_call["message"]
    hooks.close()

    assert (tmp_path / "data" / "motia.db").is_file()  # file_based kv adapters: the SQLite store
    assert "worker iii-observability is accepted and ignored" in engine.output


def test_flags_given_on_the_command_line_override_the_file(tmp_path, monkeypatch):
    for variable in ("III_WORKER_PORT", "III_RBAC_WORKER_PORT", "III_STREAM_PORT"):
        monkeypatch.setenv(variable, "0")
    monkeypatch.setenv("III_HTTP_PORT", "1")  # a port nobody may bind: the flag must win
    process = Process(tmp_path, "engine", "--config", str(CONFIG), "--port", "0", "--memory", "--worker-token", "t",
                      "--worker-origin", "https://console.example")
    try:
        http_url = process.wait_for(r"serving HTTP on (http://\S+)").group(1)
        assert httpx.get(http_url + "/__motia/health", timeout=10).json()["status"] == "ok"
        assert not (tmp_path / "data").exists()  # --memory over the file-based adapters
        ws_url = process.wait_for(r"worker port on (ws://\S+) \(token\)").group(1)
        with connect(ws_url, open_timeout=5) as ws:
            assert json.loads(ws.recv(5))["error"]["code"] == "AUTH_ERROR"
        with connect(ws_url, open_timeout=5, origin="https://console.example",  # type: ignore[arg-type]
                     additional_headers={"Authorization": "Bearer t"}) as ws:
            assert json.loads(ws.recv(5))["type"] == "workerregistered"
    finally:
        assert process.stop() == 0


def test_a_wrong_config_file_stops_with_a_clear_error(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("workers:\n  - name: iii-http\n    config:\n      prot: 3111\n", encoding="utf-8")
    process = Process(tmp_path, "engine", "--config", str(config))
    assert process.proc.wait(30) == 1
    process._reader.join(5)
    output = "".join(process.lines)
    assert "workers[0] (iii-http): Object contains unknown field `prot` - at `config`" in output


def test_motia_run_serves_its_steps_with_the_config_and_opens_its_worker_ports(tmp_path, monkeypatch):
    for variable in ("III_WORKER_PORT", "III_RBAC_WORKER_PORT", "III_HTTP_PORT", "III_STREAM_PORT"):
        monkeypatch.setenv(variable, "0")
    monkeypatch.setenv("III_DATA_DIR", str(tmp_path / "store"))
    process = Process(ROOT / "examples" / "hello", "run", "--config", str(CONFIG))
    try:
        http_url = process.wait_for(r"serving HTTP on (http://\S+)").group(1)
        assert httpx.get(http_url + "/hello/world", timeout=10).json() == {"message": "Hello, world."}
        worker = RawWorker(process.wait_for(r"worker port on (ws://\S+)").group(1))
        assert worker.hello["type"] == "workerregistered"
        worker.close()
        assert (tmp_path / "store" / "motia.db").is_file()
    finally:
        assert process.stop() == 0
