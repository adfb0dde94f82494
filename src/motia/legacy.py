"""The seed's and Motia's config forms, compiled to the same step model as the decorators.

Accepted unchanged:
- `config = StepConfig(...)` + `step_wrapper(config, __file__, handler)` (the seed),
- module-level `config = {...}` (or `StepConfig`) + `handler` (Motia 0.x and 1.x),
with every alias (docs/legacy.md, "Every old name"): trigger types api|http, event|queue|
durable:subscriber; subscribes|topic|topics; cron|expression; emits|enqueues; camelCase or snake_case keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import msgspec

from .errors import StepError
from .model import (
    Emit,
    HandlerConfig,
    QueueConfig,
    SourceLocation,
    Step,
    Trigger,
    TriggerKind,
    as_list,
    normalize_keys,
    snake,
    to_emit,
    to_handler_config,
    to_queue_config,
)
from .model import QueueTrigger as _QueueTrigger
from .records import Record
from .triggers import (
    STEP_ATTRIBUTE,
    ApiTrigger,
    CronTrigger,
    EventTrigger,
    QueueTrigger,
    StateTrigger,
    StreamTrigger,
    fields_of,
    query_params,
    source_of,
    trigger_object,
    warn_deprecated,
)

__all__ = [
    "ApiTrigger", "CronTrigger", "Emit", "Enqueue", "EventTrigger", "InfrastructureConfig", "QueueTrigger",
    "StateTrigger", "StepConfig", "StreamTrigger", "compile_step", "compile_trigger", "normalize_keys",
    "query_params", "snake", "step_wrapper",
]


class InfrastructureConfig(msgspec.Struct, kw_only=True):
    """Seed-era step infrastructure: handler limits and queue settings."""

    handler: HandlerConfig | None = None
    queue: QueueConfig | None = None


class StepConfig(Record):
    """A step's config (the seed's and official motia 1.0's): keyword construction in snake_case or
    camelCase, `StepConfig.model_validate({...})`, `model_dump(by_alias=True)`. `emits` and `enqueues` are
    the same field; dict triggers become trigger objects."""

    __slots__ = ("name", "triggers", "enqueues", "emits", "virtual_enqueues", "virtual_emits",  # noqa: RUF023 - positional order
                 "virtual_subscribes", "description", "flows", "include_files", "infrastructure")
    name: str
    triggers: list[Any]
    enqueues: list[Any]
    emits: list[Any]
    virtual_enqueues: list[Any] | None
    virtual_emits: list[Any] | None
    virtual_subscribes: list[str] | None
    description: str | None
    flows: list[str] | None
    include_files: list[str] | None
    infrastructure: Any
    _defaults = {"triggers": list, "enqueues": list, "emits": list, "virtual_enqueues": None,
                 "virtual_emits": None, "virtual_subscribes": None, "description": None, "flows": None,
                 "include_files": None, "infrastructure": None}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        given: Any = self.triggers
        self.triggers = [_as_trigger_object(t) for t in as_list(given)]


def _as_trigger_object(item: Any) -> Any:
    """A dict trigger as its trigger object (as official motia validates it); a broken one stays a dict, so
    that compiling the step reports it with the step file's location."""
    if not isinstance(item, dict):
        return item
    try:
        return trigger_object(item)
    except (TypeError, ValueError):
        return item


Enqueue = Emit


def step_wrapper(config: Any, file: str, handler: Callable[..., Any], *_: Any) -> Callable[..., Any]:
    """Register `handler` under `config` (the seed's last line of a step file). Returns the handler."""
    location = source_of(handler) or SourceLocation(file, 1)
    step = compile_step(config, handler, source=SourceLocation(str(file), location.line))
    setattr(handler, STEP_ATTRIBUTE, step)
    return handler


# --- compiling ---------------------------------------------------------------------------------------


def compile_step(config: Any, handler: Callable[..., Any], *, source: SourceLocation | None = None) -> Step:
    """A `Step` from any legacy config form (StepConfig, dict, pydantic-like object)."""
    location = str(source) if source else None
    values = fields_of(config)
    name = values.get("name")
    if not isinstance(name, str) or not name.strip():
        raise StepError("the step config has no name", location, "add \"name\": \"MyStep\" to config")
    if not callable(handler):
        raise StepError(f"step {name!r}: handler is not callable", location)
    try:
        warn_deprecated(as_list(values.get("triggers")), source)
        triggers = _compile_triggers(values)
        infrastructure = fields_of(values.get("infrastructure")) if values.get("infrastructure") else {}
        handler_config = to_handler_config(infrastructure.get("handler"))
        step_queue = infrastructure.get("queue")
        if step_queue is not None:
            step_queue = to_queue_config(step_queue)
            for trigger in triggers:
                if isinstance(trigger, _QueueTrigger) and trigger.config is None:
                    trigger.config = step_queue
        emits = [to_emit(e) for e in as_list(values.get("emits")) + as_list(values.get("enqueues"))]
        virtual = [to_emit(e) for e in as_list(values.get("virtual_emits")) + as_list(values.get("virtual_enqueues"))]
    except (ValueError, TypeError, msgspec.ValidationError) as exc:
        raise StepError(f"step {name!r}: {exc}", location) from None
    return Step(
        name=name,
        handler=handler,
        triggers=triggers,
        description=values.get("description"),
        flows=list(as_list(values.get("flows"))),
        emits=emits,
        virtual_emits=virtual,
        virtual_subscribes=list(as_list(values.get("virtual_subscribes"))),
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
    for item in as_list(raw):
        triggers.extend(compile_trigger(item))
    return triggers


def compile_trigger(item: Any) -> list[Trigger]:
    """One legacy trigger (object, dict or `http(...)` value) -> model triggers (one per topic)."""
    if isinstance(item, TriggerKind):
        return [cast(Trigger, item)]
    return list(trigger_object(item).triggers)

