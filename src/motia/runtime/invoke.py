"""Calling a user handler: 0, 1 or 2 arguments, sync (in a worker thread) or async, with a time limit.

A sync handler's thread cannot be stopped. When its time limit cancels the call, the invocation is closed
instead: the running handler's context is marked (its state, stream and emit calls are refused from then on,
see `_current.dispatch`) and given a future that resolves when the thread returns (`abandoned_attempt`), so
that the next attempt can wait for it (`AttemptGate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread

from .. import _current
from .._deadlines import with_timeout as with_timeout  # re-exported: handlers' time limits
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
        if arity == 2 and not input_is_context and inspect.iscoroutinefunction(fn):
            return fn  # already `async (input, ctx)`: no wrapper frame on the hot path
        if arity == 1 and not input_is_context:
            async def call_one(value: Any, ctx: Any) -> Any:
                return await fn(value)

            return call_one

        async def call_async(value: Any, ctx: Any) -> Any:
            return await fn(*arguments(value, ctx))

        return call_async

    async def call_sync(value: Any, ctx: Any) -> Any:
        # Sync handlers run in a worker thread so blocking code never stalls the event loop.
        loop = asyncio.get_running_loop()
        returned: asyncio.Future[None] = loop.create_future()
        call = functools.partial(fn, *arguments(value, ctx))

        def run() -> Any:
            try:
                return call()
            finally:
                with contextlib.suppress(RuntimeError):  # the loop is gone (the app stopped meanwhile)
                    loop.call_soon_threadsafe(_resolve, returned)

        try:
            result = await anyio.to_thread.run_sync(run)
        except asyncio.CancelledError:  # the time limit (or shutdown): the thread runs on regardless
            context = _current.current_context.get()
            if not returned.done() and context is not None:
                context.abandon(returned)
            raise
        if inspect.isawaitable(result):
            result = await result
        return result

    return call_sync


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def abandoned_attempt(ctx: Any) -> asyncio.Future[None] | None:
    """The future of a sync handler's thread still running past its time limit, or None."""
    future: asyncio.Future[None] | None = getattr(ctx, "_abandoned", None)
    return future if future is not None and not future.done() else None


class AttemptGate:
    """Keeps a trigger function's next attempt from starting while an abandoned one still runs in its thread
    (a queue retry would otherwise do the same work twice, at the same time)."""

    def __init__(self) -> None:
        self.running: set[asyncio.Future[None]] = set()

    def hold(self, attempt: asyncio.Future[None]) -> None:
        self.running.add(attempt)
        attempt.add_done_callback(self.running.discard)

    async def wait(self) -> None:
        while self.running:
            await asyncio.wait(list(self.running))


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value

