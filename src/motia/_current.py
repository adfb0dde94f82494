"""Which app a module-level helper (`motia.state`, `motia.emit`, `Stream(...)`) talks to.

The app of the handler running in this task or thread (a context variable, copied into sync handlers' worker
threads), so two apps in one process never see each other's data. Outside any handler (start-up code, a thread
a handler started with a fresh context) it is the one app running in the process; with several, a clear error.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from . import _pending
from ._pending import Pending
from .errors import InvocationClosed, MotiaError

T = TypeVar("T")


class Services(Protocol):
    """What a running worker offers handlers: emitting, and calling engine functions (state, streams)."""

    loop: asyncio.AbstractEventLoop | None

    async def emit(self, topic: str, data: Any, *, trace_id: str, message_group_id: str | None = None,
                   step: str | None = None) -> None: ...

    async def call(self, function_id: str, data: Any) -> Any: ...

    def stream(self, name: str) -> Any: ...


# The context of the handler running in this task (or its worker thread), for module-level `emit`.
current_context: contextvars.ContextVar[Any] = contextvars.ContextVar("motia_context", default=None)
# The app whose code runs here: set for each handler run, and by `use()` (tests, scripts).
current_services: contextvars.ContextVar[Services | None] = contextvars.ContextVar("motia_services", default=None)
# Every app attached to an engine in this process, oldest first.
_running: list[Services] = []


def attach(services: Services) -> None:
    if services not in _running:
        _running.append(services)


def detach(services: Services) -> None:
    if services in _running:
        _running.remove(services)


def use(services: Services | None) -> contextvars.Token[Services | None]:
    """Make `services` the app of the code running in this context (undo with `current_services.reset`)."""
    return current_services.set(services)


def services() -> Services:
    found = current_services.get()
    if found is not None:
        return found
    if len(_running) == 1:
        return _running[0]
    if not _running:
        raise MotiaError("no motia app is running in this process (start one with `motia run` or motia.testing)")
    raise MotiaError(
        f"{len(_running)} motia apps run in this process and this code runs outside their handlers, so which "
        "app is meant is unknown: call it from a handler (a thread a handler starts can be run with "
        "`contextvars.copy_context().run`), or use `ctx.state` / `app.state`"
    )


def dispatch(name: str, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any,
             bound: Services | None = None) -> Pending[T]:
    """Call an async API: on the event loop it starts at once and returns a `Pending` to await (so a
    forgotten `await` loses nothing); from a thread (sync handlers) it runs on the app's loop and returns
    the value, so sync handlers need no `await`.

    From the thread of a handler that ran past its time limit, the call is refused (`InvocationClosed`, logged):
    the invocation was answered as failed, and a retry may already be doing the same work."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        context = current_context.get()
        if getattr(context, "_closed", False):
            context.logger.error(f"{name} refused: the handler ran past its time limit and its invocation is closed")
            raise InvocationClosed(f"{name} after the handler's time limit: the invocation is closed") from None
        value: Any = _pending.from_thread(name, fn, args, (bound if bound is not None else services()).loop)
        return value  # in sync code the value itself, not an awaitable (see `Pending`)
    return _pending.start(name, fn(*args))


class running:  # lower case: used like the function it replaced, `with _current.running(ctx, services):`
    """The scope of one handler run: its context, its app, and the calls it starts (settle them before
    answering). A class, not a generator context manager: it is entered once per invocation, on the hot path."""

    __slots__ = ("_tokens", "ctx", "invocation", "services")

    def __init__(self, ctx: Any, services: Services) -> None:
        self.ctx, self.services = ctx, services
        self.invocation = _pending.Invocation()

    def __enter__(self) -> _pending.Invocation:
        self._tokens = (current_context.set(self.ctx), current_services.set(self.services),
                        _pending.current_invocation.set(self.invocation))
        return self.invocation

    def __exit__(self, *exc_info: object) -> None:
        context_token, services_token, invocation_token = self._tokens
        _pending.current_invocation.reset(invocation_token)
        current_services.reset(services_token)
        current_context.reset(context_token)


async def settled(work: Awaitable[T], invocation: _pending.Invocation) -> T:
    """`work`'s result once the calls it started are applied too (also when it fails)."""
    try:
        result = await work
    except BaseException:
        with contextlib.suppress(Exception):  # the handler's own error is the one to report
            await invocation.settle()
        raise
    if invocation._started:  # most runs start no call: skip the coroutine
        await invocation.settle()
    return result
