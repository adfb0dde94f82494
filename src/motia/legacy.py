"""The seed's and Motia's config forms, compiled to the same step model as the decorators.

Accepted unchanged:
- `config = StepConfig(...)` + `step_wrapper(config, __file__, handler)` (the seed),
- module-level `config = {...}` (or `StepConfig`) + `handler` (Motia 0.x and 1.x),
with every alias (docs/legacy.md, "Every old name"): trigger types api|http, event|queue|
durable:subscriber; subscribes|topic|topics; cron|expression; emits|enqueues; camelCase or snake_case keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from .dsl import STEP_ATTRIBUTE, StepDecorator, source_of, to_emit, to_handler_config, to_queue_config
from .errors import StepError
from .model import (
    INFER,
    Emit,
    HandlerConfig,
    HttpTrigger,
    QueryParam,
    QueueConfig,
    SourceLocation,
    Step,
    Trigger,
)
from .model import (
    CronTrigger as _CronTrigger,
)
from .model import (
    QueueTrigger as _QueueTrigger,
)
from .model import (
    StateTrigger as _StateTrigger,
)
from .model import (
    StreamTrigger as _StreamTrigger,
)


class InfrastructureConfig(msgspec.Struct, kw_only=True):
    """Seed-era step infrastructure: handler limits and queue settings."""

    handler: HandlerConfig | None = None
    queue: QueueConfig | None = None


class ApiTrigger(msgspec.Struct, kw_only=True):
    path: str
    method: str = "GET"
    body_schema: Any = None
    response_schema: dict[int, Any] | None = None
    query_params: Sequence[Any] | None = None
    middleware: Sequence[Callable[..., Any]] | None = None
    condition: Callable[..., Any] | None = None
    type: str = "api"


class EventTrigger(msgspec.Struct, kw_only=True):
    """A queue subscription: `subscribes=[...]` (seed) or `topic=` (Motia 1.x)."""

    subscribes: Sequence[str] | None = None
    topic: str | None = None
    input: Any = None
    config: QueueConfig | Mapping[str, Any] | None = None
    infrastructure: InfrastructureConfig | None = None
    condition: Callable[..., Any] | None = None
    type: str = "event"


QueueTrigger = EventTrigger


class CronTrigger(msgspec.Struct, kw_only=True):
    cron: str | None = None
    expression: str | None = None
    timezone: str = "UTC"
    condition: Callable[..., Any] | None = None
    type: str = "cron"


class StateTrigger(msgspec.Struct, kw_only=True):
    scope: str | None = None
    key: str | None = None
    condition: Callable[..., Any] | None = None
    type: str = "state"


class StreamTrigger(msgspec.Struct, kw_only=True):
    stream_name: str
    group_id: str | None = None
    item_id: str | None = None
    condition: Callable[..., Any] | None = None
    type: str = "stream"


class StepConfig(msgspec.Struct, kw_only=True):
    """The seed's step config. `emits` and `enqueues` are the same field."""

    name: str
    triggers: Sequence[Any] = ()
    emits: Sequence[Any] = ()
    enqueues: Sequence[Any] = ()
    virtual_emits: Sequence[Any] = ()
    virtual_enqueues: Sequence[Any] = ()
    virtual_subscribes: Sequence[str] = ()
    description: str | None = None
    flows: Sequence[str] = ()
    infrastructure: InfrastructureConfig | None = None
    include_files: Sequence[str] = ()


Enqueue = Emit


def step_wrapper(config: Any, file: str, handler: Callable[..., Any], *_: Any) -> Callable[..., Any]:
    """Register `handler` under `config` (the seed's last line of a step file). Returns the handler."""
    location = source_of(handler) or SourceLocation(file, 1)
    step = compile_step(config, handler, source=SourceLocation(str(file), location.line))
    setattr(handler, STEP_ATTRIBUTE, step)
    return handler


# --- compiling ---------------------------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake(key: str) -> str:
    return _CAMEL.sub("_", key).lower()


def normalize_keys(values: Mapping[str, Any]) -> dict[str, Any]:
    """camelCase keys to snake_case, one level deep (schemas inside keep their own keys)."""
    return {snake(k) if isinstance(k, str) else k: v for k, v in values.items()}


_HTTP_TYPES = {"api", "http"}
_QUEUE_TYPES = {"event", "queue", "durable:subscriber"}


def compile_step(config: Any, handler: Callable[..., Any], *, source: SourceLocation | None = None) -> Step:
    """A `Step` from any legacy config form (StepConfig, dict, pydantic-like object)."""
    location = str(source) if source else None
    values = _fields(config)
    name = values.get("name")
    if not isinstance(name, str) or not name.strip():
        raise StepError("the step config has no name", location, "add \"name\": \"MyStep\" to config")
    if not callable(handler):
        raise StepError(f"step {name!r}: handler is not callable", location)
    try:
        triggers = _compile_triggers(values)
        infrastructure = _fields(values.get("infrastructure")) if values.get("infrastructure") else {}
        handler_config = to_handler_config(infrastructure.get("handler"))
        step_queue = infrastructure.get("queue")
        if step_queue is not None:
            step_queue = to_queue_config(step_queue)
            for trigger in triggers:
                if isinstance(trigger, _QueueTrigger) and trigger.config is None:
                    trigger.config = step_queue
        emits = [to_emit(e) for e in _seq(values.get("emits")) + _seq(values.get("enqueues"))]
        virtual = [to_emit(e) for e in _seq(values.get("virtual_emits")) + _seq(values.get("virtual_enqueues"))]
    except (ValueError, TypeError, msgspec.ValidationError) as exc:
        raise StepError(f"step {name!r}: {exc}", location) from None
    return Step(
        name=name,
        handler=handler,
        triggers=triggers,
        description=values.get("description"),
        flows=list(_seq(values.get("flows"))),
        emits=emits,
        virtual_emits=virtual,
        virtual_subscribes=list(_seq(values.get("virtual_subscribes"))),
        handler_config=handler_config,
        source=source,
    )


