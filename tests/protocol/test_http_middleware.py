"""Engine-side HTTP middleware (docs/protocol.md §3.1): the engine-wide `middleware` list, by priority, then the
route's `condition_function_id` and `middleware_function_ids`; each may let the request go on or answer it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from motia.engine.options import EngineOptions, HttpMiddlewareConfig

from .conftest import Engine, serve_engine

CONTINUE = {"action": "continue"}


class Functions:
    """A raw worker hosting functions `{id: handler(data) -> result}`; `calls` records (id, data) in order.
    A handler that raises answers with an error; one that returns `NO_ANSWER` never answers."""

    NO_ANSWER = object()

    def __init__(self, engine: Engine, handlers: dict[str, Callable[[Any], Any]]) -> None:
        self.worker = engine.worker()
        self.handlers = handlers
        self.calls: list[tuple[str, Any]] = []
        for function_id in handlers:
            self.worker.register(function_id)

    def start(self) -> None:
        """Every registration and binding is applied; from now on a thread answers the invocations."""
        self.worker.sync()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            while True:
                frame = json.loads(self.worker.ws.recv())
                if frame.get("type") != "invokefunction":
                    continue
                self.calls.append((frame["function_id"], frame["data"]))
                try:
                    result = self.handlers[frame["function_id"]](frame["data"])
                except Exception as exc:
                    self.worker.answer(frame, error={"code": "invocation_failed", "message": str(exc)})
                    continue
                if result is not self.NO_ANSWER:
                    self.worker.answer(frame, result)
        except Exception:
            return

    def route(self, function_id: str, path: str, **config: Any) -> None:
        self.worker.bind("http", function_id, {"api_path": path, "http_method": "GET", **config})

    @property
    def order(self) -> list[str]:
        return [function_id for function_id, _ in self.calls]


def handler(data: Any) -> dict[str, Any]:
    return {"status_code": 200, "body": {"handled": data["path_params"]}}


@pytest.fixture
def ordered() -> Iterator[Engine]:
    """An engine with two engine-wide middleware, listed out of priority order."""
    options = EngineOptions(http_middleware=(
        HttpMiddlewareConfig(function_id="mw::second", priority=20),
        HttpMiddlewareConfig(function_id="mw::first", priority=10),
    ))
    with serve_engine(engine_options=options) as running:
        yield running


def test_route_middleware_runs_in_order_with_the_request_then_the_handler(engine):
    functions = Functions(engine, {"mw::auth": lambda d: CONTINUE, "mw::audit": lambda d: None,
                                   "items::get": handler})
    functions.route("items::get", "/items/:id", middleware_function_ids=["mw::auth", "mw::audit"])
    functions.start()
    response = engine.http.get("/items/7?verbose=1", headers={"x-user": "ada"})
    assert response.status_code == 200 and response.json() == {"handled": {"id": "7"}}
    assert functions.order == ["mw::auth", "mw::audit", "items::get"]  # a null result also means continue
    call = functions.calls[0][1]
    assert call["phase"] == "preHandler" and call["context"] == {}
    assert set(call["request"]) == {"path_params", "query_params", "headers", "method"}
    assert call["request"]["path_params"] == {"id": "7"}
    assert call["request"]["query_params"] == {"verbose": "1"}
    assert call["request"]["headers"]["x-user"] == "ada"
    assert call["request"]["method"] == "GET"


def test_a_middleware_that_responds_answers_and_the_handler_is_not_called(engine):
    refusal = {"action": "respond", "response": {"status_code": 401, "headers": {"www-authenticate": "Bearer"},
                                                 "body": {"error": "who are you?"}}}
    functions = Functions(engine, {"mw::auth": lambda d: refusal, "mw::later": lambda d: CONTINUE,
                                   "items::get": handler})
    functions.route("items::get", "/items/:id", middleware_function_ids=["mw::auth", "mw::later"])
    functions.start()
    response = engine.http.get("/items/7")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"error": "who are you?"}
    assert functions.order == ["mw::auth"]


def test_engine_wide_middleware_run_by_priority_before_the_routes_own(ordered):
    functions = Functions(ordered, {"mw::first": lambda d: CONTINUE, "mw::second": lambda d: CONTINUE,
                                    "mw::route": lambda d: CONTINUE, "items::get": handler})
    functions.route("items::get", "/items/:id", middleware_function_ids=["mw::route"])
    functions.start()
    assert ordered.http.get("/items/1").status_code == 200
    assert functions.order == ["mw::first", "mw::second", "mw::route", "items::get"]


def test_engine_wide_middleware_guard_every_route(ordered):
    functions = Functions(ordered, {"mw::first": lambda d: {"action": "respond", "response": {
        "status_code": 503, "body": "maintenance", "headers": {"content-type": "text/plain"}}},
        "mw::second": lambda d: CONTINUE, "items::get": handler})
    functions.route("items::get", "/items/:id")
    functions.start()
    response = ordered.http.get("/items/1")
    assert (response.status_code, response.text) == (503, "maintenance")
    assert functions.order == ["mw::first"]


def test_a_failing_middleware_is_a_500_envelope_with_an_error_id(engine):
    def broken(data: Any) -> Any:
        raise RuntimeError("database down")

    functions = Functions(engine, {"mw::broken": broken, "items::get": handler})
    functions.route("items::get", "/items/:id", middleware_function_ids=["mw::broken"])
    functions.start()
    response = engine.http.get("/items/1")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "INTERNAL_ERROR" and len(error["error_id"]) == 16
    assert "database down" not in response.text  # the cause is logged, not shown
    assert functions.order == ["mw::broken"]


def test_a_missing_middleware_function_fails_the_request(engine):
    functions = Functions(engine, {"items::get": handler})
    functions.route("items::get", "/items/:id", middleware_function_ids=["mw::nobody"])
    functions.start()
    assert engine.http.get("/items/1").status_code == 500
    assert functions.order == []


def test_a_middleware_that_does_not_answer_in_time_is_a_504():
    options = EngineOptions(http_middleware_timeout_ms=200)
    with serve_engine(engine_options=options) as engine:
        functions = Functions(engine, {"mw::slow": lambda d: Functions.NO_ANSWER, "items::get": handler})
        functions.route("items::get", "/items/:id", middleware_function_ids=["mw::slow"])
        functions.start()
        response = engine.http.get("/items/1")
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "MIDDLEWARE_TIMEOUT"


def test_a_condition_that_is_false_skips_the_handler_with_422(engine):
    functions = Functions(engine, {"cond::weekday": lambda d: d["path_params"]["id"] != "0",
                                   "mw::after": lambda d: CONTINUE, "items::get": handler})
    functions.route("items::get", "/items/:id", condition_function_id="cond::weekday",
                    middleware_function_ids=["mw::after"])
    functions.start()
    skipped = engine.http.get("/items/0")
    assert skipped.status_code == 422
    assert skipped.json() == {"error": {"code": "CONDITION_NOT_MET", "message": "Request condition not met"},
                              "skipped": True}
    assert engine.http.get("/items/5").status_code == 200
    assert functions.order == ["cond::weekday", "cond::weekday", "mw::after", "items::get"]


def test_bad_middleware_ids_refuse_the_binding(engine):
    worker = engine.worker()
    worker.register("items::get")
    trigger = worker.bind("http", "items::get", {"api_path": "/x", "middleware_function_ids": "mw::one"})
    result = worker.expect("triggerregistrationresult", id=trigger)
    assert result["error"] == {"code": "trigger_registration_failed",
                               "message": "middleware_function_ids must be a list of function ids"}


def test_engine_options_refuse_a_phase_iii_does_not_have():
    with pytest.raises(ValueError, match="phase 'onResponse' is not supported"):
        HttpMiddlewareConfig(function_id="mw", phase="onResponse")
