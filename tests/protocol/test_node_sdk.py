"""The Node `iii-sdk` from npm (pinned in tests/protocol/node/package-lock.json, installed by `nox -s tests`) as a
second, independent client: registration, invocation both ways, an HTTP route guarded by engine-side middleware,
an HTTP-invoked function and the enqueue action, against the embedded engine's worker port.

npm's newest iii-sdk is 0.22.1 (the Python client is 0.25.0); the frames these features use are the same."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from motia.engine.options import EngineOptions

from .conftest import Engine, serve_engine
from .test_http_functions import LOOPBACK_ALLOWED, Endpoint

NODE_DIR = Path(__file__).parent / "node"
NODE = shutil.which("node")

if NODE is None:
    pytest.skip("node is not installed: the Node iii-sdk client tests need it", allow_module_level=True)
if not (NODE_DIR / "node_modules" / "iii-sdk").is_dir():
    pytest.skip("tests/protocol/node/node_modules is missing: `npm ci` there (nox -s tests does it)",
                allow_module_level=True)


class NodeClient:
    """`node client.mjs`: waits for its READY line; `trigger(request)` sends one request and reads its answer."""

    def __init__(self, ws_url: str, endpoint_url: str) -> None:
        env = {**os.environ, "III_URL": ws_url, "ENDPOINT_URL": endpoint_url, "OTEL_ENABLED": "false"}
        assert NODE is not None
        self.proc = subprocess.Popen([NODE, "client.mjs"], cwd=NODE_DIR, env=env, text=True, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        while self._line(30) != '"READY"':
            continue

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line.strip())

    def _line(self, timeout: float) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no answer from the Node client; its output:\n" + "".join(self.output)) from None

    def trigger(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        while not (line := self._line(15)).startswith("{"):
            continue  # the SDK's own log lines
        return json.loads(line)  # type: ignore[no-any-return]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Setup:
    def __init__(self, engine: Engine, endpoint: Endpoint, node: NodeClient) -> None:
        self.engine, self.endpoint, self.node = engine, endpoint, node


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    """One engine (allowed to call 127.0.0.1), one local HTTP endpoint and one Node worker for the module."""
    previous = os.environ.get("NODE_TEST_API_KEY")
    os.environ["NODE_TEST_API_KEY"] = "node-key"  # read by the engine when it calls node::remote
    endpoint = Endpoint()
    try:
        with serve_engine(engine_options=EngineOptions(http_functions=LOOPBACK_ALLOWED)) as engine:
            node = NodeClient(engine.ws_url, endpoint.url + "/remote")
            try:
                yield Setup(engine, endpoint, node)
            finally:
                node.close()
    finally:
        endpoint.close()
        if previous is None:
            os.environ.pop("NODE_TEST_API_KEY", None)
        else:
            os.environ["NODE_TEST_API_KEY"] = previous


def test_the_node_workers_registrations_are_listed(setup):
    observer = setup.engine.worker()
    functions = observer.call("engine::functions::list", {"prefix": "node::"})["result"]["functions"]
    by_id = {f["function_id"]: f for f in functions}
    assert set(by_id) == {"node::echo", "node::guard", "node::items", "node::remote"}
    assert by_id["node::echo"]["description"] == "echoes its input and metadata"
    assert {f["worker_name"] for f in functions} == {"node-client"}
    workers = observer.call("engine::workers::list", {"search": "node-client"})["result"]["workers"]
    assert workers[0]["runtime"] == "node"


def test_a_python_worker_invokes_the_node_function_with_metadata(setup):
    caller = setup.engine.worker()
    result = caller.call("node::echo", {"n": 1}, metadata={"tenant": "acme"})["result"]
    assert result == {"echo": {"n": 1, "_caller_worker_id": caller.worker_id}, "metadata": {"tenant": "acme"}}


def test_the_node_route_is_served_behind_its_node_middleware(setup):
    response = setup.engine.http.post("/node/items/7", json={"name": "Ada"})
    assert response.status_code == 201
    assert response.headers["x-served-by"] == "node"
    assert response.json() == {"id": "7", "name": "Ada"}
    denied = setup.engine.http.post("/node/items/7", json={"name": "Ada"}, headers={"x-deny": "1"})
    assert (denied.status_code, denied.json()) == (403, {"denied": "POST"})


def test_the_node_client_invokes_a_python_workers_function_and_gets_errors(setup):
    worker = setup.engine.worker()
    worker.register("py::double")
    worker.sync()
    worker.serve(lambda frame: {"double": frame["data"]["n"] * 2})
    assert setup.node.trigger({"function_id": "py::double", "payload": {"n": 21}}) == {"result": {"double": 42}}
    missing = setup.node.trigger({"function_id": "py::nope", "payload": {}})
    assert missing["error"]["code"] == "function_not_found"


def test_the_node_client_registers_an_http_invoked_function(setup):
    before = len(setup.endpoint.requests)
    assert setup.engine.worker().call("node::remote", {"from": "python"})["result"] == {"ok": True}
    assert setup.node.trigger({"function_id": "node::remote", "payload": {"from": "node"}}) == {"result": {"ok": True}}
    requests = setup.endpoint.requests[before:]
    assert [json.loads(r["body"])["from"] for r in requests] == ["python", "node"]
    assert all(r["path"] == "/remote" and r["headers"]["x-api-key"] == "node-key" for r in requests)
    assert all(r["headers"]["x-iii-function-path"] == "node::remote" for r in requests)


def test_the_node_client_enqueues_and_gets_a_receipt(setup):
    answer = setup.node.trigger({"function_id": "node::echo", "payload": {"job": 1},
                                 "action": {"type": "enqueue", "queue": "default"}})
    assert set(answer["result"]) == {"messageReceiptId"}
