"""Time for the engine's schedulers (retries, delays, visibility timeouts, cron): the wall clock, or a
manual clock that tests advance by hand instead of sleeping."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .._deadlines import BucketDeadline


class Timer:
    __slots__ = ("_handle", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], Any]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False
        self._handle: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        self.cancelled = True
        if self._handle is not None:
            self._handle.cancel()


class Clock:
    """The wall clock: epoch seconds, timers on the running event loop."""

    def now(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[[], Any]) -> Timer:
        timer = Timer(when, callback)
        loop = asyncio.get_running_loop()
        timer._handle = loop.call_later(max(0.0, when - self.now()), callback)
        return timer

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Timer:
        return self.call_at(self.now() + delay, callback)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_later(seconds, wake)
        try:
            await future
        finally:
            timer.cancel()

    def deadline(self, seconds: float | None) -> Any:
        """`async with clock.deadline(s):` raises TimeoutError when the body runs past `s` seconds.

        The wall clock keeps these limits coarse (50 ms buckets, no timer per call): they guard deliveries
        that take seconds, on the hot path of every one."""
        return BucketDeadline(seconds)


class ManualClock(Clock):
    """A clock that only moves when told to: `await clock.advance(5)` fires what is due, in order."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], Any]) -> Timer:
        timer = Timer(when, callback)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    async def advance(self, seconds: float) -> None:
        """Move time forward, firing due timers one by one and letting the loop run after each."""
        target = self._now + seconds
        await _settle()
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback()
            await _settle()
        self._now = target
        await _settle()

    def deadline(self, seconds: float | None) -> Any:
        """Precise, on this clock's own timers: tests move time past a deadline exactly."""
        return Deadline(self, seconds)

    @property
    def pending(self) -> list[float]:
        return sorted(when for when, _, t in self._timers if not t.cancelled)


async def _settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


class Deadline:
    """Cancel the current task when the clock passes the deadline, and turn that into TimeoutError."""

    __slots__ = ("_clock", "_expired", "_seconds", "_task", "_timer")

    def __init__(self, clock: Clock, seconds: float | None) -> None:
        self._clock = clock
        self._seconds = seconds
        self._timer: Timer | None = None
        self._task: asyncio.Task[Any] | None = None
        self._expired = False

    async def __aenter__(self) -> Deadline:
        if self._seconds is not None:
            self._task = asyncio.current_task()
            self._timer = self._clock.call_later(self._seconds, self._expire)
        return self

    def _expire(self) -> None:
        if self._task is not None and not self._task.done():
            self._expired = True
            self._task.cancel()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if self._timer is not None:
            self._timer.cancel()
        if self._expired and kind is asyncio.CancelledError:
            uncancel = getattr(self._task, "uncancel", None)
            if uncancel is not None:
                uncancel()
            raise TimeoutError
        return False
