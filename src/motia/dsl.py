"""The decorator DSL: `@api`, `@on`, `@cron`, `@on_state`, `@on_stream` and `@step`.

A decorator records a trigger on the function (`fn.__motia_step__`) and returns the function unchanged,
so handlers stay plain, directly callable functions. Stacked decorators make one multi-trigger step,
triggers in source order. Each decorator call also returns a value the legacy `config = {...}` form
accepts in its `triggers` list (`api("GET", "/x/:id")`), so both forms share one set of helpers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from .model import (
    INFER,
    CronTrigger,
    Emit,
    HandlerConfig,
    HttpTrigger,
    QueueConfig,
    QueueTrigger,
    SourceLocation,
    StateTrigger,
    Step,
    StreamTrigger,
    Trigger,
)

F = TypeVar("F", bound=Callable[..., Any])

STEP_ATTRIBUTE = "__motia_step__"


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
        self.emits = [to_emit(e) for e in _as_list(emits)]
        self.virtual_emits = [to_emit(e) for e in _as_list(virtual_emits)]
        self.virtual_subscribes = list(_as_list(virtual_subscribes))
        self.handler_config = handler_config


class StepDecorator:
    """The value of `api(...)`, `on(...)`, ...: apply it with `@`, or list it in a legacy config."""

    __slots__ = ("options", "triggers")

    def __init__(self, triggers: Sequence[Trigger], options: StepOptions) -> None:
        self.triggers = list(triggers)
        self.options = options

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


def api(
    method: str,
    path: str,
    *,
    status: int = 200,
    responses: Mapping[int, Any] | None = None,
    query: Any = None,
    middleware: Sequence[Callable[..., Any]] = (),
    condition: Callable[..., Any] | None = None,
    emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    name: str | None = None,
    description: str | None = None,
    flows: Iterable[str] = (),
    body: Any = INFER,
    virtual_emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    timeout: float | None = None,
    # The seed's `api()` helper keywords.
    body_schema: Any = None,
    response_schema: Mapping[int, Any] | None = None,
    query_params: Any = None,
) -> StepDecorator:
    """An HTTP route. `:name` segments are path parameters (`/users/:id`).

    The body type comes from the handler's `req: ApiRequest[Body]` annotation (or `body=`/`body_schema=`);
    response schemas from the return annotation and `responses={status: Type}`.
    """
    trigger = HttpTrigger(
        method=method.upper(),
        path=path,
        body=body_schema if body_schema is not None else body,
        query=query if query is not None else query_params,
        responses=dict(response_schema or {}) | dict(responses or {}),
        status=status,
        middleware=tuple(middleware),
        condition=condition,
    )
    return StepDecorator(
        [trigger],
        StepOptions(
            name=name,
            description=description,
            flows=flows,
            emits=emits,
            virtual_emits=virtual_emits,
            handler_config=_limits(timeout),
        ),
    )


http = api


def _method(verb: str) -> Callable[..., StepDecorator]:
    def route(path: str, **kwargs: Any) -> StepDecorator:
        return api(verb, path, **kwargs)

    route.__name__ = verb.lower()
    route.__doc__ = f"`@{verb.lower()}(path)` is `@api({verb!r}, path)`."
    return route


get = _method("GET")
post = _method("POST")
put = _method("PUT")
patch = _method("PATCH")
delete = _method("DELETE")


def on(
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
) -> StepDecorator:
    """A queue subscription to one topic or several; the payload type is the first parameter's annotation.

    `queue=QueueConfig(...)` sets retries, backoff, concurrency and FIFO ordering (`config=` is the
    Motia 1.x spelling of the same).
    """
    topics = [topic] if isinstance(topic, str) else list(topic)
    if not topics:
        raise ValueError("@on() needs at least one topic")
    queue_config = to_queue_config(queue if queue is not None else config)
    triggers: list[Trigger] = [
        QueueTrigger(topic=t, input=input, config=queue_config, condition=condition) for t in topics
    ]
    return StepDecorator(
        triggers,
        StepOptions(
            name=name,
            description=description,
            flows=flows,
            emits=emits,
            virtual_emits=virtual_emits,
            handler_config=_limits(timeout),
        ),
    )


queue = event = on


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
) -> StepDecorator:
    """A schedule: 5 fields (minute first), 6 (seconds first), 7 (with year) or `@daily`-style aliases."""
    return StepDecorator(
        [CronTrigger(expression=expression, timezone=timezone, condition=condition)],
        StepOptions(
            name=name,
            description=description,
            flows=flows,
            emits=emits,
            virtual_emits=virtual_emits,
            handler_config=_limits(timeout),
        ),
    )


def on_state(
    *,
    scope: str | None = None,
    key: str | None = None,
    condition: Callable[..., Any] | None = None,
    emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    name: str | None = None,
    description: str | None = None,
    flows: Iterable[str] = (),
) -> StepDecorator:
    """Runs on every state change, optionally only in one `scope` (group) or for one `key`."""
    return StepDecorator(
        [StateTrigger(scope=scope, key=key, condition=condition)],
        StepOptions(name=name, description=description, flows=flows, emits=emits),
    )


def on_stream(
    stream_name: str,
    *,
    group_id: str | None = None,
    item_id: str | None = None,
    condition: Callable[..., Any] | None = None,
    emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    name: str | None = None,
    description: str | None = None,
    flows: Iterable[str] = (),
) -> StepDecorator:
    """Runs on create/update/delete (and custom events) of a stream's items."""
    return StepDecorator(
        [StreamTrigger(stream_name=stream_name, group_id=group_id, item_id=item_id, condition=condition)],
        StepOptions(name=name, description=description, flows=flows, emits=emits),
    )


def step(
    name: str | None = None,
    *,
    description: str | None = None,
    flows: Iterable[str] = (),
    emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    virtual_emits: Iterable[str | Emit | Mapping[str, Any]] = (),
    virtual_subscribes: Iterable[str] = (),
    timeout: float | None = None,
    handler_config: HandlerConfig | None = None,
) -> StepDecorator:
    """Step-level settings without a trigger (name, flows, emits, handler limits), stacked with the others."""
    config = to_handler_config(handler_config) if handler_config is not None else _limits(timeout)
    return StepDecorator(
        [],
        StepOptions(
            name=name,
            description=description,
            flows=flows,
            emits=emits,
            virtual_emits=virtual_emits,
            virtual_subscribes=virtual_subscribes,
            handler_config=config,
        ),
    )


def to_emit(value: str | Emit | Mapping[str, Any]) -> Emit:
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


def _limits(timeout: float | None) -> HandlerConfig | None:
    return to_handler_config(HandlerConfig(timeout=timeout)) if timeout is not None else None


def to_queue_config(value: QueueConfig | Mapping[str, Any] | None) -> QueueConfig | None:
    """A checked QueueConfig from a QueueConfig or a dict with snake_case or camelCase keys."""
    return _checked(value, QueueConfig, "queue config")


C = TypeVar("C", HandlerConfig, QueueConfig)


def _checked(value: C | Mapping[str, Any] | None, cls: type[C], what: str) -> C | None:
    """Structs are not validated when built: round-trip through msgspec so their constraints hold."""
    import msgspec

    from .legacy import normalize_keys

    if value is None:
        return None
    raw = msgspec.structs.asdict(value) if isinstance(value, msgspec.Struct) else normalize_keys(dict(value))
    try:
        return msgspec.convert(raw, cls)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid {what}: {exc}") from None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, Mapping, Emit)):
        return [value]
    return list(value)
