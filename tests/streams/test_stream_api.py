"""`Stream[T]` inside handlers, driven over HTTP: get, set, delete, get_group/list, list_groups, update, send;
`ctx.streams.<name>` and `ctx.streams[name]`; sync handlers; the engine's `stream::update` error report."""

from __future__ import annotations

import threading

import msgspec
import pytest

from motia import ApiRequest, FlowContext, MotiaError, Stream, get, post
from motia.state import SetResult
from tests.conftest import http
from tests.streams.conftest import serving

pytestmark = pytest.mark.anyio


class Todo(msgspec.Struct):
    id: str
    title: str
    done: bool = False


class NewTodo(msgspec.Struct):
    title: str


# --- typed items --------------------------------------------------------------------------------------


async def test_set_stores_a_struct_and_reads_decode_into_the_stream_type():
    todos = Stream[Todo]("todos")
    seen = {}

    @post("/todos/:group/:id")
    async def create(req: ApiRequest[NewTodo]) -> Todo:
        stored = await todos.set(req.path_params["group"], req.path_params["id"],
                                 Todo(req.path_params["id"], req.body.title))
        read = await todos.get(req.path_params["group"], req.path_params["id"])
        seen.update(stored=stored, read=read)
        return read

    async with serving(create, todos) as app, http(app) as client:
        response = await client.post("/todos/inbox/1", json={"title": "milk"})
    assert response.json() == {"id": "1", "title": "milk", "done": False}
    assert seen == {"stored": SetResult(Todo("1", "milk"), None), "read": Todo("1", "milk")}
    assert type(seen["read"]) is Todo


async def test_json_values_are_accepted_and_decoded_into_the_stream_type():
    todos = Stream[Todo]("todos")

    @get("/check")
    async def check(req: ApiRequest[None]) -> dict:
        await todos.set("inbox", "1", {"id": "1", "title": "from a dict"})
        item = await todos.get("inbox", "1")
        return {"type": type(item).__name__, "title": item.title, "done": item.done}

    async with serving(check, todos) as app, http(app) as client:
        assert (await client.get("/check")).json() == {"type": "Todo", "title": "from a dict", "done": False}


async def test_an_untyped_stream_keeps_any_json_value():
    notes = Stream("notes")

    @get("/check")
    async def check(req: ApiRequest[None]) -> dict:
        values = {"dict": {"a": [1, 2]}, "list": [1, "two"], "text": "hi", "number": 4.5, "flag": True}
        for key, value in values.items():
            await notes.set("g", key, value)
        return {key: await notes.get("g", key) for key in values}

    async with serving(check, notes) as app, http(app) as client:
        assert (await client.get("/check")).json() == {
            "dict": {"a": [1, 2]}, "list": [1, "two"], "text": "hi", "number": 4.5, "flag": True,
        }


async def test_a_stored_value_that_does_not_match_the_type_fails_the_read():
    todos = Stream[Todo]("todos")

    @get("/check")
    async def check(req: ApiRequest[None]) -> dict:
        await Stream("todos").set("inbox", "bad", {"id": "bad"})  # written untyped: no title
        try:
            await todos.get("inbox", "bad")
        except msgspec.ValidationError as exc:
            return {"error": str(exc)}
        return {"error": None}

    async with serving(check, todos) as app, http(app) as client:
        assert (await client.get("/check")).json() == {"error": "Object missing required field `title`"}


# --- reads and deletes --------------------------------------------------------------------------------


async def test_get_of_a_missing_item_is_none_and_delete_returns_the_removed_item():
    todos = Stream[Todo]("todos")

    @post("/check")
    async def check(req: ApiRequest[None]) -> dict:
        missing = await todos.get("inbox", "1")
        await todos.set("inbox", "1", Todo("1", "milk"))
        removed = await todos.delete("inbox", "1")
        return {"missing": missing, "removed": removed, "removed_type": type(removed).__name__,
                "after": await todos.get("inbox", "1"), "again": await todos.delete("inbox", "1")}

    async with serving(check, todos) as app, http(app) as client:
        assert (await client.post("/check")).json() == {
            "missing": None, "removed": {"id": "1", "title": "milk", "done": False}, "removed_type": "Todo",
            "after": None, "again": None,
        }


