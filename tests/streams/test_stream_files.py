"""Streams declared in stream files: Motia's `*_stream.py` with `config = {...}` or `StreamConfig(...)`,
and a module-level `Stream[T]`, discovered with the steps and served."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from motia import StepError, StreamClient
from motia.discovery import discover
from motia.stream_client import StreamUnauthorized
from tests.conftest import http, running
from tests.streams.conftest import ws_url

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def isolated_imports() -> Iterator[None]:
    modules, path = set(sys.modules), list(sys.path)
    yield
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    sys.path[:] = path
    importlib.invalidate_caches()


def write(root: Path, relative: str, source: str) -> None:
    file = root / relative
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(textwrap.dedent(source).lstrip("\n"))


ADD_TODO_STEP = """
    from motia import ApiRequest, FlowContext, api

    @api("POST", "/todo/:id")
    async def add_todo(req: ApiRequest[dict], ctx: FlowContext) -> list:
        await ctx.streams.todo.set("inbox", req.path_params["id"], {"id": req.path_params["id"], **req.body})
        return await ctx.streams["todo"].get_group("inbox")
"""


async def test_a_legacy_stream_file_with_a_config_dict_is_discovered_with_its_schema_and_hooks(tmp_path):
    write(tmp_path, "steps/todo_stream.py", """
        def on_join(subscription, ctx, auth_context):
            return subscription.group_id != "secret"

        config = {
            "name": "todo",
            "schema": {"type": "object", "properties": {"id": {"type": "string"}, "title": {"type": "string"}}},
            "baseConfig": {"storageType": "default"},
            "onJoin": on_join,
        }
    """)
    write(tmp_path, "steps/add_todo_step.py", ADD_TODO_STEP)
    registry = discover(tmp_path)
    assert list(registry.streams) == ["todo"]
    assert registry.streams["todo"].schema["properties"]["title"] == {"type": "string"}
    assert [step.name for step in registry] == ["add_todo"]

    async with running(registry, stream_port=0) as app, http(app) as web, StreamClient(ws_url(app)) as client:
        inbox = await client.subscribe_group("todo", "inbox")
        response = await web.post("/todo/1", json={"title": "milk"})
        assert response.json() == [{"id": "1", "title": "milk"}]
        assert await inbox.wait_for(lambda items: items) == [{"id": "1", "title": "milk"}]
        with pytest.raises(StreamUnauthorized):
            await client.subscribe_group("todo", "secret")


@pytest.mark.parametrize("file_name", [
    "notes_stream.py",
    "notes.stream.py",
])
async def test_a_stream_file_may_declare_a_stream_config_with_a_struct_schema(tmp_path, file_name):
    write(tmp_path, f"steps/{file_name}", """
        import msgspec
        from motia import StreamConfig

        class Note(msgspec.Struct):
            id: str
            text: str

        config = StreamConfig(name="notes", schema=Note, description="Sticky notes")
    """)
    write(tmp_path, "steps/read_note_step.py", """
        from motia import ApiRequest, FlowContext, api

        @api("GET", "/notes/:id")
        async def read_note(req: ApiRequest[None], ctx: FlowContext) -> dict:
            await ctx.streams.notes.set("board", req.path_params["id"], {"id": req.path_params["id"], "text": "hi"})
            note = await ctx.streams.notes.get("board", req.path_params["id"])
            return {"type": type(note).__name__, "text": note.text}
    """)
    registry = discover(tmp_path)
    assert registry.streams["notes"].description == "Sticky notes"
    async with running(registry, stream_port=0) as app, http(app) as web:
        assert (await web.get("/notes/1")).json() == {"type": "Note", "text": "hi"}


async def test_a_module_level_stream_object_in_a_stream_file_is_the_declaration(tmp_path):
    write(tmp_path, "steps/todo_stream.py", """
        import msgspec
        from motia import Stream

        class Todo(msgspec.Struct):
            id: str
            title: str

        todos = Stream[Todo]("todo")
        config = {"name": "ignored when a Stream object is present"}
    """)
    write(tmp_path, "steps/add_todo_step.py", ADD_TODO_STEP)
    registry = discover(tmp_path)
    assert list(registry.streams) == ["todo"]
    assert registry.streams["todo"].item_type.__name__ == "Todo"


async def test_a_stream_file_config_without_a_name_stops_discovery_with_the_file(tmp_path):
    write(tmp_path, "steps/broken_stream.py", """
        config = {"schema": {}}
    """)
    with pytest.raises(StepError, match=r"broken_stream\.py:1: invalid stream config"):
        discover(tmp_path)


class Item(msgspec.Struct):
    id: str


def test_plain_declarations_of_one_stream_in_several_files_are_one_stream():
    from motia import Registry, Stream

    registry = Registry()
    registry.add_stream(Stream("todos"), "a_step.py:1")
    typed = Stream[Item]("todos")
    registry.add_stream(typed, "todo_stream.py:3")
    registry.add_stream(Stream("todos"), "b_step.py:1")
    assert registry.streams["todos"] is typed
    with pytest.raises(StepError, match="duplicate stream 'todos'"):
        registry.add_stream(Stream[dict]("todos"), "c_step.py:2")
