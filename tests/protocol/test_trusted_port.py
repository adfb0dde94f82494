"""A trusted worker port (issue 13 item 8): browser pages cannot open it, and with a worker token only workers
that send it (as iii SDKs send `III_TOKEN`) can connect, so a foreign process cannot take over a route."""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from motia import ApiRequest, Registry, api
from motia.assembly import ServedApp
from motia.engine.rbac import WorkerPortConfig
from motia.runtime.app import RemoteApp
from tests.conftest import registry_of
from tests.protocol.conftest import RawWorker

TOKEN = "s3cret-worker-token"


@pytest.fixture
def guarded() -> Iterator[ServedApp]:
    """The engine with one worker port that needs TOKEN and lets pages of https://console.example in."""
    port = WorkerPortConfig(port=0, auth_token=TOKEN, allowed_origins=["https://console.example"])
    with ServedApp(Registry(), worker_ports=[port]) as served:
        yield served


def _url(served: ServedApp) -> str:
    assert served.app.worker_server is not None
    return served.app.worker_server.url


def _refusal(url: str, **options: object) -> dict:
    """The one frame a refused handshake gets before the engine closes the socket."""
    with connect(url, open_timeout=5, **options) as ws:  # type: ignore[arg-type]
        frame = json.loads(ws.recv(5))
        with pytest.raises(ConnectionClosed):
            ws.recv(5)
    return frame  # type: ignore[no-any-return]


def test_a_handshake_from_a_browser_page_is_refused(engine):
    with pytest.raises(InvalidStatus) as refused:
        connect(engine.ws_url, origin="https://evil.example", open_timeout=5)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403


def test_a_configured_browser_origin_may_connect(guarded):
    worker = RawWorker(_url(guarded), origin="https://console.example",
                       additional_headers={"Authorization": f"Bearer {TOKEN}"})
    assert worker.hello["type"] == "workerregistered"
    worker.close()
    with pytest.raises(InvalidStatus):
        connect(_url(guarded), origin="https://other.example", open_timeout=5,  # type: ignore[arg-type]
                additional_headers={"Authorization": f"Bearer {TOKEN}"})


def test_a_worker_without_the_token_is_refused_with_auth_error(guarded):
    frame = _refusal(_url(guarded))
    assert frame["type"] == "error"
    assert frame["error"]["code"] == "AUTH_ERROR"
    assert "worker token" in frame["error"]["message"]


def test_a_worker_with_a_wrong_token_is_refused(guarded):
    frame = _refusal(_url(guarded), additional_headers={"Authorization": "Bearer guess"})
    assert frame["error"]["code"] == "AUTH_ERROR"


def test_a_foreign_worker_cannot_take_over_a_route(guarded):
    http = httpx.Client(base_url=guarded.url, timeout=10)
    owner = RawWorker(_url(guarded), additional_headers={"Authorization": f"Bearer {TOKEN}"})
    owner.register("hello")
    owner.bind("http", "hello", {"api_path": "hello/:name", "http_method": "GET"})
    owner.sync()
    owner.serve(lambda frame: {"status_code": 200, "body": {"from": "owner"}})
    # The foreign process knows the protocol but not the token: it never gets a connection to register on.
    frame = _refusal(_url(guarded))
    assert frame["error"]["code"] == "AUTH_ERROR"
    assert http.get("/hello/ada").json() == {"from": "owner"}
    owner.close()
    http.close()


def test_the_official_sdk_sends_iii_token_and_is_let_in(guarded, monkeypatch):
    iii = pytest.importorskip("iii")
    monkeypatch.setenv("III_TOKEN", TOKEN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        worker = iii.register_worker(_url(guarded), iii.InitOptions(worker_name=f"sdk-{uuid.uuid4().hex[:8]}",
                                                                    otel={"enabled": False}))
        try:
            worker.register_function("sdk::echo", lambda data: {"echo": data["x"]})
            deadline = time.monotonic() + 10
            result = None
            while result is None and time.monotonic() < deadline:
                try:
                    result = worker.trigger({"function_id": "sdk::echo", "payload": {"x": 1}})
                except Exception:  # registered asynchronously: not found for a moment
                    time.sleep(0.05)
            assert result == {"echo": 1}
        finally:
            worker.shutdown()


def test_motia_run_engine_sends_the_token(guarded, loop_thread):
    @api("GET", "/ping")
    async def ping(req: ApiRequest[None]) -> dict:
        return {"pong": True}

    remote = RemoteApp(registry_of(ping), _url(guarded), token=TOKEN)
    loop_thread.run(remote.start(timeout=10))
    try:
        assert httpx.get(guarded.url + "/ping", timeout=10).json() == {"pong": True}
    finally:
        loop_thread.run(remote.stop())


def test_motia_run_engine_without_the_token_does_not_get_in(guarded, loop_thread, monkeypatch):
    monkeypatch.delenv("III_TOKEN", raising=False)

    @api("GET", "/ping")
    async def ping(req: ApiRequest[None]) -> dict:
        return {"pong": True}

    remote = RemoteApp(registry_of(ping), _url(guarded))
    with pytest.raises(TimeoutError):
        loop_thread.run(remote.start(timeout=1.5))
    loop_thread.run(remote.stop())
    assert httpx.get(guarded.url + "/ping", timeout=10).status_code == 404
