"""Data channels (`docs/protocol.md` §4.7): one-shot bounded pipes between a writer and a reader, reached on
the worker port at `/ws/channels/<id>?key=<access_key>&dir=read|write`.

Workers make them with `engine::channels::create`; the engine makes two per HTTP request it sends to a
remote worker: `request_body` (the raw request bytes, written by the engine) and `response` (a streamed
response, read by the engine).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ..protocol import new_id
from .engine import BuiltinError

log = logging.getLogger("motia.engine.channels")

DEFAULT_BUFFER = 64
MAX_BUFFER = 1024
UNCLAIMED_TTL = 300.0  # a channel with an end nobody took is swept after 5 minutes
CHUNK = 64 * 1024  # the SDKs cut binary writes into frames of at most this size
_EOF = None

Frame = str | bytes


class Channel:
    """The pipe: frames the writer sent, in order, then EOF (None).

    Most channels are never opened (a remote worker reads a request's raw body only when it is not JSON), so
    the queue is made on first use and content the engine writes itself stays one `bytes` until then.
    """

    __slots__ = ("_claimed", "_content", "_frames", "buffer_size", "closed", "created", "id", "key", "on_writer",
                 "sockets")

    def __init__(self, buffer_size: int) -> None:
        self.id = new_id()
        self.key = new_id()
        self.buffer_size = buffer_size
        self._frames: asyncio.Queue[Frame | None] | None = None
        self._content: bytes | None = None
        self.created = time.monotonic()
        self.closed = False
        self._claimed: set[str] = set()
        self.sockets: list[ServerConnection] = []
        # Called when a writer connects (the engine then starts reading a streamed HTTP response).
        self.on_writer: Callable[[Channel], None] | None = None

    def ref(self, direction: str) -> dict[str, str]:
        return {"channel_id": self.id, "access_key": self.key, "direction": direction}

    def claim(self, direction: str) -> bool:
        """Each end can be taken once."""
        if direction in self._claimed:
            return False
        self._claimed.add(direction)
        return True

    def claimed(self, direction: str) -> bool:
        return direction in self._claimed

    @property
    def frames(self) -> asyncio.Queue[Frame | None]:
        if self._frames is None:
            content = self._content
            self._frames = asyncio.Queue(0 if content is not None else self.buffer_size)
            if content is not None:
                for start in range(0, len(content), CHUNK):
                    self._frames.put_nowait(content[start:start + CHUNK])
                self._frames.put_nowait(_EOF)
        return self._frames

    def fill(self, data: bytes) -> None:
        """The whole content, written by the engine (a request body): read as frames of 64 KiB, then EOF."""
        self._content = data

    def close(self) -> None:
        """Drop what is buffered and end the stream for whoever reads or waits to write."""
        self.closed = True
        frames = self._frames
        if frames is not None:
            while not frames.empty():
                frames.get_nowait()
            frames.put_nowait(_EOF)

    async def read(self) -> AsyncIterator[Frame]:
        """The frames, until the writer closes."""
        while True:
            frame = await self.frames.get()
            if frame is _EOF:
                return
            yield frame


class Channels:
    """Every open channel of an engine."""

    def __init__(self) -> None:
        self.open: dict[str, Channel] = {}
        self._swept = time.monotonic()

    def create(self, buffer_size: int = DEFAULT_BUFFER) -> Channel:
        now = time.monotonic()
        if now - self._swept > 60:
            self._sweep(now)
        channel = Channel(max(1, min(buffer_size, MAX_BUFFER)))
        self.open[channel.id] = channel
        return channel

    def find(self, channel_id: str, key: str) -> Channel | None:
        channel = self.open.get(channel_id)
        return channel if channel is not None and channel.key == key else None

    def remove(self, channel: Channel) -> None:
        if self.open.pop(channel.id, None) is not None:
            channel.close()
            for ws in channel.sockets:
                asyncio.get_running_loop().create_task(ws.close())

    def _sweep(self, now: float) -> None:
        self._swept = now
        for channel in [c for c in self.open.values() if now - c.created > UNCLAIMED_TTL]:
            if not (channel.claimed("read") and channel.claimed("write")):
                self.remove(channel)

    async def builtin_create(self, data: Any) -> dict[str, Any]:
        """`engine::channels::create` `{buffer_size?}` -> writer and reader refs (owned by nobody, §4.6)."""
        size = data.get("buffer_size") if isinstance(data, dict) else None
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise BuiltinError("invalid_argument", "buffer_size must be a positive integer")
        channel = self.create(size or DEFAULT_BUFFER)
        return {"writer": channel.ref("write"), "reader": channel.ref("read")}

    async def serve(self, ws: ServerConnection, channel: Channel, direction: str) -> None:
        """One end of a channel over WebSocket; a second taker of the same end is closed at once."""
        if not channel.claim(direction):
            await ws.close()
            return
        channel.sockets.append(ws)
        if direction == "write":
            if channel.on_writer is not None:
                channel.on_writer(channel)
            try:
                async for frame in ws:
                    if channel.closed:
                        break
                    await channel.frames.put(frame)
            except ConnectionClosed:
                pass
            finally:
                if not channel.closed:
                    await channel.frames.put(_EOF)
            return
        try:
            async for frame in channel.read():
                await ws.send(frame)
        except ConnectionClosed:
            pass
        finally:
            self.remove(channel)
            await ws.close()
