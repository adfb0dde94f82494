"""State: a durable key-value store grouped by scope (`ctx.state`, or the module-level `state`).

Every method is awaitable in async code, and takes effect even if not awaited (`_pending`); in a sync handler
it returns its value directly.
"""

from __future__ import annotations

import typing
from typing import Any, Generic, TypeVar, overload

import msgspec

from . import _current
from ._pending import Pending
from .errors import MotiaError
from .pydantic_types import cached_decoder, is_pydantic, to_builtins

T = TypeVar("T")


def decode(value: Any, tp: Any = None) -> Any:
    """An engine result as a Python value: `msgspec.Raw` (in-process) is decoded, JSON (remote) converted; into
    `tp` when given (a Struct, a pydantic model, or any type either understands)."""
    if tp is not None and is_pydantic(tp):
        if value is None:
            return None
        model = cached_decoder(tp)
        return model.decode(value) if isinstance(value, msgspec.Raw) else model.convert(value)
    if isinstance(value, msgspec.Raw):
        return msgspec.json.decode(value) if tp is None else msgspec.json.decode(value, type=tp)
    if tp is None or value is None:
        return value
    return msgspec.convert(value, tp)


class SetResult(msgspec.Struct, Generic[T]):
    """What `set` returns: `result.new_value` (typed), or as official Motia code reads it,
    `result["new_value"]` / `result["old_value"]` (None when the key was new)."""

    new_value: T
    old_value: T | None = None

    def __getitem__(self, key: str) -> T | None:
        if key in ("new_value", "newValue"):
            return self.new_value
        if key in ("old_value", "oldValue"):
            return self.old_value
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


def set_result(result: Any, value: T, tp: Any) -> SetResult[T]:
    """The engine's `{old_value, new_value}` answer; `value` is what was written (already typed)."""
    old = result.get("old_value") if isinstance(result, dict) else None
    if old is not None:
        try:
            old = decode(old, tp)
        except (msgspec.ValidationError, msgspec.DecodeError):  # written before the type changed
            old = decode(old)
    return SetResult(value, old)


class StateManager:
    """`get`, `set`, `delete`, `get_group` (alias `list`), `list_groups`, `update`, `clear`."""

    def __init__(self, services: _current.Services | None = None) -> None:
        self._bound = services

    def _services(self) -> _current.Services:
        return self._bound if self._bound is not None else _current.services()

    async def _call(self, function_id: str, data: dict[str, Any]) -> Any:
        return await self._services().call(function_id, data)

    @overload
    def get(self, group_id: str, key: str) -> Pending[Any]: ...

    @overload
    def get(self, group_id: str, key: str, type: type[T]) -> Pending[T | None]: ...

    def get(self, group_id: str, key: str, type: Any = None) -> Pending[Any]:
        """The value, or None. `type=User` decodes it into a User."""
        return _current.dispatch("state.get", self._get, group_id, key, type, bound=self._bound)

    async def _get(self, group_id: str, key: str, tp: Any) -> Any:
        return decode(await self._call("state::get", {"scope": group_id, "key": key}), tp)

    def set(self, group_id: str, key: str, value: T) -> Pending[SetResult[T]]:
        """Store `value` (a Struct or any JSON value); returns `SetResult(new_value, old_value)`."""
        return _current.dispatch("state.set", self._set, group_id, key, value, bound=self._bound)

    async def _set(self, group_id: str, key: str, value: T) -> SetResult[T]:
        result = await self._call("state::set", {"scope": group_id, "key": key, "value": to_builtins(value)})
        return set_result(result, value, None)

    def delete(self, group_id: str, key: str) -> Pending[Any]:
        """Delete and return the previous value (None if there was none)."""
        return _current.dispatch("state.delete", self._delete, group_id, key, bound=self._bound)

    async def _delete(self, group_id: str, key: str) -> Any:
        return decode(await self._call("state::delete", {"scope": group_id, "key": key}))

    @overload
    def get_group(self, group_id: str) -> Pending[typing.List[Any]]: ...  # noqa: UP006 - `list` is a method here

    @overload
    def get_group(self, group_id: str, type: type[T]) -> Pending[typing.List[T]]: ...  # noqa: UP006

    def get_group(self, group_id: str, type: Any = None) -> Pending[typing.List[Any]]:  # noqa: UP006
        """Every value in a group."""
        return _current.dispatch("state.get_group", self._get_group, group_id, type, bound=self._bound)

    async def _get_group(self, group_id: str, tp: Any) -> typing.List[Any]:  # noqa: UP006
        values = await self._call("state::list", {"scope": group_id})
        return [decode(v, tp) for v in values or []]

    list = get_group
    getGroup = get_group

    def list_groups(self) -> Pending[typing.List[str]]:  # noqa: UP006
        return _current.dispatch("state.list_groups", self._list_groups, bound=self._bound)

    async def _list_groups(self) -> typing.List[str]:  # noqa: UP006
        result = await self._call("state::list_groups", {})
        return list(result.get("groups", [])) if isinstance(result, dict) else list(result or [])

    listGroups = list_groups

    def update(self, group_id: str, key: str, ops: Any) -> Pending[Any]:
        """Apply atomic ops in order and return the new value. Ops: `{"type": "set"|"merge"|"increment"|
        "decrement"|"append"|"remove", "path": ..., "value"/"by": ...}`."""
        return _current.dispatch("state.update", self._update, group_id, key, ops, bound=self._bound)

    async def _update(self, group_id: str, key: str, ops: Any) -> Any:
        ops = [ops] if isinstance(ops, dict) else list(ops)
        result = await self._call("state::update", {"scope": group_id, "key": key, "ops": ops})
        if isinstance(result, dict) and result.get("errors"):
            raise MotiaError(f"state update of {group_id}/{key} failed: {decode(result['errors'])}")
        return decode(result.get("new_value")) if isinstance(result, dict) else None

    def clear(self, group_id: str) -> Pending[int]:
        """Delete every key of a group; returns how many were deleted."""
        return _current.dispatch("state.clear", self._clear, group_id, bound=self._bound)

    async def _clear(self, group_id: str) -> int:
        result = await self._call("state::clear", {"scope": group_id})
        return int(result.get("deleted", 0)) if isinstance(result, dict) else 0


state = StateManager()
state_manager = stateManager = state
