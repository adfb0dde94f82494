"""A connection taken from a pool once and kept for a loop that talks to Redis all the time (the script batch,
each queue subscription's reader): a command through the client takes a pooled connection and gives it back
each time, and redis-py's command path (retry, observability hooks, reply callbacks) costs more than the
round trip's own work. Commands go out as they are; replies come back raw."""

from __future__ import annotations

from typing import Any

import hiredis
from redis.exceptions import ResponseError


class HeldConnection:
    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._connection: Any = None

    async def round_trip(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send the commands at once and read their replies (an error reply is returned in its place, not
        raised). When the connection breaks (or the call is cancelled half-way) it goes back to the pool,
        which checks it before handing it out again: the next call takes a fresh one."""
        connection = self._connection
        if connection is not None and _closed_by_server(connection):
            await self.release(disconnect=True)  # Redis restarted while this was idle: nothing was sent on it
            connection = None
        if connection is None:
            connection = self._connection = await self.pool.get_connection()
        replies: list[Any] = []
        try:
            await connection.send_packed_command(pack(commands))
            for _ in commands:
                try:
                    replies.append(await connection.read_response())
                except ResponseError as exc:
                    replies.append(exc)
        except BaseException:
            await self.release(disconnect=True)
            raise
        return replies

    async def release(self, *, disconnect: bool = False) -> None:
        """Give the connection back to the pool (closing the client closes it otherwise)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            if disconnect:
                await connection.disconnect()
            await self.pool.release(connection)


def _closed_by_server(connection: Any) -> bool:
    """Whether the server closed the connection (its end of stream arrived while nothing was asked): what the
    pool checks before it hands a connection out, done here without a round trip."""
    reader = getattr(connection, "_reader", None)  # redis-py's asyncio.StreamReader of the connection
    return reader is not None and reader.at_eof()


def pack(commands: list[tuple[Any, ...]]) -> bytes:
    """The commands in the Redis protocol, as one buffer: hiredis's packer (in C; redis-py's checks and converts
    each argument in Python, a few microseconds per command)."""
    return b"".join(map(hiredis.pack_command, commands))
