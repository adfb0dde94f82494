"""`FlowContext`: what a handler gets besides its input (logger, trace id, trigger, emit, free attributes)."""

from __future__ import annotations

import inspect
from asyncio import Future
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic

from typing_extensions import TypeVar

from ._current import Services
from .log import StepLogger
from .model import TriggerType, canonical_kind
from .protocol import trace_id as new_trace_id
from .pydantic_types import to_builtins
from .records import Record
from .tracing import get_trace_id_from_span

if TYPE_CHECKING:
    from ._pending import Pending
    from .state import StateManager
    from .streams import StreamsAccessor

# Defaults to Any (PEP 696), so that a bare `FlowContext` stays valid under mypy --strict beside official
# code's `FlowContext[Any]`.
T = TypeVar("T", default=Any)


class TriggerInfo(Record):
    """Which trigger fired: `type` (alias-tolerant), `kind` (canonical), `index` and its details.

    Official code builds one by keyword (`TriggerInfo(type="queue", index=0, topic="orders")`); the runtime
    fills `topic`, `expression` and the stream fields too (official motia 1.0 left them empty).
    """

    __slots__ = ("type", "index", "path", "method", "topic", "expression", "stream_name", "group_id", "item_id")  # noqa: RUF023 - positional order
    type: TriggerType
    index: int
    path: str | None
    method: str | None
    topic: str | None
    expression: str | None
    stream_name: str | None
    group_id: str | None
    item_id: str | None
    _defaults = {"index": 0, "path": None, "method": None, "topic": None, "expression": None,
                 "stream_name": None, "group_id": None, "item_id": None}
    _aliases = {"kind": "type"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        given: Any = self.type
        try:
            self.type = TriggerType(given)
        except ValueError:
            raise ValueError(f"unknown trigger type {given!r}; use http, queue, cron, state or stream") from None

    @property
    def kind(self) -> str:
        return str(self.type)

    def __repr__(self) -> str:
        details = {k: getattr(self, k) for k in ("path", "method", "topic", "expression", "stream_name")}
        shown = ", ".join(f"{k}={v!r}" for k, v in details.items() if v is not None)
        return f"TriggerInfo(type={self.kind!r}, index={self.index}{', ' + shown if shown else ''})"


# Motia 1.x name of the same class.
TriggerMetadata = TriggerInfo


class FlowContext(Generic[T]):
    """The second argument of every handler. `FlowContext[T]` names what `enqueue` sends (official typing).

    Attributes set by middleware (`ctx.user = user`) stay on the context for the handler. Official tests
    build one by keyword: `FlowContext(trace_id="t", trigger=TriggerInfo(type="http"), input_value=req)`.
    """

    def __init__(
        self,
        step: str = "",
        trigger: TriggerInfo | Mapping[str, Any] | None = None,
        services: Services | None = None,
        *,
        traceparent: str | None = None,
        input_value: Any = None,
        trace_id: str | None = None,
    ) -> None:
        if trigger is None:
            raise TypeError("FlowContext() needs a trigger (TriggerInfo(type=...))")
        self.step = step
        self.trigger = trigger if isinstance(trigger, TriggerInfo) else TriggerInfo.model_validate(trigger)
        self.input_value = input_value
        self._services = services
        self._traceparent = traceparent
        self._trace_id: str | None = trace_id
        self._logger: StepLogger | None = None
        # Set when a sync handler runs past its time limit: its thread goes on, but the invocation is closed
        # (`_current.dispatch` refuses its calls) and `_abandoned` resolves when the thread returns.
        self._closed = False
        self._abandoned: Future[None] | None = None

    def abandon(self, returned: Future[None]) -> None:
        """Close the invocation of a sync handler that ran past its time limit: its thread goes on, its calls
        are refused from now on, and `returned` resolves when the thread returns."""
        self._closed = True
        self._abandoned = returned

    @property
    def trace_id(self) -> str:
        # Lazy: most requests never read it.
        if self._trace_id is None:
            self._trace_id = trace_id_for(self._traceparent)
        return self._trace_id

    @property
    def logger(self) -> StepLogger:
        if self._logger is None:
            self._logger = StepLogger(self.step, self.trace_id)
        return self._logger

    @property
    def _input(self) -> Any:
        return self.input_value

    @property
    def state(self) -> StateManager:
        """Durable key-value state: `await ctx.state.set("users", id, user)`."""
        from .state import StateManager

        return StateManager(self._require_services())

    @property
    def streams(self) -> StreamsAccessor:
        """Streams by name: `ctx.streams.todos` or `ctx.streams["todos"]`."""
        from .streams import StreamsAccessor

        return StreamsAccessor(self._require_services())

    def _require_services(self) -> Services:
        if self._services is None:
            raise RuntimeError("this context is not attached to a running app")
        return self._services

    def emit(self, topic_or_event: str | Mapping[str, Any], data: Any = None) -> Pending[None]:
        """Publish `data` (a Struct or any JSON value) to `topic`, durably, carrying this trace id:
        `await ctx.emit("topic", data)` or `await ctx.emit({"topic": ..., "data": ..., "messageGroupId": ...})`
        (without `await` in a sync handler; forgotten in async code, the event is still published)."""
        from . import _current

        return _current.dispatch("ctx.emit", self._emit, topic_or_event, data, bound=self._services)

    async def _emit(self, topic_or_event: str | Mapping[str, Any], data: Any) -> None:
        topic, payload, group = _event_parts(topic_or_event, data)
        await self._require_services().emit(topic, payload, trace_id=self.trace_id, message_group_id=group,
                                            step=self.step)

    def enqueue(self, event: str | Mapping[str, Any], data: Any = None) -> Pending[None]:
        """Motia 1.x name of `emit`: `enqueue({"topic": ..., "data": ..., "messageGroupId": ...})`."""
        return self.emit(event, data)

    # Motia 1.x helpers: ctx.is_api(), ctx.get_data(), await ctx.match({...}).
    def is_api(self) -> bool:
        return self.trigger.kind == "http"

    is_http = is_api

    def is_queue(self) -> bool:
        return self.trigger.kind == "queue"

    is_event = is_queue

    def is_cron(self) -> bool:
        return self.trigger.kind == "cron"

    def is_state(self) -> bool:
        return self.trigger.kind == "state"

    def is_stream(self) -> bool:
        return self.trigger.kind == "stream"

    def get_data(self) -> Any:
        value = self.input_value
        if self.trigger.kind == "http":
            return getattr(value, "body", None)
        if self.trigger.kind == "cron":
            return None
        return value

    def match(self, handlers: Mapping[str, Callable[..., Any]]) -> Any:
        """Run the branch for the trigger that fired (keys: any alias of a kind, or `default`); cron branches
        take no argument. `await ctx.match({...})` in async handlers; in a sync handler (a worker thread)
        it runs there and returns the branch's result, and `return ctx.match({...})` works in both."""
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            result = self._call_branch(handlers)
            if inspect.isawaitable(result):
                import anyio.from_thread

                return anyio.from_thread.run(_wait, result)
            return result
        return self._match(handlers)

    async def _match(self, handlers: Mapping[str, Callable[..., Any]]) -> Any:
        result = self._call_branch(handlers)
        return await result if inspect.isawaitable(result) else result

    def _call_branch(self, handlers: Mapping[str, Callable[..., Any]]) -> Any:
        for key, branch in handlers.items():
            if key != "default" and canonical_kind(key) == self.trigger.kind:
                return branch() if self.trigger.kind == "cron" else branch(self.input_value)
        if "default" in handlers:
            return handlers["default"](self.input_value)
        available = ", ".join(k for k in handlers if k != "default") or "none"
        raise RuntimeError(f"No handler defined for trigger type {self.trigger.kind!r}. Available handlers: "
                           f"{available}")

    def __repr__(self) -> str:
        return f"FlowContext(step={self.step!r}, trigger={self.trigger!r})"


async def _wait(awaitable: Any) -> Any:
    return await awaitable


def trace_id_for(traceparent: str | None) -> str:
    """The trace id of work started by a call carrying `traceparent`: the current span's when tracing, else the
    caller's, else a new one."""
    return get_trace_id_from_span() or trace_id_from(traceparent) or new_trace_id()


def trace_id_from(traceparent: str | None) -> str | None:
    """The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), if well-formed."""
    if not traceparent:
        return None
    parts = traceparent.strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32:
        return None
    trace_id = parts[1].lower()
    try:
        int(trace_id, 16)
    except ValueError:
        return None
    return None if trace_id == "0" * 32 else trace_id


def _event_parts(topic_or_event: str | Mapping[str, Any], data: Any) -> tuple[str, Any, str | None]:
    if isinstance(topic_or_event, str):
        return topic_or_event, to_builtins(data), None
    if isinstance(topic_or_event, Mapping):
        topic = topic_or_event.get("topic") or topic_or_event.get("type")
        if not isinstance(topic, str) or not topic:
            raise ValueError("an event needs a 'topic' (or legacy 'type') string")
        group = topic_or_event.get("messageGroupId") or topic_or_event.get("message_group_id")
        return topic, to_builtins(topic_or_event.get("data")), group
    raise TypeError(f"emit() takes a topic string or an event dict, not {type(topic_or_event).__name__}")
