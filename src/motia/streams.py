"""Streams: realtime, durable collections (stream -> group -> item) that browsers subscribe to.

    todos = Stream[Todo]("todos")
    await todos.set("inbox", todo.id, todo)      # pushed to every subscriber of the "inbox" group
    items: list[Todo] = await todos.get_group("inbox")

Every method is awaitable in async code, and takes effect even if not awaited (`_pending`); in a sync handler
it returns its value directly.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from . import _current
from ._pending import Pending
from .model import normalize_keys
from .pydantic_types import to_builtins
from .state import SetResult, decode, set_result

T = TypeVar("T")

STREAM_AUTH_ATTRIBUTE = "__motia_stream_auth__"


class Stream(Generic[T]):
    """A named stream. `Stream[Todo]("todos")` decodes reads into `Todo`.

    `on_join(subscription, ctx, auth_context)` may refuse a subscription (return False or
    `{"unauthorized": True}`); `on_leave(subscription, ctx, auth_context)` is told when one ends.
    """

    def __init__(
        self,
        name: str | StreamConfig,
        *,
        schema: Any = None,
        description: str | None = None,
        on_join: Callable[..., Any] | None = None,
        on_leave: Callable[..., Any] | None = None,
    ) -> None:
        if isinstance(name, StreamConfig):  # official motia 1.0: `Stream(StreamConfig(name=..., ...))`
            config = name
            name, schema, description = config.name, schema or config.schema, description or config.description
            on_join, on_leave = on_join or config.on_join, on_leave or config.on_leave
        if not isinstance(name, str) or not name:
            raise ValueError("a stream needs a name")
        self.name = name
        self.schema = schema
        self.description = description
        self.on_join = on_join
        self.on_leave = on_leave
        self._services: _current.Services | None = None

    @property
    def stream_name(self) -> str:
        """Official motia 1.0's name for `name`."""
        return self.name

    @property
    def item_type(self) -> Any:
        """The item type from `Stream[T]` or `schema=` (None when untyped or a JSON-Schema dict)."""
        origin = getattr(self, "__orig_class__", None)
        if origin is not None:
            (item,) = typing.get_args(origin)
            if not isinstance(item, TypeVar):
                return item
        return self.schema if self.schema is not None and not isinstance(self.schema, dict) else None

    def bind(self, services: _current.Services) -> Stream[T]:
        """This stream, calling through `services` (what `ctx.streams.<name>` returns)."""
        bound: Stream[T] = Stream(self.name, schema=self.item_type or self.schema, description=self.description,
                                  on_join=self.on_join, on_leave=self.on_leave)
        bound._services = services
        return bound

    def _dispatch(self, op: str, fn: Callable[..., Any], *args: Any) -> Any:
        return _current.dispatch(f"{self.name}.{op}", fn, *args, bound=self._services)

    async def _call(self, op: str, data: dict[str, Any]) -> Any:
        services = self._services if self._services is not None else _current.services()
        return await services.call(f"stream::{op}", {"stream_name": self.name, **data})

    def get(self, group_id: str, item_id: str) -> Pending[T | None]:
        """The item, or None."""
        return self._dispatch("get", self._get, group_id, item_id)

    async def _get(self, group_id: str, item_id: str) -> T | None:
        return decode(await self._call("get", {"group_id": group_id, "item_id": item_id}), self.item_type)

    def set(self, group_id: str, item_id: str, data: T) -> Pending[SetResult[T]]:
        """Create or replace an item (a Struct or JSON value); subscribers get `create` or `update`. Returns
        `SetResult(new_value, old_value)` (also readable as `result["new_value"]`)."""
        return self._dispatch("set", self._set, group_id, item_id, data)

    async def _set(self, group_id: str, item_id: str, data: T) -> SetResult[T]:
        result = await self._call("set", {"group_id": group_id, "item_id": item_id, "data": to_builtins(data)})
        return set_result(result, data, self.item_type)

    def delete(self, group_id: str, item_id: str) -> Pending[T | None]:
        """Delete an item and return it (None if there was none); subscribers get `delete`."""
        return self._dispatch("delete", self._delete, group_id, item_id)

    async def _delete(self, group_id: str, item_id: str) -> T | None:
        result = await self._call("delete", {"group_id": group_id, "item_id": item_id})
        old = result.get("old_value") if isinstance(result, dict) else None
        return decode(old, self.item_type) if old is not None else None

    def get_group(self, group_id: str) -> Pending[typing.List[T]]:  # noqa: UP006
        """Every item of a group."""
        return self._dispatch("get_group", self._get_group, group_id)

    async def _get_group(self, group_id: str) -> typing.List[T]:  # noqa: UP006 - `list` is a method here
        values = await self._call("list", {"group_id": group_id})
        return [decode(v, self.item_type) for v in values or []]

    list = get_group
    getGroup = get_group

    def list_groups(self) -> Pending[typing.List[str]]:  # noqa: UP006
        return self._dispatch("list_groups", self._list_groups)

    async def _list_groups(self) -> typing.List[str]:  # noqa: UP006
        return list(await self._call("list_groups", {}) or [])

    listGroups = list_groups

    def update(self, group_id: str, item_id: str, ops: Any) -> Pending[T]:
        """Apply atomic update ops (as `state.update`) and return the new item."""
        return self._dispatch("update", self._update, group_id, item_id, ops)

    async def _update(self, group_id: str, item_id: str, ops: Any) -> T:
        from .errors import MotiaError

        ops = [ops] if isinstance(ops, dict) else list(ops)
        result = await self._call("update", {"group_id": group_id, "item_id": item_id, "ops": ops})
        if isinstance(result, dict) and result.get("errors"):
            raise MotiaError(f"stream update of {self.name}/{group_id}/{item_id} failed: {decode(result['errors'])}")
        return decode(result.get("new_value"), self.item_type)

    def send(self, channel: str | Mapping[str, Any], event: Mapping[str, Any]) -> Pending[None]:
        """An ephemeral event (not stored) to a group's subscribers: `send({"groupId": g, "id"?: i},
        {"type": "typing", "data": {...}})`, or `send("group", {...})`."""
        return self._dispatch("send", self._send, channel, event)

    async def _send(self, channel: str | Mapping[str, Any], event: Mapping[str, Any]) -> None:
        if isinstance(channel, str):
            group, item = channel, None
        else:
            group = channel.get("groupId", channel.get("group_id"))
            item = channel.get("id", channel.get("item_id"))
        await self._call("send", {"group_id": group, "id": item, "type": event["type"],
                                  "data": to_builtins(event.get("data"))})

    def __repr__(self) -> str:
        return f"Stream({self.name!r})"


