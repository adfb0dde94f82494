"""Streamed HTTP through a remote worker (the iii data channels, §3.1/§4.7): the client reads each SSE event
when the remote handler writes it, and a large upload reaches the remote handler chunk by chunk."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from motia import MotiaHttpArgs, api, get
from motia.http_stream import sse_frame
from tests.conftest import registry_of
from tests.protocol.test_remote_worker import remote  # noqa: F401 - the fixture


def test_a_remote_handler_streams_sse_and_the_client_reads_each_event_when_written(engine, remote):  # noqa: F811
    go_on = threading.Event()
    finished: list[bool] = []

    @get("/sse")
    async def sse(args: MotiaHttpArgs[None]) -> None:
        await args.response.status(200)
        await args.response.headers({"content-type": "text/event-stream"})
        args.response.writer.stream.write(sse_frame({"n": 1}))
        await asyncio.to_thread(go_on.wait, 10)  # released only after the client has read event 1
        args.response.writer.stream.write(sse_frame({"n": 2}))
        finished.append(True)
        args.response.close()

    remote(registry_of(sse), engine.ws_url)
    with engine.http.stream("GET", "/sse") as response:
        assert response.headers["content-type"] == "text/event-stream"
        lines = response.iter_lines()
        assert next(lines) == 'data: {"n":1}'
        assert finished == []
        go_on.set()
        assert [line for line in lines if line] == ['data: {"n":2}']
    assert finished == [True]


def test_a_large_upload_reaches_a_remote_handler_chunk_by_chunk(engine, remote):  # noqa: F811
    seen: dict[str, Any] = {}
    size = 3 * 1024 * 1024

    @api("POST", "/upload")
    async def upload(args: MotiaHttpArgs[None]) -> dict[str, int]:
        total = chunks = 0
        async for chunk in args.request.request_body.stream:
            total += len(chunk)
            chunks += 1
        seen["chunks"] = chunks
        return {"received": total}

    remote(registry_of(upload), engine.ws_url)
    body = (b"y" * 65536 for _ in range(size // 65536))
    response = engine.http.post("/upload", content=body, headers={"content-type": "application/octet-stream"})
    assert response.json() == {"received": size}
    assert seen["chunks"] > 1
