"""A connection of its own for a loop that talks to Redis all the time (the script batch, each queue
subscription's reader).

redis-py opens it as its pool would (address, TLS, AUTH, SELECT, the protocol version: everything the URL
says) but it is not the pool's: from then on its socket is read by a protocol of our own. Commands go out
packed by hiredis in one write; replies are parsed by hiredis's reader as they arrive and handed to their
round trip in order. A command through the client takes a pooled connection and gives it back each time, and
redis-py's reading path (a stream reader, a timeout and several coroutines per reply) costs more than the
round trip's own work. Round trips may overlap: replies come back in the order the commands went out.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse

_PUSH = getattr(hiredis, "PushNotification", None)  # RESP3 out-of-band messages (none are asked for here)


class _Replies(asyncio.Protocol):
    """The reading end of a held connection: each round trip waits for its count of replies, in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error)
        self.waiting: deque[tuple[asyncio.Future[list[Any]], int, list[Any]]] = deque()
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader, waiting = self.reader, self.waiting
        reader.feed(data)
        while (reply := reader.gets()) is not False:
            if _PUSH is not None and isinstance(reply, _PUSH):
                continue
            if not waiting:  # a reply nobody asked for: the stream is out of step, so drop the connection
                self._fail(InvalidResponse("a reply arrived that no command asked for"))
                return
            future, count, replies = waiting[0]
            replies.append(reply)
            if len(replies) == count:
                waiting.popleft()
                if not future.done():  # a cancelled round trip's replies are read all the same
                    future.set_result(replies)

    def close(self) -> None:
        self._fail(RedisConnectionError("connection released"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"Connection closed by server: {exc}" if exc else
                                        "Connection closed by server."))

    def _fail(self, error: Exception) -> None:
        if self.lost is None:
            self.lost = error
        while self.waiting:
            future = self.waiting.popleft()[0]
            if not future.done():
                future.set_exception(self.lost)
        if self.transport is not None:
            self.transport.close()


class HeldConnection:
    def __init__(self, pool: Any) -> None:
        self.pool = pool  # what the connection is made like (its URL and options); it does not hand it out
        self._connection: Any = None  # redis-py's connection object, which opened the socket
        self._replies: _Replies | None = None
        self._opening = asyncio.Lock()

    def ready(self) -> bool:
        """Whether the connection is open and unbroken: `send` may be called."""
        return self._replies is not None and self._replies.lost is None

    async def open(self) -> None:
        """Make the connection `ready` (a broken one is closed and a new one opened)."""
        async with self._opening:
            if not self.ready():
                if self._connection is not None:
                    await self.release()
                await self._open()

    def send(self, commands: list[tuple[Any, ...]]) -> asyncio.Future[list[Any]]:
        """Write the commands now, in one write (the connection must be `ready`); the future gets their replies
        in order (an error reply in its place), or the connection's failure."""
        replies = self._replies
        assert replies is not None and replies.transport is not None
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        replies.waiting.append((future, len(commands), []))
        replies.transport.write(pack(commands))
        return future

    async def round_trip(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send the commands at once and wait for their replies (an error reply is returned in its place, not
        raised). A broken connection fails every round trip waiting on it; the next call opens a new one."""
        if not self.ready():  # not opened yet, or broken (Redis restarted, perhaps while this was idle)
            await self.open()
        return await self.send(commands)

    async def _open(self) -> None:
        connection = self.pool.make_connection()
        try:
            await connection.connect()
            # redis-py's stream writer (private) holds the transport it connected: its reading goes to us.
            transport = connection._writer.transport
            replies = _Replies()
            transport.set_protocol(replies)
            replies.connection_made(transport)
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        self._connection, self._replies = connection, replies

    async def release(self) -> None:
        """Close the connection (round trips waiting on it fail); the next round trip opens a new one."""
        connection, replies = self._connection, self._replies
        self._connection = self._replies = None
        if replies is not None:
            replies.close()
        if connection is not None:
            await connection.disconnect(nowait=True)  # the socket's protocol is ours: no close to wait for


def pack(commands: list[tuple[Any, ...]]) -> bytes:
    """The commands in the Redis protocol, as one buffer: hiredis's packer (in C; redis-py's checks and converts
    each argument in Python, a few microseconds per command)."""
    return b"".join(map(hiredis.pack_command, commands))
