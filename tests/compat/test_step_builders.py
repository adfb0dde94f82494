"""`motia.step` and `motia.multi_trigger`: `step(config, handler)`, `step(config).handle(fn)`, `@step(...)`,
`multi_trigger_step` in both styles, and discovery of modules that only export a step definition."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import motia
import motia.multi_trigger
from motia import ApiResponse, StepBuilder, StepConfig, StepDefinition
from motia.discovery import discover
from motia.step import StepBuilder as OfficialStepBuilder
from motia.step import step as official_step
from motia.triggers import step_of

from .conftest import app_of

pytestmark = pytest.mark.anyio


async def hello(request: Any, ctx: Any) -> ApiResponse[Any]:
    return ApiResponse(status=200, body={"step": ctx.step})


CONFIG = {"name": "Hello", "triggers": [motia.http("GET", "/hello")]}


async def test_step_with_a_handler_is_a_served_step_definition():
    for step in (motia.step, official_step):
        definition = step(CONFIG, hello)
        assert isinstance(definition, StepDefinition) and definition.handler is hello
        assert isinstance(definition.config, StepConfig) and definition.config.name == "Hello"
    async with app_of(definition) as app:
        assert (await app.http.get("/hello")).json() == {"step": "Hello"}


def test_step_with_a_config_only_is_a_builder():
    builder = motia.step(StepConfig(name="Hello", triggers=[motia.http("GET", "/hello")]))
    assert isinstance(builder, StepBuilder) and OfficialStepBuilder is StepBuilder
    definition = builder.handle(hello)
    assert (definition.config.name, definition.handler) == ("Hello", hello)


def test_step_as_a_decorator_keeps_the_dsl_meaning():
    @motia.step("Named", flows=["f"])
    @motia.http("GET", "/named")
    def handler(request: Any) -> None: ...

    step = step_of(handler)
    assert step is not None and (step.name, step.flows, step.triggers[0].path) == ("Named", ["f"], "/named")


def test_a_module_exporting_only_a_step_definition_is_discovered(tmp_path: Path):
    steps = tmp_path / "steps"
    steps.mkdir()
    (steps / "greet_step.py").write_text(textwrap.dedent("""
        from motia import http, step

        async def greet(request, ctx):
            return {"status": 200, "body": "hi"}

        greet_step = step({"name": "Greet", "triggers": [http("GET", "/greet")]}, greet)
    """))
    (steps / "reuse_step.py").write_text(textwrap.dedent("""
        from steps.greet_step import greet_step  # imported, not defined here: not a second step
    """))
    registry = discover(tmp_path)
    assert [s.name for s in registry] == ["Greet"]
    assert registry.steps[0].location == f"{steps / 'greet_step.py'}:7"


def test_multi_trigger_step_without_a_branch_for_the_trigger_raises():
    definition = motia.multi_trigger.multi_trigger_step(
        {"name": "M", "triggers": [motia.http("GET", "/m"), motia.queue("m")]}).on_http(hello).handlers()

    class Ctx:
        trigger = motia.TriggerInfo(type="queue")

    import anyio

    with pytest.raises(RuntimeError, match="No handler defined for trigger type: queue"):
        anyio.run(definition.handler, {}, Ctx())


async def test_multi_trigger_step_both_styles_dispatch_by_trigger():
    seen: list[tuple[str, Any]] = []

    def on_queue(data: Any, ctx: Any) -> None:
        seen.append(("queue", data))

    async def on_cron(ctx: Any) -> None:
        seen.append(("cron", ctx.trigger.expression))

    chained = (motia.multi_trigger_step({"name": "Chained", "triggers": [
        motia.http("GET", "/chained"), motia.queue("jobs"), motia.cron("0 0 * * * *")]})
        .on_http(hello).on_queue(on_queue).on_cron(on_cron).handlers())
    as_dict = motia.multi_trigger_step({"name": "Dict", "triggers": [motia.http("GET", "/dict")]}).handlers(
        {"http": hello})
    assert isinstance(motia.multi_trigger_step({"name": "X", "triggers": []}), motia.MultiTriggerStepBuilder)
    async with app_of(chained, as_dict) as app:
        assert (await app.http.get("/chained")).json() == {"step": "Chained"}
        assert (await app.http.get("/dict")).json() == {"step": "Dict"}
        await app.emit("jobs", {"n": 1})
        await app.wait_idle()  # before moving the clock: an hour would also expire the delivery in flight
        await app.clock.advance(3600)
        await app.wait_idle()
    assert seen == [("queue", {"n": 1}), ("cron", "0 0 * * * *")]


def test_multi_trigger_step_refuses_an_unknown_branch_name():
    with pytest.raises(ValueError, match="unknown trigger type 'webhook'"):
        motia.multi_trigger_step({"name": "X", "triggers": []}).handlers({"webhook": hello})
