"""Reading a handler's signature: how many arguments it takes, and the types its annotations declare."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, NamedTuple, Union

from .requests import ApiRequest, ApiResponse

NoneType = type(None)


class HandlerShape(NamedTuple):
    arity: int  # how many positional arguments to pass: 0, 1 or 2
    is_async: bool
    input_annotation: Any  # annotation of the first parameter, or inspect.Parameter.empty
    return_annotation: Any  # or inspect.Parameter.empty
    input_name: str | None = None  # the first parameter's name (for error texts)


def handler_shape(fn: Callable[..., Any]) -> HandlerShape:
    """Raises TypeError (resolution of annotations) or ValueError (unusable signature)."""
    signature = inspect.signature(fn)
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    optional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not p.empty
    ]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
    if len(positional) > 2:
        names = ", ".join(p.name for p in positional)
        raise ValueError(f"a handler takes at most 2 arguments (input, ctx), this one takes {names}")
    arity = 2 if variadic else min(2, len(positional) + len(optional))
    hints = _type_hints(fn)
    params = [*positional, *optional]
    first = hints.get(params[0].name, inspect.Parameter.empty) if params else inspect.Parameter.empty
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004
    return HandlerShape(arity, is_async, first, hints.get("return", inspect.Parameter.empty),
                        params[0].name if params else None)


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception as exc:
        raise TypeError(f"cannot resolve the annotations of {getattr(fn, '__name__', fn)!r}: {exc}") from None


def wants_http_args(annotation: Any) -> bool:
    """Whether an HTTP handler is typed `MotiaHttpArgs` (official form: streamed request and response)."""
    from .http_stream import MotiaHttpArgs

    return annotation is MotiaHttpArgs or typing.get_origin(annotation) is MotiaHttpArgs


def request_body_type(annotation: Any) -> Any:
    """`ApiRequest[T]` -> T; `ApiRequest[None]` -> None (no body); bare or missing -> Any (untyped JSON).
    `MotiaHttpArgs[T]` -> T | None: an official-form body is optional, the handler decides."""
    if annotation is inspect.Parameter.empty or annotation is ApiRequest:
        return Any
    if typing.get_origin(annotation) is not None and wants_http_args(annotation):
        (body,) = typing.get_args(annotation)
        return Any if body is Any else Union[body, None]
    if typing.get_origin(annotation) is ApiRequest:
        (body,) = typing.get_args(annotation)
        return None if body is NoneType else body
    return Any


def is_request_annotation(annotation: Any) -> bool:
    """Whether an HTTP handler's first parameter is annotated as what it receives: `ApiRequest[...]`,
    `MotiaHttpArgs[...]`, `Any`/`object`, a TypeVar, or nothing. A body type there (FastAPI's habit) is not."""
    if annotation is inspect.Parameter.empty or annotation is Any or annotation is object:
        return True
    if isinstance(annotation, typing.TypeVar) or wants_http_args(annotation):
        return True
    if _is_union(annotation):
        return any(is_request_annotation(member) for member in typing.get_args(annotation))
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, ApiRequest)


def type_name(tp: Any) -> str:
    """A type as a user writes it: `Body`, `list[Body]`, `dict[str, int]`."""
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__qualname__
    return str(tp).replace("typing.", "")


def accepts_none(tp: Any) -> bool:
    """Whether a body type lets a request without a body through (None, Any, optional types)."""
    if tp is None or tp is Any or isinstance(tp, dict):
        return True
    import msgspec

    from .pydantic_types import convert

    try:
        convert(None, tp)
        return True
    except (msgspec.ValidationError, TypeError):
        return False


def payload_type(annotation: Any) -> Any:
    """The type a queue/state/stream handler's first parameter declares (Any when unannotated)."""
    return Any if annotation is inspect.Parameter.empty else annotation


def response_types(annotation: Any, default_status: int) -> dict[int, Any]:
    """Response schemas the return annotation declares, by status.

    `T` and `ApiResponse[T]` describe the default status; a union `ApiResponse[A] | ApiResponse[B]` lists
    alternatives of it (give other statuses through `responses={404: B}`); `None` means 204.
    """
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    members = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    bodies: list[Any] = []
    statuses: dict[int, Any] = {}
    for member in members:
        if member is NoneType:
            statuses[204] = None
        elif member is ApiResponse:
            bodies.append(Any)
        elif typing.get_origin(member) is ApiResponse:
            bodies.append(typing.get_args(member)[0])
        else:
            bodies.append(member)
    if bodies:
        statuses[default_status] = bodies[0] if len(bodies) == 1 else Union[tuple(bodies)]
    return statuses


def _is_union(annotation: Any) -> bool:
    import types

    origin = typing.get_origin(annotation)
    return origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType)
