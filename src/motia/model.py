"""The one internal step model: what decorators and legacy configs compile to, and what the runtime runs.

A step is a handler plus one or more triggers (http, queue, cron, state, stream) and the metadata the
flow graph and codegen need (declared emits, flows, description, source location).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar, Union

import msgspec
from msgspec import Meta

from .records import normalize_keys

Condition = Callable[..., Any]
Middleware = Callable[..., Any]

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class QueueConfig(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Delivery settings of one queue subscription (names as in Motia/iii, snake_case here)."""

    type: Literal["standard", "fifo"] = "standard"
    max_retries: Annotated[int, Meta(ge=0)] = 3
    backoff_type: Literal["fixed", "exponential"] = "exponential"
    backoff_delay_ms: Annotated[int, Meta(ge=0)] = 1000
    concurrency: Annotated[int, Meta(ge=1)] = 10
    # Seconds a delivered message stays invisible to other consumers before it is handed out again.
    visibility_timeout: Annotated[float, Meta(gt=0)] = 30
    delay_seconds: Annotated[float, Meta(ge=0, le=900)] = 0

    def to_wire(self) -> dict[str, Any]:
        """The camelCase `queue_config` a `durable:subscriber` trigger carries (docs/protocol.md §3.6)."""
        return {
            "type": self.type,
            "maxRetries": self.max_retries,
            "backoffType": self.backoff_type,
            "backoffDelayMs": self.backoff_delay_ms,
            "concurrency": self.concurrency,
            "visibilityTimeout": self.visibility_timeout,
            "delaySeconds": self.delay_seconds,
        }


