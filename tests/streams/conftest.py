"""Serving steps and streams on the test's own event loop, with the stream WebSocket on an ephemeral port,
and raw WebSocket helpers for specifying the wire protocol frame by frame."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from motia import Registry, Stream
from motia.assembly import App
from motia.dsl import step_of
from motia.streams import STREAM_AUTH_ATTRIBUTE
from tests.conftest import running


@contextlib.asynccontextmanager
async def serving(*parts: Any, **options: Any) -> AsyncIterator[App]:
    """An app of decorated handlers, Stream objects and an optional @stream_auth function."""
    registry = Registry([step for step in map(step_of, parts) if step is not None],
                        [part for part in parts if isinstance(part, Stream)])
    for part in parts:
        if getattr(part, STREAM_AUTH_ATTRIBUTE, False):
            registry.set_stream_auth(part)
    async with running(registry, stream_port=0, **options) as app:
        yield app


def ws_url(app: App) -> str:
    return f"ws://127.0.0.1:{app.stream_port}"


@contextlib.asynccontextmanager
async def raw_socket(app: App, **options: Any) -> AsyncIterator[ClientConnection]:
    async with connect(ws_url(app), **options) as websocket:
        yield websocket


async def join(websocket: ClientConnection, subscription_id: str, stream: str, group: str,
               item: str | None = None, kind: str = "join") -> None:
    data = {"subscriptionId": subscription_id, "streamName": stream, "groupId": group}
    if item is not None:
        data["id"] = item
    await websocket.send(json.dumps({"type": kind, "data": data}))


async def leave(websocket: ClientConnection, subscription_id: str, stream: str, group: str,
                item: str | None = None) -> None:
    await join(websocket, subscription_id, stream, group, item, kind="leave")


async def frame(websocket: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame the server sent, decoded."""
    return json.loads(await asyncio.wait_for(websocket.recv(), timeout))
