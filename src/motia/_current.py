"""The running app's services, for module-level helpers (`motia.state`, `motia.emit`, `Stream(...)`)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from .errors import InvocationClosed, MotiaError

T = TypeVar("T")


class Services(Protocol):
    """What a running worker offers handlers: emitting, and calling engine functions (state, streams)."""

    async def emit(self, topic: str, data: Any, *, trace_id: str, message_group_id: str | None = None) -> None: ...

    async def call(self, function_id: str, data: Any) -> Any: ...

    def stream(self, name: str) -> Any: ...


_services: Services | None = None
# The context of the handler running in this task (or its worker thread), for module-level `emit`.
current_context: contextvars.ContextVar[Any] = contextvars.ContextVar("motia_context", default=None)


def bind(services: Services | None) -> None:
    global _services
    _services = services


def services() -> Services:
    if _services is None:
        raise MotiaError("no motia app is running in this process (start one with `motia run` or motia.testing)")
    return _services


def dispatch(fn: Callable[..., Awaitable[T]], *args: Any) -> Any:
    """Call an async API from the event loop (returns the awaitable) or from a sync handler's worker
    thread (runs it on the loop and returns the result), so sync handlers need no `await`.

    From the thread of a handler that ran past its time limit, the call is refused (`InvocationClosed`, logged):
    the invocation was answered as failed, and a retry may already be doing the same work."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        import anyio.from_thread

        context = current_context.get()
        if getattr(context, "_closed", False):
            name = getattr(fn, "__qualname__", repr(fn)).replace("._", ".")
            context.logger.error(f"{name} refused: the handler ran past its time limit and its invocation is closed")
            raise InvocationClosed(f"{name} after the handler's time limit: the invocation is closed") from None
        return anyio.from_thread.run(fn, *args)  # type: ignore[arg-type]
    return fn(*args)
