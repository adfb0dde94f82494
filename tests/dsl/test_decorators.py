"""The decorator DSL: what each decorator records, and what the registry infers from annotations."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from motia import (
    ApiRequest,
    ApiResponse,
    HandlerConfig,
    QueueConfig,
    Registry,
    StepError,
    api,
    cron,
    on,
    on_state,
    on_stream,
    step,
)
from motia.dsl import step_of
from motia.model import CronTrigger, Emit, HttpTrigger, QueueTrigger, StateTrigger, StreamTrigger, function_ids


class Order(msgspec.Struct):
    id: str
    total: float


class NotFound(msgspec.Struct):
    error: str


def registered(fn):
    return Registry([step_of(fn)]).steps[0]


def test_decorator_returns_the_function_unchanged():
    async def handler(req):
        return {"ok": True}

    decorated = api("GET", "/x")(handler)
    assert decorated is handler
    assert asyncio.run(handler(None)) == {"ok": True}


def test_step_name_and_description_default_to_function_name_and_docstring():
    @api("GET", "/orders")
    async def list_orders():
        """List every order.

        Longer text that is not part of the summary."""

    recorded = step_of(list_orders)
    assert recorded.name == "list_orders"
    assert recorded.description == "List every order."


def test_stacked_decorators_make_one_step_with_triggers_in_source_order():
    @api("POST", "/orders", name="PlaceOrder", flows=["orders"], emits=["order.placed"])
    @on("order.retry", emits=[{"topic": "order.failed", "label": "gave up", "conditional": True}])
    @cron("0 9 * * *")
    async def place(data, ctx):
        return None

    recorded = step_of(place)
    assert recorded.name == "PlaceOrder"
    assert [type(t) for t in recorded.triggers] == [HttpTrigger, QueueTrigger, CronTrigger]
    assert recorded.flows == ["orders"]
    assert recorded.emits == [Emit("order.placed"), Emit("order.failed", "gave up", True)]
    assert function_ids(recorded) == [
        "steps::PlaceOrder::trigger::http(POST /orders)",
        "steps::PlaceOrder::trigger::queue(order.retry)",
        "steps::PlaceOrder::trigger::cron(0 9 * * *)",
    ]


def test_on_with_several_topics_makes_one_trigger_per_topic():
    @on(["a", "b"], queue=QueueConfig(max_retries=5, type="fifo"))
    async def handler(data):
        pass

    triggers = step_of(handler).triggers
    assert [t.topic for t in triggers] == ["a", "b"]
    assert all(t.config == QueueConfig(max_retries=5, type="fifo") for t in triggers)


def test_queue_config_accepts_camel_case_dicts_and_checks_values():
    @on("t", config={"maxRetries": 7, "backoffType": "fixed", "backoffDelayMs": 50})
    async def handler(data):
        pass

    config = step_of(handler).triggers[0].config
    assert (config.max_retries, config.backoff_type, config.backoff_delay_ms) == (7, "fixed", 50)
    assert config.to_wire()["maxRetries"] == 7
    with pytest.raises(ValueError, match="invalid queue config"):
        on("t", queue={"max_retries": -1})


def test_state_and_stream_decorators():
    @on_state(scope="orders")
    @on_stream("todos", group_id="inbox")
    async def watcher(change):
        pass

    state, stream = step_of(watcher).triggers
    assert state == StateTrigger(scope="orders")
    assert stream == StreamTrigger(stream_name="todos", group_id="inbox")


def test_body_type_is_inferred_from_api_request_annotation():
    @api("POST", "/orders")
    async def create(req: ApiRequest[Order]) -> Order:
        return req.body

    @api("GET", "/ping")
    async def ping(req: ApiRequest[None]) -> None:
        return None

    @api("POST", "/raw")
    async def raw(req):
        return None

    assert registered(create).triggers[0].body is Order
    assert registered(ping).triggers[0].body is None
    assert registered(raw).triggers[0].body is Any


def test_response_types_come_from_return_annotation_and_responses():
    @api("GET", "/orders/:id", responses={404: NotFound})
    async def read(req: ApiRequest[None]) -> ApiResponse[Order] | ApiResponse[NotFound]:
        return ApiResponse(404, NotFound("no"))

    @api("POST", "/orders", status=201)
    async def create(req: ApiRequest[Order]) -> Order:
        return req.body

    @api("DELETE", "/orders/:id")
    async def remove(req: ApiRequest[None]) -> None:
        return None

    responses = registered(read).triggers[0].responses
    assert responses[404] is NotFound
    assert responses[200] == Order | NotFound
    assert registered(create).triggers[0].responses == {201: Order}
    assert registered(remove).triggers[0].responses == {204: None}


def test_queue_payload_type_is_the_first_parameter_annotation():
    @on("order.placed")
    async def handle(order: Order, ctx) -> None:
        pass

    assert registered(handle).triggers[0].input is Order


def test_step_decorator_sets_handler_limits():
    @api("GET", "/x")
    @step(handler_config=HandlerConfig(timeout=2.5))
    async def limited():
        pass

    @api("GET", "/y", timeout=4)
    async def also_limited():
        pass

    assert step_of(limited).handler_config == HandlerConfig(timeout=2.5)
    assert step_of(also_limited).handler_config == HandlerConfig(timeout=4)


def test_handler_with_three_parameters_is_refused_with_its_location():
    @api("GET", "/x")
    async def too_many(a, b, c):
        pass

    with pytest.raises(StepError, match="at most 2 arguments") as error:
        registered(too_many)
    assert error.value.location.endswith(f"test_decorators.py:{too_many.__code__.co_firstlineno}")


def test_unknown_http_method_is_refused():
    @api("FETCH", "/x")
    async def fetch():
        pass

    with pytest.raises(StepError, match="unknown HTTP method 'FETCH'"):
        registered(fetch)


def test_invalid_path_parameter_is_refused():
    @api("GET", "/x/:1bad")
    async def bad():
        pass

    with pytest.raises(StepError, match="invalid path parameter ':1bad'"):
        registered(bad)


def test_unresolvable_annotation_is_refused():
    @api("GET", "/x")
    async def bad(req: ApiRequest[DoesNotExist]):  # noqa: F821
        pass

    with pytest.raises(StepError, match="cannot resolve the annotations"):
        registered(bad)


class NotAStruct:
    pass


def test_undecodable_body_type_is_refused():
    @api("POST", "/x")
    async def bad(req: ApiRequest[NotAStruct]):
        pass

    with pytest.raises(StepError, match="msgspec cannot decode"):
        registered(bad)


def test_paths_are_normalized():
    @api("get", "users/:id/")
    async def read(req):
        pass

    trigger = registered(read).triggers[0]
    assert (trigger.method, trigger.path) == ("GET", "/users/:id")
