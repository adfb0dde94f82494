"""Calling a user handler: 0, 1 or 2 arguments, sync (in a worker thread) or async, with a time limit."""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread

from ..signature import handler_shape

Caller = Callable[[Any, Any], Awaitable[Any]]


def make_caller(fn: Callable[..., Any], *, input_is_context: bool = False) -> Caller:
    """An `async (input, ctx)` that calls `fn` with the arguments its signature asks for.

    With `input_is_context` (cron: there is no input), a one-argument handler gets the context and a
    two-argument one gets `(None, ctx)`.
    """
    shape = handler_shape(fn)
    arity = shape.arity

    def arguments(value: Any, ctx: Any) -> tuple[Any, ...]:
        if arity == 0:
            return ()
        if arity == 1:
            return (ctx,) if input_is_context else (value,)
        return (None, ctx) if input_is_context else (value, ctx)

    if shape.is_async:
        if arity == 2 and not input_is_context:
            async def call_two(value: Any, ctx: Any) -> Any:
                return await fn(value, ctx)

            return call_two
        if arity == 1 and not input_is_context:
            async def call_one(value: Any, ctx: Any) -> Any:
                return await fn(value)

            return call_one

        async def call_async(value: Any, ctx: Any) -> Any:
            return await fn(*arguments(value, ctx))

        return call_async

    async def call_sync(value: Any, ctx: Any) -> Any:
        # Sync handlers run in a worker thread so blocking code never stalls the event loop.
        result = await anyio.to_thread.run_sync(functools.partial(fn, *arguments(value, ctx)))
        if inspect.isawaitable(result):
            result = await result
        return result

    return call_sync


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class Deadlines:
    """Handler time limits for one event loop, kept in coarse buckets.

    `asyncio.timeout` costs a timer handle per call, a measurable share of a fast HTTP request. Limits
    here are seconds long and need no millisecond precision: a task joins the bucket of its deadline
    (`RESOLUTION` wide) and one ticker, running only while deadlines are pending, cancels the tasks of
    expired buckets. A handler may overrun its limit by up to `RESOLUTION`.
    """

    RESOLUTION = 0.05

    def __init__(self) -> None:
        self.buckets: dict[int, set[asyncio.Task[Any]]] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self.ticker: asyncio.Task[None] | None = None

    def add(self, task: asyncio.Task[Any], seconds: float) -> int:
        bucket = int((time.monotonic() + seconds) / self.RESOLUTION) + 1
        members = self.buckets.get(bucket)
        if members is None:
            members = self.buckets[bucket] = set()
        members.add(task)
        if self.ticker is None:
            self.ticker = asyncio.get_running_loop().create_task(self._tick())
        return bucket

    def discard(self, bucket: int, task: asyncio.Task[Any]) -> None:
        members = self.buckets.get(bucket)
        if members is not None:
            members.discard(task)
            if not members:
                del self.buckets[bucket]

    async def _tick(self) -> None:
        try:
            while self.buckets:
                await asyncio.sleep(self.RESOLUTION)
                now = int(time.monotonic() / self.RESOLUTION)
                for bucket in [b for b in self.buckets if b <= now]:
                    for task in self.buckets.pop(bucket):
                        if not task.done():
                            self.expired.add(task)
                            task.cancel()
        finally:
            self.ticker = None


_deadlines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = weakref.WeakKeyDictionary()


async def with_timeout(awaitable: Awaitable[Any], seconds: float | None) -> Any:
    """Await with a time limit; raises TimeoutError when it runs out (the awaitable is cancelled)."""
    if seconds is None:
        return await awaitable
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - always inside a task under asyncio
        return await awaitable
    loop = task.get_loop()
    deadlines = _deadlines.get(loop)
    if deadlines is None:
        deadlines = _deadlines[loop] = Deadlines()
    bucket = deadlines.add(task, seconds)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if task in deadlines.expired:
            deadlines.expired.discard(task)
            uncancel = getattr(task, "uncancel", None)
            if uncancel is not None:
                uncancel()
            raise TimeoutError from None
        raise
    finally:
        deadlines.discard(bucket, task)
