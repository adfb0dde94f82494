"""Scripts called in one turn of the event loop go to Redis together, on a connection of their own
(`held.py`): the queue's publishes and acks, dozens at once under load, would otherwise each take a pooled
connection and a round trip of their own. The Redis analogue of the SQLite store's group commit.

Calls of one script with the same keys and arguments plus `items` (the publishes to one topic) are merged
into one script call whose arguments end with every call's items: Redis runs the script once for all of
them, and each caller gets its one reply.

A batch goes out at the end of its loop turn whether or not the ones before it have their replies: batches
overlap on the connection (replies come back in order).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from ..tasks import Tasks
from .held import HeldConnection

# Items merged into one script call at most (the script's argument list stays small for Lua's stack).
MAX_ITEMS = 256


class Deferred:
    """An item whose value is known only when its batch goes out: `render` gives it then."""

    __slots__ = ()

    def render(self) -> Any:
        raise NotImplementedError


class Call:
    """One script call of a batch: the callers merged into it and their items."""

    __slots__ = ("arguments", "deferred", "futures", "items", "key_count", "script")

    def __init__(self, script: AsyncScript, keys: list[Any], args: list[Any]) -> None:
        self.script = script
        self.key_count = len(keys)
        self.arguments = [*keys, *args]
        self.futures: list[asyncio.Future[Any]] = []
        self.items = 0
        self.deferred = False  # some items are Deferred

    def command(self) -> tuple[Any, ...]:
        arguments = self.arguments
        if self.deferred:
            arguments = [a.render() if isinstance(a, Deferred) else a for a in arguments]
        return ("EVALSHA", self.script.sha, self.key_count, *arguments)


class ScriptBatch:
    def __init__(self, client: Any, tasks: Tasks) -> None:
        self.client = client
        self.tasks = tasks
        self._pending: list[Call] = []
        self._merging: dict[tuple[Any, ...], Call] = {}  # the calls of this batch that take more items
        self._sender: asyncio.Task[None] | None = None
        self._connection = HeldConnection(client.connection_pool)
        self._in_flight: set[asyncio.Future[Any]] = set()  # round trips, and the reloads of forgotten scripts

    def call(self, script: AsyncScript, keys: list[Any], args: list[Any],
             items: tuple[Any, ...] = (), *, deferred: bool = False) -> asyncio.Future[Any]:
        """The script's reply, or the client's error (a failed round trip fails every call that shared it:
        like a single command whose reply was lost, each may or may not have been applied). With `items`,
        the call may share one script call with others of the same script, keys and args (see above);
        `deferred` when some of them are `Deferred`."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if items:
            merge = (script.sha, *keys, *args)
            call = self._merging.get(merge)
            if call is None or call.items >= MAX_ITEMS:
                call = self._merging[merge] = Call(script, keys, args)
                self._pending.append(call)
            call.arguments += items
            call.items += 1
            call.deferred = call.deferred or deferred
        else:
            call = Call(script, keys, args)
            self._pending.append(call)
        call.futures.append(future)
        if self._sender is None:
            self._sender = self.tasks.spawn(self._send(), name="redis:batch")
        return future

    def ready(self) -> bool:
        """Whether the batch's connection is open and unbroken (Redis answered lately)."""
        return self._connection.ready()

    async def drain(self) -> None:
        """Return once every call made so far (and those made meanwhile) has its reply."""
        while self._sender is not None or self._in_flight:
            await asyncio.wait([self._sender] if self._sender is not None else set(self._in_flight))

    async def close(self) -> None:
        """Close the batch's connection (after `drain`: a round trip still waiting fails)."""
        await self._connection.release()

    async def _send(self) -> None:
        """Send what was called in this turn of the loop (opening the connection first if need be)."""
        try:
            await asyncio.sleep(0)
            if self._pending and not self._connection.ready():
                try:
                    await self._connection.open()
                except Exception as exc:  # Redis unreachable: every caller gets the error
                    _fail(self._take(), exc)
                    return
            if self._pending:
                self._flush()
        finally:
            self._sender = None

    def _take(self) -> list[Call]:
        """The calls made so far, as a batch; the next calls start another."""
        batch, self._pending, self._merging = self._pending, [], {}
        return batch

    def _flush(self) -> None:
        batch = self._take()
        replied = self._connection.send([call.command() for call in batch])
        self._in_flight.add(replied)
        replied.add_done_callback(functools.partial(self._replied, batch))

    def _replied(self, batch: list[Call], replied: asyncio.Future[list[Any]]) -> None:
        self._in_flight.discard(replied)
        if replied.cancelled():
            _fail(batch, None)
            return
        error = replied.exception()
        if error is not None:
            _fail(batch, error)
            return
        replies = replied.result()
        if any(isinstance(reply, NoScriptError) for reply in replies):
            reload = self.tasks.spawn(self._reload(batch, replies), name="redis:batch:reload")
            self._in_flight.add(reload)
            reload.add_done_callback(self._in_flight.discard)
            return
        _settle(batch, replies)

    async def _reload(self, batch: list[Call], replies: list[Any]) -> None:
        """A restarted Redis forgot the scripts: load them, then run those calls again."""
        missing = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        try:
            scripts = list({batch[n].script for n in missing})
            loaded = await self._connection.round_trip([("SCRIPT", "LOAD", script.script) for script in scripts])
            for script, sha in zip(scripts, loaded, strict=True):
                if isinstance(sha, Exception):
                    raise sha
                script.sha = sha.decode() if isinstance(sha, bytes) else sha
            again = [batch[n] for n in missing]
            for n, reply in zip(missing, await self._connection.round_trip([call.command() for call in again]),
                                strict=True):
                replies[n] = reply
        except Exception as exc:
            _fail(batch, exc)
            return
        except BaseException:
            _fail(batch, None)
            raise
        _settle(batch, replies)


def _settle(batch: list[Call], replies: list[Any]) -> None:
    for call, reply in zip(batch, replies, strict=True):
        for future in call.futures:
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)


def _fail(batch: list[Call], error: BaseException | None) -> None:
    """Every caller of the batch gets the error (None: cancelled)."""
    for call in batch:
        for future in call.futures:
            if future.done():
                continue
            if error is None:
                future.cancel()
            else:
                future.set_exception(error)