async def test_get_group_and_its_list_alias_return_the_items_of_that_group_only():
    todos = Stream[Todo]("todos")

    @get("/check")
    async def check(req: ApiRequest[None]) -> dict:
        await todos.set("inbox", "1", Todo("1", "milk"))
        await todos.set("inbox", "2", Todo("2", "bread"))
        await todos.set("work", "3", Todo("3", "report"))
        inbox = await todos.get_group("inbox")
        assert all(isinstance(t, Todo) for t in inbox)
        return {
            "inbox": sorted(t.title for t in inbox),
            "work": [t.title for t in await todos.list("work")],
            "camel": [t.title for t in await todos.getGroup("work")],
            "empty": await todos.get_group("nothing"),
        }

    async with serving(check, todos) as app, http(app) as client:
        assert (await client.get("/check")).json() == {
            "inbox": ["bread", "milk"], "work": ["report"], "camel": ["report"], "empty": [],
        }


async def test_list_groups_names_every_group_that_has_items():
    todos = Stream[Todo]("todos")

    @get("/check")
    async def check(req: ApiRequest[None]) -> dict:
        before = await todos.list_groups()
        await todos.set("inbox", "1", Todo("1", "milk"))
        await todos.set("work", "2", Todo("2", "report"))
        await todos.set("work", "3", Todo("3", "slides"))
        await Stream("other").set("elsewhere", "1", {})
        return {"before": before, "after": sorted(await todos.list_groups()),
                "camel": sorted(await todos.listGroups())}

    async with serving(check, todos) as app, http(app) as client:
        assert (await client.get("/check")).json() == {
            "before": [], "after": ["inbox", "work"], "camel": ["inbox", "work"],
        }


# --- update -------------------------------------------------------------------------------------------


async def test_update_applies_every_op_kind_in_order():
    profiles = Stream("profiles")

    @post("/check")
    async def check(req: ApiRequest[None]) -> dict:
        await profiles.set("g", "p", {"id": "p", "name": "Ada", "visits": 10, "tags": ["a"], "note": "x",
                                       "address": {"city": "London"}})
        return await profiles.update("g", "p", [
            {"type": "set", "path": "name", "value": "Ada L."},
            {"type": "merge", "value": {"age": 36}},
            {"type": "merge", "path": "address", "value": {"zip": "N1"}},
            {"type": "increment", "path": "visits", "by": 5},
            {"type": "decrement", "path": "visits", "by": 2},
            {"type": "increment", "path": "logins", "by": 1},
            {"type": "append", "path": "tags", "value": "b"},
            {"type": "append", "path": "note", "value": "y"},
            {"type": "remove", "path": "age"},
        ])

    async with serving(check, profiles) as app, http(app) as client:
        assert (await client.post("/check")).json() == {
            "id": "p", "name": "Ada L.", "visits": 13, "logins": 1, "tags": ["a", "b"], "note": "xy",
            "address": {"city": "London", "zip": "N1"},
        }


async def test_update_of_a_missing_item_starts_from_an_empty_object_and_one_op_may_be_a_dict():
    counters = Stream("counters")

    @post("/check")
    async def check(req: ApiRequest[None]) -> dict:
        first = await counters.update("g", "c", {"type": "increment", "path": "n", "by": 1})
        second = await counters.update("g", "c", [{"type": "decrement", "path": "n", "by": 3}])
        return {"first": first, "second": second, "stored": await counters.get("g", "c")}

    async with serving(check, counters) as app, http(app) as client:
        assert (await client.post("/check")).json() == {"first": {"n": 1}, "second": {"n": -2}, "stored": {"n": -2}}


async def test_update_returns_the_new_item_decoded_into_the_stream_type():
    todos = Stream[Todo]("todos")

    @post("/check")
    async def check(req: ApiRequest[None]) -> dict:
        await todos.set("inbox", "1", Todo("1", "milk"))
        updated = await todos.update("inbox", "1", [{"type": "set", "path": "done", "value": True}])
        return {"type": type(updated).__name__, "done": updated.done}

    async with serving(check, todos) as app, http(app) as client:
        assert (await client.post("/check")).json() == {"type": "Todo", "done": True}


async def test_update_with_an_invalid_op_raises_naming_the_failed_op():
    counters = Stream("counters")

    @post("/check")
    async def check(req: ApiRequest[None]) -> dict:
        await counters.set("g", "c", {"n": "not a number"})
        try:
            await counters.update("g", "c", [{"type": "set", "path": "ok", "value": 1},
                                             {"type": "increment", "path": "n", "by": 1}])
        except MotiaError as exc:
            return {"error": str(exc), "stored": await counters.get("g", "c")}
        return {"error": None}

    async with serving(check, counters) as app, http(app) as client:
        body = (await client.post("/check")).json()
    assert "counters/g/c" in body["error"]
    assert "increment.not_number" in body["error"]
    assert "'op_index': 1" in body["error"]
    assert body["stored"] == {"n": "not a number", "ok": 1}  # the valid op was applied