class StreamConfig:
    """Motia's stream definition (`*_stream.py` exporting `config`), compiled to a Stream."""

    def __init__(self, name: str, schema: Any = None, description: str | None = None,
                 base_config: Any = None, on_join: Callable[..., Any] | None = None,
                 on_leave: Callable[..., Any] | None = None) -> None:
        self.name = name
        self.schema = schema
        self.description = description
        self.base_config = base_config
        self.on_join = on_join
        self.on_leave = on_leave


def stream_from_config(config: Any) -> Stream[Any]:
    values = normalize_keys(config) if isinstance(config, Mapping) else normalize_keys(vars(config))
    return Stream(values["name"], schema=values.get("schema"), description=values.get("description"),
                  on_join=values.get("on_join"), on_leave=values.get("on_leave"))


def stream_auth(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Authenticate stream WebSocket connections: `fn(input: StreamAuthInput, ctx)` returns True/False,
    or `{"authorized": bool, "context": ...}` (the context reaches join hooks as `auth_context`)."""
    setattr(fn, STREAM_AUTH_ATTRIBUTE, True)
    return fn


class StreamsAccessor:
    """`ctx.streams.todos` / `ctx.streams["todos"]`."""

    def __init__(self, services: _current.Services) -> None:
        self._services_ref = services

    def __getattr__(self, name: str) -> Stream[Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._services_ref.stream(name)

    def __getitem__(self, name: str) -> Stream[Any]:
        return self._services_ref.stream(name)
