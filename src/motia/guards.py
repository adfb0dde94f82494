"""Official motia 1.0's type guards: which kind a trigger is, whether a step has one, and a step's triggers
of one kind. They accept trigger objects, legacy trigger dicts and the model's trigger kinds, and steps as
official `Step(file_path, config)`, `StepDefinition`, a config alone, or a model step."""

from __future__ import annotations

from typing import Any

from .model import TriggerKind, canonical_kind
from .triggers import TriggerObject


def trigger_kind(trigger: Any) -> str | None:
    """`"http"`, `"queue"`, `"cron"`, `"state"` or `"stream"` (any spelling of a dict's `type`), else None."""
    if isinstance(trigger, (TriggerKind, TriggerObject)):
        return str(trigger.kind)
    if isinstance(trigger, dict) and isinstance(trigger.get("type"), str):
        return canonical_kind(trigger["type"])
    return None


def triggers_of(step: Any) -> list[Any]:
    """The triggers of an official Step/StepDefinition (`.config.triggers`), a config, or a model step."""
    config = getattr(step, "config", None)
    source = config if config is not None else step
    triggers = source.get("triggers") if isinstance(source, dict) else getattr(source, "triggers", None)
    return list(triggers or [])


def is_api_trigger(trigger: Any) -> bool:
    return trigger_kind(trigger) == "http"


def is_queue_trigger(trigger: Any) -> bool:
    return trigger_kind(trigger) == "queue"


def is_cron_trigger(trigger: Any) -> bool:
    return trigger_kind(trigger) == "cron"


def is_state_trigger(trigger: Any) -> bool:
    return trigger_kind(trigger) == "state"


def is_stream_trigger(trigger: Any) -> bool:
    return trigger_kind(trigger) == "stream"


def is_api_step(step: Any) -> bool:
    return any(is_api_trigger(t) for t in triggers_of(step))


def is_queue_step(step: Any) -> bool:
    return any(is_queue_trigger(t) for t in triggers_of(step))


def is_cron_step(step: Any) -> bool:
    return any(is_cron_trigger(t) for t in triggers_of(step))


def is_state_step(step: Any) -> bool:
    return any(is_state_trigger(t) for t in triggers_of(step))


def is_stream_step(step: Any) -> bool:
    return any(is_stream_trigger(t) for t in triggers_of(step))


def get_api_triggers(step: Any) -> list[Any]:
    return [t for t in triggers_of(step) if is_api_trigger(t)]


def get_queue_triggers(step: Any) -> list[Any]:
    return [t for t in triggers_of(step) if is_queue_trigger(t)]


def get_cron_triggers(step: Any) -> list[Any]:
    return [t for t in triggers_of(step) if is_cron_trigger(t)]


def get_state_triggers(step: Any) -> list[Any]:
    return [t for t in triggers_of(step) if is_state_trigger(t)]


def get_stream_triggers(step: Any) -> list[Any]:
    return [t for t in triggers_of(step) if is_stream_trigger(t)]
