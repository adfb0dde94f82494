"""State (docs/protocol.md §3.3, §4.1): `state::*` functions over the store, and the `state` trigger type.

Where the values live is a `StateBackend`: the process's own store (`LocalState`) or Redis, shared by every
node (`redis/state.py`). State triggers fire on the node that made the change, once per change.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import msgspec

from ..protocol import StateTriggerConfig
from .engine import BuiltinError, Engine
from .ops import apply_ops
from .store import Store
from .tasks import ChangeDelivery, Tasks

log = logging.getLogger("motia.engine.state")

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def encode_value(value: Any) -> bytes:
    """JSON bytes of a value the runtime handed over (a Struct, a JSON value, or `msgspec.Raw`)."""
    try:
        return _encode(value)
    except (TypeError, msgspec.EncodeError) as exc:
        raise BuiltinError("JSON_ERROR", f"value is not JSON-serialisable: {exc}") from None


def raw(value: bytes | None) -> msgspec.Raw | None:
    return None if value is None else msgspec.Raw(value)


def require_str(data: Any, *names: str) -> list[str]:
    if not isinstance(data, dict):
        raise BuiltinError("INVALID_INPUT", "expected an object")
    values = []
    for name in names:
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise BuiltinError("INVALID_INPUT", f"'{name}' must be a non-empty string")
        values.append(value)
    return values


# An update's new value from the old one (None: no value yet); may be called again when a race was lost.
Change = Callable[[bytes | None], bytes]


class StateBackend(ABC):
    """scope -> key -> JSON bytes, with writes that return the value they replaced."""

    @abstractmethod
    async def get(self, scope: str, key: str) -> bytes | None: ...

    @abstractmethod
    async def set(self, scope: str, key: str, value: bytes) -> bytes | None:
        """Store and return the previous value."""

    @abstractmethod
    async def delete(self, scope: str, key: str) -> bytes | None:
        """Delete and return the previous value."""

    @abstractmethod
    async def update(self, scope: str, key: str, change: Change) -> tuple[bytes | None, bytes]:
        """Replace the value by `change(old)` atomically (no write in between, from any node): (old, new)."""

    @abstractmethod
    async def items(self, scope: str) -> list[tuple[str, bytes]]:
        """The keys and values of a scope, ordered by key."""

    @abstractmethod
    async def scopes(self) -> list[str]:
        """The scopes that hold at least one key, ordered."""

    @abstractmethod
    async def clear(self, scope: str) -> list[tuple[str, bytes]]:
        """Delete every key of a scope at once; what was there."""


class LocalState(StateBackend):
    """State in this process's store (SQLite or memory): every call runs on the loop thread, so an update is
    atomic as it is; a write returns once it is durable."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, scope: str, key: str) -> bytes | None:
        return self.store.state_get(scope, key)

    async def set(self, scope: str, key: str, value: bytes) -> bytes | None:
        old = self.store.state_set(scope, key, value)
        await self.store.flush()
        return old

    async def delete(self, scope: str, key: str) -> bytes | None:
        old = self.store.state_delete(scope, key)
        await self.store.flush()
        return old

    async def update(self, scope: str, key: str, change: Change) -> tuple[bytes | None, bytes]:
        old = self.store.state_get(scope, key)
        new = change(old)
        self.store.state_set(scope, key, new)
        await self.store.flush()
        return old, new

    async def items(self, scope: str) -> list[tuple[str, bytes]]:
        return self.store.state_items(scope)

    async def scopes(self) -> list[str]:
        return self.store.state_scopes()

    async def clear(self, scope: str) -> list[tuple[str, bytes]]:
        items = self.store.state_items(scope)
        for key, _ in items:
            self.store.state_delete(scope, key)
        await self.store.flush()
        return items


def _matches(config: StateTriggerConfig, event: dict[str, Any]) -> bool:
    return config.scope in (None, event["scope"]) and config.key in (None, event["key"])


class StateModule:
    def __init__(self, engine: Engine, backend: StateBackend, tasks: Tasks) -> None:
        self.engine = engine
        self.backend = backend
        self.tasks = tasks
        self.changes = ChangeDelivery(engine, tasks, "state", StateTriggerConfig, {}, _matches)
        for name, fn in {
            "state::get": self.get,
            "state::set": self.set,
            "state::delete": self.delete,
            "state::update": self.update,
            "state::list": self.list,
            "state::list_groups": self.list_groups,
            "state::clear": self.clear,
        }.items():
            engine.add_builtin(name, fn)

    # --- changes ------------------------------------------------------------------------------------

    def _fire(self, event_type: str, scope: str, key: str, old: bytes | None, new: bytes | None) -> None:
        if self.changes.bindings:
            self.changes.put({"type": "state", "event_type": event_type, "scope": scope, "key": key,
                              "old_value": raw(old), "new_value": raw(new)})

    def busy(self) -> bool:
        return self.changes.busy()

    # --- functions ----------------------------------------------------------------------------------

    async def items(self, scope: str) -> list[tuple[str, bytes]]:
        """The keys and values of a scope (the operator route `GET /__motia/state/SCOPE`)."""
        return await self.backend.items(scope)

    async def get(self, data: Any) -> Any:
        scope, key = require_str(data, "scope", "key")
        return raw(await self.backend.get(scope, key))

    async def set(self, data: Any) -> Any:
        scope, key = require_str(data, "scope", "key")
        value = data["value"] if "value" in data else data.get("data")
        new = encode_value(value)
        old = await self.backend.set(scope, key, new)
        self._fire("state:created" if old is None else "state:updated", scope, key, old, new)
        return {"old_value": raw(old), "new_value": raw(new)}

    async def delete(self, data: Any) -> Any:
        scope, key = require_str(data, "scope", "key")
        old = await self.backend.delete(scope, key)
        if old is not None:
            self._fire("state:deleted", scope, key, old, None)
        return raw(old)

    async def update(self, data: Any) -> Any:
        scope, key = require_str(data, "scope", "key")
        ops = data.get("ops")
        if not isinstance(ops, list):
            raise BuiltinError("UPDATE_ERROR", "'ops' must be a list of update operations")
        errors: list[dict[str, Any]] = []

        def change(current: bytes | None) -> bytes:
            nonlocal errors  # the errors of the attempt that was stored (Redis may retry a lost race)
            value, errors = apply_ops(_decode(current) if current is not None else None, ops)
            return encode_value(value)

        old, new = await self.backend.update(scope, key, change)
        self._fire("state:created" if old is None else "state:updated", scope, key, old, new)
        result: dict[str, Any] = {"old_value": raw(old), "new_value": raw(new)}
        if errors:
            result["errors"] = errors
        return result

    async def list(self, data: Any) -> Any:
        (scope,) = require_str(data, "scope")
        return [msgspec.Raw(value) for _, value in await self.backend.items(scope)]

    async def list_groups(self, data: Any) -> Any:
        return {"groups": await self.backend.scopes()}

    async def clear(self, data: Any) -> Any:
        """Delete every key of a scope (a motia extension; iii clients list and delete)."""
        (scope,) = require_str(data, "scope")
        items = await self.backend.clear(scope)
        for key, value in items:
            self._fire("state:deleted", scope, key, value, None)
        return {"deleted": len(items)}