async def test_engine_stream_update_reports_failed_ops_in_errors_and_applies_the_rest():
    async with serving() as app:
        result = await app.engine.invoke("stream::update", {
            "stream_name": "s", "group_id": "g", "item_id": "i",
            "ops": [{"type": "set", "path": "a", "value": 1}, {"type": "fly"},
                    {"type": "merge", "value": "not an object"}, {"type": "set", "path": "__proto__", "value": 1},
                    "not an op", {"type": "increment", "path": "a", "by": 2}],
        })
        assert result.error is None
        assert msgspec.json.decode(result.result["new_value"]) == {"a": 3}
        assert result.result["old_value"] is None
        assert [(e["op_index"], e["code"]) for e in result.result["errors"]] == [
            (1, "op.unknown"), (2, "merge.value.not_object"), (3, "set.path.proto_polluted"), (4, "op.invalid"),
        ]
        clean = await app.engine.invoke("stream::update", {
            "stream_name": "s", "group_id": "g", "item_id": "i", "ops": [{"type": "remove", "path": "a"}],
        })
        assert "errors" not in clean.result
        refused = await app.engine.invoke("stream::update", {
            "stream_name": "s", "group_id": "g", "item_id": "i", "ops": {"type": "set"},
        })
        assert refused.error is not None and refused.error.code == "STREAM_UPDATE_ERROR"


# --- ctx.streams --------------------------------------------------------------------------------------


async def test_ctx_streams_by_attribute_and_by_key_reach_the_declared_typed_stream():
    todos = Stream[Todo]("todos")

    @post("/todos")
    async def create(req: ApiRequest[Todo], ctx: FlowContext) -> dict:
        await ctx.streams.todos.set("inbox", req.body.id, req.body)
        by_key = await ctx.streams["todos"].get("inbox", req.body.id)
        group = await ctx.streams.todos.get_group("inbox")
        return {"by_key": type(by_key).__name__, "group": [type(t).__name__ for t in group],
                "module_level": await todos.get("inbox", req.body.id) == by_key}

    async with serving(create, todos) as app, http(app) as client:
        response = await client.post("/todos", json={"id": "1", "title": "milk"})
    assert response.json() == {"by_key": "Todo", "group": ["Todo"], "module_level": True}


async def test_ctx_streams_of_an_undeclared_stream_is_untyped():
    @post("/notes")
    async def create(req: ApiRequest[None], ctx: FlowContext) -> dict:
        await ctx.streams.notes.set("g", "1", {"id": "1", "text": "hi"})
        await ctx.streams["notes"].update("g", "1", [{"type": "set", "path": "read", "value": True}])
        return {"note": await ctx.streams.notes.get("g", "1"), "groups": await ctx.streams["notes"].list_groups()}

    async with serving(create) as app, http(app) as client:
        response = await client.post("/notes")
    assert response.json() == {"note": {"id": "1", "text": "hi", "read": True}, "groups": ["g"]}


# --- sync handlers ------------------------------------------------------------------------------------


async def test_a_sync_handler_uses_streams_without_await():
    todos = Stream[Todo]("todos")
    threads = []

    @post("/todos")
    def create(req: ApiRequest[Todo], ctx: FlowContext) -> dict:
        threads.append(threading.current_thread() is threading.main_thread())
        todos.set("inbox", req.body.id, req.body)
        ctx.streams.todos.update("inbox", req.body.id, [{"type": "set", "path": "done", "value": True}])
        ctx.streams["todos"].send("inbox", {"type": "created", "data": req.body.id})
        item = todos.get("inbox", req.body.id)
        return {"item": item, "type": type(item).__name__, "group": len(todos.get_group("inbox")),
                "groups": todos.list_groups(), "deleted": ctx.streams.todos.delete("inbox", "missing")}

    async with serving(create, todos) as app, http(app) as client:
        response = await client.post("/todos", json={"id": "1", "title": "milk"})
    assert response.json() == {"item": {"id": "1", "title": "milk", "done": True}, "type": "Todo", "group": 1,
                               "groups": ["inbox"], "deleted": None}
    assert threads == [False]