def _compile_triggers(values: dict[str, Any]) -> list[Trigger]:
    raw = values.get("triggers")
    if raw is None and isinstance(values.get("type"), str):
        # Motia 0.x: one trigger described at the config's root (`"type": "api", "path": ...`).
        if values["type"] == "noop":
            return []
        raw = [values]
    triggers: list[Trigger] = []
    for item in _seq(raw):
        triggers.extend(compile_trigger(item))
    return triggers


def compile_trigger(item: Any) -> list[Trigger]:
    """One legacy trigger (object, dict or `api(...)` helper value) -> model triggers (one per topic)."""
    if isinstance(item, StepDecorator):
        return list(item.triggers)
    if isinstance(item, (HttpTrigger, _QueueTrigger, _CronTrigger, _StateTrigger, _StreamTrigger)):
        return [item]
    values = _fields(item)
    kind = values.get("type")
    if kind in _HTTP_TYPES:
        path = values.get("path") or values.get("api_path")
        if not isinstance(path, str):
            raise ValueError("an api trigger needs a 'path'")
        method = values.get("method") or values.get("http_method") or "GET"
        response_schema = values.get("response_schema") or {}
        if not isinstance(response_schema, Mapping):
            raise ValueError("'response_schema' maps status codes to schemas, e.g. {200: {...}}")
        return [
            HttpTrigger(
                method=str(method).upper(),
                path=path,
                body=values["body_schema"] if values.get("body_schema") is not None else INFER,
                query=_query_params(values.get("query_params")),
                responses={int(k): v for k, v in response_schema.items()},
                middleware=tuple(values.get("middleware") or ()),
                condition=values.get("condition"),
            )
        ]
    if kind in _QUEUE_TYPES:
        topics = _seq(values.get("subscribes")) + _seq(values.get("topics")) + _seq(values.get("topic"))
        if not topics:
            raise ValueError("an event trigger needs 'subscribes' (or 'topic')")
        config = values.get("config")
        infrastructure = values.get("infrastructure")
        if config is None and infrastructure is not None:
            config = _fields(infrastructure).get("queue")
        queue_config = to_queue_config(config)
        payload = values.get("input")
        return [
            _QueueTrigger(
                topic=topic,
                input=payload if payload is not None else INFER,
                config=queue_config,
                condition=values.get("condition"),
            )
            for topic in topics
        ]
    if kind == "cron":
        expression = values.get("expression") or values.get("cron")
        if not isinstance(expression, str):
            raise ValueError("a cron trigger needs 'cron' (or 'expression')")
        return [
            _CronTrigger(
                expression=expression,
                timezone=values.get("timezone") or "UTC",
                condition=values.get("condition"),
            )
        ]
    if kind == "state":
        return [_StateTrigger(scope=values.get("scope"), key=values.get("key"), condition=values.get("condition"))]
    if kind == "stream":
        stream_name = values.get("stream_name")
        if not isinstance(stream_name, str):
            raise ValueError("a stream trigger needs 'stream_name' (or 'streamName')")
        return [
            _StreamTrigger(
                stream_name=stream_name,
                group_id=values.get("group_id"),
                item_id=values.get("item_id"),
                condition=values.get("condition"),
            )
        ]
    raise ValueError(
        f"unknown trigger type {kind!r}; use one of api|http, event|queue, cron, state, stream"
    )


def _query_params(value: Any) -> Any:
    if value is None or isinstance(value, type):
        return value
    params = []
    for item in _seq(value):
        if isinstance(item, QueryParam):
            params.append(item)
        elif isinstance(item, str):
            params.append(QueryParam(item))
        else:
            fields = _fields(item)
            if not isinstance(fields.get("name"), str):
                raise ValueError(f"a query parameter needs a 'name', got {item!r}")
            params.append(QueryParam(fields["name"], fields.get("description"), bool(fields.get("required"))))
    return params


def _fields(obj: Any) -> dict[str, Any]:
    """A legacy object's fields as a snake_case dict (dicts, msgspec Structs, pydantic models)."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return normalize_keys(obj)
    if isinstance(obj, msgspec.Struct):
        return {f: getattr(obj, f) for f in obj.__struct_fields__}
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return normalize_keys(dump())
    if hasattr(obj, "__dict__"):
        return normalize_keys(vars(obj))
    raise TypeError(f"cannot read a step config from {type(obj).__name__}")


def _seq(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, Mapping)) or not isinstance(value, (list, tuple, set, frozenset)):
        return [value]
    return list(value)
