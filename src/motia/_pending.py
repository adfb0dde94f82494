"""Calls that take effect whether or not they are awaited (`state.*`, `Stream(...).*`, `emit`, `enqueue`).

Official Motia code calls these synchronously; here they are awaitable. So that a forgotten `await` never
loses a write, a call made on the event loop starts at once as a task and returns a `Pending` (awaiting it
gives the result). The calls one handler run makes are applied in call order (each waits for the one before),
and the run is not finished (no HTTP response, no queue ack) until every one of them is applied; a failure
nobody awaited fails the run. Called from a thread (a sync handler, or a thread a handler started), the
same call runs on the app's loop and returns its value.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from ._deadlines import resume
from .errors import MotiaError

T = TypeVar("T")

log = logging.getLogger("motia.runtime")


class NotAwaited(MotiaError, TypeError):
    """A read was used without `await` in async code."""


class _Pending(Coroutine[Any, Any, T]):
    """A call already under way (or done): `await` it for its result. Using it as the value it will have
    (`len()`, `[...]`, iteration, attributes, truth) raises `NotAwaited` at that line instead of failing later."""

    __slots__ = ("_awaited", "_error", "_future", "_iterator", "_name", "_value")

    def __init__(self, name: str, future: asyncio.Future[T] | None = None, value: Any = None,
                 error: BaseException | None = None) -> None:
        self._name = name
        self._future = future  # None: finished when it was called, with `_value` or `_error`
        self._value = value
        self._error = error
        self._awaited = False
        self._iterator: Generator[Any, None, T] | None = None

    def __await__(self) -> Generator[Any, None, T]:
        self._awaited = True
        if self._future is not None:
            return self._future.__await__()
        return self._finished()

    def _finished(self) -> Generator[Any, None, T]:
        if self._error is not None:
            raise self._error
        return self._value
        yield  # pragma: no cover - makes this a generator

    def done(self) -> bool:
        return self._future is None or self._future.done()

    def exception(self) -> BaseException | None:
        """The failure of a finished call (None if it succeeded or was cancelled)."""
        future = self._future
        if future is None:
            return self._error
        return None if future.cancelled() else future.exception()

    # The coroutine protocol, so `asyncio.create_task(pending)` and `asyncio.gather` accept it too.
    def send(self, value: Any) -> Any:
        if self._iterator is None:
            self._iterator = self.__await__()
        return self._iterator.send(value)

    def throw(self, *args: Any) -> Any:
        if self._iterator is None:
            self._iterator = self.__await__()
        return self._iterator.throw(*args)

    def close(self) -> None:
        if self._iterator is not None:
            self._iterator.close()

    def _misuse(self, *_: Any) -> NoReturn:
        raise NotAwaited(
            f"{self._name}() was called without `await` in async code, so it returned an awaitable, not its "
            f"value: write `await {self._name}(...)` (writes take effect either way; reads need the await)"
        )

    __bool__ = __len__ = __iter__ = __getitem__ = __contains__ = __index__ = _misuse
    __eq__ = __lt__ = __gt__ = __le__ = __ge__ = __add__ = __int__ = __float__ = _misuse
    __hash__ = object.__hash__

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        self._misuse()

    def __repr__(self) -> str:
        return f"<pending {self._name}() - await it>"


if TYPE_CHECKING:
    # Type checkers see a plain coroutine, so pyright's `reportUnusedCoroutine` and mypy's `unused-coroutine`
    # flag a forgotten `await`.
    Pending = Coroutine[Any, Any, T]
else:
    Pending = _Pending


class Invocation:
    """The calls one handler run started: applied one after the other, all applied before the run ends.

    A call starts eagerly, on the caller's stack, when the one before it is done: most engine calls complete
    without ever suspending (in-process engine), so they cost no task and no turn of the event loop. A call that
    suspends, or that must wait for the one before it, goes on in a task.
    """

    __slots__ = ("_started", "_tail", "_tracked")

    def __init__(self, *, tracked: bool = True) -> None:
        self._tail: asyncio.Future[Any] | None = None
        self._started: list[_Pending[Any]] = []
        # An untracked invocation (code outside any handler run) has nobody to settle it: a failure that
        # nobody awaits is logged instead.
        self._tracked = tracked

    def start(self, name: str, call: Coroutine[Any, Any, T]) -> _Pending[T]:
        tail = self._tail
        if tail is None or tail.done():
            pending = _run_eagerly(name, call)
        else:
            pending = _Pending(name, asyncio.get_running_loop().create_task(_after(tail, call)))
        future = pending._future
        if future is not None:
            self._tail = future
        if self._tracked:
            self._started.append(pending)
        elif future is not None:
            future.add_done_callback(lambda _: _log_unawaited(pending))
        elif pending._error is not None:
            asyncio.get_running_loop().call_soon(_log_unawaited, pending)  # unless awaited right away
        return pending

    async def settle(self) -> None:
        """Wait for every call started so far; raise if one that nobody awaited failed."""
        while self._started:
            started, self._started = self._started, []
            for pending in started:
                future = pending._future
                if future is not None and not future.done():
                    await asyncio.wait((future,))
                error = pending.exception()  # also marks a failure seen by nobody as retrieved
                if error is not None and not pending._awaited:
                    raise MotiaError(f"{pending._name}() (not awaited) failed: {error}") from error


current_invocation: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar("motia_invocation",
                                                                                         default=None)
# Calls made on a loop outside any handler run (start-up code, tests, background tasks): still ordered.
_ambient: dict[asyncio.AbstractEventLoop, Invocation] = {}


def _run_eagerly(name: str, call: Coroutine[Any, Any, T]) -> _Pending[T]:
    """Run `call` up to its first suspension now: finished, its result; suspended, a task that resumes it.
    Every step runs in one copy of the caller's context, as a task's would (the engine sets and resets context
    variables across a suspension)."""
    context = contextvars.copy_context()
    try:
        suspended = context.run(call.send, None)
    except StopIteration as stop:
        return _Pending(name, value=stop.value)
    except Exception as exc:  # handed to whoever awaits it, or to settle()
        return _Pending(name, error=exc)
    return _Pending(name, asyncio.get_running_loop().create_task(resume(call, suspended, context)))


def run_eagerly(call: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
    """Run `call` now, on the caller's stack, as a task would run it (in a copy of the context): None when it
    finished without suspending (a failure is logged, as a task's would be), else the task that goes on with it.
    Costs no task and no loop turn for a call that never waits."""
    pending = _run_eagerly(getattr(call, "__qualname__", "call"), call)
    if pending._error is not None:
        log.error("%s failed", pending._name, exc_info=pending._error)
    return pending._future  # type: ignore[return-value]


async def _after(previous: asyncio.Future[Any], call: Coroutine[Any, Any, T]) -> T:
    if not previous.done():
        await asyncio.wait((previous,))
    return await call


def start(name: str, call: Coroutine[Any, Any, T]) -> _Pending[T]:
    """Start `call` on the running loop, after the calls this handler run started before it."""
    invocation = current_invocation.get()
    if invocation is not None:
        return invocation.start(name, call)
    loop = asyncio.get_running_loop()
    ambient = _ambient.get(loop)
    if ambient is None:
        if len(_ambient) > 8:  # loops of finished test runs
            for old in [old for old in _ambient if old.is_closed()]:
                del _ambient[old]
        ambient = _ambient[loop] = Invocation(tracked=False)
    return ambient.start(name, call)


def _log_unawaited(pending: _Pending[Any]) -> None:
    error = pending.exception()
    if error is not None and not pending._awaited:
        log.error("%s() (not awaited) failed: %s", pending._name, error)


def from_thread(name: str, fn: Callable[..., Coroutine[Any, Any, T]], args: tuple[Any, ...],
                 loop: asyncio.AbstractEventLoop | None) -> T:
    """Run the call on the app's loop, from a thread, and return its value."""
    if loop is None or loop.is_closed():
        raise MotiaError(f"{name}() was called from a thread, but no motia app is running")

    async def run() -> T:
        return await start(name, fn(*args))

    # The thread's context (copied into sync handlers' worker threads) goes along, so the call joins its run.
    return asyncio.run_coroutine_threadsafe(run(), loop).result()
