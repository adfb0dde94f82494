"""The engine's worker port frame by frame (docs/protocol.md §1-§2), with a raw `websockets` client."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.conftest import eventually

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture
def pool():
    with ThreadPoolExecutor(4) as executor:
        yield executor


# --- connection ------------------------------------------------------------------------------------------


def test_workerregistered_is_the_first_frame(engine):
    worker = engine.worker()
    assert worker.hello["type"] == "workerregistered"
    assert UUID4.match(worker.hello["worker_id"])
    assert UUID4.match(worker.hello["reattach_token"])
    assert worker.hello["features"] == []  # §2.12: none of the 0.25 extensions is implemented, and it says so


def test_json_ping_gets_a_pong_and_websocket_pings_are_answered(engine):
    worker = engine.worker()
    worker.send({"type": "ping"})
    assert worker.recv() == {"type": "pong"}
    assert worker.ws.ping().wait(5)


def test_other_paths_are_404_and_otel_takes_telemetry(engine):
    with pytest.raises(InvalidStatus) as refused:
        connect(engine.ws_url + "/nope", open_timeout=5)
    assert refused.value.response.status_code == 404
    telemetry = engine.worker("/otel")
    telemetry.send(b"OTLP{}")
    telemetry.send('{"type":"registerfunction","id":"not.from.otel"}')
    telemetry.close()
    listed = engine.worker().call("engine::functions::list", {})["result"]["functions"]
    assert "not.from.otel" not in {f["function_id"] for f in listed}


# --- functions and HTTP ----------------------------------------------------------------------------------


def test_an_http_request_reaches_the_remote_worker_and_its_answer_comes_back(engine, pool):
    worker = engine.worker()
    worker.register("items.update")
    worker.bind("http", "items.update", {"api_path": "items/:id", "http_method": "post"})
    worker.sync()
    response = pool.submit(
        engine.http.post, "/items/42?verbose=1", json={"name": "Ada"}, headers={"X-Trace": "t1"}
    )
    call = worker.expect("invokefunction")
    assert UUID4.match(call["invocation_id"])
    assert call["function_id"] == "items.update"
    request = call["data"]
    assert request["method"] == "POST"
    assert request["path"] == "/items/:id"
    assert request["path_params"] == {"id": "42"}
    assert request["query_params"] == {"verbose": "1"}
    assert request["headers"]["x-trace"] == "t1"
    assert request["body"] == {"name": "Ada"}
    assert request["trigger"] == {"type": "http", "path": "/items/:id", "method": "POST"}
    assert "raw_body" not in request and "_caller_worker_id" not in request
    worker.answer(call, {"statusCode": 201, "headers": {"x-done": "yes"}, "body": {"id": 42}})
    answered = response.result(5)
    assert answered.status_code == 201
    assert answered.headers["x-done"] == "yes"
    assert answered.json() == {"id": 42}


def test_a_body_that_is_not_json_reaches_a_remote_worker_as_null(engine, pool):
    worker = engine.worker()
    worker.register("echo")
    worker.bind("http", "echo", {"api_path": "/echo", "http_method": "POST"})
    worker.sync()
    response = pool.submit(
        engine.http.post, "/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    call = worker.expect("invokefunction")
    assert call["data"]["body"] is None
    worker.answer(call, {"status_code": 200, "body": "ok", "headers": {"content-type": "text/plain"}})
    assert response.result(5).text == "ok"


def test_invoking_an_unknown_function_is_function_not_found(engine):
    result = engine.worker().call("no.such.fn", {})
    assert result["error"] == {
        "code": "function_not_found", "message": "Function no.such.fn not found in namespace default.",
    }


def test_a_worker_calls_another_and_its_id_is_added_to_object_payloads(engine):
    callee, caller = engine.worker(), engine.worker()
    callee.register("math.double")
    callee.sync()
    seen = []
    callee.serve(lambda frame: seen.append(frame) or {"doubled": frame["data"]["x"] * 2})
    traceparent = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    result = caller.call("math.double", {"x": 21}, metadata={"m": 1}, traceparent=traceparent)
    assert result["result"] == {"doubled": 42}
    assert seen[0]["data"] == {"x": 21, "_caller_worker_id": caller.worker_id}
    assert seen[0]["metadata"] == {"m": 1}
    assert seen[0]["traceparent"].startswith("00-" + "a" * 32)
    assert "action" not in seen[0] and "namespace" not in seen[0]
    assert seen[0]["invocation_id"] != result["invocation_id"]


def test_missing_data_is_null_and_void_calls_get_no_reply(engine):
    callee, caller = engine.worker(), engine.worker()
    callee.register("sink")
    callee.sync()
    caller.send({"type": "invokefunction", "function_id": "sink", "action": {"type": "void"}})
    delivered = callee.expect("invokefunction")
    assert delivered["data"] is None
    assert UUID4.match(delivered["invocation_id"])  # the target always gets an id (§2.7)
    callee.answer(delivered, {"ignored": True})
    callee.sync()
    caller.send({"type": "ping"})
    assert caller.recv() == {"type": "pong"}  # nothing came back for the void call


def test_a_worker_can_call_itself(engine):
    worker = engine.worker()
    worker.register("self.fn")
    worker.sync()
    invocation_id = worker.start_call("self.fn", {"n": 1})
    call = worker.expect("invokefunction")  # frames keep flowing while the worker's own call waits
    worker.answer(call, {"n": 2})
    assert worker.expect("invocationresult", invocation_id=invocation_id)["result"] == {"n": 2}


def test_a_different_registration_of_a_taken_id_is_rejected(engine):
    first, second = engine.worker(), engine.worker()
    first.register("orders.create", description="v1")
    first.sync()
    second.register("orders.create", description="v2")
    assert second.expect("registrationrejected") == {
        "type": "registrationrejected", "code": "FUNCTION_NAMESPACE_CONFLICT", "namespace": "default",
        "function_id": "orders.create", "owner_worker_id": first.worker_id,
    }
    second.sync()  # not fatal: the connection stays open
    engine_fn = engine.worker()
    engine_fn.register("engine::functions::list")
    assert engine_fn.expect("registrationrejected")["owner_worker_id"] == ""


def test_identical_registrations_are_replicas_and_share_the_calls(engine):
    replica_a, replica_b, caller = engine.worker(), engine.worker(), engine.worker()
    for replica in (replica_a, replica_b):
        replica.register("work", description="same code", metadata={"v": 1})
        replica.sync()
    first = caller.start_call("work", {"i": 1})
    second = caller.start_call("work", {"i": 2})
    # Each replica gets one: the one already busy is never the least busy.
    call_a, call_b = replica_a.expect("invokefunction"), replica_b.expect("invokefunction")
    assert {call_a["data"]["i"], call_b["data"]["i"]} == {1, 2}
    replica_a.answer(call_a, "a")
    replica_b.answer(call_b, "b")
    results = {caller.expect("invocationresult")["invocation_id"] for _ in range(2)}
    assert results == {first, second}
    replica_a.close()
    for i in range(3):
        pending = caller.start_call("work", {"i": i})
        replica_b.answer(replica_b.expect("invokefunction"), "b")
        assert caller.expect("invocationresult", invocation_id=pending)["result"] == "b"


# --- triggers ----------------------------------------------------------------------------------------


def test_trigger_refusals_come_back_with_the_engines_message(engine):
    worker = engine.worker()
    worker.register("fn")
    missing = worker.bind("http", "fn", {"http_method": "GET"})
    refused = worker.expect("triggerregistrationresult")
    assert refused["id"] == missing
    assert refused["error"] == {"code": "trigger_registration_failed",
                                "message": "api_path is required for http triggers"}
    worker.bind("http", "fn", {"api_path": "a/:x/:y"})
    worker.bind("http", "fn", {"api_path": "a/:y/:x"})
    conflict = worker.expect("triggerregistrationresult")["error"]["message"]
    assert "conflicts with already-registered route" in conflict


def test_a_missing_config_defaults_to_an_empty_object(engine):
    worker = engine.worker()
    worker.send({"type": "registertrigger", "id": str(uuid.uuid4()), "trigger_type": "http", "function_id": "fn"})
    assert worker.expect("triggerregistrationresult")["error"]["message"] == "api_path is required for http triggers"


def test_a_worker_provided_trigger_type_gets_bindings_forwarded_parked_and_replayed(engine):
    owner = engine.worker()
    owner.register("on.hook")
    early = owner.bind("webhook", "on.hook", {"url": "/early"})  # no provider yet: parked, no error
    owner.sync()
    provider = engine.worker()
    provider.send({"type": "registertriggertype", "id": "webhook", "description": "Webhook trigger"})
    forwarded = provider.expect("registertrigger")
    assert forwarded == {"type": "registertrigger", "id": early, "trigger_type": "webhook",
                         "function_id": "on.hook", "config": {"url": "/early"}}
    provider.send({"type": "triggerregistrationresult", "id": early, "trigger_type": "webhook",
                   "function_id": "on.hook"})
    # The provider fires by invoking the bound function.
    provider.send({"type": "invokefunction", "function_id": "on.hook", "data": {"hit": 1},
                   "action": {"type": "void"}})
    owner.answer(owner.expect("invokefunction", function_id="on.hook"))
    # A refusal is forwarded to the binding's owner.
    refused = owner.bind("webhook", "on.hook", {"url": ""})
    assert provider.expect("registertrigger")["id"] == refused
    provider.send({"type": "triggerregistrationresult", "id": refused, "trigger_type": "webhook",
                   "function_id": "on.hook", "error": {"code": "trigger_registration_failed", "message": "no url"}})
    assert owner.expect("triggerregistrationresult")["error"]["message"] == "no url"
    # The provider leaves: bindings are parked, and replayed to the next provider of the type.
    provider.close()
    successor = engine.worker()
    successor.send({"type": "registertriggertype", "id": "webhook"})
    replayed = {successor.expect("registertrigger")["id"] for _ in range(2)}
    assert replayed == {early, refused}
    owner.send({"type": "unregistertrigger", "id": early})
    assert successor.expect("unregistertrigger") == {
        "type": "unregistertrigger", "id": early, "trigger_type": "webhook",
    }
    owner.close()  # its remaining binding goes too
    assert successor.expect("unregistertrigger")["id"] == refused


def test_a_worker_cannot_replace_a_builtin_trigger_type(engine, pool):
    rogue = engine.worker()
    rogue.send({"type": "registertriggertype", "id": "http"})
    rogue.sync()
    worker = engine.worker()
    worker.register("fn")
    worker.bind("http", "fn", {"api_path": "/still-ours"})
    worker.sync()
    response = pool.submit(engine.http.get, "/still-ours")
    worker.answer(worker.expect("invokefunction"), {"body": "served"})
    assert response.result(5).json() == "served"


# --- bad input -----------------------------------------------------------------------------------------


def test_frames_that_do_not_decode_are_dropped_and_the_connection_keeps_working(engine):
    # (A frame that is not JSON at all closes the connection: tests/reliability/test_protocol_fuzzing.py.)
    worker = engine.worker()
    worker.send({"type": "nosuchmessage", "x": 1})
    worker.send({"type": "registerfunction"})  # missing id
    worker.send({"type": "invokefunction", "function_id": "engine::functions::list", "data": {},
                 "invocation_id": "not-a-uuid"})
    worker.send(b"MTRC{}")
    worker.send(json.dumps({"type": "ping"}).encode())  # a message in a binary frame is fine too
    assert worker.recv() == {"type": "pong"}  # nothing came back for the dropped frames
    assert "functions" in worker.call("engine::functions::list", {})["result"]


def test_results_for_unknown_invocations_are_dropped(engine):
    provider, caller, stranger = engine.worker(), engine.worker(), engine.worker()
    provider.register("slow.fn")
    provider.sync()
    pending = caller.start_call("slow.fn", {"n": 1})
    call = provider.expect("invokefunction", function_id="slow.fn")
    # Results for invocations nobody made, from a bystander and from the very worker that holds a pending call:
    for sender in (stranger, provider):
        sender.send({"type": "invocationresult", "invocation_id": str(uuid.uuid4()), "function_id": "slow.fn",
                     "result": {"late": True}})
        sender.send({"type": "ping"})
        assert sender.recv() == {"type": "pong"}  # handled, nothing sent back, the connection kept
    provider.answer(call, {"real": True})
    # The pending call was not answered by either: the first frame its caller gets is the real result.
    assert caller.recv() == {"type": "invocationresult", "invocation_id": pending, "function_id": "slow.fn",
                             "result": {"real": True}}


def test_large_fragmented_messages_are_accepted(engine):
    worker = engine.worker()
    invocation_id = str(uuid.uuid4())
    frame = json.dumps({"type": "invokefunction", "function_id": "engine::workers::list",
                        "invocation_id": invocation_id, "data": {"padding": "x" * (20 * 1024 * 1024)}})
    chunk = 1024 * 1024
    worker.ws.send(frame[i:i + chunk] for i in range(0, len(frame), chunk))
    assert "workers" in worker.expect("invocationresult", timeout=30, invocation_id=invocation_id)["result"]


def test_an_oversize_message_closes_only_that_connection(engine):
    bystander, offender = engine.worker(), engine.worker()
    offender.register("doomed")
    offender.sync()
    offender.ws.send("x" * (64 * 1024 * 1024 + 1))
    with pytest.raises(ConnectionClosed) as closed:
        offender.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    # clean-up follows the close
    eventually(lambda: bystander.call("doomed")["error"]["code"] == "function_not_found", timeout=5)
    bystander.sync()


# --- disconnect and reattach ---------------------------------------------------------------------------


def test_disconnect_removes_functions_and_routes_and_stops_running_calls(engine, pool):
    worker, caller = engine.worker(), engine.worker()
    worker.register("slow")
    worker.bind("http", "slow", {"api_path": "/slow"})
    worker.sync()
    response = pool.submit(engine.http.get, "/slow")
    worker.expect("invokefunction")
    pending = caller.start_call("slow", {})
    worker.expect("invokefunction")
    worker.close()
    assert caller.expect("invocationresult", invocation_id=pending)["error"] == {
        "code": "invocation_stopped", "message": "Invocation stopped",
    }
    assert response.result(5).status_code == 500
    assert engine.http.get("/slow").status_code == 404
    assert caller.call("slow")["error"]["code"] == "function_not_found"


def test_reattach_retires_the_previous_connection(engine):
    old = engine.worker()
    old.register("svc", description="v1")
    old.sync()
    new = engine.worker()
    new.send({"type": "reattach", "previous_worker_id": old.worker_id, "reattach_token": old.reattach_token})
    new.register("svc", description="v2")  # no conflict: the old owner is gone
    new.sync()
    with pytest.raises(ConnectionClosed):
        old.recv(timeout=5)
    caller = engine.worker()
    pending = caller.start_call("svc")
    new.answer(new.expect("invokefunction"), "from new")
    assert caller.expect("invocationresult", invocation_id=pending)["result"] == "from new"


def test_reattach_with_a_wrong_token_is_ignored(engine):
    old = engine.worker()
    old.register("svc", description="v1")
    old.sync()
    impostor = engine.worker()
    impostor.send({"type": "reattach", "previous_worker_id": old.worker_id, "reattach_token": str(uuid.uuid4())})
    impostor.register("svc", description="v2")
    assert impostor.expect("registrationrejected")["owner_worker_id"] == old.worker_id
    old.sync()


# --- engine functions ------------------------------------------------------------------------------------


def test_workers_register_names_the_worker_and_the_listings_show_it(engine):
    worker = engine.worker()
    worker.send({"type": "invokefunction", "function_id": "engine::workers::register", "action": {"type": "void"},
                 "data": {"runtime": "python", "version": "1.0", "name": "alpha", "pid": 7}})
    worker.register("alpha.fn", description="does alpha", metadata={"team": "a"})
    worker.register("alpha.hidden", metadata={"internal": True})
    worker.bind("http", "alpha.fn", {"api_path": "/alpha", "http_method": "GET"})
    worker.sync()
    observer = engine.worker()
    workers = observer.call("engine::workers::list", {})["result"]["workers"]
    alpha = next(w for w in workers if w["name"] == "alpha")
    assert alpha["id"] == worker.worker_id and alpha["runtime"] == "python" and alpha["function_count"] == 2
    functions = observer.call("engine::functions::list", {"worker": "alpha"})["result"]["functions"]
    assert functions == [{"function_id": "alpha.fn", "namespace": "default", "worker_name": "alpha",
                          "description": "does alpha", "metadata": {"team": "a"}}]
    internal = observer.call("engine::functions::list", {"include_internal": True})["result"]["functions"]
    assert {"alpha.hidden", "engine::workers::register"} <= {f["function_id"] for f in internal}
    info = observer.call("engine::functions::info", {"function_id": "alpha.fn"})["result"]
    assert info["registered_triggers"][0]["config"] == {"api_path": "/alpha", "http_method": "GET"}
    bindings = observer.call("engine::registered-triggers::list", {})["result"]["registered_triggers"]
    assert any(b["function_id"] == "alpha.fn" and b["config_summary"] == "GET /alpha" for b in bindings)
    detail = observer.call("engine::workers::info", {"name": "alpha"})["result"]
    assert detail["worker"]["pid"] == 7 and sorted(detail["functions"]) == ["alpha.fn", "alpha.hidden"]


def test_a_second_live_worker_with_the_same_name_is_refused_and_closed(engine):
    hello = {"type": "invokefunction", "function_id": "engine::workers::register", "action": {"type": "void"},
             "data": {"name": "twin"}}
    first, second = engine.worker(), engine.worker()
    first.send(hello)
    first.sync()
    second.send(hello)
    rejected = second.expect("registrationrejected")
    assert rejected["code"] == "WORKER_NAMESPACE_CONFLICT"
    assert rejected["worker_name"] == "twin" and rejected["owner_worker_id"] == first.worker_id
    with pytest.raises(ConnectionClosed):
        second.recv(timeout=5)
    first.sync()


def test_engine_register_trigger_makes_a_binding_that_outlives_its_caller(engine, pool):
    host, binder = engine.worker(), engine.worker()
    host.register("durable.fn")
    host.sync()
    created = binder.call("engine::register_trigger", {"trigger_type": "http", "function_id": "durable.fn",
                                                       "config": {"api_path": "/durable"}})["result"]
    binder.close()
    response = pool.submit(engine.http.get, "/durable")
    host.answer(host.expect("invokefunction"), {"body": {"ok": True}})
    assert response.result(5).json() == {"ok": True}
    removed = host.call("engine::unregister_trigger", {"id": created["id"]})["result"]
    assert removed == {"removed": True}
    assert engine.http.get("/durable").status_code == 404


# --- data channels (§4.7) ----------------------------------------------------------------------------------


def _channel_url(engine, ref: dict) -> str:
    direction = ref["direction"]
    return f"{engine.ws_url}/ws/channels/{ref['channel_id']}?key={ref['access_key']}&dir={direction}"


def test_a_channel_pipes_frames_in_order_from_its_writer_to_its_reader(engine):
    refs = engine.worker().call("engine::channels::create", {"buffer_size": 4})["result"]
    assert refs["writer"]["direction"] == "write" and refs["reader"]["direction"] == "read"
    assert refs["writer"]["channel_id"] == refs["reader"]["channel_id"]
    with pytest.raises(InvalidStatus):
        connect(_channel_url(engine, {**refs["reader"], "access_key": str(uuid.uuid4())}), open_timeout=5)
    writer_url, reader_url = _channel_url(engine, refs["writer"]), _channel_url(engine, refs["reader"])
    with connect(writer_url) as writer, connect(reader_url) as reader:
        with connect(reader_url) as second_reader, pytest.raises(ConnectionClosed):
            second_reader.recv(5)  # each end can be taken once
        for frame in [b"\x00\x01binary", '{"type":"note"}', b"more"]:
            writer.send(frame)
        writer.close()
        assert [reader.recv(5) for _ in range(3)] == [b"\x00\x01binary", '{"type":"note"}', b"more"]
        with pytest.raises(ConnectionClosed):
            reader.recv(5)  # EOF


def test_a_remote_worker_reads_the_raw_request_body_from_its_channel(engine, pool):
    worker = engine.worker()
    worker.register("upload")
    worker.bind("http", "upload", {"api_path": "/upload", "http_method": "POST"})
    worker.sync()
    payload = bytes(range(256)) * 600  # binary, larger than one channel frame
    response = pool.submit(engine.http.post, "/upload", content=payload, headers={"content-type": "image/png"})
    call = worker.expect("invokefunction")
    assert call["data"]["body"] is None
    assert call["data"]["response"]["direction"] == "write"
    received = b""
    with connect(_channel_url(engine, call["data"]["request_body"])) as reader, contextlib.suppress(ConnectionClosed):
        while True:
            received += reader.recv(5)
    assert received == payload
    worker.answer(call, {"status_code": 200, "body": {"size": len(received)}})
    assert response.result(5).json() == {"size": len(payload)}


def test_a_remote_worker_streams_its_response_through_the_response_channel(engine, pool):
    worker = engine.worker()
    worker.register("download")
    worker.bind("http", "download", {"api_path": "/download"})
    worker.sync()
    response = pool.submit(engine.http.get, "/download")
    call = worker.expect("invokefunction")
    worker.answer(call, None)  # null is not a response: the engine waits for the channel
    with connect(_channel_url(engine, call["data"]["response"])) as writer:
        writer.send('{"type":"set_status","status_code":206}')
        writer.send('{"type":"set_headers","headers":{"content-type":"text/csv","x-part":"1"}}')
        writer.send(b"a,b\n")
        writer.send(b"1,2\n")
    streamed = response.result(5)
    assert streamed.status_code == 206
    assert streamed.headers["content-type"] == "text/csv" and streamed.headers["x-part"] == "1"
    assert streamed.text == "a,b\n1,2\n"


def test_a_null_result_without_a_stream_is_an_error(engine, pool):
    worker = engine.worker()
    worker.register("nothing")
    worker.bind("http", "nothing", {"api_path": "/nothing"})
    worker.sync()
    response = pool.submit(engine.http.get, "/nothing")
    worker.answer(worker.expect("invokefunction"), None)
    assert response.result(5).status_code == 500


def test_workers_available_tells_bindings_who_connects_and_leaves(engine):
    watcher = engine.worker()
    watcher.watch("engine::workers-available", "on.workers")
    newcomer = engine.worker(announce=False)

    def next_event() -> dict:
        """The next event about the newcomer (the watcher may first hear of its own metadata)."""
        while True:
            event = watcher.expect("invokefunction")
            watcher.answer(event)
            if event["data"]["worker_id"] == newcomer.worker_id:
                return event["data"]  # type: ignore[no-any-return]

    assert next_event() == {"event": "worker_connected", "worker_id": newcomer.worker_id}
    newcomer.announce(name="newcomer")
    assert next_event() == {"event": "worker_metadata_updated", "worker_id": newcomer.worker_id}
    newcomer.close()
    assert next_event() == {"event": "worker_disconnected", "worker_id": newcomer.worker_id}


def test_a_blank_namespace_is_invalid(engine):
    result = engine.worker().call("engine::functions::list", {}, namespace="  ")
    assert result["error"]["code"] == "INVALID_NAMESPACE"
