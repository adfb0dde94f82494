"""Module-level helpers of the running app: `emit` / `enqueue` publish from anywhere (the trace id of the
handler running in this task is carried along); `get_stream` finds one of its streams by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import _current
from ._pending import Pending
from .context import _event_parts
from .protocol import trace_id as new_trace_id

if TYPE_CHECKING:
    from .streams import Stream


def emit(topic_or_event: str | Mapping[str, Any], data: Any = None) -> Pending[None]:
    """`await emit("order.placed", order)` or `await emit({"topic": ..., "data": ..., "messageGroupId": ...})`;
    in a sync handler, call it without `await` (without it in async code the event is still published)."""
    return _current.dispatch("emit", _emit, topic_or_event, data)


async def _emit(topic_or_event: str | Mapping[str, Any], data: Any) -> None:
    topic, payload, group = _event_parts(topic_or_event, data)
    context = _current.current_context.get()
    trace_id = context.trace_id if context is not None else new_trace_id()
    await _current.services().emit(topic, payload, trace_id=trace_id, message_group_id=group)


enqueue = emit


def get_stream(name: str) -> Stream[Any]:
    """The running app's stream `name` (what `ctx.streams.<name>` gives a handler): reads decode into the item
    type the app declares for it. Raises MotiaError when no app is running in this process."""
    stream: Stream[Any] = _current.services().stream(name)
    return stream
