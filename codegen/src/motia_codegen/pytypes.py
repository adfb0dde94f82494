"""Writing a runtime type (`list[Order] | None`) back as Python source, with the imports it needs."""

from __future__ import annotations

import collections.abc
import enum
import sys
import types
import typing
from pathlib import Path
from typing import Any

_BUILTINS = {int, float, str, bytes, bytearray, bool, complex, object, dict, list, tuple, set, frozenset, type}
# typing's aliases of builtins and collections.abc (`typing.List[int]` has origin `list`).
_ABC_NAMES = {getattr(collections.abc, name): name for name in collections.abc.__all__}
_NoneType = type(None)


class TypeWriter:
    """Renders types as source. Classes are imported from the module that defines them (for type checkers
    only); a class nobody can import (a `*.step.py` file, a function's local class, `__main__`) becomes `Any`.

    `reserved` are names the generated module defines itself: an imported class with such a name (or with the
    name of another imported class) is imported under an alias (`steps.users_step.User as users_step_User`).
    """

    def __init__(self, reserved: set[str] | None = None) -> None:
        self.reserved = set(reserved or ())
        self.typing_names: set[str] = set()  # from typing
        self.abc_names: set[str] = set()  # from collections.abc
        self.imports: dict[tuple[str, str], str] = {}  # (module, qualname head) -> local name
        self._taken: dict[str, tuple[str, str]] = {}

    def render(self, tp: Any) -> str:
        if tp is Any:
            return self._typing("Any")
        if tp is None or tp is _NoneType:
            return "None"
        if isinstance(tp, typing.TypeVar):
            return self._typing("Any")
        if isinstance(tp, str):  # an unresolved forward reference
            return self._typing("Any")
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Annotated:
            return self.render(args[0])
        if origin is typing.Union or (hasattr(types, "UnionType") and origin is getattr(types, "UnionType", None)):
            rendered = [self.render(arg) for arg in args]
            return " | ".join(_unique(rendered))
        if origin is typing.Literal:
            values = [self._literal(value) for value in args]
            if any(value is None for value in values):  # an enum member of a class no checker can import
                return self._typing("Any")
            return f"{self._typing('Literal')}[{', '.join(v for v in values if v is not None)}]"
        if origin is collections.abc.Callable:
            return self._typing("Any")
        if origin is not None:
            base = self._origin(origin)
            if not args:
                return base
            if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
                return f"{base}[{self.render(args[0])}, ...]"
            return f"{base}[{', '.join(self.render(arg) for arg in args)}]"
        supertype = getattr(tp, "__supertype__", None)  # typing.NewType
        if supertype is not None:
            return self.render(supertype)
        if isinstance(tp, type):
            return self._class(tp)
        return self._typing("Any")

    def _literal(self, value: Any) -> str | None:
        if isinstance(value, enum.Enum):
            if not importable(type(value)):
                return None
            return f"{self._class(type(value))}.{value.name}"
        return repr(value)

    def _typing(self, name: str) -> str:
        self.typing_names.add(name)
        return name

    def _origin(self, origin: Any) -> str:
        if origin in _BUILTINS:
            return origin.__name__
        if origin in _ABC_NAMES:
            self.abc_names.add(_ABC_NAMES[origin])
            return _ABC_NAMES[origin]
        if isinstance(origin, type):
            return self._class(origin)
        return self._typing("Any")

    def _class(self, cls: type) -> str:
        if cls in _BUILTINS:
            return cls.__name__
        module, qualname = cls.__module__, cls.__qualname__
        if module == "builtins":
            return qualname
        if not importable(cls):
            return self._typing("Any")
        head, _, rest = qualname.partition(".")
        key = (module, head)
        name = self.imports.get(key)
        if name is None:
            name = head
            if name in self.reserved or (name in self._taken and self._taken[name] != key):
                name = f"{module.rsplit('.', 1)[-1]}_{head}"
            self._taken[name] = key
            self.imports[key] = name
        return f"{name}.{rest}" if rest else name

    def import_lines(self) -> list[str]:
        """`from module import Name` lines (sorted) for the imported classes."""
        by_module: dict[str, list[str]] = {}
        for (module, head), name in self.imports.items():
            by_module.setdefault(module, []).append(head if name == head else f"{head} as {name}")
        lines = []
        for module in sorted(by_module):
            plain = sorted(n for n in by_module[module] if " as " not in n)
            aliased = sorted(n for n in by_module[module] if " as " in n)
            if plain:
                lines.append(f"from {module} import {', '.join(plain)}")
            lines.extend(f"from {module} import {name}" for name in aliased)
        return lines


def importable(cls: type) -> bool:
    """Whether `from <module> import <class>` works for a type checker: not `__main__`, not a local class, and
    not in a file whose name is no module name (`create_user.step.py` is loaded by path)."""
    module_name = cls.__module__
    if module_name in ("__main__", "__mp_main__") or "<locals>" in cls.__qualname__:
        return False
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if file is None:
        return module is not None
    stem = Path(file).name[: -len(".py")] if file.endswith(".py") else Path(file).stem
    return stem == "__init__" or (stem.isidentifier() and module_name.rsplit(".", 1)[-1] == stem)


def _unique(items: list[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
