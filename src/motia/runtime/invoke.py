"""Calling a user handler: 0, 1 or 2 arguments, sync (in a worker thread) or async, with a time limit."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread

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

