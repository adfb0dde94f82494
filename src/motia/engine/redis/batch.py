"""Scripts called in one turn of the event loop go to Redis together: one pipeline, one connection, one round
trip (the queue's publishes and acks, dozens at once under load, each would otherwise take a connection and a
round trip of its own). The Redis analogue of the SQLite store's group commit."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from ..tasks import Tasks

Call = tuple[AsyncScript, int, list[Any], "asyncio.Future[Any]"]  # script, number of keys, keys + args, reply


class ScriptBatch:
    def __init__(self, client: Any, tasks: Tasks) -> None:
        self.client = client
        self.tasks = tasks
        self._pending: list[Call] = []
        self._sender: asyncio.Task[None] | None = None

    def call(self, script: AsyncScript, keys: list[Any], args: list[Any]) -> asyncio.Future[Any]:
        """The script's reply, or the client's error (a failed round trip fails every call that shared it:
        like a single command whose reply was lost, each may or may not have been applied)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((script, len(keys), [*keys, *args], future))
        if self._sender is None:
            self._sender = self.tasks.spawn(self._send(), name="redis:batch")
        return future

    async def _send(self) -> None:
        """One pipeline in flight at a time: what is called meanwhile goes in the next one (the busier, the
        bigger the batches, the fewer the round trips)."""
        try:
            await asyncio.sleep(0)  # the calls of this turn of the loop
            while self._pending:
                batch, self._pending = self._pending, []
                await self._run(batch)
        finally:
            self._sender = None

    async def _run(self, batch: list[Call]) -> None:
        try:
            replies = await self._execute(batch)
            missing = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:  # a restarted Redis forgot the scripts: load them, then run those calls again
                for script in {batch[n][0] for n in missing}:
                    script.sha = await self.client.script_load(script.script)
                for n, reply in zip(missing, await self._execute([batch[n] for n in missing]), strict=True):
                    replies[n] = reply
        except Exception as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for *_, future in batch:
                future.cancel()
            raise
        for (*_, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _execute(self, batch: list[Call]) -> list[Any]:
        async with self.client.pipeline(transaction=False) as pipe:
            for script, key_count, arguments, _ in batch:
                pipe.evalsha(script.sha, key_count, *arguments)
            return list(await pipe.execute(raise_on_error=False))