class HandlerConfig(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Per-step execution limits: `timeout` (seconds) is enforced; `ram` (MB) and `cpu` are advisory."""

    timeout: Annotated[float, Meta(gt=0)] = 30.0
    ram: Annotated[int, Meta(gt=0)] = 128
    cpu: float | None = None


class QueryParam(msgspec.Struct, omit_defaults=True):
    """A documented query parameter (legacy `query_params` entries)."""

    name: str
    description: str | None = None
    required: bool = False


class Emit(msgspec.Struct, omit_defaults=True):
    """A declared outgoing topic; `conditional` marks an edge that is not always taken."""

    topic: str
    label: str | None = None
    conditional: bool = False


class SourceLocation(msgspec.Struct):
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


# Sentinel for "take it from the handler's annotations".
class _Infer:
    def __repr__(self) -> str:
        return "INFER"


INFER: Any = _Infer()


class HttpTrigger(msgspec.Struct, tag="http", kw_only=True):
    method: str
    path: str
    # A msgspec-compatible type, a JSON-Schema dict, None for "no body", or INFER (from `ApiRequest[T]`).
    body: Any = INFER
    # A Struct type whose fields are the query parameters, or a list of QueryParam for documentation only.
    query: Any = None
    # status -> type or JSON-Schema dict; merged with what the return annotation says.
    responses: dict[int, Any] = {}
    status: int = 200
    middleware: Sequence[Middleware] = ()
    condition: Condition | None = None


class QueueTrigger(msgspec.Struct, tag="queue", kw_only=True):
    topic: str
    # Payload type or JSON-Schema dict; INFER takes the handler's first parameter annotation.
    input: Any = INFER
    config: QueueConfig | None = None
    condition: Condition | None = None


class CronTrigger(msgspec.Struct, tag="cron", kw_only=True):
    expression: str
    timezone: str = "UTC"
    condition: Condition | None = None


class StateTrigger(msgspec.Struct, tag="state", kw_only=True):
    scope: str | None = None
    key: str | None = None
    condition: Condition | None = None


class StreamTrigger(msgspec.Struct, tag="stream", kw_only=True):
    stream_name: str
    group_id: str | None = None
    item_id: str | None = None
    condition: Condition | None = None


Trigger = Union[HttpTrigger, QueueTrigger, CronTrigger, StateTrigger, StreamTrigger]


class Step(msgspec.Struct, kw_only=True):
    """One step: a handler, its triggers and its metadata. Built by `motia.dsl` or `motia.legacy`."""

    name: str
    handler: Callable[..., Any]
    triggers: list[Trigger] = []
    description: str | None = None
    flows: list[str] = []
    emits: list[Emit] = []
    virtual_emits: list[Emit] = []
    virtual_subscribes: list[str] = []
    handler_config: HandlerConfig | None = None
    source: SourceLocation | None = None

    @property
    def location(self) -> str:
        return str(self.source) if self.source else "<unknown>"


def trigger_suffix(trigger: Trigger) -> str:
    """The readable part of a trigger's function id, as motia 1.x names them."""
    if isinstance(trigger, HttpTrigger):
        return f"http({trigger.method} {trigger.path})"
    if isinstance(trigger, QueueTrigger):
        return f"queue({trigger.topic})"
    if isinstance(trigger, CronTrigger):
        return f"cron({trigger.expression})"
    if isinstance(trigger, StreamTrigger):
        return f"stream({trigger.stream_name})"
    return "state"


def function_ids(step: Step) -> list[str]:
    """One engine function id per trigger: `steps::<name>::trigger::<suffix>`, `::<index>` on repeats."""
    seen: set[str] = set()
    ids = []
    for index, trigger in enumerate(step.triggers):
        fid = f"steps::{step.name}::trigger::{trigger_suffix(trigger)}"
        if fid in seen:
            fid = f"{fid}::{index}"
        seen.add(fid)
        ids.append(fid)
    return ids


# --- coercion into the model (shared by the decorators, the trigger objects and the legacy forms) -----


def to_emit(value: str | Emit | Mapping[str, Any]) -> Emit:
    """A declared emit from a topic string, an `Emit`/`Enqueue`, or `{"topic": ..., "label": ...}`."""
    if isinstance(value, Emit):
        return value
    if isinstance(value, str):
        return Emit(value)
    if isinstance(value, Mapping) and isinstance(value.get("topic"), str):
        return Emit(value["topic"], value.get("label"), bool(value.get("conditional", False)))
    topic = getattr(value, "topic", None)
    if isinstance(topic, str):  # a legacy Emit/Enqueue-like object
        return Emit(topic, getattr(value, "label", None), bool(getattr(value, "conditional", False)))
    raise TypeError(f"an emit is a topic string or {{'topic': ...}}, not {value!r}")


def to_handler_config(value: HandlerConfig | Mapping[str, Any] | None) -> HandlerConfig | None:
    """A checked HandlerConfig from a HandlerConfig or a dict (snake_case or camelCase keys)."""
    return _checked(value, HandlerConfig, "handler config")


def handler_limits(timeout: float | None) -> HandlerConfig | None:
    return to_handler_config(HandlerConfig(timeout=timeout)) if timeout is not None else None


def to_queue_config(value: QueueConfig | Mapping[str, Any] | None) -> QueueConfig | None:
    """A checked QueueConfig from a QueueConfig or a dict with snake_case or camelCase keys."""
    return _checked(value, QueueConfig, "queue config")


C = TypeVar("C", HandlerConfig, QueueConfig)


def _checked(value: C | Mapping[str, Any] | None, cls: type[C], what: str) -> C | None:
    """Structs are not validated when built: round-trip through msgspec so their constraints hold."""
    if value is None:
        return None
    if isinstance(value, msgspec.Struct):
        raw = msgspec.structs.asdict(value)
    elif isinstance(value, Mapping):
        raw = normalize_keys(dict(value))
    else:  # a pydantic-style config object (official motia's QueueConfig)
        dump = getattr(value, "model_dump", None)
        raw = normalize_keys(dump()) if callable(dump) else normalize_keys(vars(value))
    raw = {k: v for k, v in raw.items() if v is not None}
    try:
        return msgspec.convert(raw, cls)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid {what}: {exc}") from None


def as_list(value: Any) -> list[Any]:
    """One value or a collection of them as a list (a string or a mapping is one value)."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping, Emit)) or not isinstance(value, Iterable):
        return [value]
    return list(value)
