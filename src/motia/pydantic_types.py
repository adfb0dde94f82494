"""pydantic v2 models wherever msgspec types go (request body, query, response, event payload): validated by
pydantic, with its errors in msgspec's form so the 400 envelope and its paths are the same, and described by
pydantic's JSON Schema.

pydantic stays optional: nothing here imports it. A type can only mention a pydantic model once the user's own
code has imported pydantic, so `sys.modules` tells whether to look at all, and `import motia` never loads it.
"""

from __future__ import annotations

import functools
import sys
import typing
from collections.abc import Iterable
from typing import Any

import msgspec

_any_decoder = msgspec.json.Decoder()


def is_pydantic(tp: Any) -> bool:
    """Whether `tp` is a pydantic model, or a type built of one (`list[Model]`, `Model | None`, ...)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and _mentions(tp, pydantic.BaseModel, 0)


def _mentions(tp: Any, base: type, depth: int) -> bool:
    if depth > 8:  # a recursive alias; a model is found long before this
        return False
    if isinstance(tp, type) and not typing.get_args(tp):
        try:
            return issubclass(tp, base)
        except TypeError:
            return False
    return any(_mentions(arg, base, depth + 1) for arg in typing.get_args(tp))


class ModelValidationError(msgspec.ValidationError):
    """pydantic's errors in msgspec's form: `str()` is the first one as msgspec writes it (`message - at
    \\`$.path\\``), so every place that reports a msgspec error reports this one alike; `problems` holds all of
    them as (path, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        path, message = problems[0]
        super().__init__(f"{message} - at `{path}`")


class PydanticDecoder:
    """What `msgspec.json.Decoder(tp)` is for msgspec types: JSON (or a value already parsed) into `tp`,
    validated by pydantic; a failure raises `ModelValidationError`, JSON that does not parse `msgspec.DecodeError`."""

    __slots__ = ("adapter", "type")

    def __init__(self, tp: Any) -> None:
        from pydantic import TypeAdapter

        self.type = tp
        self.adapter: Any = TypeAdapter(tp)

    def decode(self, raw: bytes | str | msgspec.Raw) -> Any:
        from pydantic import ValidationError

        data = bytes(raw) if isinstance(raw, msgspec.Raw) else raw
        try:
            return self.adapter.validate_json(data)
        except ValidationError as exc:
            if any(error["type"] == "json_invalid" for error in exc.errors()):
                _any_decoder.decode(data)  # raises msgspec's DecodeError, the text every other body gets
            raise ModelValidationError(problems(exc.errors())) from None

    def convert(self, value: Any) -> Any:
        """A value already parsed from JSON (a remote engine's body, query parameters) into the type."""
        from pydantic import ValidationError

        try:
            return self.adapter.validate_python(value)
        except ValidationError as exc:
            raise ModelValidationError(problems(exc.errors())) from None


def decoder(tp: Any) -> Any:
    """A decoder of JSON into `tp`: msgspec's, or pydantic's when `tp` mentions a pydantic model. Raises
    TypeError when neither can decode the type."""
    if is_pydantic(tp):
        from pydantic.errors import PydanticUserError

        try:
            return PydanticDecoder(tp)
        except PydanticUserError as exc:
            raise TypeError(str(exc).splitlines()[0]) from None
    return msgspec.json.Decoder(tp)


def check(tp: Any) -> None:
    """Raises TypeError when pydantic can neither validate `tp` nor describe it in JSON Schema (for OpenAPI)."""
    from pydantic.errors import PydanticUserError

    try:
        decoder(tp).adapter.json_schema()
    except PydanticUserError as exc:
        raise TypeError(str(exc).splitlines()[0]) from None


def convert(value: Any, tp: Any, *, strict: bool = True) -> Any:
    """`msgspec.convert`, or pydantic's validation when `tp` mentions a pydantic model (lax, as pydantic is)."""
    if is_pydantic(tp):
        return PydanticDecoder(tp).convert(value)
    return msgspec.convert(value, tp, strict=strict)


def problems(errors: Iterable[Any]) -> list[tuple[str, str]]:
    """pydantic's error list as (JSON path, message), on the paths msgspec reports: a missing or unknown field
    at its object (`$`), with msgspec's words; any other error at the value (`$.items[0].qty`)."""
    found = []
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "missing" and loc:
            found.append((_path(loc[:-1]), f"Object missing required field `{loc[-1]}`"))
        elif error["type"] == "extra_forbidden" and loc:
            found.append((_path(loc[:-1]), f"Object contains unknown field `{loc[-1]}`"))
        else:
            found.append((_path(loc), str(error["msg"])))
    return found or [("$", "Invalid value")]


def _path(loc: tuple[Any, ...]) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def json_schemas(types: list[Any], ref_template: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The JSON Schema of each type (a model as a `$ref`) and the components they refer to, made by one pydantic
    call so a model used in several places is one component (what `msgspec.json.schema_components` does)."""
    from pydantic import TypeAdapter

    inputs = [(index, "validation", TypeAdapter(tp)) for index, tp in enumerate(types)]
    template = ref_template.replace("{name}", "{model}")  # pydantic's name for the component's name
    by_key, definitions = TypeAdapter.json_schemas(inputs, ref_template=template)  # type: ignore[arg-type]
    return [by_key[(index, "validation")] for index in range(len(types))], definitions.get("$defs", {})


def to_builtins(value: Any) -> Any:
    """A payload or stored value holding pydantic models (itself one, or inside a Struct, list or dict at any
    depth) as JSON values: the engine encodes with msgspec, which does not know models. Anything else is returned
    unchanged, and everything is untouched when pydantic was never imported."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (msgspec.Struct, list, tuple, dict)):
        return msgspec.to_builtins(value, enc_hook=_dump)
    return value


def _dump(obj: Any) -> Any:
    """msgspec's `enc_hook`: a model as JSON values; any other unknown type refused as msgspec refuses it."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(obj, pydantic.BaseModel):
        return obj.model_dump(mode="json")
    raise NotImplementedError(f"Encoding objects of type {type(obj).__name__} is unsupported")


@functools.lru_cache(maxsize=256)
def cached_decoder(tp: Any) -> PydanticDecoder:
    """One `PydanticDecoder` per type read from state or a stream (building pydantic's validator is slow)."""
    return PydanticDecoder(tp)
