"""RBAC worker ports (`docs/protocol.md` §4.9): an auth function grants each connection a session; calls outside
it get FORBIDDEN, registrations go through the port's hooks and prefix, a session middleware wraps calls."""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from motia import Registry
from motia.assembly import ServedApp
from motia.engine import rbac as rbac_module
from motia.engine.rbac import ExposeMetadata, RbacConfig, WorkerPortConfig
from tests.protocol.conftest import CallFailed, RawWorker

SESSIONS: dict[str, dict[str, Any]] = {
    "reader": {"allowed_functions": ["state::get"], "forbidden_functions": ["public::hidden"],
               "allow_function_registration": False, "context": {"role": "reader"}},
    "guest": {"allowed_trigger_types": [], "context": {"role": "guest"}},
    "writer": {"function_registration_prefix": "team", "allow_trigger_type_registration": True,
               "allowed_trigger_types": ["http", "webhook"], "context": {"role": "writer"}},
}


def _trusted(frame: dict[str, Any]) -> Any:
    """The functions the trusted worker hosts: the auth function, the three hooks, a middleware, targets."""
    function_id, data = frame["function_id"], frame.get("data") or {}
    if function_id == "auth::session":
        role = data["headers"].get("x-role")
        if role not in SESSIONS:
            raise CallFailed("UNAUTHORIZED", f"unknown role {role!r}")
        return SESSIONS[role]
    if function_id == "hooks::function":
        if data["function_id"].endswith("::denied"):
            raise CallFailed("DENIED", "not this one")
        if data["function_id"].endswith("::renamed"):
            return {"function_id": "team::renamed-by-hook", "metadata": {"hooked": True}}
        return {}
    if function_id == "hooks::trigger":
        if data["config"].get("api_path") == "blocked":
            raise CallFailed("DENIED", "blocked path")
        return {}
    if function_id == "hooks::trigger_type":
        if data["trigger_type_id"] == "bad":
            raise CallFailed("DENIED", "no")
        return {}
    if function_id == "mw::session":
        return {"via": "middleware", "got": {k: v for k, v in data.items() if k != "_caller_worker_id"}}
    return {"called": function_id}


def trusted_worker(url: str) -> RawWorker:
    worker = RawWorker(url)
    for function_id in ("auth::session", "hooks::function", "hooks::trigger", "hooks::trigger_type",
                        "mw::session", "public::echo", "public::hidden", "secret::fn"):
        worker.register(function_id)
    worker.register("tagged::fn", metadata={"public": True})
    worker.sync()
    worker.serve(_trusted)
    return worker


class Ports:
    def __init__(self, served: ServedApp) -> None:
        servers = served.app.worker_servers
        self.plain, self.rbac, self.middleware = (s.url for s in servers)
        self.http = httpx.Client(base_url=served.url, timeout=10)

    def session(self, role: str, url: str | None = None) -> RawWorker:
        return RawWorker(url or self.rbac, additional_headers={"x-role": role})


@pytest.fixture
def ports() -> Iterator[Ports]:
    rbac = RbacConfig(
        auth_function_id="auth::session",
        expose_functions=['match("public::*")', ExposeMetadata({"public": True})],
        on_function_registration_function_id="hooks::function",
        on_trigger_registration_function_id="hooks::trigger",
        on_trigger_type_registration_function_id="hooks::trigger_type",
    )
    settings = [
        WorkerPortConfig(port=0),
        WorkerPortConfig(port=0, rbac=rbac),
        WorkerPortConfig(port=0, rbac=RbacConfig(auth_function_id="auth::session", expose_functions=['match("*")']),
                         middleware_function_id="mw::session"),
    ]
    with ServedApp(Registry(), worker_ports=settings) as served:
        running = Ports(served)
        trusted = trusted_worker(running.plain)
        yield running
        trusted.close()
        running.http.close()


def test_a_handshake_the_auth_function_refuses_gets_auth_error(ports):
    with connect(ports.rbac, open_timeout=5, additional_headers={"x-role": "stranger"}) as ws:
        frame = json.loads(ws.recv(5))
        with pytest.raises(ConnectionClosed):
            ws.recv(5)
    assert frame == {"type": "error", "error": {"code": "AUTH_ERROR", "message": "unknown role 'stranger'"}}


