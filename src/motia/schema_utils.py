"""`schema_to_json_schema`: the JSON Schema of a dict (as is), a pydantic model or a msgspec type."""

from __future__ import annotations

from typing import Any

import msgspec


def schema_to_json_schema(schema: Any) -> dict[str, Any] | None:
    """A JSON-Schema dict for `schema`, or None when there is none (None, or a value that is not a schema).

    Dicts are returned unchanged; pydantic models through `model_json_schema()`; msgspec Structs (and
    the other types msgspec can describe: dataclasses, TypedDicts) through `msgspec.json.schema`.
    """
    if schema is None:
        return None
    if isinstance(schema, dict):
        return schema
    model_json_schema = getattr(schema, "model_json_schema", None)
    if isinstance(schema, type) and callable(model_json_schema):
        result = model_json_schema()
        return result if isinstance(result, dict) else None
    if isinstance(schema, type):
        try:
            return msgspec.json.schema(schema)
        except TypeError:
            return None
    return None
