"""State (docs/protocol.md §3.3, §4.1): `state::*` functions over the store, and the `state` trigger type."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from .engine import BuiltinError, Engine, TriggerEntry
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


def _matches(config: dict[str, Any], event: dict[str, Any]) -> bool:
    return config.get("scope") in (None, event["scope"]) and config.get("key") in (None, event["key"])


class StateModule:
    def __init__(self, engine: Engine, store: Store, tasks: Tasks) -> None:
        self.engine = engine
        self.store = store
        self.tasks = tasks
        self.triggers: dict[str, TriggerEntry] = {}
        self.changes = ChangeDelivery(engine, tasks, self.triggers, "state", _matches)
        engine.add_trigger_type("state", self)
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

    # --- trigger type -------------------------------------------------------------------------------

    def register(self, trigger: TriggerEntry) -> str | None:
        self.triggers[trigger.id] = trigger
        return None

    def unregister(self, trigger: TriggerEntry) -> None:
        self.triggers.pop(trigger.id, None)

    def _fire(self, event_type: str, scope: str, key: str, old: bytes | None, new: bytes | None) -> None:
        if self.triggers:
            self.changes.put({"type": "state", "event_type": event_type, "scope": scope, "key": key,
                              "old_value": raw(old), "new_value": raw(new)})

    def busy(self) -> bool:
        return self.changes.busy()

    # --- functions ----------------------------------------------------------------------------------

    async def get(self, data: Any) -> Any:
        scope, key = require_str(data, "scope", "key")
        return raw(self.store.state_get(scope, key))

    async def set(self, data: Any) -> Any:
        scope, key = require_str(data, "scope", "key")
        value = data["value"] if "value" in data else data.get("data")
        new = encode_value(value)
        old = self.store.state_set(scope, key, new)
        await self.store.flush()
        self._fire("state:created" if old is None else "state:updated", scope, key, old, new)
        return {"old_value": raw(old), "new_value": raw(new)}

    async def delete(self, data: Any) -> Any:
        scope, key = require_str(data, "scope", "key")
        old = self.store.state_delete(scope, key)
        await self.store.flush()
        if old is not None:
            self._fire("state:deleted", scope, key, old, None)
        return raw(old)

    async def update(self, data: Any) -> Any:
        scope, key = require_str(data, "scope", "key")
        ops = data.get("ops")
        if not isinstance(ops, list):
            raise BuiltinError("UPDATE_ERROR", "'ops' must be a list of update operations")
        old = self.store.state_get(scope, key)
        value, errors = apply_ops(_decode(old) if old is not None else None, ops)
        new = encode_value(value)
        self.store.state_set(scope, key, new)
        await self.store.flush()
        self._fire("state:created" if old is None else "state:updated", scope, key, old, new)
        result: dict[str, Any] = {"old_value": raw(old), "new_value": raw(new)}
        if errors:
            result["errors"] = errors
        return result

    async def list(self, data: Any) -> Any:
        (scope,) = require_str(data, "scope")
        return [msgspec.Raw(value) for _, value in self.store.state_items(scope)]

    async def list_groups(self, data: Any) -> Any:
        return {"groups": self.store.state_scopes()}

    async def clear(self, data: Any) -> Any:
        """Delete every key of a scope (a motia extension; iii clients list and delete)."""
        (scope,) = require_str(data, "scope")
        items = self.store.state_items(scope)
        for key, _ in items:
            self.store.state_delete(scope, key)
        await self.store.flush()
        for key, value in items:
            self._fire("state:deleted", scope, key, value, None)
        return {"deleted": len(items)}
