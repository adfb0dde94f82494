"""Namespaces (docs/protocol.md §1.3, §2.9): a worker's registrations wait until `engine::workers::register` names
its namespace (or the grace time passes), registries are keyed by (namespace, id), invocations name their
namespace strictly, the worker-name lease, blank namespaces, and invocation metadata."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed

from motia.engine.options import EngineOptions

from .conftest import Engine, serve_engine


@pytest.fixture
def quick() -> Iterator[Engine]:
    """An engine whose namespace grace time is 300 ms instead of 5 s."""
    with serve_engine(engine_options=EngineOptions(namespace_grace_ms=300)) as running:
        yield running


def functions(engine: Engine, **filters: object) -> list[tuple[str, str]]:
    """The workers' functions (not the engine's built-ins) as (namespace, id)."""
    rows = engine.worker().call("engine::functions::list", filters)["result"]["functions"]
    return sorted((row["namespace"], row["function_id"]) for row in rows if row["worker_name"] != "engine")


def test_registrations_wait_for_the_namespace_and_go_there(engine):
    worker = engine.worker(announce=False)
    worker.register("invoices::create")
    worker.sync()
    assert functions(engine) == []  # buffered: the namespace is not known yet
    worker.announce(name="billing-worker", namespace="billing")
    worker.sync()
    assert functions(engine) == [("billing", "invoices::create")]


def test_invocations_resolve_strictly_in_their_namespace(engine):
    worker = engine.worker(announce=False)
    worker.register("invoices::create")
    worker.announce(namespace="billing")
    worker.serve(lambda frame: {"created": frame["data"]["n"]})
    caller = engine.worker()
    assert caller.call("invoices::create", {"n": 1}, namespace="billing")["result"] == {"created": 1}
    missing = caller.call("invoices::create", {"n": 2})["error"]
    assert missing == {"code": "function_not_found",
                       "message": "Function invoices::create not found in namespace default. "
                                  "It is registered in namespace(s): billing."}


def test_the_same_id_in_two_namespaces_is_two_functions(engine):
    for namespace in ("eu", "us"):
        worker = engine.worker(announce=False)
        worker.register("tax::rate")
        worker.announce(namespace=namespace)
        worker.serve(lambda frame, ns=namespace: {"region": ns})
    caller = engine.worker()
    assert caller.call("tax::rate", {}, namespace="eu")["result"] == {"region": "eu"}
    assert caller.call("tax::rate", {}, namespace="us")["result"] == {"region": "us"}
    assert functions(engine, search="tax") == [("eu", "tax::rate"), ("us", "tax::rate")]


def test_without_a_hello_registrations_go_to_default_after_the_grace_time(quick):
    worker = quick.worker(announce=False)
    worker.register("late::fn")
    worker.register("gone::fn")
    worker.send({"type": "unregisterfunction", "id": "gone::fn"})  # buffered too, applied in order
    worker.sync()
    assert functions(quick) == []
    deadline = time.monotonic() + 5
    while not functions(quick) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert functions(quick) == [("default", "late::fn")]
    worker.register("later::fn")  # the namespace is known now: applied at once
    worker.sync()
    assert ("default", "later::fn") in functions(quick)


def test_an_http_trigger_targets_the_namespace_it_names(engine):
    worker = engine.worker(announce=False)
    worker.register("pages::home")
    worker.send({"type": "registertrigger", "id": "b7a3c1de-0000-4000-8000-000000000001", "trigger_type": "http",
                 "function_id": "pages::home", "config": {"api_path": "/home"}, "namespace": "web",
                 "metadata": {"page": "home"}})
    worker.announce(namespace="web")
    worker.sync()
    seen: list[dict] = []
    worker.serve(lambda frame: seen.append(frame) or {"status_code": 200, "body": "welcome"})
    assert engine.http.get("/home").json() == "welcome"
    assert seen[0]["metadata"] == {"page": "home"}  # the trigger's metadata travels beside the request


def test_a_blank_namespace_on_a_binding_is_invalid(engine):
    worker = engine.worker()
    worker.register("pages::home")
    worker.send({"type": "registertrigger", "id": "b7a3c1de-0000-4000-8000-000000000002", "trigger_type": "http",
                 "function_id": "pages::home", "config": {"api_path": "/home"}, "namespace": " "})
    result = worker.expect("triggerregistrationresult")
    assert result["error"] == {"code": "INVALID_NAMESPACE", "message": "namespace must not be blank"}


def test_a_blank_worker_namespace_is_invalid(engine):
    worker = engine.worker(announce=False)
    result = worker.call("engine::workers::register", {"name": "w", "namespace": "   "})
    assert result["error"]["code"] == "INVALID_NAMESPACE"


def test_engine_ids_are_refused_outside_default(engine):
    worker = engine.worker(announce=False)
    worker.announce(namespace="tools")
    worker.register("engine::my::thing")
    rejected = worker.expect("registrationrejected")
    assert rejected == {"type": "registrationrejected", "code": "FUNCTION_NAMESPACE_CONFLICT",
                        "namespace": "tools", "function_id": "engine::my::thing", "owner_worker_id": ""}


def test_the_worker_name_lease_is_per_namespace(engine):
    first = engine.worker(announce=False)
    first.announce(name="indexer", namespace="search")
    first.sync()
    elsewhere = engine.worker(announce=False)
    elsewhere.announce(name="indexer", namespace="other")
    elsewhere.sync()  # same name, another namespace: fine
    second = engine.worker(announce=False)
    second.announce(name="indexer", namespace="search")
    rejected = second.expect("registrationrejected")
    assert rejected["code"] == "WORKER_NAMESPACE_CONFLICT"
    assert (rejected["namespace"], rejected["worker_name"], rejected["owner_worker_id"]) == (
        "search", "indexer", first.worker_id)
    with pytest.raises(ConnectionClosed):  # then closes the socket
        second.recv(2)
    first.close()
    time.sleep(0.2)
    third = engine.worker(announce=False)
    third.announce(name="indexer", namespace="search")  # the lease went with its holder
    third.sync()


def test_invocation_metadata_reaches_the_handler(engine):
    worker = engine.worker()
    worker.register("meta::echo")
    worker.sync()
    seen: list[dict] = []
    worker.serve(lambda frame: seen.append(frame) or "ok")
    engine.worker().call("meta::echo", {"x": 1}, metadata={"tenant": "acme"})
    assert seen[0]["metadata"] == {"tenant": "acme"}


def test_builtin_trigger_types_are_listed_with_their_description(engine):
    rows = engine.worker().call("engine::triggers::list", {})["result"]["triggers"]
    by_id = {row["id"]: row for row in rows}
    assert {"http", "cron", "state", "stream", "subscribe", "durable:subscriber"} <= set(by_id)
    assert all(row["description"] for row in rows)
    assert by_id["http"]["worker_name"] == "engine" and by_id["http"]["namespace"] == "default"


def test_engine_queue_enqueue_answers_a_receipt(engine):
    worker = engine.worker()
    worker.register("jobs::run")
    worker.sync()
    delivered: list[dict] = []
    worker.serve(lambda frame: delivered.append(frame["data"]))
    caller = engine.worker()
    result = caller.call("engine::queue::enqueue", {"queue": "default", "function_id": "jobs::run",
                                                    "data": {"job": 1}})["result"]
    assert set(result) == {"messageReceiptId"} and result["messageReceiptId"]
    deadline = time.monotonic() + 5
    while not delivered and time.monotonic() < deadline:
        time.sleep(0.02)
    assert delivered and delivered[0]["job"] == 1
    refused = caller.call("engine::queue::enqueue", {"queue": "default"})["error"]
    assert refused == {"code": "enqueue_error", "message": "queue (a name) and function_id are required"}


def test_functions_available_tells_bindings_when_functions_come_and_go(engine):
    watcher = engine.worker()
    watcher.watch("engine::functions-available", "on.functions")
    newcomer = engine.worker(announce=False)
    newcomer.register("fresh::a")
    newcomer.register("fresh::b")
    newcomer.announce(namespace="fresh")  # both registrations are applied at once: one event
    event = watcher.expect("invokefunction")
    watcher.answer(event)
    assert event["data"]["event"] == "functions_changed"
    listed = {(f["namespace"], f["function_id"]) for f in event["data"]["functions"]}
    assert {("fresh", "fresh::a"), ("fresh", "fresh::b"), ("default", "on.functions")} <= listed
    assert not any(function_id.startswith("engine::") for _, function_id in listed)
    newcomer.close()
    event = watcher.expect("invokefunction")
    assert not {f["function_id"] for f in event["data"]["functions"]} & {"fresh::a", "fresh::b"}


def test_a_cron_trigger_fires_its_function_in_the_bindings_namespace(engine):
    worker = engine.worker(announce=False)
    worker.register("tick::tock")
    worker.send({"type": "registertrigger", "id": "b7a3c1de-0000-4000-8000-000000000003", "trigger_type": "cron",
                 "function_id": "tick::tock", "config": {"expression": "* * * * * *"}, "namespace": "timers"})
    worker.announce(namespace="timers")
    tick = worker.expect("invokefunction", timeout=5)
    assert tick["function_id"] == "tick::tock" and tick["data"]["trigger"] == "cron"