def test_the_auth_function_is_told_headers_query_and_address():
    seen: list[dict[str, Any]] = []

    def auth(frame: dict[str, Any]) -> Any:
        seen.append(frame["data"])
        return SESSIONS["reader"]

    rbac = RbacConfig(auth_function_id="spy::auth")
    with ServedApp(Registry(), worker_ports=[WorkerPortConfig(port=0), WorkerPortConfig(port=0, rbac=rbac)]) as served:
        plain, guarded = (s.url for s in served.app.worker_servers)
        spy = RawWorker(plain)
        spy.register("spy::auth")
        spy.sync()
        spy.serve(auth)
        worker = RawWorker(guarded + "/?tenant=a&tenant=b", additional_headers={"x-role": "reader"})
        assert worker.hello["type"] == "workerregistered"
        worker.close()
        spy.close()
    request = seen[-1]
    assert request["headers"]["x-role"] == "reader"
    assert request["query_params"] == {"tenant": ["a", "b"]}
    assert request["ip_address"] == "127.0.0.1"


def test_calls_are_allowed_by_grant_glob_and_metadata_and_refused_otherwise(ports):
    reader = ports.session("reader")
    assert reader.call("public::echo", {"x": 1})["result"]["called"] == "public::echo"  # expose glob
    assert reader.call("tagged::fn")["result"]["called"] == "tagged::fn"  # expose by metadata
    assert "error" not in reader.call("state::get", {"scope": "s", "key": "k"})  # allowed_functions
    assert "error" not in reader.call("engine::channels::create", {})  # infrastructure
    for function_id in ("secret::fn", "public::hidden", "state::list"):  # not granted; forbidden wins over glob
        frame = reader.call(function_id, {"scope": "s"})
        assert frame["error"] == {"code": "FORBIDDEN",
                                  "message": f"function '{function_id}' not allowed (add to rbac.expose_functions)"}


def test_the_function_list_shows_only_what_the_session_may_call(ports):
    reader = ports.session("reader")
    listed = {row["function_id"] for row in reader.call("engine::functions::list")["result"]["functions"]}
    assert {"public::echo", "tagged::fn", "state::get"} <= listed
    assert not listed & {"secret::fn", "public::hidden", "auth::session", "state::list", "state::set"}


def test_a_session_without_function_registration_cannot_register(ports):
    reader = ports.session("reader")
    reader.register("public::takeover")
    refusal = reader.expect("error")
    assert refusal["error"]["code"] == "FORBIDDEN"
    assert "public::takeover" in refusal["error"]["message"]
    reader.sync()
    assert ports.session("reader").call("public::takeover")["error"]["code"] == "function_not_found"


def test_registrations_get_the_prefix_and_calls_arrive_without_it(ports):
    writer = ports.session("writer")
    writer.register("greet")
    writer.bind("http", "greet", {"api_path": "team/greet", "http_method": "GET"})
    writer.sync()
    writer.serve(lambda frame: {"status_code": 200, "body": {"function_id": frame["function_id"]}})
    caller = RawWorker(ports.plain)
    frame = caller.call("team::greet", {"path_params": {}})
    assert frame["result"]["body"] == {"function_id": "greet"}
    assert ports.http.get("/team/greet").json() == {"function_id": "greet"}
    caller.close()


def test_the_function_registration_hook_can_deny_and_rename(ports):
    writer = ports.session("writer")
    writer.register("denied")
    refusal = writer.expect("error")
    assert refusal["error"]["code"] == "FORBIDDEN" and "not this one" in refusal["error"]["message"]
    writer.register("renamed")
    writer.sync()
    writer.serve(lambda frame: {"served_as": frame["function_id"]})
    caller = RawWorker(ports.plain)
    assert caller.call("team::renamed-by-hook")["result"] == {"served_as": "renamed"}
    info = caller.call("engine::functions::info", {"function_id": "team::renamed-by-hook"})["result"]
    assert info["metadata"] == {"hooked": True}
    assert caller.call("team::denied")["error"]["code"] == "function_not_found"
    caller.close()


def test_the_trigger_registration_hook_and_allowed_types_can_deny(ports):
    writer = ports.session("writer")
    writer.register("fn")
    blocked = writer.bind("http", "fn", {"api_path": "blocked", "http_method": "GET"})
    result = writer.expect("triggerregistrationresult", id=blocked)
    assert result["error"]["code"] == "FORBIDDEN" and "blocked path" in result["error"]["message"]
    cron = writer.bind("cron", "fn", {"expression": "* * * * *"})
    result = writer.expect("triggerregistrationresult", id=cron)
    assert result["error"] == {"code": "FORBIDDEN", "message": "trigger type 'cron' not allowed on this port"}
    writer.sync()
    assert ports.http.get("/blocked").status_code == 404


