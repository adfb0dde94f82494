"""The one internal step model: what decorators and legacy configs compile to, and what the runtime runs.

A step is a handler plus one or more triggers (http, queue, cron, state, stream) and the metadata the
flow graph and codegen need (declared emits, flows, description, source location).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, Literal, Protocol, TypeVar, Union

import msgspec
from msgspec import Meta

from .crontab import CronSchedule
from .protocol import (
    CronTriggerConfig,
    HttpTriggerConfig,
    QueueConfig,
    QueueTriggerConfig,
    StateTriggerConfig,
    StreamTriggerConfig,
)

Condition = Callable[..., Any]
Middleware = Callable[..., Any]

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

# Every spelling a trigger kind has had (seed, Motia 1.x, iii); the first is the canonical kind.
TRIGGER_ALIASES: dict[str, tuple[str, ...]] = {
    "http": ("http", "api"),
    "queue": ("queue", "event", "durable:subscriber"),
    "cron": ("cron",),
    "state": ("state",),
    "stream": ("stream",),
}

_CANONICAL = {alias: kind for kind, aliases in TRIGGER_ALIASES.items() for alias in aliases}


def canonical_kind(name: str) -> str | None:
    """`"api"` -> `"http"`, `"event"` -> `"queue"`; None for an unknown kind."""
    return _CANONICAL.get(name)


class TriggerType(str, enum.Enum):
    """A trigger kind that compares equal to each of its aliases.

    Seed code compares `ctx.trigger.type == "api"` or `"event"`, Motia 1.x code `"http"` or `"queue"`;
    both hold for the same trigger. An enum of str, so it serialises as its canonical name (JSON, msgspec)
    when official code stores or enqueues `ctx.trigger.type`. (Hashing follows the canonical string.)
    """

    HTTP = "http"
    QUEUE = "queue"
    CRON = "cron"
    STATE = "state"
    STREAM = "stream"

    @classmethod
    def _missing_(cls, value: object) -> TriggerType | None:
        kind = _CANONICAL.get(value) if isinstance(value, str) else None
        return cls(kind) if kind is not None else None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str.__eq__(self, other) or _CANONICAL.get(str(other)) == self.value
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


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


class TriggerKind(msgspec.Struct, kw_only=True):
    """What every trigger kind answers for itself, so that no reader of a step branches on its kind: its
    names (`kind`, the graph's `seed_name`, the engine's `wire_type`), its function-id suffix, its wire config
    (docs/protocol.md §3) and how the banner, `motia steps` and the flow graph describe it.

    A new kind is a subclass here (and its wire config in `protocol`); see docs/architecture.md."""

    kind: ClassVar[TriggerType]
    seed_name: ClassVar[str]  # the seed's word for the kind, as the flow graph names step kinds
    wire_type: ClassVar[str]  # the trigger type the engine provides
    condition: Condition | None = None

    def suffix(self) -> str:
        """The readable part of the trigger's function id, as motia 1.x names them."""
        return str(self.kind)

    def wire_config(self) -> msgspec.Struct:
        """The `registertrigger` config the engine's `wire_type` provider reads."""
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        """`motia steps --json`'s entry: the kind and what identifies the trigger."""
        return {"type": str(self.kind)}

    def detail(self) -> str | None:
        """The flow graph's line for the trigger (None when an edge of the graph already says it)."""
        return str(self.kind)

    def banner_row(self, step: str, now: float) -> tuple[str, dict[str, Any]]:
        """The start-up banner's section for the trigger and its row there."""
        raise NotImplementedError

    def console_summary(self) -> str:
        """The console's one-line summary of the trigger on the Flows page ("POST /orders", "order.placed")."""
        raise NotImplementedError

    @property
    def data_type(self) -> Any:
        """The type of the data the handler receives (the HTTP body, the queue payload), whose schema the console
        shows; None for the kinds whose data the engine shapes (cron, state, stream)."""
        return None

    def response_types(self) -> dict[int, Any]:
        """Status -> response type, for the kinds that answer the caller (HTTP)."""
        return {}

    @property
    def consumes(self) -> str | None:
        """The topic the trigger consumes, if it is a subscription."""
        return None

    @property
    def feeds_from(self) -> tuple[str, Literal["topic", "stream", "state"]] | None:
        """The flow graph's node that feeds the trigger: its topic, stream or state group (None for HTTP, cron
        and a state trigger on every group)."""
        return None


