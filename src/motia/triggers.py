"""Trigger objects and their factories: `http()`, `api()`, `queue()`, `cron()`, `state()`, `stream()`.

One object serves every form a step is written in. `http("GET", "/users/:id")` is a decorator (`@http(...)`
on a typed handler, the DSL), an entry of a legacy config's `triggers` list (the seed's and official motia
1.0's `config = {...}` + `handler`), and the official trigger object official code reads back
(`.type == "http"`, `.method`, `.path`, `.condition`, `.middleware`, `model_dump()`). The classes
(`ApiTrigger`, `QueueTrigger`/`EventTrigger`, `CronTrigger`, `StateTrigger`, `StreamTrigger`) also accept the
seed's and official keyword construction, snake_case or camelCase. Every one compiles to the model's trigger
kinds (`motia.model`), the same ones the runtime runs.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeVar

import msgspec

from .model import (
    INFER,
    TRIGGER_ALIASES,
    Emit,
    HandlerConfig,
    QueryParam,
    QueueConfig,
    SourceLocation,
    Step,
    Trigger,
    TriggerType,
    as_list,
    camel,
    handler_limits,
    normalize_keys,
    to_emit,
    to_queue_config,
)
from .model import (
    CronTrigger as CronKind,
)
from .model import (
    HttpTrigger as HttpKind,
)
from .model import (
    QueueTrigger as QueueKind,
)
from .model import (
    StateTrigger as StateKind,
)
from .model import (
    StreamTrigger as StreamKind,
)
from .state import StateManager

F = TypeVar("F", bound=Callable[..., Any])

STEP_ATTRIBUTE = "__motia_step__"

ApiRouteMethod = Literal["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]

API_DEPRECATION = "api() is deprecated, use http() instead"


class StepOptions:
    """Step-level settings a decorator may carry besides its trigger(s)."""

    __slots__ = ("description", "emits", "flows", "handler_config", "name", "virtual_emits", "virtual_subscribes")

    def __init__(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        flows: Iterable[str] = (),
        emits: Iterable[str | Emit | Mapping[str, Any]] = (),
        virtual_emits: Iterable[str | Emit | Mapping[str, Any]] = (),
        virtual_subscribes: Iterable[str] = (),
        handler_config: HandlerConfig | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.flows = list(flows)
        self.emits = [to_emit(e) for e in as_list(emits)]
        self.virtual_emits = [to_emit(e) for e in as_list(virtual_emits)]
        self.virtual_subscribes = list(as_list(virtual_subscribes))
        self.handler_config = handler_config


class StepDecorator:
    """A value to apply with `@` (records the triggers on the function) or to list in a legacy config."""

    __slots__ = ("_triggers", "options")

    def __init__(self, triggers: Sequence[Trigger], options: StepOptions) -> None:
        self._triggers = list(triggers)
        self.options = options

    @property
    def triggers(self) -> list[Trigger]:
        """The model triggers this value stands for."""
        return self._triggers

    def __call__(self, fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"a motia decorator applies to a function, not {type(fn).__name__}")
        step = step_of(fn)
        if step is None:
            step = Step(name="", handler=fn, source=source_of(fn))
            setattr(fn, STEP_ATTRIBUTE, step)
        # Decorators apply bottom-up; inserting at the front keeps the triggers in source order.
        step.triggers[0:0] = self.triggers
        merge_options(step, self.options)
        if not step.name:
            step.name = fn.__name__
        if step.description is None:
            doc = inspect.getdoc(fn)
            step.description = doc.split("\n\n")[0].strip() if doc else None
        return fn

    def __repr__(self) -> str:
        return f"StepDecorator({self.triggers!r})"


def step_of(fn: Any) -> Step | None:
    """The step recorded on a decorated handler, if any."""
    step = getattr(fn, STEP_ATTRIBUTE, None)
    return step if isinstance(step, Step) else None


def source_of(fn: Any) -> SourceLocation | None:
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    return SourceLocation(code.co_filename, code.co_firstlineno)


def merge_options(step: Step, options: StepOptions) -> None:
    if options.name:
        if step.name and step.name != options.name and step.name != step.handler.__name__:
            raise ValueError(f"step named both {step.name!r} and {options.name!r}")
        step.name = options.name
    if options.description and not step.description:
        step.description = options.description
    # Decorators apply bottom-up: what an upper decorator declares goes first, keeping source order.
    step.flows[0:0] = [f for f in options.flows if f not in step.flows]
    step.emits[0:0] = [e for e in options.emits if e.topic not in {x.topic for x in step.emits}]
    step.virtual_emits[0:0] = [
        e for e in options.virtual_emits if e.topic not in {x.topic for x in step.virtual_emits}
    ]
    step.virtual_subscribes[0:0] = [t for t in options.virtual_subscribes if t not in step.virtual_subscribes]
    if options.handler_config is not None:
        step.handler_config = options.handler_config


# --- trigger objects -----------------------------------------------------------------------------------


class TriggerObject(StepDecorator):
    """A trigger object built by keyword (`ApiTrigger(path=..., method=...)`) or by a factory.

    Built by keyword it keeps the given fields and compiles them when first used, so that a mistake is
    reported as a StepError naming the step file (not as an import-time crash of the config's literal).
    """

    __slots__ = ("_fields", "deprecated")
    kind: ClassVar[str] = ""
    _fields: dict[str, Any] | None

    def __init__(self, **fields: Any) -> None:
        self._fields = normalize_keys(fields)
        self._triggers = []
        self.options = StepOptions()
        self.deprecated = False

    @classmethod
    def built(cls, triggers: Sequence[Trigger], options: StepOptions | None = None) -> Any:
        made = cls.__new__(cls)
        made._fields = None
        made._triggers = list(triggers)
        made.options = options or StepOptions()
        made.deprecated = False
        return made

    @property
    def triggers(self) -> list[Trigger]:
        if self._fields is not None:
            self._triggers = self.compile(self._fields)
            self._fields = None
        return self._triggers

    def compile(self, values: dict[str, Any]) -> list[Trigger]:
        raise NotImplementedError

    @property
    def first(self) -> Any:
        triggers = self.triggers
        if not triggers:
            raise ValueError(f"this {self.kind} trigger stands for no trigger")
        return triggers[0]

    @property
    def type(self) -> TriggerType:
        """The official type string (`"http"`, `"queue"`, ...), equal to its older aliases (`"api"`, `"event"`)."""
        return TriggerType(self.kind)

    @property
    def condition(self) -> Callable[..., Any] | None:
        return self.first.condition

    def official_fields(self) -> dict[str, Any]:
        raise NotImplementedError

    def model_dump(self, *, by_alias: bool = False, exclude_none: bool = False, **_: Any) -> dict[str, Any]:
        """The official field names and values (camelCase with `by_alias=True`)."""
        out: dict[str, Any] = {"type": self.kind}
        for name, value in self.official_fields().items():
            if value is None and exclude_none:
                continue
            out[camel(name) if by_alias else name] = value
        return out

    @classmethod
    def model_validate(cls, value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            return cls(**value)
        raise TypeError(f"{cls.__name__}.model_validate() takes a dict, not {type(value).__name__}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TriggerObject):
            return NotImplemented
        return type(self) is type(other) and self.triggers == other.triggers

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.official_fields().items() if v is not None)
        return f"{type(self).__name__}(type={self.kind!r}, {shown})"


class ApiTrigger(TriggerObject):
    """An HTTP route: `ApiTrigger(path="/users/:id", method="GET", body_schema=..., condition=...)`."""

    __slots__ = ()
    kind = "http"

    def compile(self, values: dict[str, Any]) -> list[Trigger]:
        path = values.get("path") or values.get("api_path")
        if not isinstance(path, str):
            raise ValueError("an api trigger needs a 'path'")
        method = values.get("method") or values.get("http_method") or "GET"
        response_schema = values.get("response_schema") or {}
        if not isinstance(response_schema, Mapping):
            raise ValueError("'response_schema' maps status codes to schemas, e.g. {200: {...}}")
        return [
            HttpKind(
                method=str(method).upper(),
                path=path,
                body=values["body_schema"] if values.get("body_schema") is not None else INFER,
                query=query_params(values.get("query_params")),
                responses={int(k): v for k, v in response_schema.items()},
                middleware=tuple(values.get("middleware") or ()),
                condition=values.get("condition"),
            )
        ]

    @property
    def method(self) -> str:
        return self.first.method

    @property
    def path(self) -> str:
        return self.first.path

    @property
    def middleware(self) -> list[Callable[..., Any]] | None:
        return list(self.first.middleware) or None

    @property
    def body_schema(self) -> Any:
        body = self.first.body
        return None if body is INFER else body

    @property
    def response_schema(self) -> dict[int, Any] | None:
        return dict(self.first.responses) or None

    @property
    def query_params(self) -> Any:
        return self.first.query

    def official_fields(self) -> dict[str, Any]:
        return {"path": self.path, "method": self.method, "condition": self.condition,
                "middleware": self.middleware, "body_schema": self.body_schema,
                "response_schema": self.response_schema, "query_params": self.query_params}


class QueueTrigger(TriggerObject):
    """A queue subscription: `QueueTrigger(topic="a")` (official) or `EventTrigger(subscribes=["a", "b"])`
    (the seed; one model trigger per topic)."""

    __slots__ = ()
    kind = "queue"

    def compile(self, values: dict[str, Any]) -> list[Trigger]:
        topics = as_list(values.get("subscribes")) + as_list(values.get("topics")) + as_list(values.get("topic"))
        if not topics:
            raise ValueError("an event trigger needs 'subscribes' (or 'topic')")
        config = values.get("config")
        infrastructure = values.get("infrastructure")
        if config is None and infrastructure is not None:
            config = fields_of(infrastructure).get("queue")
        queue_config = to_queue_config(config)
        payload = values.get("input")
        return [
            QueueKind(topic=topic, input=payload if payload is not None else INFER, config=queue_config,
                      condition=values.get("condition"))
            for topic in topics
        ]

    @property
    def topic(self) -> str:
        return self.first.topic

    @property
    def subscribes(self) -> list[str]:
        return [t.topic for t in self.triggers if isinstance(t, QueueKind)]

    @property
    def input(self) -> Any:
        payload = self.first.input
        return None if payload is INFER else payload

    @property
    def config(self) -> QueueConfig | None:
        return self.first.config

    def official_fields(self) -> dict[str, Any]:
        return {"topic": self.topic, "condition": self.condition, "input": self.input, "config": self.config}


EventTrigger = QueueTrigger


class CronTrigger(TriggerObject):
    """A schedule: `CronTrigger(expression="0 * * * * *")` (official) or `CronTrigger(cron="0 9 * * *")`."""

    __slots__ = ()
    kind = "cron"

    def compile(self, values: dict[str, Any]) -> list[Trigger]:
        expression = values.get("expression") or values.get("cron")
        if not isinstance(expression, str):
            raise ValueError("a cron trigger needs 'cron' (or 'expression')")
        return [CronKind(expression=expression, timezone=values.get("timezone") or "UTC",
                         condition=values.get("condition"))]

    @property
    def expression(self) -> str:
        return self.first.expression

    cron = expression

    def official_fields(self) -> dict[str, Any]:
        return {"expression": self.expression, "condition": self.condition}


class StateTrigger(TriggerObject):
    """Every state change (official), optionally narrowed to one `scope` or `key` (ours)."""

    __slots__ = ()
    kind = "state"

    def compile(self, values: dict[str, Any]) -> list[Trigger]:
        return [StateKind(scope=values.get("scope"), key=values.get("key"), condition=values.get("condition"))]

    @property
    def scope(self) -> str | None:
        return self.first.scope

    @property
    def key(self) -> str | None:
        return self.first.key

    def official_fields(self) -> dict[str, Any]:
        return {"condition": self.condition}


class StreamTrigger(TriggerObject):
    """Changes of a stream's items: `StreamTrigger(stream_name="todos", group_id=..., item_id=...)`."""

    __slots__ = ()
    kind = "stream"

    def compile(self, values: dict[str, Any]) -> list[Trigger]:
        stream_name = values.get("stream_name")
        if not isinstance(stream_name, str):
            raise ValueError("a stream trigger needs 'stream_name' (or 'streamName')")
        return [StreamKind(stream_name=stream_name, group_id=values.get("group_id"),
                           item_id=values.get("item_id"), condition=values.get("condition"))]

    @property
    def stream_name(self) -> str:
        return self.first.stream_name

    @property
    def group_id(self) -> str | None:
        return self.first.group_id

    @property
    def item_id(self) -> str | None:
        return self.first.item_id

    def official_fields(self) -> dict[str, Any]:
        return {"stream_name": self.stream_name, "group_id": self.group_id, "item_id": self.item_id,
                "condition": self.condition}


TriggerConfig = ApiTrigger | QueueTrigger | CronTrigger | StateTrigger | StreamTrigger

# Every spelling of a `type` a legacy trigger dict may carry (the model's vocabulary).
_CLASSES: dict[str, type[TriggerObject]] = {
    alias: cls for cls in (ApiTrigger, QueueTrigger, CronTrigger, StateTrigger, StreamTrigger)
    for alias in TRIGGER_ALIASES[cls.kind]
}


def trigger_object(item: Any) -> StepDecorator:
    """A trigger object from a legacy trigger (a dict with `type`, or an object with fields)."""
    if isinstance(item, StepDecorator):
        return item
    values = fields_of(item)
    kind = values.pop("type", None)
    cls = _CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown trigger type {kind!r}; use one of api|http, event|queue, cron, state, stream")
    return cls(**values)


def query_params(value: Any) -> Any:
    """A query Struct type as is; documentation entries (names, dicts, QueryParam) as a QueryParam list."""
    if value is None or isinstance(value, type):
        return value
    params = []
    for item in as_list(value):
        if isinstance(item, QueryParam):
            params.append(item)
        elif isinstance(item, str):
            params.append(QueryParam(item))
        else:
            fields = fields_of(item)
            if not isinstance(fields.get("name"), str):
                raise ValueError(f"a query parameter needs a 'name', got {item!r}")
            params.append(QueryParam(fields["name"], fields.get("description"), bool(fields.get("required"))))
    return params


def fields_of(obj: Any) -> dict[str, Any]:
    """An object's fields as a snake_case dict (dicts, msgspec Structs, records, pydantic-style models)."""
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


# --- factories -----------------------------------------------------------------------------------------


def http(
    method: str,
    path: str,
    *,
    status: int = 200,
    responses: Mapping[int, Any] | None = None,
    query: Any = None,
    middleware: Sequence[Callable[..., Any]] | None = (),
    condition: Callable[..., Any] | None = None,
    emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    name: str | None = None,
    description: str | None = None,
    flows: Iterable[str] = (),
    body: Any = INFER,
    virtual_emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    timeout: float | None = None,
    # The seed's and official motia's keywords.
    body_schema: Any = None,
    response_schema: Mapping[int, Any] | None = None,
    query_params: Any = None,
) -> ApiTrigger:
    """An HTTP route. `:name` segments are path parameters (`/users/:id`).

    The body type comes from the handler's `req: ApiRequest[Body]` annotation (or `body=`/`body_schema=`);
    response schemas from the return annotation and `responses={status: Type}`.
    """
    trigger = HttpKind(
        method=method.upper(),
        path=path,
        body=body_schema if body_schema is not None else body,
        query=query if query is not None else _query(query_params),
        responses=dict(response_schema or {}) | dict(responses or {}),
        status=status,
        middleware=tuple(middleware or ()),
        condition=condition,
    )
    options = StepOptions(name=name, description=description, flows=flows, emits=emits,
                          virtual_emits=virtual_emits, handler_config=handler_limits(timeout))
    made: ApiTrigger = ApiTrigger.built([trigger], options)
    return made


def _query(value: Any) -> Any:
    return value if value is None or isinstance(value, type) else query_params(value)


def api(method: str, path: str, **options: Any) -> ApiTrigger:
    """`http()` under its seed name. As a decorator (`@api("GET", "/x")`) it is this project's DSL; listed in
    a config's `triggers` it warns `DeprecationWarning` when the step loads, as official motia 1.0 does."""
    made = http(method, path, **options)
    made.deprecated = True
    return made


def queue(
    topic: str | Iterable[str],
    *,
    queue: QueueConfig | Mapping[str, Any] | None = None,
    condition: Callable[..., Any] | None = None,
    emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    input: Any = INFER,
    name: str | None = None,
    description: str | None = None,
    flows: Iterable[str] = (),
    virtual_emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    timeout: float | None = None,
    config: QueueConfig | Mapping[str, Any] | None = None,
) -> QueueTrigger:
    """A queue subscription to one topic or several; the payload type is the first parameter's annotation.

    `queue=QueueConfig(...)` sets retries, backoff, concurrency and FIFO ordering (`config=` is the
    Motia 1.x spelling of the same).
    """
    topics = [topic] if isinstance(topic, str) else list(topic)
    if not topics:
        raise ValueError("@on() needs at least one topic")
    queue_config = to_queue_config(queue if queue is not None else config)
    triggers: list[Trigger] = [
        QueueKind(topic=t, input=input, config=queue_config, condition=condition) for t in topics
    ]
    options = StepOptions(name=name, description=description, flows=flows, emits=emits,
                          virtual_emits=virtual_emits, handler_config=handler_limits(timeout))
    made: QueueTrigger = QueueTrigger.built(triggers, options)
    return made


def cron(
    expression: str,
    *,
    condition: Callable[..., Any] | None = None,
    emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    timezone: str = "UTC",
    name: str | None = None,
    description: str | None = None,
    flows: Iterable[str] = (),
    virtual_emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    timeout: float | None = None,
) -> CronTrigger:
    """A schedule: 5 fields (minute first), 6 (seconds first), 7 (with year) or `@daily`-style aliases."""
    options = StepOptions(name=name, description=description, flows=flows, emits=emits,
                          virtual_emits=virtual_emits, handler_config=handler_limits(timeout))
    made: CronTrigger = CronTrigger.built(
        [CronKind(expression=expression, timezone=timezone, condition=condition)], options)
    return made


def on_state(
    *,
    scope: str | None = None,
    key: str | None = None,
    condition: Callable[..., Any] | None = None,
    emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    name: str | None = None,
    description: str | None = None,
    flows: Iterable[str] = (),
) -> StateTrigger:
    """Runs on every state change, optionally only in one `scope` (group) or for one `key`."""
    made: StateTrigger = StateTrigger.built(
        [StateKind(scope=scope, key=key, condition=condition)],
        StepOptions(name=name, description=description, flows=flows, emits=emits))
    return made


def stream(
    stream_name: str,
    *,
    group_id: str | None = None,
    item_id: str | None = None,
    condition: Callable[..., Any] | None = None,
    emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    name: str | None = None,
    description: str | None = None,
    flows: Iterable[str] = (),
) -> StreamTrigger:
    """Runs on create/update/delete (and custom events) of a stream's items."""
    made: StreamTrigger = StreamTrigger.built(
        [StreamKind(stream_name=stream_name, group_id=group_id, item_id=item_id, condition=condition)],
        StepOptions(name=name, description=description, flows=flows, emits=emits))
    return made


class StateAccess(StateManager):
    """`state`: the state manager (`state.get(...)`, `await state.set(...)`) and, called, the official
    state-trigger factory (`state(condition=...)`, also `@state(scope="orders")` as a decorator)."""

    def __call__(
        self,
        *,
        condition: Callable[..., Any] | None = None,
        scope: str | None = None,
        key: str | None = None,
        emits: Iterable[str | Emit | Mapping[str, Any]] = (),
        name: str | None = None,
        description: str | None = None,
        flows: Iterable[str] = (),
    ) -> StateTrigger:
        return on_state(scope=scope, key=key, condition=condition, emits=emits, name=name,
                        description=description, flows=flows)


state = StateAccess()


def warn_deprecated(items: Iterable[Any], location: SourceLocation | None) -> None:
    """The official `DeprecationWarning` for `api()` listed in a config, pointing at the step file."""
    if any(isinstance(item, TriggerObject) and item.deprecated for item in items):
        if location is None:
            warnings.warn(API_DEPRECATION, DeprecationWarning, stacklevel=3)
        else:
            warnings.warn_explicit(API_DEPRECATION, DeprecationWarning, location.file, location.line)