def test_trigger_types_need_the_grant_and_pass_the_hook(ports):
    reader = ports.session("reader")
    reader.send({"type": "registertriggertype", "id": "webhook", "description": "w"})
    assert reader.expect("error")["error"]["code"] == "FORBIDDEN"
    writer = ports.session("writer")
    writer.send({"type": "registertriggertype", "id": "bad", "description": "b"})
    assert "no" in writer.expect("error")["error"]["message"]
    writer.send({"type": "registertriggertype", "id": "webhook", "description": "w"})
    writer.sync()
    caller = RawWorker(ports.plain)
    types = {row["id"] for row in caller.call("engine::triggers::list")["result"]["triggers"]}
    assert "webhook" in types and "bad" not in types
    caller.close()


def test_the_session_middleware_runs_instead_of_the_target(ports):
    reader = ports.session("reader", ports.middleware)
    frame = reader.call("secret::fn", {"x": 1}, metadata={"m": 1})
    assert frame["result"] == {"via": "middleware", "got": {
        "function_id": "secret::fn", "payload": {"x": 1}, "action": None,
        "context": {"role": "reader"}, "namespace": "default",
    }}
    # Built-in functions are not wrapped.
    assert reader.call("state::get", {"scope": "s", "key": "k"}).get("result") is None


def test_a_session_cannot_take_over_a_route_or_point_a_trigger_at_what_it_may_not_call(ports):
    owner = RawWorker(ports.plain)
    owner.register("hello")
    owner.bind("http", "hello", {"api_path": "hello", "http_method": "GET"})
    owner.sync()
    owner.serve(lambda frame: {"status_code": 200, "body": {"from": "owner"}})
    guest = ports.session("guest")
    guest.register("mine")  # allowed: its own function, but no trigger type is
    takeover = guest.bind("http", "mine", {"api_path": "hello", "http_method": "GET"})
    assert guest.expect("triggerregistrationresult", id=takeover)["error"]["code"] == "FORBIDDEN"
    writer = ports.session("writer")  # may bind http triggers, but only to what it may call
    leak = writer.bind("http", "state::list", {"api_path": "leak", "http_method": "POST"})
    assert writer.expect("triggerregistrationresult", id=leak)["error"] == {
        "code": "FORBIDDEN", "message": "function 'state::list' not allowed (add to rbac.expose_functions)"}
    writer.sync()
    assert ports.http.get("/hello").json() == {"from": "owner"}
    assert ports.http.post("/leak", json={"scope": "s"}).status_code == 404
    owner.close()


def test_an_auth_function_that_never_answers_refuses_the_handshake(monkeypatch):
    monkeypatch.setattr(rbac_module, "CALL_TIMEOUT", 0.2)
    rbac = RbacConfig(auth_function_id="slow::auth")
    with ServedApp(Registry(), worker_ports=[WorkerPortConfig(port=0), WorkerPortConfig(port=0, rbac=rbac)]) as served:
        plain, guarded = (s.url for s in served.app.worker_servers)
        silent = RawWorker(plain)
        silent.register("slow::auth")  # registered, never answers
        silent.sync()
        with connect(guarded, open_timeout=5) as ws:
            frame = json.loads(ws.recv(5))
        silent.close()
    assert frame["error"] == {"code": "AUTH_ERROR", "message": "slow::auth did not answer within 0.2s"}


def test_the_official_sdk_gets_its_session_and_forbidden_calls_raise(ports):
    iii = pytest.importorskip("iii")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        worker = iii.register_worker(ports.rbac, iii.InitOptions(
            worker_name=f"sdk-{uuid.uuid4().hex[:8]}", otel={"enabled": False}, headers={"x-role": "reader"}))
        try:
            assert worker.trigger({"function_id": "public::echo", "payload": {"x": 1}}) == {"called": "public::echo"}
            with pytest.raises(iii.InvocationError) as refused:
                worker.trigger({"function_id": "secret::fn", "payload": {}})
            assert refused.value.code == "FORBIDDEN"
            assert "function 'secret::fn' not allowed" in refused.value.message
        finally:
            worker.shutdown()
