"""Typed inputs of state and stream triggers. Attribute access (`change.group_id`) and the dict access
older code uses (`change["groupId"]`, `change.get("old_value")`) both work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class _Record:
    __slots__: tuple[str, ...] = ()
    _aliases: dict[str, str] = {}

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, self._aliases.get(key, key))
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and hasattr(self, self._aliases.get(key, key))

    def keys(self) -> Iterator[str]:
        return iter(self.__slots__)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Record) and type(other) is type(self) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({fields})"


class StateTriggerInput(_Record):
    """A state change: `event_type` is `state:created`, `state:updated` or `state:deleted`."""

    __slots__ = ("event_type", "group_id", "item_id", "new_value", "old_value", "type")
    _aliases = {"groupId": "group_id", "scope": "group_id", "itemId": "item_id", "key": "item_id",
                "oldValue": "old_value", "newValue": "new_value", "eventType": "event_type"}

    def __init__(self, group_id: str, item_id: str, old_value: Any, new_value: Any, event_type: str) -> None:
        self.type = "state"
        self.group_id = group_id
        self.item_id = item_id
        self.old_value = old_value
        self.new_value = new_value
        self.event_type = event_type


class StreamEvent(_Record):
    """`type` is `create`, `update`, `delete` (data = the removed item) or `event` (custom: `name`)."""

    __slots__ = ("data", "name", "type")

    def __init__(self, type: str, data: Any = None, name: str | None = None) -> None:
        self.type = type
        self.data = data
        self.name = name


class StreamTriggerInput(_Record):
    __slots__ = ("event", "group_id", "id", "stream_name", "timestamp", "type")
    _aliases = {"streamName": "stream_name", "groupId": "group_id", "item_id": "id", "itemId": "id"}

    def __init__(self, stream_name: str, group_id: str, id: str | None, event: StreamEvent, timestamp: int) -> None:
        self.type = "stream"
        self.stream_name = stream_name
        self.group_id = group_id
        self.id = id
        self.event = event
        self.timestamp = timestamp


class StreamSubscription(_Record):
    """Who joins or leaves a stream: the subscription, and the context authentication gave the socket."""

    __slots__ = ("auth_context", "group_id", "id", "stream_name", "subscription_id")
    _aliases = {
        "groupId": "group_id", "streamName": "stream_name", "item_id": "id", "subscriptionId": "subscription_id"
    }

    def __init__(
        self, subscription_id: str, stream_name: str, group_id: str, id: str | None, auth_context: Any
    ) -> None:
        self.subscription_id = subscription_id
        self.stream_name = stream_name
        self.group_id = group_id
        self.id = id
        self.auth_context = auth_context


class StreamAuthInput(_Record):
    """A stream WebSocket handshake: headers (lower-case names), path, query parameters, client address."""

    __slots__ = ("addr", "headers", "path", "query_params")
    _aliases = {"queryParams": "query_params"}

    def __init__(self, headers: dict[str, str], path: str, query_params: dict[str, list[str]], addr: str) -> None:
        self.headers = headers
        self.path = path
        self.query_params = query_params
        self.addr = addr
