"""`motia.types` and `motia.types_stream`: the context, trigger info, trigger inputs and type aliases as
official code builds, reads and annotates with them."""

from __future__ import annotations

import typing
from typing import Any

import anyio
import pytest

import motia.types as types
import motia.types_stream as types_stream
from motia import ApiResponse, FlowContext, TriggerInfo

from .conftest import app_of


def test_flow_context_is_generic_and_built_by_keyword():
    assert FlowContext[dict[str, Any]] is not None  # subscriptable, as official code annotates
    ctx = types.FlowContext(trace_id="t" * 32, trigger=TriggerInfo(type="queue", topic="orders"),
                            input_value={"id": 1})
    assert (ctx.trace_id, ctx.trigger.topic, ctx.get_data()) == ("t" * 32, "orders", {"id": 1})
    assert (ctx.is_queue(), ctx.is_api(), ctx.is_cron(), ctx.is_state(), ctx.is_stream()) == (
        True, False, False, False, False)
    with pytest.raises(TypeError, match="needs a trigger"):
        FlowContext(trace_id="t")


def test_match_awaited_runs_the_branch_of_the_trigger():
    async def main() -> list[Any]:
        http = FlowContext(trigger={"type": "http"}, input_value="req")
        cron = FlowContext(trigger=TriggerInfo(type="cron"))
        other = FlowContext(trigger=TriggerInfo(type="state"), input_value="change")
        return [
            await http.match({"api": lambda req: f"api {req}", "queue": lambda data: "no"}),
            await cron.match({"cron": lambda: "tick"}),
            await other.match({"http": lambda req: "no", "default": lambda value: f"default {value}"}),
        ]

    assert anyio.run(main) == ["api req", "tick", "default change"]


def test_match_without_a_branch_raises():
    ctx = FlowContext(trigger=TriggerInfo(type="stream"))
    with pytest.raises(RuntimeError, match="No handler defined for trigger type 'stream'"):
        anyio.run(ctx.match, {"http": lambda req: None})


@pytest.mark.anyio
async def test_match_in_a_sync_handler_runs_in_its_thread_or_is_returned():
    def returns_match(request: Any, ctx: FlowContext[Any]) -> Any:
        return ctx.match({"http": lambda req: ApiResponse(status=200, body={"path": req.path_params["x"]})})

    def uses_result(request: Any, ctx: FlowContext[Any]) -> Any:
        async def branch(req: Any) -> str:
            return "async branch"

        result = ctx.match({"http": branch})  # a plain value in a sync handler
        return ApiResponse(status=200, body={"result": result})

    returning = {"name": "R", "triggers": [types.ApiTrigger(path="/r/:x", method="GET")]}
    using = {"name": "U", "triggers": [{"type": "http", "path": "/u", "method": "GET"}]}
    async with app_of((returning, returns_match), (using, uses_result)) as app:
        assert (await app.http.get("/r/7")).json() == {"path": "7"}
        assert (await app.http.get("/u")).json() == {"result": "async branch"}


def test_trigger_info_by_keyword_with_every_field_and_pydantic_style_methods():
    info = types.TriggerInfo(type="queue", index=2, topic="orders")
    assert (info.type, info.index, info.topic, info.expression, info.path) == ("queue", 2, "orders", None, None)
    assert TriggerInfo(type="cron", expression="0 * * * * *").expression == "0 * * * * *"
    assert TriggerInfo(type="http", path="/x", method="GET").model_dump(exclude_none=True) == {
        "type": "http", "index": 0, "path": "/x", "method": "GET"}
    assert TriggerInfo.model_validate({"type": "event", "topic": "t"}).kind == "queue"
    with pytest.raises(ValueError, match="unknown trigger type 'webhook'"):
        TriggerInfo(type="webhook")


def test_state_trigger_input_snake_or_camel_optional_values_and_dumps():
    camel = types.StateTriggerInput(groupId="users", itemId="u1", newValue={"a": 1})
    snake = types.StateTriggerInput(group_id="users", item_id="u1", new_value={"a": 1})
    assert camel == snake and camel.old_value is None and camel.type == "state"
    assert camel.model_dump(by_alias=True) == {"type": "state", "groupId": "users", "itemId": "u1",
                                                "oldValue": None, "newValue": {"a": 1}, "eventType": ""}
    assert types.StateTriggerInput.model_validate(camel.model_dump(by_alias=True)) == camel
    assert camel["groupId"] == "users" and camel.get("missing", 5) == 5
    with pytest.raises(TypeError, match="missing required field"):
        types.StateTriggerInput(group_id="users")
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        types.StateTriggerInput(group_id="a", item_id="b", colour="red")


def test_stream_trigger_input_and_event_snake_or_camel():
    made = types.StreamTriggerInput(timestamp=5, streamName="todos", groupId="inbox", id="t1",
                                    event={"type": "create", "data": {"x": 1}})
    assert isinstance(made.event, types.StreamEvent)
    assert (made.stream_name, made.group_id, made.id, made.event.type, made.event.data) == (
        "todos", "inbox", "t1", "create", {"x": 1})
    dumped = made.model_dump(by_alias=True)
    assert dumped["streamName"] == "todos" and dumped["event"] == {"type": "create", "data": {"x": 1}, "name": None}
    assert types.StreamTriggerInput.model_validate(made.model_dump()) == made
    assert types.StreamEvent(type="delete").data is None


def test_step_config_snake_or_camel_dict_triggers_become_trigger_objects():
    config = types.StepConfig.model_validate({
        "name": "S", "triggers": [{"type": "http", "path": "/s", "method": "POST"}],
        "virtualEnqueues": ["v"], "includeFiles": ["*.txt"]})
    assert isinstance(config.triggers[0], types.ApiTrigger) and config.triggers[0].method == "POST"
    assert (config.virtual_enqueues, config.include_files) == (["v"], ["*.txt"])
    assert config.model_dump(by_alias=True)["virtualEnqueues"] == ["v"]


def test_step_holds_a_file_path_and_a_config():
    step = types.Step(file_path="steps/a_step.py", config={"name": "A", "triggers": [{"type": "cron",
                                                                                         "expression": "* * * * *"}]})
    assert isinstance(step.config, types.StepConfig) and step.model_dump(by_alias=True)["filePath"] == "steps/a_step.py"


def test_type_aliases_describe_what_official_code_annotates():
    assert typing.get_args(types.ApiRouteMethod) == ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
    assert typing.get_origin(types.Enqueuer) is typing.get_origin(types.TriggerCondition) is not None
    assert typing.get_args(types.ApiMiddleware)[0][1] == FlowContext[Any]
    assert set(typing.get_args(types.TriggerConfig)) == {types.ApiTrigger, types.QueueTrigger, types.CronTrigger,
                                                        types.StateTrigger, types.StreamTrigger}
    assert types.TriggerInput is Any
    assert types.Enqueue(topic="t", label="l").conditional is False
    assert types.QueryParam(name="q", description="d").name == "q"
    assert types.ApiRequest(body={"a": 1}).body == {"a": 1}
    assert types.ApiResponse(status=201, body=None).status == 201


def test_stream_types_by_keyword():
    assert types_stream.StreamSubscription(group_id="g").id is None
    assert types_stream.StreamAuthResult(authorized=True).context is None
    assert types_stream.StreamAuthInput(headers={}, path="/", query_params={}, addr="1.2.3.4").addr == "1.2.3.4"
    assert types_stream.StreamConfig(name="todos", schema={"type": "object"}).name == "todos"