class HttpTrigger(TriggerKind, tag="http", kw_only=True):
    kind = TriggerType.HTTP
    seed_name = "api"
    wire_type = "http"
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

    def suffix(self) -> str:
        return f"http({self.method} {self.path})"

    def wire_config(self) -> HttpTriggerConfig:
        return HttpTriggerConfig(api_path=self.path, http_method=self.method)

    def summary(self) -> dict[str, Any]:
        return {"type": "http", "method": self.method, "path": self.path}

    def detail(self) -> str:
        return f"{self.method} {self.path}"

    def banner_row(self, step: str, now: float) -> tuple[str, dict[str, Any]]:
        return "routes", {"method": self.method, "path": self.path, "step": step}

    def console_summary(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def data_type(self) -> Any:
        return self.body

    def response_types(self) -> dict[int, Any]:
        return self.responses


class QueueTrigger(TriggerKind, tag="queue", kw_only=True):
    kind = TriggerType.QUEUE
    seed_name = "event"
    wire_type = "durable:subscriber"
    topic: str
    # Payload type or JSON-Schema dict; INFER takes the handler's first parameter annotation.
    input: Any = INFER
    config: QueueConfig | None = None

    def suffix(self) -> str:
        return f"queue({self.topic})"

    def wire_config(self) -> QueueTriggerConfig:
        return QueueTriggerConfig(topic=self.topic, queue_config=self.config)

    def summary(self) -> dict[str, Any]:
        return {"type": "queue", "topic": self.topic}

    def detail(self) -> None:
        return None  # the edge from the topic says it

    def banner_row(self, step: str, now: float) -> tuple[str, dict[str, Any]]:
        return "consumers", {"topic": self.topic, "step": step}

    def console_summary(self) -> str:
        return self.topic

    @property
    def data_type(self) -> Any:
        return self.input

    @property
    def consumes(self) -> str:
        return self.topic

    @property
    def feeds_from(self) -> tuple[str, Literal["topic"]]:
        return self.topic, "topic"


class CronTrigger(TriggerKind, tag="cron", kw_only=True):
    kind = TriggerType.CRON
    seed_name = "cron"
    wire_type = "cron"
    expression: str
    timezone: str = "UTC"

    def suffix(self) -> str:
        return f"cron({self.expression})"

    def wire_config(self) -> CronTriggerConfig:
        return CronTriggerConfig(expression=self.expression, timezone=self.timezone)

    def summary(self) -> dict[str, Any]:
        return {"type": "cron", "expression": self.expression}

    def detail(self) -> str:
        zone = "" if self.timezone == "UTC" else f" ({self.timezone})"
        return f"cron {self.expression}{zone}"

    def banner_row(self, step: str, now: float) -> tuple[str, dict[str, Any]]:
        next_fire = CronSchedule(self.expression, self.timezone).next_after(now)
        return "crons", {"expression": self.expression, "timezone": self.timezone, "step": step,
                         "next": datetime.fromtimestamp(next_fire, timezone.utc).isoformat(timespec="seconds")}

    def console_summary(self) -> str:
        return f"{self.expression} ({self.timezone})"


class StateTrigger(TriggerKind, tag="state", kw_only=True):
    kind = TriggerType.STATE
    seed_name = "state"
    wire_type = "state"
    scope: str | None = None
    key: str | None = None

    def wire_config(self) -> StateTriggerConfig:
        return StateTriggerConfig(scope=self.scope, key=self.key)

    def summary(self) -> dict[str, Any]:
        return {"type": "state", "scope": self.scope, "key": self.key}

    def detail(self) -> str:
        where = ".".join(part for part in (self.scope, self.key) if part)
        return f"state {where}" if where else "state (any)"

    def banner_row(self, step: str, now: float) -> tuple[str, dict[str, Any]]:
        return "watchers", {"kind": "state", "of": self.scope or "*", "step": step}

    def console_summary(self) -> str:
        return "/".join(part for part in (self.scope, self.key) if part) or "every change"

    @property
    def feeds_from(self) -> tuple[str, Literal["state"]] | None:
        return (self.scope, "state") if self.scope else None


class StreamTrigger(TriggerKind, tag="stream", kw_only=True):
    kind = TriggerType.STREAM
    seed_name = "stream"
    wire_type = "stream"
    stream_name: str
    group_id: str | None = None
    item_id: str | None = None

    def suffix(self) -> str:
        return f"stream({self.stream_name})"

    def wire_config(self) -> StreamTriggerConfig:
        return StreamTriggerConfig(stream_name=self.stream_name, group_id=self.group_id or None,
                                   item_id=self.item_id or None)

    def summary(self) -> dict[str, Any]:
        return {"type": "stream", "stream_name": self.stream_name}

    @property
    def feeds_from(self) -> tuple[str, Literal["stream"]]:
        return self.stream_name, "stream"

    def detail(self) -> str:
        return "stream " + "/".join(part for part in (self.stream_name, self.group_id, self.item_id) if part)

    def banner_row(self, step: str, now: float) -> tuple[str, dict[str, Any]]:
        return "watchers", {"kind": "stream", "of": self.stream_name, "step": step}

    def console_summary(self) -> str:
        return self.stream_name


Trigger = Union[HttpTrigger, QueueTrigger, CronTrigger, StateTrigger, StreamTrigger]
# Every kind, in the order the docs list them.
TRIGGER_KINDS: tuple[type[TriggerKind], ...] = (HttpTrigger, QueueTrigger, CronTrigger, StateTrigger, StreamTrigger)


class StreamDeclaration(Protocol):
    """A declared stream as an app's registry keeps it (a `motia.Stream`): its name, item type and hooks."""

    name: str
    schema: Any
    description: str | None
    on_join: Callable[..., Any] | None
    on_leave: Callable[..., Any] | None

    @property
    def item_type(self) -> Any: ...

    def bind(self, services: Any) -> Any:
        """The stream, calling through a running app's services."""
        ...


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


def function_ids(step: Step) -> list[str]:
    """One engine function id per trigger: `steps::<name>::trigger::<suffix>`, `::<index>` on repeats."""
    seen: set[str] = set()
    ids = []
    for index, trigger in enumerate(step.triggers):
        fid = f"steps::{step.name}::trigger::{trigger.suffix()}"
        if fid in seen:
            fid = f"{fid}::{index}"
        seen.add(fid)
        ids.append(fid)
    return ids


# --- key normalisation (shared by the decorators, the trigger objects, the legacy forms and the records) ---

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake(key: str) -> str:
    """`groupId` -> `group_id` (snake_case keys pass through)."""
    return _CAMEL.sub("_", key).lower()


def camel(name: str) -> str:
    """`group_id` -> `groupId`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def normalize_keys(values: Mapping[str, Any]) -> dict[str, Any]:
    """camelCase keys to snake_case, one level deep (schemas inside keep their own keys)."""
    return {snake(k) if isinstance(k, str) else k: v for k, v in values.items()}


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
    # Field names as the Struct decodes them (QueueConfig's are camelCase: it is a wire contract too).
    names = {field.name: field.encode_name for field in msgspec.structs.fields(cls)}
    raw = {names.get(k, k): v for k, v in raw.items() if v is not None}
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
