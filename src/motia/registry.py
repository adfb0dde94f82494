"""The registry: every step of an app, checked once (names, routes, types) before anything runs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from .crontab import CronError, CronSchedule
from .errors import StepError, StepWarning
from .model import (
    HTTP_METHODS,
    INFER,
    CronTrigger,
    HttpTrigger,
    QueueTrigger,
    Step,
    StreamDeclaration,
    TriggerKind,
)
from .pydantic_types import check, is_pydantic
from .signature import (
    HandlerShape,
    handler_shape,
    is_request_annotation,
    payload_type,
    request_body_type,
    response_types,
    type_name,
)

_PARAM = re.compile(r"^:[A-Za-z_][A-Za-z0-9_]*$")
# `/users/{id}` (FastAPI, OpenAPI) would be a literal segment here: a route no request ever matches.
_BRACED = re.compile(r"\{([^{}/]*)\}")


def normalize_path(path: str) -> str:
    """`users/:id/` -> `/users/:id` (leading slash, no trailing slash except for the root)."""
    path = "/" + path.strip().strip("/")
    return path


def route_shape(method: str, path: str) -> tuple[str, tuple[str, ...]]:
    """Two routes with the same shape cannot coexist (`/a/:x` and `/a/:y` are the same route)."""
    segments = tuple(":" if s.startswith(":") else s for s in path.strip("/").split("/") if s)
    return method, segments


class Registry:
    """Steps in registration order, with duplicate names and routes refused (both locations named)."""

    def __init__(self, steps: Iterable[Step] = (), streams: Iterable[StreamDeclaration] = ()) -> None:
        self.steps: list[Step] = []
        self.streams: dict[str, StreamDeclaration] = {}
        self.stream_auth: Callable[..., Any] | None = None
        # Step id -> file served by `GET /__motia/step/:stepId` (set by `motia.setup_step_endpoint`).
        self.step_files: dict[str, str] | None = None
        # The project's name (`discovery.project_name`): the title of its OpenAPI document and docs pages.
        self.name: str | None = None
        # What discovery found odd but loadable (`motia.checks`): printed at start-up, never fatal.
        self.warnings: list[StepWarning] = []
        self._names: dict[str, Step] = {}
        self._routes: dict[tuple[str, tuple[str, ...]], tuple[Step, HttpTrigger]] = {}
        self._stream_locations: dict[str, str] = {}
        for stream in streams:
            self.add_stream(stream)
        for step in steps:
            self.add(step)

    def add_stream(self, stream: StreamDeclaration, location: str | None = None) -> None:
        """Declare a stream (its item type and hooks); the same object twice is fine, two with one name not."""
        existing = self.streams.get(stream.name)
        # `Stream("todos")` written in several files is one stream; a typed or hooked declaration wins over
        # plain ones; two that disagree are an error.
        if existing is not None and existing is not stream:
            if _plain(stream) or _same_declaration(existing, stream):
                return
            if _plain(existing):
                self.streams[stream.name] = stream
                self._stream_locations[stream.name] = location or "<unknown>"
                return
            raise StepError(
                f"duplicate stream {stream.name!r}, also declared at {self._stream_locations.get(stream.name)}",
                location, "declare each stream once and import it where you need it",
            )
        self.streams[stream.name] = stream
        self._stream_locations.setdefault(stream.name, location or "<unknown>")

    def set_stream_auth(self, fn: Callable[..., Any], location: str | None = None) -> None:
        if self.stream_auth is not None and self.stream_auth is not fn:
            raise StepError("a second @stream_auth function; an app has one", location)
        self.stream_auth = fn

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def get(self, name: str) -> Step | None:
        return self._names.get(name)

    def add(self, step: Step) -> Step:
        location = step.location
        if not step.name or not step.name.strip():
            raise StepError("a step needs a non-empty name", location)
        previous = self._names.get(step.name)
        if previous is not None:
            if previous is step:
                return step
            raise StepError(
                f"duplicate step name {step.name!r}, also defined at {previous.location}",
                location,
                "give one of them another name (name=...)",
            )
        resolve(step)
        for trigger in step.triggers:
            if isinstance(trigger, HttpTrigger):
                key = route_shape(trigger.method, trigger.path)
                if key in self._routes:
                    other, other_trigger = self._routes[key]
                    raise StepError(
                        f"duplicate route {trigger.method} {trigger.path} (step {step.name!r}); "
                        f"{other_trigger.method} {other_trigger.path} is already served by step "
                        f"{other.name!r} at {other.location}",
                        location,
                        "change the path or method of one of them",
                    )
        for trigger in step.triggers:
            if isinstance(trigger, HttpTrigger):
                self._routes[route_shape(trigger.method, trigger.path)] = (step, trigger)
        self._names[step.name] = step
        self.steps.append(step)
        return step


def _plain(stream: StreamDeclaration) -> bool:
    return stream.item_type is None and stream.schema is None and stream.on_join is None and stream.on_leave is None


def _same_declaration(a: StreamDeclaration, b: StreamDeclaration) -> bool:
    return (a.item_type, a.schema, a.on_join, a.on_leave) == (b.item_type, b.schema, b.on_join, b.on_leave)


def resolve(step: Step) -> None:
    """Check a step and fill in what its handler's annotations declare (body, payload, response types)."""
    location = step.location
    try:
        shape = handler_shape(step.handler)
    except (TypeError, ValueError) as exc:
        raise StepError(f"step {step.name!r}: {exc}", location) from None
    if step.triggers and all(isinstance(t, HttpTrigger) for t in step.triggers):
        _check_request_parameter(step, shape)
    for trigger in step.triggers:
        check = _RESOLVERS.get(type(trigger))
        if check is not None:
            check(step, trigger, shape)


