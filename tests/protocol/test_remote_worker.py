"""Our runtime as a worker of an engine over WebSocket: the same Worker as in-process, another transport."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.asyncio.server import ServerConnection, serve

from motia import ApiRequest, ApiResponse, FlowContext, Registry, api, cron, on
from motia.assembly import ServedApp
from motia.discovery import discover
from motia.protocol import InvokeFunction, RegisterFunction, new_id
from motia.runtime.app import RemoteApp
from motia.runtime.remote import ReconnectPolicy, WebSocketTransport, for_external_engine
from motia.runtime.worker import Worker
from tests.conftest import ROOT, eventually, eventually_async, registry_of

FAST = ReconnectPolicy(initial_delay=0.05, max_delay=0.2)


@pytest.fixture
def remote(loop_thread):
    """`remote(registry, engine_url)` -> a started RemoteApp whose loop runs in a thread."""
    started: list[RemoteApp] = []

    def start(registry: Registry, url: str, **options) -> RemoteApp:
        options.setdefault("reconnect", FAST)
        options.setdefault("name", f"test-worker-{len(started)}")  # one process, so not hostname:pid
        app = RemoteApp(registry, url, **options)
        loop_thread.run(app.start(timeout=10))
        started.append(app)
        return app

    yield start
    for app in started:
        loop_thread.run(app.stop())


def test_examples_hello_is_served_through_a_remote_worker(engine, remote):
    remote(discover(ROOT / "examples" / "hello", None), engine.ws_url)
    http = engine.http
    assert http.get("/hello/ada", params={"excited": "true", "times": 2}).json() == {
        "message": "Hello, ada! Hello, ada!"
    }
    assert "routes" in http.get("/greetings/summary").json()
    created = http.post("/users", json={"name": "Ada", "email": "ada@example.com", "age": 36})
    assert created.status_code == 201
    assert http.get(f"/users/{created.json()['id']}").json() == created.json()
    invalid = http.post("/users", json={"name": "Ada", "email": "x", "age": "old"})
    assert invalid.status_code == 400
    assert invalid.json()["error"]["message"] == "$.age: Expected int, got str"
    documents = [http.get("/openapi.json").json() for _ in range(3)]  # the worker's, every time
    assert all("/users" in d["paths"] for d in documents)


def test_bodies_that_are_not_json_travel_between_engine_and_remote_step_as_in_process(engine, remote):
    @api("POST", "/raw")
    async def raw(req: ApiRequest[None]) -> dict:
        return {"size": len(req.raw_body), "head": req.raw_body[:4].hex()}

    @api("POST", "/typed")
    async def typed(req: ApiRequest[dict]) -> dict:
        return req.body

    @api("GET", "/image")
    async def image() -> ApiResponse:
        return ApiResponse(200, b"\x89PNG\r\n" + bytes(range(256)) * 1000, {"content-type": "image/png"})

    remote(registry_of(raw, typed, image), engine.ws_url)
    served = engine.http.get("/image")
    assert served.headers["content-type"] == "image/png"
    assert served.content == b"\x89PNG\r\n" + bytes(range(256)) * 1000  # binary: through the response channel
    blob = b"\x89PNG" + bytes(100_000)
    assert engine.http.post("/raw", content=blob, headers={"content-type": "image/png"}).json() == {
        "size": len(blob), "head": "89504e47",
    }
    broken = engine.http.post("/typed", content=b'{"a": ', headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "INVALID_JSON"
    form = engine.http.post("/typed", content=b'{"a": 1}', headers={"content-type": "text/plain"})
    assert form.json() == {"a": 1}  # a typed body is JSON whatever the content type says


def test_a_remote_workers_functions_can_be_invoked_by_other_workers(engine, remote):
    @api("POST", "/double")
    async def double(req: ApiRequest[dict]) -> dict:
        return {"doubled": req.body["x"] * 2}

    remote(registry_of(double), engine.ws_url)
    caller = engine.worker()
    listed = caller.call("engine::functions::list", {"prefix": "steps::"})["result"]["functions"]
    function_id = listed[0]["function_id"]
    assert function_id == "steps::double::trigger::http(POST /double)"
    assert listed[0]["metadata"]["stepName"] == "double"
    request = {"method": "POST", "path": "/double", "body": {"x": 4}, "headers": {}}
    result = caller.call(function_id, request)["result"]
    assert result == {"status_code": 200, "body": {"doubled": 8}}


def test_the_worker_names_itself_and_leaves_cleanly(engine, remote, loop_thread):
    app = remote(registry_of(_ping_step()), engine.ws_url)
    observer = engine.worker()
    workers = observer.call("engine::workers::list", {"runtime": "python"})["result"]["workers"]
    assert [w["id"] for w in workers] == [app.transport.worker_id]
    registered = sum(1 for m in app.worker.registrations if isinstance(m, RegisterFunction))
    assert workers[0]["name"] == app.transport.name and workers[0]["function_count"] == registered
    loop_thread.run(app.stop())
    assert engine.http.get("/ping").status_code == 404
    assert observer.call("engine::workers::list", {"runtime": "python"})["result"]["workers"] == []


def _ping_step():
    @api("GET", "/ping")
    async def ping() -> dict:
        return {"pong": True}

    return ping


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_worker_reconnects_and_registers_again_when_the_engine_restarts(remote):
    port = _free_port()
    first = ServedApp(Registry(), engine_port=port).__enter__()
    try:
        app = remote(registry_of(_ping_step()), f"ws://127.0.0.1:{port}")
        old_id = app.transport.worker_id
    finally:
        first.__exit__(None, None, None)
    second = ServedApp(Registry(), engine_port=port).__enter__()
    try:
        import httpx

        with httpx.Client(base_url=second.url, timeout=5) as http:
            eventually(lambda: http.get("/ping").status_code != 404)
            assert http.get("/ping").json() == {"pong": True}
        assert app.transport.connects == 2 and app.transport.worker_id != old_id
    finally:
        second.__exit__(None, None, None)


def test_a_graceful_stop_hands_the_traffic_to_a_replica_without_errors(engine, remote, loop_thread):
    @api("GET", "/slow")
    async def slow() -> dict:
        await asyncio.sleep(0.2)
        return {"ok": True}

    registry = registry_of(slow)
    leaving, staying = remote(registry, engine.ws_url), remote(registry, engine.ws_url)
    with ThreadPoolExecutor(8) as pool:
        responses = [pool.submit(engine.http.get, "/slow") for _ in range(8)]
        time.sleep(0.05)  # both replicas are busy
        loop_thread.run(leaving.stop())
        responses += [pool.submit(engine.http.get, "/slow") for _ in range(8)]
        statuses = [r.result(10).status_code for r in responses]
    assert statuses == [200] * 16
    assert engine.http.get("/slow").status_code == 200
    assert staying.transport.connected


# --- against a recording engine: what exactly goes on the wire ---------------------------------------------


class RecordingEngine:
    """A minimal engine on a real socket that records every frame and answers `workerregistered`."""

    def __init__(self) -> None:
        self.frames: list[list[dict]] = []
        self.sockets: list[ServerConnection] = []
        self.worker_ids: list[str] = []

    async def handler(self, ws: ServerConnection) -> None:
        frames: list[dict] = []
        self.frames.append(frames)
        self.sockets.append(ws)
        worker_id = new_id()
        self.worker_ids.append(worker_id)
        hello = {"type": "workerregistered", "worker_id": worker_id, "reattach_token": "t-" + worker_id}
        await ws.send(json.dumps(hello))
        async for frame in ws:
            message = json.loads(frame)
            frames.append(message)
            if message["type"] == "ping":
                await ws.send('{"type":"pong"}')


def test_registration_cron_conversion_reattach_and_metadata_on_the_wire(loop_thread):
    @cron("*/5 * * * *")
    async def tick() -> None:
        return None

    @api("GET", "/x")
    async def x() -> dict:
        return {}

    async def scenario() -> tuple[RecordingEngine, WebSocketTransport]:
        recorder = RecordingEngine()
        async with serve(recorder.handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            transport = WebSocketTransport(url, Worker(registry_of(tick, x)), reconnect=FAST, name="rec")
            await transport.start(timeout=5)
            sent = len(transport.worker.registrations) + 1  # and engine::workers::register
            await eventually_async(lambda: len(recorder.frames[0]) >= sent)
            await recorder.sockets[0].close()  # the engine drops the connection
            await eventually_async(lambda: len(recorder.frames) == 2 and len(recorder.frames[1]) >= sent + 1)
            await transport.close()
        return recorder, transport

    recorder, transport = loop_thread.run(scenario())
    first, second = recorder.frames[0], recorder.frames[1]
    count = len(transport.worker.registrations)
    assert {f["type"] for f in first[:count]} == {"registerfunction", "registertrigger"}
    functions = [f["id"] for f in first if f["type"] == "registerfunction"]
    assert {"steps::tick::trigger::cron(*/5 * * * *)", "steps::x::trigger::http(GET /x)"} <= set(functions)
    cron_trigger = next(f for f in first if f.get("trigger_type") == "cron")
    assert cron_trigger["config"] == {"expression": "0 */5 * * * *"}  # seconds first for the iii engine
    hello = first[count]
    assert hello["function_id"] == "engine::workers::register" and hello["action"] == {"type": "void"}
    assert "invocation_id" not in hello
    assert hello["data"]["name"] == "rec" and hello["data"]["runtime"] == "python"
    # On reconnect: reattach with the previous identity first, then the same registrations (same trigger ids).
    assert second[0] == {"type": "reattach", "previous_worker_id": recorder.worker_ids[0],
                         "reattach_token": "t-" + recorder.worker_ids[0]}
    assert second[1:count + 1] == first[:count]
    assert transport.connects == 2


def is_cron_trigger(frame: dict) -> bool:
    return frame["type"] == "registertrigger" and frame["trigger_type"] == "cron"


def test_an_alias_cron_expression_is_registered_expanded_with_an_external_engine(loop_thread):
    @cron("@daily")
    async def nightly() -> None:
        return None

    @cron("@hourly")
    async def hourly() -> None:
        return None

    async def scenario() -> list[dict]:
        recorder = RecordingEngine()
        async with serve(recorder.handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            transport = WebSocketTransport(url, Worker(registry_of(nightly, hourly)), reconnect=FAST, name="rec")
            await transport.start(timeout=5)
            await eventually_async(lambda: sum(is_cron_trigger(f) for f in recorder.frames[0]) == 2)
            await transport.close()
        return recorder.frames[0]

    frames = loop_thread.run(scenario())
    expressions = {f["function_id"]: f["config"]["expression"] for f in frames if is_cron_trigger(f)}
    assert expressions == {"steps::nightly::trigger::cron(@daily)": "0 0 0 * * *",
                           "steps::hourly::trigger::cron(@hourly)": "0 0 * * * *"}


def test_calls_carry_traceparent_and_time_out(loop_thread):
    async def scenario() -> tuple[list[dict], object]:
        recorder = RecordingEngine()
        async with serve(recorder.handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            transport = WebSocketTransport(url, Worker(Registry()), reconnect=FAST, invocation_timeout=0.2)
            await transport.start(timeout=5)
            traceparent = "00-" + "c" * 32 + "-" + "d" * 16 + "-01"
            result = await transport.invoke(InvokeFunction("nobody.answers", {"a": 1}, traceparent=traceparent))
            await transport.close()
        return recorder.frames[0], result

    frames, result = loop_thread.run(scenario())
    call = next(f for f in frames if f.get("function_id") == "nobody.answers")
    assert call["traceparent"].startswith("00-" + "c" * 32)
    assert len(call["invocation_id"]) == 36
    assert result.error.code == "TIMEOUT"  # type: ignore[attr-defined]


def test_five_field_cron_gets_a_seconds_field_for_an_external_engine():
    from motia.protocol import RegisterTrigger

    five = RegisterTrigger("t", "cron", "f", {"expression": "0 9 * * 1"})
    six = RegisterTrigger("t", "cron", "f", {"expression": "30 0 9 * * 1"})
    assert for_external_engine(five).config == {"expression": "0 0 9 * * 1"}  # type: ignore[attr-defined]
    assert for_external_engine(six) is six
    assert five.config == {"expression": "0 9 * * 1"}  # the worker's own copy is untouched


def test_reconnect_back_off_grows_to_the_cap_with_jitter():
    policy = ReconnectPolicy()
    for attempt, base in [(0, 1.0), (1, 2.0), (3, 8.0), (10, 30.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert base * 0.7 <= min(delays) and max(delays) <= base * 1.3


def test_replicas_compete_for_queue_messages_and_the_last_one_keeps_them(engine, remote, loop_thread):
    delivered: list[int] = []

    @api("POST", "/jobs")
    async def submit(req: ApiRequest[dict], ctx: FlowContext) -> dict:
        await ctx.emit("job.submitted", req.body)
        return {"queued": True}

    @on("job.submitted")
    async def work(job: dict) -> None:
        delivered.append(job["n"])

    registry = registry_of(submit, work)
    first, _second = remote(registry, engine.ws_url), remote(registry, engine.ws_url)
    for n in range(10):
        assert engine.http.post("/jobs", json={"n": n}).status_code == 200
    eventually(lambda: len(delivered) >= 10)
    assert sorted(delivered) == list(range(10))  # once each, not once per replica
    loop_thread.run(first.stop())
    for n in range(10, 15):
        assert engine.http.post("/jobs", json={"n": n}).status_code == 200
    eventually(lambda: len(delivered) >= 15, timeout=3)
    assert sorted(delivered) == list(range(15))
