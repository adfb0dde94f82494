"""Streamed HTTP through a served app: official `MotiaHttpArgs` handlers write their response as they go (the
client reads each SSE event when it is written) and read request bodies chunk by chunk; decorator steps return
an async iterator or `event_stream(...)`; official forms without a body schema get a missing body as None."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from motia import ApiRequest, FlowContext, MotiaError, MotiaHttpArgs, Registry, Stream, api, get, post
from motia.dsl import step_of
from motia.http_stream import ServerSentEvent, event_stream, sse_frame
from motia.legacy import compile_step
from motia.model import SourceLocation
from tests.conftest import http, running

pytestmark = pytest.mark.anyio


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The `data:` of each event, as the client receives it."""
    async for line in lines:
        if line.startswith("data: "):
            yield line[len("data: "):]


async def test_an_official_handler_streams_sse_and_the_client_reads_each_event_when_written() -> None:
    go_on = asyncio.Event()
    finished: list[bool] = []

    @get("/sse")
    async def sse(args: MotiaHttpArgs[None], ctx: FlowContext) -> None:
        await args.response.status(200)
        await args.response.headers({"content-type": "text/event-stream", "cache-control": "no-cache"})
        args.response.writer.stream.write(sse_frame({"n": 1}, event="tick"))
        await go_on.wait()  # the test releases this only after it has read event 1
        args.response.writer.stream.write(b"event: tick\ndata: {\"n\":2}\n\n")
        finished.append(True)
        args.response.close()

    async with running(sse) as app, http(app) as client, client.stream("GET", "/sse") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        events = sse_events(response.aiter_lines())
        assert await anext(events) == '{"n":1}'
        assert finished == []  # the handler is still waiting: event 1 came while it runs
        go_on.set()
        assert [event async for event in events] == ['{"n":2}']
    assert finished == [True]


async def test_a_decorator_step_returns_an_event_stream() -> None:
    go_on = asyncio.Event()

    @get("/ticks")
    async def ticks(req: ApiRequest[None]) -> Any:
        async def events() -> AsyncIterator[Any]:
            yield {"n": 1}
            await go_on.wait()
            yield ServerSentEvent("two", event="tick", id="2")

        return event_stream(events())

    async with running(ticks) as app, http(app) as client, client.stream("GET", "/ticks") as response:
        assert response.headers["content-type"] == "text/event-stream"
        lines = response.aiter_lines()
        assert await anext(lines) == 'data: {"n":1}'
        go_on.set()
        rest = [line async for line in lines]
    assert rest == ["", "event: tick", "id: 2", "data: two", ""]


async def test_a_decorator_step_returns_an_async_iterator_of_chunks() -> None:
    @get("/chunks")
    async def chunks(req: ApiRequest[None]) -> Any:
        async def parts() -> AsyncIterator[bytes | str]:
            yield "hello "
            yield b"world"

        return parts()

    async with running(chunks) as app, http(app) as client:
        response = await client.get("/chunks")
    assert response.content == b"hello world"
    assert response.headers["content-type"] == "application/octet-stream"


async def test_a_large_upload_is_read_chunk_by_chunk_without_being_buffered_whole() -> None:
    seen: dict[str, Any] = {}
    size = 5 * 1024 * 1024  # five times the buffered-body limit

    @post("/upload")
    async def upload(args: MotiaHttpArgs[None]) -> dict[str, int]:
        total = chunks = largest = 0
        async for chunk in args.request.request_body.stream:
            total += len(chunk)
            chunks += 1
            largest = max(largest, len(chunk))
        seen.update(chunks=chunks, largest=largest)
        return {"received": total}

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // 65536):
            yield b"x" * 65536

    async with running(upload) as app, http(app) as client:
        response = await client.post("/upload", content=body(), headers={"content-type": "application/octet-stream"})
    assert response.json() == {"received": size}
    assert seen["chunks"] > 1
    assert seen["largest"] < 1024 * 1024


async def test_a_sync_official_handler_reads_the_body_and_writes_the_response_from_its_thread() -> None:
    @post("/echo")
    def echo(args: MotiaHttpArgs[None], ctx: FlowContext) -> None:
        assert threading.current_thread() is not threading.main_thread()
        parts = list(args.request.request_body.stream)
        args.response.status(201)
        args.response.headers({"content-type": "text/plain"})
        for part in parts:
            args.response.writer.stream.write(part.upper())
        args.response.close()

    async with running(echo) as app, http(app) as client:
        response = await client.post("/echo", content=b"shout", headers={"content-type": "text/plain"})
    assert (response.status_code, response.text) == (201, "SHOUT")