def _check_request_parameter(step: Step, shape: HandlerShape) -> None:
    """`async def create(req: Body)` (FastAPI's habit) would fail on every request: refuse it at start-up."""
    if is_request_annotation(shape.input_annotation):
        return
    body = type_name(shape.input_annotation)
    raise StepError(
        f"step {step.name!r}: its request parameter {shape.input_name!r} is annotated {body}, a body type; an HTTP "
        "handler receives an ApiRequest",
        step.location,
        f"annotate it ApiRequest[{body}] (from motia import ApiRequest) and read the body as {shape.input_name}.body",
    )


def _resolve_queue(step: Step, trigger: QueueTrigger, shape: HandlerShape) -> None:
    if trigger.input is INFER:
        trigger.input = payload_type(shape.input_annotation)
    _check_type(step, trigger.input, f"payload of topic {trigger.topic!r}")


def _resolve_cron(step: Step, trigger: CronTrigger, shape: HandlerShape) -> None:
    try:
        CronSchedule(trigger.expression, trigger.timezone)
    except CronError as exc:
        raise StepError(f"step {step.name!r}: {exc}", step.location, exc.hint) from None


def _resolve_http(step: Step, trigger: HttpTrigger, shape: HandlerShape) -> None:
    location = step.location
    request, returns = shape.input_annotation, shape.return_annotation
    method = trigger.method.upper()
    if method not in HTTP_METHODS:
        raise StepError(
            f"step {step.name!r}: unknown HTTP method {trigger.method!r}",
            location,
            f"use one of {', '.join(sorted(HTTP_METHODS))}",
        )
    trigger.method = method
    path = normalize_path(trigger.path)
    braced = _BRACED.search(path)
    if braced:
        fixed = _BRACED.sub(r":\1", path)
        raise StepError(f"step {step.name!r}: the path {path} writes a parameter as {braced.group(0)}", location,
                        f"write path parameters with a colon: {fixed}")
    names = []
    for segment in path.strip("/").split("/"):
        if segment.startswith(":"):
            if not _PARAM.match(segment):
                raise StepError(f"step {step.name!r}: invalid path parameter {segment!r} in {path}", location,
                                "a parameter is ':' followed by a Python identifier, e.g. /users/:user_id")
            names.append(segment[1:])
    if len(set(names)) != len(names):
        raise StepError(f"step {step.name!r}: path {path} repeats a parameter name", location)
    trigger.path = path
    if trigger.body is INFER:
        trigger.body = request_body_type(request)
    if not isinstance(trigger.body, dict):
        _check_type(step, trigger.body, f"request body of {method} {path}")
    if isinstance(trigger.query, type):
        _check_type(step, trigger.query, f"query of {method} {path}")
    declared = dict(trigger.responses)
    for status, body in response_types(returns, trigger.status).items():
        declared.setdefault(status, body)
    trigger.responses = declared


# The start-up checks of each kind, keyed by kind rather than methods of the kinds: they read the handler's
# annotations (`signature`) and the types' support (`pydantic_types`), which the step model may not import
# (docs/architecture.md, rule 9). State and stream triggers have nothing to check or infer.
_RESOLVERS: dict[type[TriggerKind], Callable[[Step, Any, HandlerShape], None]] = {
    HttpTrigger: _resolve_http,
    QueueTrigger: _resolve_queue,
    CronTrigger: _resolve_cron,
}


def _check_type(step: Step, tp: Any, what: str) -> None:
    if tp is None or isinstance(tp, dict):
        return
    if is_pydantic(tp):
        try:
            check(tp)
        except TypeError as exc:
            raise StepError(f"step {step.name!r}: the {what} has a type pydantic cannot describe: {exc}",
                            step.location, "give each field of the model a type pydantic supports") from None
        return
    try:
        # Building the JSON schema walks the whole type: it refuses what msgspec can only hand to a hook.
        msgspec.json.Decoder(tp)
        msgspec.json.schema(tp)
    except TypeError as exc:
        raise StepError(
            f"step {step.name!r}: the {what} has a type msgspec cannot decode: {exc}",
            step.location,
            "use msgspec.Struct, pydantic models, dataclasses, TypedDict or builtin types",
        ) from None
