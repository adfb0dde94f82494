"""Typed inputs of state and stream triggers, and of stream hooks and authentication.

Attribute access (`change.group_id`), the dict access older code uses (`change["groupId"]`,
`change.get("old_value")`) and official motia 1.0's keyword construction in snake_case or camelCase with
`model_dump`/`model_validate` all work (see `records.Record`).
"""

from __future__ import annotations

from typing import Any

from .records import Record


class StateTriggerInput(Record):
    """A state change: `event_type` is `state:created`, `state:updated` or `state:deleted`."""

    __slots__ = ("type", "group_id", "item_id", "old_value", "new_value", "event_type")  # noqa: RUF023 - positional order
    type: str
    group_id: str
    item_id: str
    old_value: Any
    new_value: Any
    event_type: str
    _fixed = {"type": "state"}
    _defaults = {"old_value": None, "new_value": None, "event_type": ""}
    _aliases = {"scope": "group_id", "key": "item_id"}


class StreamEvent(Record):
    """`type` is `create`, `update`, `delete` (data = the removed item) or `event` (custom: `name`)."""

    __slots__ = ("type", "data", "name")  # noqa: RUF023 - positional order
    type: str
    data: Any
    name: str | None
    _defaults = {"data": None, "name": None}


class StreamTriggerInput(Record):
    """A change of a stream item (or a custom event sent to a group)."""

    __slots__ = ("type", "stream_name", "group_id", "id", "event", "timestamp")  # noqa: RUF023 - positional order
    type: str
    stream_name: str
    group_id: str
    id: str | None
    event: StreamEvent
    timestamp: int
    _fixed = {"type": "stream"}
    _defaults = {"id": None, "timestamp": 0}
    _aliases = {"item_id": "id", "itemId": "id"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        event: Any = self.event
        if isinstance(event, dict):
            self.event = StreamEvent.model_validate(event)


class StreamSubscription(Record):
    """Who joins or leaves a stream: the subscription, and the context authentication gave the socket."""

    __slots__ = ("subscription_id", "stream_name", "group_id", "id", "auth_context")  # noqa: RUF023 - positional order
    subscription_id: str
    stream_name: str
    group_id: str
    id: str | None
    auth_context: Any
    _defaults = {"subscription_id": "", "stream_name": "", "id": None, "auth_context": None}
    _aliases = {"item_id": "id"}


class StreamAuthInput(Record):
    """A stream WebSocket handshake: headers (lower-case names), path, query parameters, client address."""

    __slots__ = ("headers", "path", "query_params", "addr")  # noqa: RUF023 - positional order
    headers: dict[str, str]
    path: str
    query_params: dict[str, list[str]]
    addr: str
    _defaults = {"path": "/", "query_params": dict, "addr": ""}


class StreamAuthResult(Record):
    """What stream authentication may return instead of a bool: the decision and a context for join hooks."""

    __slots__ = ("authorized", "context")
    authorized: bool
    context: Any
    _defaults = {"context": None}
