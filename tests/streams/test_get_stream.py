"""`motia.get_stream(name)`: the running app's stream by name, from code that has no `ctx` (generated clients)."""

from __future__ import annotations

import msgspec
import pytest

from motia import ApiRequest, MotiaError, Stream, get_stream, post
from tests.conftest import http
from tests.streams.conftest import serving

pytestmark = pytest.mark.anyio


class Todo(msgspec.Struct):
    id: str
    title: str


async def test_get_stream_reaches_the_declared_stream_and_decodes_into_its_item_type():
    todos = Stream[Todo]("todos")

    @post("/todos")
    async def create(req: ApiRequest[Todo]) -> dict:
        await get_stream("todos").set("inbox", req.body.id, req.body)
        read = await get_stream("todos").get("inbox", req.body.id)
        return {"type": type(read).__name__, "module_level": await todos.get("inbox", req.body.id) == read}

    async with serving(create, todos) as app, http(app) as client:
        response = await client.post("/todos", json={"id": "1", "title": "milk"})
    assert response.json() == {"type": "Todo", "module_level": True}


async def test_get_stream_of_an_undeclared_stream_reads_json_values():
    @post("/notes")
    async def create(req: ApiRequest[None]) -> dict:
        await get_stream("notes").set("g", "1", {"text": "hi"})
        return {"note": await get_stream("notes").get("g", "1")}

    async with serving(create) as app, http(app) as client:
        assert (await client.post("/notes")).json() == {"note": {"text": "hi"}}


def test_get_stream_without_a_running_app_says_so():
    with pytest.raises(MotiaError, match="no motia app is running"):
        get_stream("todos")
