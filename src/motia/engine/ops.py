"""Atomic update operations of `state::update` and `stream::update` (docs/protocol.md §4.3).

Ops apply in order to the current value (missing -> `{}`); an op that cannot apply is skipped and
reported as `{op_index, code, message}`.
"""

from __future__ import annotations

import copy
from typing import Any

MAX_DEPTH = 32
MAX_SEGMENT = 256
MAX_MERGE_KEYS = 1024
_FORBIDDEN = frozenset({"__proto__", "constructor", "prototype"})


class OpError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def apply_ops(current: Any, ops: list[Any]) -> tuple[Any, list[dict[str, Any]]]:
    value = copy.deepcopy(current) if current is not None else {}
    errors: list[dict[str, Any]] = []
    for index, op in enumerate(ops or []):
        try:
            if not isinstance(op, dict) or not isinstance(op.get("type"), str):
                raise OpError("op.invalid", "an op is an object with a 'type'")
            value = _apply(value, op)
        except OpError as exc:
            errors.append({"op_index": index, "code": exc.code, "message": exc.message})
    return value, errors


def _path(kind: str, raw: Any, *, allow_list: bool) -> list[str]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        segments = [raw]  # a dotted string is one literal key
    elif allow_list and isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        segments = list(raw)
    else:
        raise OpError(f"{kind}.path.invalid", "path must be a string" + (" or a list of strings" if allow_list else ""))
    if len(segments) > MAX_DEPTH:
        raise OpError(f"{kind}.path.too_deep", f"path deeper than {MAX_DEPTH}")
    for segment in segments:
        if not segment:
            raise OpError(f"{kind}.path.empty_segment", "empty path segment")
        if len(segment.encode()) > MAX_SEGMENT:
            raise OpError(f"{kind}.path.segment_too_long", f"path segment longer than {MAX_SEGMENT} bytes")
        if segment in _FORBIDDEN:
            raise OpError(f"{kind}.path.proto_polluted", f"path segment {segment!r} is not allowed")
    return segments


def _apply(value: Any, op: dict[str, Any]) -> Any:
    kind = op["type"]
    if kind == "set":
        path = _path("set", op.get("path"), allow_list=False)
        if not path:
            return op.get("value")
        if not isinstance(value, dict):
            raise OpError("set.target_not_object", "set needs an object")
        value[path[0]] = op.get("value")
        return value
    if kind == "merge":
        path = _path("merge", op.get("path"), allow_list=True)
        patch = op.get("value")
        if not isinstance(patch, dict):
            raise OpError("merge.value.not_object", "merge value must be an object")
        if len(patch) > MAX_MERGE_KEYS:
            raise OpError("merge.value.too_many_keys", f"merge value has more than {MAX_MERGE_KEYS} keys")
        if not path:
            base = value if isinstance(value, dict) else {}
            base.update(copy.deepcopy(patch))
            return base
        if not isinstance(value, dict):
            value = {}
        target = value
        for segment in path:
            child = target.get(segment)
            if not isinstance(child, dict):
                child = target[segment] = {}
            target = child
        target.update(copy.deepcopy(patch))
        return value
    if kind in ("increment", "decrement"):
        path = _path(kind, op.get("path"), allow_list=False)
        by = op.get("by", 1)
        if not isinstance(by, (int, float)) or isinstance(by, bool):
            raise OpError(f"{kind}.by.not_number", "'by' must be a number")
        if kind == "decrement":
            by = -by
        if not path:
            if value in ({}, None):
                return by
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise OpError(f"{kind}.not_number", "the value is not a number")
            return value + by
        if not isinstance(value, dict):
            raise OpError(f"{kind}.target_not_object", f"{kind} needs an object")
        current = value.get(path[0])
        if current is None:
            value[path[0]] = by
        elif isinstance(current, (int, float)) and not isinstance(current, bool):
            value[path[0]] = current + by
        else:
            raise OpError(f"{kind}.not_number", f"field {path[0]!r} is not a number")
        return value
    if kind == "append":
        path = _path("append", op.get("path"), allow_list=True)
        item = op.get("value")
        if not path:
            return _append(value if value != {} else None, item, nested=False)
        if not isinstance(value, dict):
            raise OpError("append.target_not_object", "append needs an object")
        target = value
        for segment in path[:-1]:
            child = target.get(segment)
            if not isinstance(child, dict):
                child = target[segment] = {}
            target = child
        target[path[-1]] = _append(target.get(path[-1]), item, nested=len(path) > 1)
        return value
    if kind == "remove":
        path = _path("remove", op.get("path"), allow_list=False)
        if not path:
            return None
        if not isinstance(value, dict):
            raise OpError("remove.target_not_object", "remove needs an object")
        value.pop(path[0], None)
        return value
    raise OpError("op.unknown", f"unknown op type {kind!r}")


def _append(current: Any, item: Any, *, nested: bool) -> Any:
    if isinstance(current, list):
        return [*current, item]
    if isinstance(current, str) and isinstance(item, str):
        return current + item
    if current is None:
        return [item] if nested or not isinstance(item, str) else item
    raise OpError("append.type_mismatch", "cannot append to this value")
