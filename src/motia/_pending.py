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
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from .errors import MotiaError

T = TypeVar("T")

log = logging.getLogger("motia.runtime")


class NotAwaited(MotiaError, TypeError):
    """A read was used without `await` in async code."""


class _Pending(Coroutine[Any, Any, T]):
    """A call already under way: `await` it for its result. Using it as the value it will have (`len()`,
    `[...]`, iteration, attributes, truth) raises `NotAwaited` at that line instead of failing somewhere later."""

    __slots__ = ("_awaited", "_iterator", "_name", "_task")

    def __init__(self, task: asyncio.Task[T], name: str) -> None:
        self._task = task
        self._name = name
        self._awaited = False
        self._iterator: Generator[Any, None, T] | None = None

    def __await__(self) -> Generator[Any, None, T]:
        self._awaited = True
        return self._task.__await__()

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

    def done(self) -> bool:
        return self._task.done()

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
    """The calls one handler run started: applied one after the other, all applied before the run ends."""

    __slots__ = ("_started", "_tail")

    def __init__(self) -> None:
        self._tail: asyncio.Task[Any] | None = None
        self._started: list[_Pending[Any]] = []

    def start(self, name: str, call: Coroutine[Any, Any, T]) -> _Pending[T]:
        task = asyncio.get_running_loop().create_task(_after(self._tail, call))
        self._tail = task
        pending = _Pending(task, name)
        self._started.append(pending)
        return pending

    async def settle(self) -> None:
        """Wait for every call started so far; raise if one that nobody awaited failed."""
        while self._started:
            started, self._started = self._started, []
            await asyncio.gather(*(p._task for p in started), return_exceptions=True)
            for pending in started:
                error = None if pending._task.cancelled() else pending._task.exception()
                if error is not None and not pending._awaited:
                    raise MotiaError(f"{pending._name}() (not awaited) failed: {error}") from error


current_invocation: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar("motia_invocation",
                                                                                         default=None)
# Calls made on a loop outside any handler run (start-up code, tests, background tasks): still ordered.
_ambient: dict[asyncio.AbstractEventLoop, Invocation] = {}


async def _after(previous: asyncio.Task[Any] | None, call: Coroutine[Any, Any, T]) -> T:
    if previous is not None and not previous.done():
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
        ambient = _ambient[loop] = Invocation()
    pending = ambient.start(name, call)
    ambient._started.clear()  # nobody settles the ambient calls: a failure nobody awaits is logged instead
    pending._task.add_done_callback(lambda task: _log_unawaited(pending, task))
    return pending


def _log_unawaited(pending: _Pending[Any], task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None and not pending._awaited:
        log.error("%s() (not awaited) failed: %s", pending._name, task.exception())


def call(name: str, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...],
         loop: Callable[[], asyncio.AbstractEventLoop | None]) -> Pending[T]:
    """`fn(*args)` started on the running loop (a `Pending`), or, from a thread, run on the app's loop (`loop()`)
    and its value returned."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        value: Any = _from_thread(name, fn, args, loop())
        return value  # in sync code the value itself, not an awaitable (see `Pending`)
    return start(name, _as_coroutine(fn, args))


async def _as_coroutine(fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> T:
    return await fn(*args)


def _from_thread(name: str, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...],
                 loop: asyncio.AbstractEventLoop | None) -> T:
    if loop is None or loop.is_closed():
        raise MotiaError(f"{name}() was called from a thread, but no motia app is running")

    async def run() -> T:
        return await start(name, _as_coroutine(fn, args))

    # The thread's context (copied into sync handlers' worker threads) goes along, so the call joins its run.
    return asyncio.run_coroutine_threadsafe(run(), loop).result()
