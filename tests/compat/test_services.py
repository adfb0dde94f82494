"""`enqueue`, `logger`, `Stream`, `StateManager`/`stateManager` as official step code calls them: sync in
sync handlers, awaited in async ones."""

from __future__ import annotations

from typing import Any

import pytest

import motia
import motia.events
import motia.log
import motia.streams
from motia import ApiRequest, ApiResponse
from motia.state import stateManager as state_module_manager

from .conftest import app_of

pytestmark = pytest.mark.anyio


async def test_enqueue_official_dict_form_sync_and_awaited():
    got: list[Any] = []

    def sync_handler(request: ApiRequest[Any], ctx: Any) -> ApiResponse[Any]:
        motia.enqueue({"topic": "jobs", "data": {"from": "sync"}})
        return ApiResponse(status=202, body=None)

    async def async_handler(request: ApiRequest[Any], ctx: Any) -> ApiResponse[Any]:
        await motia.events.enqueue({"topic": "jobs", "data": {"from": "async"}, "messageGroupId": "g"})
        return ApiResponse(status=202, body=None)

    async with app_of(({"name": "S", "triggers": [motia.http("POST", "/s")]}, sync_handler),
                      ({"name": "A", "triggers": [motia.http("POST", "/a")]}, async_handler),
                      ({"name": "Jobs", "triggers": [motia.queue("jobs")]}, lambda data, ctx: got.append(data))) as app:
        await app.http.post("/s")
        await app.http.post("/a")
        await app.wait_idle()
        assert app.published[-1].message_group_id == "g"
    assert sorted(d["from"] for d in got) == ["async", "sync"]


async def test_module_logger_tags_each_line_with_the_running_step_and_trace_id():
    async def handler(request: Any, ctx: Any) -> ApiResponse[Any]:
        motia.logger.info("hello", {"user": 7})
        motia.log.logger.warn("careful", extra_field=1)
        return ApiResponse(status=200, body={"trace_id": ctx.trace_id})

    async with app_of(({"name": "Logs", "triggers": [motia.http("GET", "/l")]}, handler)) as app:
        trace_id = (await app.http.get("/l")).json()["trace_id"]
        records = [r for r in app.logs if r.getMessage() in ("hello", "careful")]
    assert [(r.getMessage(), r.step, r.trace_id, r.fields) for r in records] == [  # type: ignore[attr-defined]
        ("hello", "Logs", trace_id, {"user": 7}), ("careful", "Logs", trace_id, {"extra_field": 1})]
    assert records[0].pathname.endswith("test_services.py")  # the caller's line, not the logger's


def test_module_logger_outside_a_handler_logs_untagged(caplog: pytest.LogCaptureFixture):
    with caplog.at_level("INFO", logger="motia"):
        motia.logger.info("boot")
    assert [(r.getMessage(), getattr(r, "step", "absent")) for r in caplog.records] == [("boot", None)]


async def test_stream_and_state_managers_sync_in_sync_handlers_and_awaited_in_async_ones():
    def sync_handler(request: ApiRequest[Any], ctx: Any) -> ApiResponse[Any]:
        motia.Stream("notes").set("g", "n1", {"text": "sync"})
        motia.stateManager.set("notes", "count", 1)
        return ApiResponse(status=200, body={"note": motia.Stream("notes").get("g", "n1"),
                                             "count": state_module_manager.get("notes", "count")})

    async def async_handler(request: ApiRequest[Any], ctx: Any) -> ApiResponse[Any]:
        notes = motia.streams.Stream("notes")
        await notes.set("g", "n2", {"text": "async"})
        manager = motia.StateManager()
        await manager.set("notes", "count", 2)
        return ApiResponse(status=200, body={"group": await notes.get_group("g"),
                                             "count": await manager.get("notes", "count")})

    async with app_of(({"name": "S", "triggers": [motia.http("GET", "/s")]}, sync_handler),
                      ({"name": "A", "triggers": [motia.http("GET", "/a")]}, async_handler)) as app:
        assert (await app.http.get("/s")).json() == {"note": {"text": "sync"}, "count": 1}
        body = (await app.http.get("/a")).json()
    assert body["count"] == 2
    assert sorted(n["text"] for n in body["group"]) == ["async", "sync"]


async def test_stream_built_from_an_official_stream_config():
    todos = motia.Stream(motia.StreamConfig(name="todos", schema={"type": "object"}))
    assert (todos.name, todos.stream_name, todos.schema) == ("todos", "todos", {"type": "object"})

    async def handler(request: Any, ctx: Any) -> ApiResponse[Any]:
        await todos.set("g", "t1", {"title": "a"})
        return ApiResponse(status=200, body=await todos.get("g", "t1"))

    async with app_of(({"name": "T", "triggers": [motia.http("GET", "/t")]}, handler)) as app:
        assert (await app.http.get("/t")).json() == {"title": "a"}
