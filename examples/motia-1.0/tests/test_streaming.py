"""examples/motia-1.0's streaming steps, served for real (an HTTP server on an ephemeral port), since what is
checked is when the bytes reach the client: each server-sent event as it is written, uploads as they arrive."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from motia import StateManager
from motia.assembly import App
from motia.discovery import discover

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.anyio


@pytest.fixture
async def served() -> AsyncIterator[tuple[httpx.AsyncClient, StateManager]]:
    """The project served on an ephemeral port: an HTTP client, and the app's state."""
    app = App(discover(ROOT, ROOT / "steps"), memory=True, port=0, stream_port=None)
    await app.start()
    try:
        async with httpx.AsyncClient(base_url=app.url, timeout=10) as client:
            yield client, StateManager(app.worker)
    finally:
        await app.stop()


async def events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, Any]]:
    """(event name, decoded data) of each server-sent event, as it arrives."""
    name = "message"
    async for line in lines:
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            yield name, json.loads(line[len("data: "):])
            name = "message"


async def test_job_progress_is_pushed_as_the_state_changes(served: tuple[httpx.AsyncClient, StateManager]) -> None:
    client, state = served
    await state.set("jobs", "j1", {"status": "queued"})
    async with client.stream("GET", "/sse/jobs/j1") as response:
        assert response.headers["content-type"] == "text/event-stream"
        received = events(response.aiter_lines())
        # The step is still running (it waits for "done"): the first event came while it runs.
        assert await anext(received) == ("progress", {"status": "queued"})
        await state.set("jobs", "j1", {"status": "running", "percent": 50})
        assert await anext(received) == ("progress", {"status": "running", "percent": 50})
        await state.set("jobs", "j1", {"status": "done"})
        assert [event async for event in received] == [("progress", {"status": "done"})]


async def test_an_upload_is_read_chunk_by_chunk(served: tuple[httpx.AsyncClient, StateManager]) -> None:
    client, _ = served
    size = 4 * 1024 * 1024  # four times the limit of a buffered body

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // 65536):
            yield b"z" * 65536

    async with client.stream("POST", "/sse/upload", content=body(),
                             headers={"content-type": "application/octet-stream"}) as response:
        received = [event async for event in events(response.aiter_lines())]
    chunks = [data["bytes"] for name, data in received if name == "chunk"]
    assert received[-1] == ("done", {"total": size})
    assert len(chunks) > 1 and sum(chunks) == size
