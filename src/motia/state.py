"""State: a durable key-value store grouped by scope (`ctx.state`, or the module-level `state`).

Every method is awaitable in async handlers and returns its value directly in sync handlers.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from . import _current
from .errors import MotiaError

T = TypeVar("T")


def decode(value: Any, tp: Any = None) -> Any:
    """An engine result as a Python value: `msgspec.Raw` (in-process) is decoded, JSON (remote) converted."""
    if isinstance(value, msgspec.Raw):
        return msgspec.json.decode(value) if tp is None else msgspec.json.decode(value, type=tp)
    if tp is None or value is None:
        return value
    return msgspec.convert(value, tp)


class StateManager:
    """`get`, `set`, `delete`, `get_group` (alias `list`), `list_groups`, `update`, `clear`."""

    def __init__(self, services: _current.Services | None = None) -> None:
        self._bound = services

    def _services(self) -> _current.Services:
        return self._bound if self._bound is not None else _current.services()

    async def _call(self, function_id: str, data: dict[str, Any]) -> Any:
        return await self._services().call(function_id, data)

    def get(self, group_id: str, key: str, type: Any = None) -> Any:
        """The value, or None. `type=User` decodes it into a User."""
        return _current.dispatch(self._get, group_id, key, type)

    async def _get(self, group_id: str, key: str, tp: Any) -> Any:
        return decode(await self._call("state::get", {"scope": group_id, "key": key}), tp)

    def set(self, group_id: str, key: str, value: Any) -> Any:
        """Store `value` (a Struct or any JSON value) and return it."""
        return _current.dispatch(self._set, group_id, key, value)

    async def _set(self, group_id: str, key: str, value: Any) -> Any:
        await self._call("state::set", {"scope": group_id, "key": key, "value": value})
        return value

    def delete(self, group_id: str, key: str) -> Any:
        """Delete and return the previous value (None if there was none)."""
        return _current.dispatch(self._delete, group_id, key)

    async def _delete(self, group_id: str, key: str) -> Any:
        return decode(await self._call("state::delete", {"scope": group_id, "key": key}))

    def get_group(self, group_id: str, type: Any = None) -> Any:
        """Every value in a group."""
        return _current.dispatch(self._get_group, group_id, type)

    async def _get_group(self, group_id: str, tp: Any) -> Any:
        values = await self._call("state::list", {"scope": group_id})
        return [decode(v, tp) for v in values or []]

    list = get_group
    getGroup = get_group

    def list_groups(self) -> Any:
        return _current.dispatch(self._list_groups)

    async def _list_groups(self) -> Any:
        result = await self._call("state::list_groups", {})
        return list(result.get("groups", [])) if isinstance(result, dict) else list(result or [])

    listGroups = list_groups

    def update(self, group_id: str, key: str, ops: Any) -> Any:
        """Apply atomic ops in order and return the new value. Ops: `{"type": "set"|"merge"|"increment"|
        "decrement"|"append"|"remove", "path": ..., "value"/"by": ...}`."""
        return _current.dispatch(self._update, group_id, key, ops)

    async def _update(self, group_id: str, key: str, ops: Any) -> Any:
        ops = [ops] if isinstance(ops, dict) else list(ops)
        result = await self._call("state::update", {"scope": group_id, "key": key, "ops": ops})
        if isinstance(result, dict) and result.get("errors"):
            raise MotiaError(f"state update of {group_id}/{key} failed: {decode(result['errors'])}")
        return decode(result.get("new_value")) if isinstance(result, dict) else None

    def clear(self, group_id: str) -> Any:
        """Delete every key of a group; returns how many were deleted."""
        return _current.dispatch(self._clear, group_id)

    async def _clear(self, group_id: str) -> Any:
        result = await self._call("state::clear", {"scope": group_id})
        return result.get("deleted", 0) if isinstance(result, dict) else 0


state = StateManager()
state_manager = stateManager = state