async def test_when_the_client_goes_away_the_handler_is_stopped_or_told() -> None:
    outcomes: list[str] = []
    done = threading.Event()

    @get("/async-feed")
    async def async_feed(args: MotiaHttpArgs[None]) -> None:
        try:
            while True:
                args.response.writer.stream.write(b"tick\n")
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            outcomes.append("async handler cancelled")
            raise

    @get("/sync-feed")
    def sync_feed(args: MotiaHttpArgs[None]) -> None:
        try:
            while True:
                args.response.writer.stream.write(b"tick\n")
                time.sleep(0.01)
        except MotiaError as exc:
            outcomes.append(str(exc))
        finally:
            done.set()

    async with running(async_feed, sync_feed) as app, http(app) as client:
        for path in ("/async-feed", "/sync-feed"):
            async with client.stream("GET", path) as response:
                assert await anext(response.aiter_lines()) == "tick"
        await asyncio.to_thread(done.wait, 10)
        while len(outcomes) < 2:
            await asyncio.sleep(0.01)
    assert sorted(outcomes) == ["async handler cancelled", "write() after the response ended: the client went away"]


async def test_motia_http_args_offers_the_request_fields_and_a_returned_value_is_the_response() -> None:
    @post("/users/:id")
    async def update(args: MotiaHttpArgs[dict[str, Any]]) -> dict[str, Any]:
        raw = await args.request.request_body.read_all()
        return {"id": args.path_params["id"], "q": args.query_params, "body": args.body,
                "get": args.get("pathParams"), "method": args.method, "header": args.headers["X-Tag"],
                "raw": raw.decode(), "same": args.request.body == args.get("body")}

    async with running(update) as app, http(app) as client:
        response = await client.post("/users/7?x=1", json={"a": 1}, headers={"x-tag": "t"})
    assert response.json() == {"id": "7", "q": {"x": "1"}, "body": {"a": 1}, "get": {"id": "7"},
                               "method": "POST", "header": "t", "raw": '{"a":1}', "same": True}


async def test_reading_a_body_synchronously_in_async_code_is_a_clear_error() -> None:
    @post("/wrong")
    async def wrong(args: MotiaHttpArgs[None]) -> str:
        try:
            list(args.request.request_body.stream)
        except Exception as exc:
            return str(exc)
        return "no error"

    async with running(wrong) as app, http(app) as client:
        response = await client.post("/wrong", content=b"data", headers={"content-type": "text/plain"})
    assert "cannot be read synchronously on the event loop: iterate it with `async for`" in response.text


async def test_stream_writes_made_while_streaming_reach_the_app_of_the_request() -> None:
    progress = Stream[Any]("progress")

    @get("/work")
    async def work(args: MotiaHttpArgs[None]) -> None:
        args.response.writer.stream.write("started\n")
        progress.set("jobs", "1", {"state": "running"})  # not awaited, while the response is open
        progress.set("jobs", "1", {"state": "done"})
        args.response.close()

    async with running(Registry([step_of(work)], [progress])) as app, http(app) as client:  # type: ignore[list-item]
        assert (await client.get("/work")).text == "started\n"
        item = await app.worker.stream("progress").get("jobs", "1")
    assert item == {"state": "done"}


# --- official-form leniency ------------------------------------------------------------------------------


async def _official(request: Any, ctx: Any) -> dict[str, Any]:
    return {"status": 200, "body": {"body": request.body, "method": request.method}}


@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT"])
async def test_an_official_step_without_body_schema_gets_a_missing_body_as_none(method: str) -> None:
    step = compile_step({"name": "Official", "triggers": [{"type": "http", "method": method, "path": "/thing"}]},
                        _official, source=SourceLocation("/app/steps/official_step.py", 1))
    async with running(Registry([step])) as app, http(app) as client:
        missing = await client.request(method, "/thing")
        empty_json = await client.request(method, "/thing", headers={"content-type": "application/json"})
        given = await client.request(method, "/thing", json={"id": 3})
    assert missing.json() == {"body": None, "method": method}
    assert empty_json.json() == {"body": None, "method": method}
    assert given.json() == {"body": {"id": 3}, "method": method}


async def test_an_official_motia_http_args_step_gets_a_missing_body_as_none() -> None:
    @api("DELETE", "/items/:id")
    async def remove(args: MotiaHttpArgs[dict[str, Any]]) -> dict[str, Any]:
        return {"body": args.body}

    async with running(remove) as app, http(app) as client:
        assert (await client.delete("/items/1")).json() == {"body": None}
        assert (await client.request("DELETE", "/items/1", json={"why": "old"})).json() == {"body": {"why": "old"}}
