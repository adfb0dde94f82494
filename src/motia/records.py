"""Keyword records: the small value objects official Motia 1.0 code builds and reads (trigger inputs,
`TriggerInfo`, `StepConfig`, stream auth results).

Official motia made them pydantic models; code written for it constructs them by keyword in snake_case or
camelCase (`StateTriggerInput(groupId=..., item_id=...)`), calls `model_dump(by_alias=True)` and
`Model.model_validate(dict)`, and older code reads them like dicts (`change["groupId"]`). A `Record`
does all of that without pydantic: a subclass lists its fields (`__slots__`) and their defaults.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, TypeVar

from .model import camel, snake

R = TypeVar("R", bound="Record")

_REQUIRED: Any = object()

class Record:
    """Fields in `__slots__` order; `_defaults` makes a field optional (a callable default is a factory);
    `_aliases` adds spellings besides the automatic camelCase one (`scope` for `group_id`)."""

    __slots__: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    _aliases: ClassVar[dict[str, str]] = {}
    # Fields that are set by the class itself (`type="state"`) and not taken from the caller unless given.
    _fixed: ClassVar[dict[str, Any]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = [f for f in self.__slots__ if f not in self._fixed]
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}() takes at most {len(fields)} positional arguments")
        values: dict[str, Any] = dict(zip(fields, args, strict=False))
        for key, value in kwargs.items():
            name = self._field_name(key)
            if name is None:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {key!r}")
            if name in values:
                raise TypeError(f"{type(self).__name__}() got {name!r} twice")
            values[name] = value
        for name, value in self._fixed.items():
            object.__setattr__(self, name, values.pop(name, value))
        missing = [f for f in fields if f not in values and f not in self._defaults]
        if missing:
            raise TypeError(f"{type(self).__name__}() missing required field(s): {', '.join(missing)}")
        for name in fields:
            if name in values:
                value = values[name]
            else:
                default = self._defaults[name]
                value = default() if callable(default) else default
            object.__setattr__(self, name, value)

    @classmethod
    def _field_name(cls, key: str) -> str | None:
        if key in cls.__slots__:
            return key
        name = cls._aliases.get(key) or snake(key)
        return name if name in cls.__slots__ else None

    # --- pydantic-style -----------------------------------------------------------------------------

    @classmethod
    def model_validate(cls: type[R], value: Any) -> R:
        """An instance from a mapping (snake_case or camelCase keys) or an instance of this class."""
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            known = {k: v for k, v in value.items() if isinstance(k, str) and cls._field_name(k) is not None}
            return cls(**known)
        raise TypeError(f"{cls.__name__}.model_validate() takes a dict, not {type(value).__name__}")

    def model_dump(self, *, by_alias: bool = False, exclude_none: bool = False, **_: Any) -> dict[str, Any]:
        """The fields as a dict (nested records dumped too); `by_alias` uses the camelCase names."""
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if value is None and exclude_none:
                continue
            if isinstance(value, Record):
                value = value.model_dump(by_alias=by_alias, exclude_none=exclude_none)
            out[camel(name) if by_alias else name] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    # --- dict-style reads (older code) --------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        name = self._field_name(key)
        if name is None:
            raise KeyError(key)
        return getattr(self, name)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._field_name(key) is not None

    def keys(self) -> Iterator[str]:
        return iter(self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and type(other) is type(self) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({fields})"
