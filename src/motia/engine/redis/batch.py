"""Scripts called in one turn of the event loop go to Redis together: one round trip on a connection of their
own (`held.py`) (the queue's publishes and acks, dozens at once under load, each would otherwise take a connection and a
round trip of its own). The Redis analogue of the SQLite store's group commit.

Calls of one script with the same keys and arguments plus `items` (the publishes to one topic, the acks of
one stream) are merged into one script call whose arguments end with every call's items: Redis runs the
script once for all of them, and each caller gets its one reply.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from ..tasks import Tasks
from .held import HeldConnection

# Items merged into one script call at most (the script's argument list stays small for Lua's stack).
MAX_ITEMS = 256
# Batches in flight at once: a call waits for a round trip of its own, not for the one before it to end too.
IN_FLIGHT = 2


class Call:
    """One script call of a batch: the callers merged into it and their items."""

    __slots__ = ("arguments", "futures", "items", "key_count", "script")

    def __init__(self, script: AsyncScript, keys: list[Any], args: list[Any]) -> None:
        self.script = script
        self.key_count = len(keys)
        self.arguments = [*keys, *args]
        self.futures: list[asyncio.Future[Any]] = []
        self.items = 0

    def command(self) -> tuple[Any, ...]:
        return ("EVALSHA", self.script.sha, self.key_count, *self.arguments)


class ScriptBatch:
    def __init__(self, client: Any, tasks: Tasks) -> None:
        self.client = client
        self.tasks = tasks
        self._pending: list[Call] = []
        self._merging: dict[tuple[Any, ...], Call] = {}  # the calls of this batch that take more items
        self._sender: asyncio.Task[None] | None = None
        # Up to IN_FLIGHT batches at a time, each on a connection of its own (rather than a pipeline taking and
        # giving back a pooled one per batch).
        self._connections = [HeldConnection(client.connection_pool) for _ in range(IN_FLIGHT)]
        self._idle = list(self._connections)
        self._running: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()

    def call(self, script: AsyncScript, keys: list[Any], args: list[Any],
             items: tuple[Any, ...] = ()) -> asyncio.Future[Any]:
        """The script's reply, or the client's error (a failed round trip fails every call that shared it:
        like a single command whose reply was lost, each may or may not have been applied). With `items`,
        the call may share one script call with others of the same script, keys and args (see above)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if items:
            merge = (script.sha, *keys, *args)
            call = self._merging.get(merge)
            if call is None or call.items >= MAX_ITEMS:
                call = self._merging[merge] = Call(script, keys, args)
                self._pending.append(call)
            call.arguments += items
            call.items += 1
        else:
            call = Call(script, keys, args)
            self._pending.append(call)
        call.futures.append(future)
        if self._sender is None:
            self._sender = self.tasks.spawn(self._send(), name="redis:batch")
        return future

    async def drain(self) -> None:
        """Return once every call made so far (and those made meanwhile) has its reply."""
        while self._sender is not None or self._running:
            await asyncio.wait([self._sender] if self._sender is not None else set(self._running))

    async def close(self) -> None:
        """Close the batch's connections (after `drain`: a round trip still waiting fails)."""
        for connection in self._connections:
            await connection.release()

    async def _send(self) -> None:
        """The calls of this loop turn go out together once a connection is free: what is called while every
        connection has a batch in flight goes in the next one (the busier, the bigger the batches, the fewer
        the round trips)."""
        try:
            await asyncio.sleep(0)  # the calls of this turn of the loop
            while self._pending:
                while not self._idle:
                    self._freed.clear()
                    await self._freed.wait()
                batch, self._pending, self._merging = self._pending, [], {}
                connection = self._idle.pop()
                run = self.tasks.spawn(self._run(batch, connection), name="redis:batch:run")
                self._running.add(run)
                run.add_done_callback(self._running.discard)
        finally:
            self._sender = None

    async def _run(self, batch: list[Call], connection: HeldConnection) -> None:
        try:
            await self._run_on(batch, connection)
        finally:
            self._idle.append(connection)
            self._freed.set()

    async def _run_on(self, batch: list[Call], connection: HeldConnection) -> None:
        try:
            replies = await connection.round_trip([call.command() for call in batch])
            missing = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:  # a restarted Redis forgot the scripts: load them, then run those calls again
                scripts = list({batch[n].script for n in missing})
                loaded = await connection.round_trip([("SCRIPT", "LOAD", script.script) for script in scripts])
                for script, sha in zip(scripts, loaded, strict=True):
                    if isinstance(sha, Exception):
                        raise sha
                    script.sha = sha.decode() if isinstance(sha, bytes) else sha
                again = [batch[n] for n in missing]
                for n, reply in zip(missing, await connection.round_trip([call.command() for call in again]),
                                    strict=True):
                    replies[n] = reply
        except Exception as exc:
            for call in batch:
                for future in call.futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        except BaseException:
            for call in batch:
                for future in call.futures:
                    future.cancel()
            raise
        for call, reply in zip(batch, replies, strict=True):
            for future in call.futures:
                if future.done():
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
