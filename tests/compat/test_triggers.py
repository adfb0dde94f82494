"""`motia.triggers`: `http`, `api`, `queue`, `cron`, `state`, `stream` return official trigger objects that are
also decorators and config entries, and compile to the same model triggers as the decorator DSL."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import motia
import motia.triggers as official
from motia import ApiResponse, StateTriggerInput, StreamTriggerInput
from motia.legacy import compile_step
from motia.model import CronTrigger as CronKind
from motia.model import HttpTrigger as HttpKind
from motia.model import QueueConfig
from motia.model import QueueTrigger as QueueKind
from motia.model import StateTrigger as StateKind
from motia.model import StreamTrigger as StreamKind
from motia.triggers import step_of

from .conftest import app_of

pytestmark = pytest.mark.anyio


def allow(value: Any, ctx: Any) -> bool:
    return True


def test_http_is_an_official_trigger_object():
    for http in (motia.http, official.http):
        trigger = http("POST", "/users/:id", body_schema={"type": "object"}, response_schema={201: {}},
                       query_params=[{"name": "q", "description": "text"}], middleware=[allow], condition=allow)
        assert (trigger.type, trigger.method, trigger.path) == ("http", "POST", "/users/:id")
        assert trigger.condition is allow and trigger.middleware == [allow]
        assert trigger.body_schema == {"type": "object"} and trigger.response_schema == {201: {}}
        assert [p.name for p in trigger.query_params] == ["q"]
        assert isinstance(trigger, motia.ApiTrigger)
        assert trigger.model_dump(by_alias=True)["bodySchema"] == {"type": "object"}


def test_http_decorates_a_handler_and_lists_in_a_config_as_the_same_model_trigger():
    @motia.http("GET", "/a", condition=allow)
    def decorated(request: Any, ctx: Any) -> None: ...

    listed = compile_step({"name": "A", "triggers": [motia.http("GET", "/a", condition=allow)]}, decorated)
    by_keyword = compile_step({"name": "A", "triggers": [motia.ApiTrigger(path="/a", method="GET",
                                                                          condition=allow)]}, decorated)
    assert step_of(decorated).triggers == listed.triggers == by_keyword.triggers  # type: ignore[union-attr]
    assert isinstance(listed.triggers[0], HttpKind)


def test_api_warns_deprecation_in_a_config_and_delegates_to_http():
    for api in (motia.api, official.api):
        trigger = api("GET", "/old")
        assert (trigger.type, trigger.method, trigger.path) == ("http", "GET", "/old")
        with pytest.warns(DeprecationWarning, match=r"api\(\) is deprecated, use http\(\) instead"):
            compile_step({"name": "Old", "triggers": [trigger]}, lambda r, c: None)


def test_api_as_this_projects_decorator_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        @motia.api("GET", "/fine")
        def fine(request: Any) -> None: ...

    assert step_of(fine).triggers[0].path == "/fine"  # type: ignore[union-attr]


async def test_http_condition_false_answers_422_before_the_handler():
    async def handler(request: Any, ctx: Any) -> ApiResponse[Any]:
        return ApiResponse(status=200, body={"ok": True})

    config = {"name": "Cond", "triggers": [motia.http("POST", "/c", condition=lambda r, c: r.body["go"])]}
    async with app_of((config, handler)) as app:
        assert (await app.http.post("/c", json={"go": True})).json() == {"ok": True}
        refused = await app.http.post("/c", json={"go": False})
        assert refused.status_code == 422


async def test_queue_trigger_with_camel_case_config_and_condition():
    seen: list[Any] = []
    trigger = official.queue("orders", config={"maxRetries": 1, "type": "fifo"}, condition=lambda d, c: d["n"] > 1)
    assert (trigger.type, trigger.topic, trigger.config) == ("queue", "orders", QueueConfig(type="fifo", max_retries=1))
    assert trigger.type == "event"  # the seed's name for the same kind
    step = compile_step({"name": "Q", "triggers": [trigger]}, lambda d, c: seen.append(d))
    assert isinstance(step.triggers[0], QueueKind)
    async with app_of(({"name": "Q", "triggers": [trigger]}, lambda d, c: seen.append(d))) as app:
        await app.emit("orders", {"n": 1}, message_group_id="g")
        await app.emit("orders", {"n": 2}, message_group_id="g")
        await app.wait_idle()
    assert seen == [{"n": 2}]


def test_queue_trigger_classes_accept_seed_and_official_keywords():
    seed = motia.EventTrigger(subscribes=["a", "b"])
    assert seed.subscribes == ["a", "b"] and seed.topic == "a"
    assert motia.QueueTrigger.model_validate({"topic": "x", "input": {"type": "object"}}).input == {"type": "object"}


async def test_cron_trigger_fires_on_schedule_unless_its_condition_says_no():
    runs: list[str] = []
    trigger = motia.cron("0 * * * * *", condition=lambda _, ctx: len(runs) < 2)
    assert (trigger.type, trigger.expression) == ("cron", "0 * * * * *")
    assert isinstance(motia.CronTrigger(cron="0 9 * * *").triggers[0], CronKind)
    async with app_of(({"name": "Tick", "triggers": [trigger]}, lambda _, ctx: runs.append(ctx.trigger.expression))) \
            as app:
        for _ in range(3):
            await app.clock.advance(60)
            await app.wait_idle()
    assert runs == ["0 * * * * *", "0 * * * * *"]


async def test_state_is_the_trigger_factory_when_called_and_the_manager_otherwise():
    changes: list[StateTriggerInput] = []
    trigger = motia.state(condition=lambda change, ctx: change.group_id == "users")
    assert official.state is motia.state
    assert (trigger.type, isinstance(trigger.triggers[0], StateKind)) == ("state", True)

    async def write(request: Any, ctx: Any) -> ApiResponse[Any]:
        await motia.state.set("users", "u1", {"name": "Ada"})  # the same object, as the state manager
        await motia.state.set("other", "x", 1)
        return ApiResponse(status=200, body=await motia.state.get("users", "u1"))

    async with app_of(({"name": "Write", "triggers": [motia.http("POST", "/w")]}, write),
                      ({"name": "Watch", "triggers": [trigger]}, lambda change, ctx: changes.append(change))) as app:
        assert (await app.http.post("/w")).json() == {"name": "Ada"}
        await app.wait_idle()
    assert [(c.group_id, c.item_id, c.new_value) for c in changes] == [("users", "u1", {"name": "Ada"})]


async def test_stream_trigger_factory_filters_by_group_and_condition():
    events: list[StreamTriggerInput] = []
    trigger = official.stream("todos", group_id="inbox", condition=lambda e, ctx: e.event.type == "create")
    assert (trigger.type, trigger.stream_name, trigger.group_id, trigger.item_id) == ("stream", "todos", "inbox", None)
    assert isinstance(trigger.triggers[0], StreamKind)
    assert motia.StreamTrigger(streamName="todos", groupId="g").group_id == "g"

    async def write(request: Any, ctx: Any) -> dict[str, Any]:
        todos = motia.Stream("todos")
        await todos.set("inbox", "t1", {"title": "a"})
        await todos.set("inbox", "t1", {"title": "b"})
        await todos.set("archive", "t2", {"title": "c"})
        return {"status": 200, "body": None}

    async with app_of(({"name": "W", "triggers": [motia.http("POST", "/w")]}, write),
                      ({"name": "S", "triggers": [trigger]}, lambda e, ctx: events.append(e))) as app:
        await app.http.post("/w")
        await app.wait_idle()
    assert [(e.group_id, e.id, e.event.type, e.event.data) for e in events] == [("inbox", "t1", "create",
                                                                                  {"title": "a"})]


def test_dict_triggers_with_conditions_on_every_kind_in_camel_case():
    config = {"name": "All", "triggers": [
        {"type": "http", "method": "GET", "path": "/all", "condition": allow},
        {"type": "queue", "topic": "t", "condition": allow},
        {"type": "cron", "expression": "0 * * * * *", "condition": allow},
        {"type": "state", "condition": allow},
        {"type": "stream", "streamName": "s", "itemId": "i", "condition": allow},
    ]}
    step = compile_step(config, lambda i, c: None)
    assert [type(t) for t in step.triggers] == [HttpKind, QueueKind, CronKind, StateKind, StreamKind]
    assert all(t.condition is allow for t in step.triggers)
    assert step.triggers[4].item_id == "i"  # type: ignore[union-attr]
