"""Conformance with the official client: `iii-sdk` (PyPI, pinned in the `test` extra) connects to the embedded
engine as an external worker and is used the way its users use it."""

from __future__ import annotations

import asyncio
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from motia import ApiRequest, api
from motia.assembly import ServedApp
from tests.conftest import eventually, registry_of

iii = pytest.importorskip("iii")

from iii import InitOptions, InvocationError, TriggerAction, register_worker  # noqa: E402
from iii.triggers import TriggerHandler  # noqa: E402


class SdkWorkers:
    """`sdk(name)` -> an iii-sdk worker connected to the engine's worker port; `sdk.stop(worker)`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.running: list[Any] = []

    def __call__(self, name: str | None = None, url: str | None = None, namespace: str | None = None) -> Any:
        options = InitOptions(worker_name=name or f"sdk-{uuid.uuid4().hex[:8]}", otel={"enabled": False},
                              namespace=namespace)
        worker = register_worker(url or self.url, options)
        self.running.append(worker)
        return worker

    def stop(self, worker: Any) -> None:
        self.running.remove(worker)
        worker.shutdown()  # a second shutdown() would wait forever on the SDK's stopped loop


@pytest.fixture
def sdk(engine) -> Iterator[SdkWorkers]:
    workers = SdkWorkers(engine.ws_url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # register_trigger(_type) are deprecated in 0.25
        yield workers
    for worker in list(workers.running):
        workers.stop(worker)


def test_an_sdk_function_behind_an_http_trigger_is_served(engine, sdk):
    worker = sdk()
    seen: list[dict] = []

    def create_item(data: dict) -> dict:
        seen.append(data)
        return {"status_code": 201, "headers": {"x-made-by": "iii-sdk"},
                "body": {"id": data["path_params"]["id"], "name": data["body"]["name"]}}

    worker.register_function("items::create", create_item)
    worker.register_trigger({"type": "http", "function_id": "items::create",
                             "config": {"api_path": "items/:id", "http_method": "POST"}})
    response = eventually(lambda: _ok(engine.http.post("/items/7?x=1", json={"name": "Ada"})))
    assert response.status_code == 201
    assert response.headers["x-made-by"] == "iii-sdk"
    assert response.json() == {"id": "7", "name": "Ada"}
    request = seen[-1]
    assert request["method"] == "POST" and request["query_params"] == {"x": "1"}
    assert request["trigger"] == {"type": "http", "path": "/items/:id", "method": "POST"}


def _ok(response: httpx.Response) -> httpx.Response | None:
    return response if response.status_code != 404 else None


def test_an_sdk_worker_invokes_our_steps_functions(sdk):
    @api("POST", "/greet")
    async def greet(req: ApiRequest[dict]) -> dict:
        return {"hello": req.body["name"]}

    with ServedApp(registry_of(greet), engine_port=0) as served:
        assert served.app.worker_server is not None
        worker = sdk(url=served.app.worker_server.url)
        result = worker.trigger({
            "function_id": "steps::greet::trigger::http(POST /greet)",
            "payload": {"method": "POST", "path": "/greet", "body": {"name": "Ada"}, "headers": {}},
        })
        assert result == {"status_code": 200, "body": {"hello": "Ada"}}
        with pytest.raises(InvocationError) as missing:
            worker.trigger({"function_id": "steps::nope", "payload": {}})
        assert missing.value.code == "function_not_found"
        listed = worker.trigger({"function_id": "engine::functions::list", "payload": {"prefix": "steps::"}})
        assert [f["function_id"] for f in listed["functions"]] == ["steps::greet::trigger::http(POST /greet)"]
        sdk.stop(worker)


def test_sdk_workers_call_each_other_and_errors_travel(sdk):
    callee, caller = sdk(), sdk()
    callee.register_function("math::div", lambda data: {"q": data["a"] / data["b"]})
    assert eventually(lambda: _try(lambda: caller.trigger({"function_id": "math::div", "payload": {"a": 6, "b": 3}})))
    assert caller.trigger({"function_id": "math::div", "payload": {"a": 6, "b": 3}}) == {"q": 2}
    with pytest.raises(InvocationError) as failed:
        caller.trigger({"function_id": "math::div", "payload": {"a": 1, "b": 0}})
    assert failed.value.code == "invocation_failed" and "division by zero" in failed.value.message
    assert caller.trigger({"function_id": "math::div", "payload": {"a": 1, "b": 1},
                           "action": TriggerAction.Void()}) is None


def _try(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except InvocationError:
        return None


def test_an_sdk_worker_is_listed_with_its_metadata(engine, sdk):
    worker = sdk("conformance-worker")
    worker.register_function("listed::fn", lambda data: None, description="listed")
    observer = engine.worker()
    listed = eventually(lambda: observer.call("engine::workers::list", {"search": "conformance"})["result"]["workers"])
    assert listed[0]["runtime"] == "python" and listed[0]["version"] == "0.25.0"
    functions = eventually(
        lambda: observer.call("engine::functions::list", {"worker": "conformance-worker"})["result"]["functions"]
    )
    assert functions == [{"function_id": "listed::fn", "namespace": "default", "worker_name": "conformance-worker",
                          "description": "listed"}]


def test_everything_an_sdk_worker_registered_goes_when_it_disconnects(engine, sdk):
    worker = sdk()
    worker.register_function("temp::fn", lambda data: {"body": "here"})
    worker.register_trigger({"type": "http", "function_id": "temp::fn", "config": {"api_path": "/temp"}})
    assert eventually(lambda: _ok(engine.http.get("/temp"))).json() == "here"
    sdk.stop(worker)
    assert eventually(lambda: engine.http.get("/temp").status_code == 404)
    assert engine.worker().call("temp::fn")["error"]["code"] == "function_not_found"


def test_a_conflicting_sdk_registration_is_refused_and_the_owner_keeps_it(engine, sdk):
    owner, latecomer = sdk(), sdk()
    owner.register_function("shared::fn", lambda data: "owner", description="one")
    caller = engine.worker()
    assert eventually(lambda: caller.call("shared::fn").get("result") == "owner")
    latecomer.register_function("shared::fn", lambda data: "latecomer", description="another")
    # The engine handles a connection's frames in order: once the latecomer's next registration is in, the
    # conflicting one was handled (and refused).
    latecomer.register_function("latecomer::marker", lambda data: "marker")
    assert eventually(lambda: caller.call("latecomer::marker").get("result") == "marker")
    assert caller.call("shared::fn")["result"] == "owner"
    assert latecomer.get_connection_state() == "connected"  # FUNCTION_NAMESPACE_CONFLICT is not fatal


class Webhooks(TriggerHandler[Any]):
    """A worker-provided trigger type: records its bindings; `fire` invokes the bound functions."""

    def __init__(self) -> None:
        self.bindings: dict[str, Any] = {}
        self.refused: list[Any] = []
        self.changed = threading.Event()

    async def register_trigger(self, config: Any) -> None:
        if not config.config.get("path"):
            self.refused.append(config)
            raise ValueError("a webhook needs a path")
        self.bindings[config.id] = config
        self.changed.set()

    async def unregister_trigger(self, config: Any) -> None:
        self.bindings.pop(config.id, None)
        self.changed.set()


def test_a_worker_provided_trigger_type_from_the_sdk(engine, sdk):
    provider, consumer = sdk(), sdk()
    hooks = Webhooks()
    provider.register_trigger_type({"id": "webhook", "description": "Webhooks"}, hooks)
    received: list[Any] = []
    consumer.register_function("on::hook", lambda data: received.append(data))
    trigger = consumer.register_trigger({"type": "webhook", "function_id": "on::hook", "config": {"path": "/h"}})
    binding = eventually(lambda: next(iter(hooks.bindings.values()), None))
    assert binding.function_id == "on::hook" and binding.config == {"path": "/h"}
    provider.trigger({"function_id": binding.function_id, "payload": {"event": "push"},
                      "action": TriggerAction.Void()})
    assert eventually(lambda: received) == [{"event": "push", "_caller_worker_id": provider.worker_id}]
    trigger.unregister()
    assert eventually(lambda: not hooks.bindings)
    # A binding the provider refuses is reported back to the worker that made it (and only logged by the SDK).
    consumer.register_trigger({"type": "webhook", "function_id": "on::hook", "config": {}})
    refused = eventually(lambda: hooks.refused)
    assert [binding.function_id for binding in refused] == ["on::hook"]
    # The engine keeps no binding the provider refused: a valid one that comes after is the only one.
    consumer.register_trigger({"type": "webhook", "function_id": "on::hook", "config": {"path": "/h2"}})
    assert [b.config for b in eventually(lambda: list(hooks.bindings.values()))] == [{"path": "/h2"}]
    listed = engine.worker().call("engine::registered-triggers::list", {"trigger_type": "webhook"})["result"]
    assert [row["config"] for row in listed["registered_triggers"]] == [{"path": "/h2"}]


def test_raw_and_streamed_bodies_through_the_sdks_http_helper(engine, sdk):
    from iii_helpers.http import http

    async def shout(req: Any, res: Any) -> None:
        raw = await req.request_body.read_all()  # the raw bytes, whatever the content type
        await res.status(201)
        await res.headers({"content-type": "text/plain", "x-length": str(len(raw))})
        for line in raw.splitlines(keepends=True):
            await res.writer.write(line.upper())
        await res.writer.close_async()

    worker = sdk()
    worker.register_function("text::shout", http(shout))
    worker.register_trigger({"type": "http", "function_id": "text::shout",
                             "config": {"api_path": "/shout", "http_method": "POST"}})
    body = b"first line\nsecond line\n"
    response = eventually(lambda: _ok(engine.http.post("/shout", content=body, headers={"content-type": "text/plain"})))
    assert response.status_code == 201
    assert response.headers["x-length"] == str(len(body))
    assert response.text == "FIRST LINE\nSECOND LINE\n"


def test_sdk_workers_share_a_channel_made_by_the_engine(sdk):
    from iii.helpers import create_channel

    producer, consumer = sdk(), sdk()

    async def consume(data: dict) -> dict:
        reader = data["reader"]  # the SDK turns the ref into a ChannelReader
        return {"received": (await reader.read_all()).decode()}

    consumer.register_function("channel::consume", consume)
    channel = create_channel(producer)

    async def produce() -> None:
        await channel.writer.write(b"through the engine")
        await channel.writer.close_async()

    asyncio.run(produce())  # buffered by the engine until the reader comes
    eventually(lambda: _try(lambda: producer.trigger({"function_id": "engine::functions::info",
                                                      "payload": {"function_id": "channel::consume"}})))
    payload = {"reader": channel.reader_ref.model_dump()}
    result = producer.trigger({"function_id": "channel::consume", "payload": payload})
    assert result == {"received": "through the engine"}


# --- the engine's built-ins, used by an SDK worker (state, streams, pub/sub, queues, cron) ---------------------


def test_state_and_stream_functions(engine, sdk):
    worker = sdk()
    assert worker.trigger({"function_id": "state::set", "payload": {"scope": "s", "key": "k", "value": {"v": 1}}}) == {
        "old_value": None, "new_value": {"v": 1},
    }
    assert worker.trigger({"function_id": "state::get", "payload": {"scope": "s", "key": "k"}}) == {"v": 1}
    item = {"stream_name": "todos", "group_id": "g", "item_id": "t1", "data": {"id": "t1", "done": False}}
    assert worker.trigger({"function_id": "stream::set", "payload": item})["new_value"] == {"id": "t1", "done": False}
    assert worker.trigger({"function_id": "stream::list", "payload": {"stream_name": "todos", "group_id": "g"}}) == [
        {"id": "t1", "done": False},
    ]


def test_stream_websocket_clients_see_the_sdks_writes(engine, sdk):
    import json

    from websockets.sync.client import connect

    worker = sdk()
    with connect(f"ws://127.0.0.1:{engine.app.stream_port}/") as client:
        client.send(json.dumps({"type": "join", "data": {"subscriptionId": "s1", "streamName": "todos",
                                                         "groupId": "g1"}}))
        assert json.loads(client.recv(5))["event"]["type"] == "sync"
        worker.trigger({"function_id": "stream::set", "payload": {
            "stream_name": "todos", "group_id": "g1", "item_id": "a", "data": {"id": "a"}}})
        event = json.loads(client.recv(5))
        assert (event["streamName"], event["groupId"], event["id"]) == ("todos", "g1", "a")
        assert event["event"] == {"type": "create", "data": {"id": "a"}}


def test_publish_subscribe_and_cron_triggers(engine, sdk):
    worker = sdk()
    received: list[Any] = []
    worker.register_function("news::read", lambda data: received.append(("news", data)))
    worker.register_trigger({"type": "subscribe", "function_id": "news::read", "config": {"topic": "news"}})
    worker.register_function("tick::tock", lambda data: received.append(("cron", data)))
    worker.register_trigger({"type": "cron", "function_id": "tick::tock", "config": {"expression": "* * * * * *"}})
    listed = {"function_id": "engine::registered-triggers::list", "payload": {"function_id": "news::read"}}
    eventually(lambda: (_try(lambda: worker.trigger(listed)) or {}).get("registered_triggers"))
    assert worker.trigger({"function_id": "publish", "payload": {"topic": "news", "data": {"n": 1}}}) is None
    assert eventually(lambda: ("news", {"n": 1}) in received)
    tick = eventually(lambda: next((d for kind, d in received if kind == "cron"), None), timeout=3)
    assert tick["trigger"] == "cron" and {"job_id", "scheduled_time", "actual_time"} <= set(tick)


def test_a_durable_publish_from_the_sdk_reaches_a_steps_on_handler(sdk):
    from motia import on

    handled: list[dict] = []

    @on("order.placed")
    async def ship(order: dict) -> None:
        handled.append(order)

    with ServedApp(registry_of(ship), engine_port=0) as served:
        assert served.app.worker_server is not None
        worker = sdk(url=served.app.worker_server.url)
        worker.trigger({"function_id": "iii::durable::publish", "payload": {"topic": "order.placed",
                                                                          "data": {"id": 7}}})
        assert eventually(lambda: handled) == [{"id": 7}]
        sdk.stop(worker)


# --- issue 13: namespaces, metadata, engine-side middleware, HTTP-invoked functions, enqueue ----------------


def test_an_sdk_worker_in_a_namespace_is_called_there(engine, sdk):
    billing = sdk(namespace="billing")
    billing.register_function("invoices::total", lambda data: {"total": sum(data["items"])})
    caller = sdk()
    request = {"function_id": "invoices::total", "payload": {"items": [1, 2]}, "namespace": "billing"}
    assert eventually(lambda: _try(lambda: caller.trigger(request))) == {"total": 3}
    with pytest.raises(InvocationError) as missing:
        caller.trigger({"function_id": "invoices::total", "payload": {"items": []}})
    assert missing.value.code == "function_not_found" and "namespace(s): billing" in missing.value.message
    # The worker's own calls resolve in its namespace, the engine's built-ins answer there too.
    assert billing.trigger({"function_id": "invoices::total", "payload": {"items": [5]}}) == {"total": 5}
    assert billing.trigger({"function_id": "state::get", "payload": {"scope": "s", "key": "none"}}) is None
    listed = engine.worker().call("engine::workers::list", {})["result"]["workers"]
    assert any(w["namespace"] == "billing" for w in listed)


def test_invocation_metadata_reaches_an_sdk_handler(sdk):
    worker, caller = sdk(), sdk()
    seen: list[Any] = []

    def handler(data: Any, metadata: Any = None) -> str:
        seen.append(metadata)
        return "ok"

    worker.register_function("meta::seen", handler)
    request = {"function_id": "meta::seen", "payload": {}, "metadata": {"tenant": "acme"}}
    assert eventually(lambda: _try(lambda: caller.trigger(request))) == "ok"
    assert seen[-1] == {"tenant": "acme"}


def test_sdk_middleware_guards_an_sdk_route(engine, sdk):
    worker = sdk()
    calls: list[str] = []

    def auth(data: Any) -> dict:
        calls.append("auth")
        if data["request"]["headers"].get("authorization") != "Bearer ok":
            return {"action": "respond", "response": {"status_code": 401, "body": {"error": "no"}}}
        return {"action": "continue"}

    def secret(data: Any) -> dict:
        calls.append("secret")
        return {"status_code": 200, "body": {"secret": 42}}

    worker.register_function("mw::auth", auth)
    worker.register_function("vault::read", secret)
    worker.register_trigger({"type": "http", "function_id": "vault::read",
                             "config": {"api_path": "/vault", "middleware_function_ids": ["mw::auth"]}})
    denied = eventually(lambda: _ok(engine.http.get("/vault")))
    assert (denied.status_code, denied.json()) == (401, {"error": "no"})
    allowed = engine.http.get("/vault", headers={"authorization": "Bearer ok"})
    assert (allowed.status_code, allowed.json()) == (200, {"secret": 42})
    assert calls == ["auth", "auth", "secret"]


def test_an_sdk_registers_an_http_invoked_function(monkeypatch):
    from iii_helpers.http import HttpAuthBearer, HttpInvocationConfig

    from motia import Registry
    from motia.engine.options import EngineOptions

    from .test_http_functions import LOOPBACK_ALLOWED, Endpoint

    monkeypatch.setenv("TEST_SDK_TOKEN", "from-env")
    endpoint = Endpoint()
    options = EngineOptions(http_functions=LOOPBACK_ALLOWED)
    try:
        with ServedApp(Registry(), engine_port=0, engine_options=options) as served, \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert served.app.worker_server is not None
            workers = SdkWorkers(served.app.worker_server.url)
            owner, caller = workers(), workers()
            invocation = HttpInvocationConfig(url=endpoint.url + "/fn", timeout_ms=5000,
                                              auth=HttpAuthBearer(token_key="TEST_SDK_TOKEN"))
            owner.register_function("lambda::hello", invocation)
            result = eventually(lambda: _try(lambda: caller.trigger({"function_id": "lambda::hello",
                                                                     "payload": {"name": "Ada"}})))
            assert result == {"ok": True}
            assert endpoint.requests[-1]["headers"]["authorization"] == "Bearer from-env"
            for worker in list(workers.running):
                workers.stop(worker)
    finally:
        endpoint.close()


def test_an_sdk_enqueue_action_answers_a_receipt(sdk):
    worker, caller = sdk(), sdk()
    received: list[Any] = []
    worker.register_function("jobs::work", lambda data: received.append(data))
    eventually(lambda: _try(lambda: caller.trigger({"function_id": "engine::functions::info",
                                                    "payload": {"function_id": "jobs::work"}})))
    receipt = caller.trigger({"function_id": "jobs::work", "payload": {"n": 1},
                              "action": TriggerAction.Enqueue(queue="default")})
    assert set(receipt) == {"messageReceiptId"}
    assert eventually(lambda: received) and received[0]["n"] == 1


def test_a_namespaced_sdk_worker_gets_its_namespace_and_name_back_after_a_reconnect(engine, sdk):
    worker = sdk("billing-worker", namespace="billing")
    worker.register_function("invoices::count", lambda data: {"count": 3})
    caller = sdk()
    request = {"function_id": "invoices::count", "payload": {}, "namespace": "billing"}
    assert eventually(lambda: _try(lambda: caller.trigger(request))) == {"count": 3}

    async def drop() -> str:  # the engine loses the connection (a network cut, from its side)
        [connection] = [c for c in engine.app.engine.connections.values() if c.name == "billing-worker"]
        await connection.close()
        return connection.worker_id

    dropped = engine.run(drop())
    assert eventually(lambda: _try(lambda: caller.trigger(request)), timeout=15) == {"count": 3}
    workers = engine.worker().call("engine::workers::list", {"search": "billing-worker"})["result"]["workers"]
    assert [(w["name"], w["namespace"]) for w in workers] == [("billing-worker", "billing")]
    assert workers[0]["id"] != dropped  # a new connection, which the name lease let in
