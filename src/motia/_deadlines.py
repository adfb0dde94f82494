"""Coarse time limits for tasks on one event loop: a handler's timeout, a delivery's visibility timeout.

`asyncio.timeout` costs a timer handle per call, and cancelled handles stay in the loop's heap until they
are due: a measurable share of a fast request or delivery. Limits here are seconds long and need no
millisecond precision, so they are kept in buckets instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import types
import weakref
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any


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
_last: tuple[asyncio.AbstractEventLoop | None, Deadlines | None] = (None, None)


def _current() -> tuple[asyncio.Task[Any] | None, Deadlines | None]:
    """The running task and its loop's deadlines (the last loop's are kept at hand: one loop is the rule)."""
    global _last
    loop = asyncio.get_running_loop()
    task = asyncio.current_task(loop)
    if task is None:  # pragma: no cover - always inside a task under asyncio
        return None, None
    last_loop, deadlines = _last
    if last_loop is not loop or deadlines is None:
        deadlines = _deadlines.get(loop)
        if deadlines is None:
            deadlines = _deadlines[loop] = Deadlines()
        _last = (loop, deadlines)
    return task, deadlines


async def with_timeout(awaitable: Awaitable[Any], seconds: float | None) -> Any:
    """Await with a time limit; raises TimeoutError when it runs out (the awaitable is cancelled).

    A coroutine is stepped first: one that finishes without suspending (most HTTP handlers) needs no limit,
    since nothing could have cancelled it. The limit is put in place at its first suspension, counted from the
    call (what ran before that counts too)."""
    if seconds is None:
        return await awaitable
    if type(awaitable) is not types.CoroutineType:
        return await _limited(awaitable, seconds, time.monotonic() + seconds)
    due = time.monotonic() + seconds
    try:
        waiting = awaitable.send(None)
    except StopIteration as stop:
        return stop.value
    return await _limited(resume(awaitable, waiting), seconds, due)


async def _limited(awaitable: Awaitable[Any], seconds: float, due: float) -> Any:
    task, deadlines = _current()
    if task is None or deadlines is None:  # pragma: no cover - always inside a task under asyncio
        return await awaitable
    bucket = deadlines.add(task, due - time.monotonic())
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


@types.coroutine
def resume(call: Coroutine[Any, Any, Any], suspended: Any,
           context: contextvars.Context | None = None) -> Generator[Any, Any, Any]:
    """The rest of a coroutine already stepped by hand (up to `suspended`, what it waits on), awaitable again: what
    it waits on goes up to the task driving this, the task's wake-ups and cancellations down to it. With
    `context`, every step runs in it (a call started in a copy of its caller's context stays in that copy)."""
    value = suspended
    while True:
        try:
            sent = yield value
        except GeneratorExit:
            call.close()
            raise
        except BaseException as exc:  # a cancellation or an error thrown in by the task
            try:
                value = call.throw(exc) if context is None else context.run(call.throw, exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                value = call.send(sent) if context is None else context.run(call.send, sent)
            except StopIteration as stop:
                return stop.value


class BucketDeadline:
    """`async with BucketDeadline(seconds):` raises TimeoutError when the body runs past the limit."""

    __slots__ = ("_bucket", "_deadlines", "_seconds", "_task")

    def __init__(self, seconds: float | None) -> None:
        self._seconds = seconds
        self._task: asyncio.Task[Any] | None = None
        self._deadlines: Deadlines | None = None
        self._bucket = 0

    async def __aenter__(self) -> BucketDeadline:
        if self._seconds is not None:
            task, deadlines = _current()
            if task is not None and deadlines is not None:
                self._task, self._deadlines = task, deadlines
                self._bucket = deadlines.add(task, self._seconds)
        return self

    async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        deadlines, task = self._deadlines, self._task
        if deadlines is None or task is None:
            return False
        deadlines.discard(self._bucket, task)
        if kind is asyncio.CancelledError and task in deadlines.expired:
            deadlines.expired.discard(task)
            uncancel = getattr(task, "uncancel", None)
            if uncancel is not None:
                uncancel()
            raise TimeoutError
        return False
