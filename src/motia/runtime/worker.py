"""The worker: registers every step trigger with the engine as a function plus a trigger, and runs the
invocations the engine sends back (iii protocol, `docs/protocol.md` §2). It is also the
`Services` handlers reach through `ctx` and the module-level helpers: emit, state, streams."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from .. import _current, tracing
from ..errors import STORE_UNAVAILABLE, MotiaError, StoreUnavailable, did_you_mean
from ..model import (
    CronTrigger,
    HttpTrigger,
    QueueTrigger,
    StateTrigger,
    Step,
    StreamDeclaration,
    StreamTrigger,
    function_ids,
)
from ..protocol import (
    ErrorBody,
    HttpResponseData,
    InvocationResult,
    InvokeFunction,
    Message,
    RegisterFunction,
    RegisterTrigger,
    RegistrationRejected,
    Route,
    TriggerRegistrationResult,
    new_id,
    span_id,
    trigger_config,
)
from ..registry import Registry
from ..streams import Stream
from .functions import (
    CronFunction,
    HandledError,
    QueueFunction,
    StateFunction,
    StreamAuthFunction,
    StreamFunction,
    StreamHookFunction,
)
from .http import HttpFunction
from .transport import Transport

if TYPE_CHECKING:
    from ..recording import Recorder  # the recording is imported only when on (by the composition root)

log = logging.getLogger("motia.runtime")

Function = Callable[[InvokeFunction], Awaitable[Any]]

STREAM_AUTH_FUNCTION = "motia::stream::authenticate"
OPENAPI_PATH = "/openapi.json"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class Worker:
    """Hosts the functions of an app's steps and answers the engine's invocations."""

    def __init__(self, registry: Registry, *, default_timeout: float | None = 30.0) -> None:
        self.registry = registry
        self.default_timeout = default_timeout
        self.functions: dict[str, Function] = {}
        self.registrations: list[Message] = []
        self.transport: Transport | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # where threads send their calls
        self._streams: dict[str, Stream[Any]] = {}
        # function id -> (step name, trigger type): what the `step:<name>` span of an invocation says.
        self._step_of_function: dict[str, tuple[str, str]] = {}
        # Step name -> the topics it declares, for steps that declare some: emitting another is a WARNING, once
        # per step and topic (a topic computed at run time escapes the start-up check that reads the source).
        self._declared = {step.name: frozenset(e.topic for e in (*step.emits, *step.virtual_emits))
                          for step in registry if step.emits or step.virtual_emits}
        self._warned_undeclared: set[tuple[str, str]] = set()
        # Records every invocation, emit and engine call for the console when set (`App(record=True)`).
        self.recorder: Recorder | None = None
        for stream in registry.streams.values():
            self._add_stream(stream)
        if registry.stream_auth is not None:
            self._register(STREAM_AUTH_FUNCTION, StreamAuthFunction(registry.stream_auth, self),
                           "authenticates stream WebSocket connections", None, None)
        for step in registry:
            self._add_step(step)
        self._add_openapi()
        if registry.step_files is not None:
            self._add_step_endpoint(registry.step_files)

    def _register(self, function_id: str, function: Function, description: str | None, trigger_type: str | None,
                  config: dict[str, Any] | None, metadata: Any = None) -> None:
        self.functions[function_id] = function
        self.registrations.append(RegisterFunction(function_id, description=description, metadata=metadata))
        if trigger_type is not None:
            self.registrations.append(RegisterTrigger(new_id(), trigger_type, function_id, config or {},
                                                      metadata=metadata))

    def _add_route(self, route: Route, description: str) -> None:
        """A route of the app's own, registered as the engine registers its operator routes (`Route`)."""
        self.functions[route.function_id] = route.handler
        self.registrations += [RegisterFunction(route.function_id, description=description), route.trigger()]

    def _add_openapi(self) -> None:
        """`GET /openapi.json`: the app's OpenAPI document, built on the first request (unless a step serves it)."""
        if any(isinstance(t, HttpTrigger) and t.method == "GET" and t.path == OPENAPI_PATH
               for step in self.registry for t in step.triggers):
            return
        document: list[bytes] = []

        async def serve_openapi(message: InvokeFunction) -> HttpResponseData:
            if not document:
                from ..openapi import openapi_json

                document.append(openapi_json(self.registry))
            return HttpResponseData(200, {"content-type": "application/json"}, msgspec.Raw(document[0]))

        self._add_route(Route("openapi", "GET", OPENAPI_PATH, serve_openapi), "the app's OpenAPI 3.1 document")

    def _add_step_endpoint(self, files: dict[str, str]) -> None:
        """`GET /__motia/step/:stepId` (official motia's tooling route): a step file's source, loopback only."""
        from ..programmatic import STEP_ENDPOINT_PATH, step_document

        async def serve_step(message: InvokeFunction) -> HttpResponseData:
            data = message.data
            read = data.get if isinstance(data, dict) else lambda key: getattr(data, key, None)
            if read("client") not in _LOOPBACK:
                return HttpResponseData(403, {"content-type": "application/json"},
                                        {"error": "the step endpoint answers loopback clients only"})
            status, body = step_document(files, (read("path_params") or {}).get("stepId"))
            return HttpResponseData(status, {"content-type": "application/json"}, body)

        self._add_route(Route("step", "GET", STEP_ENDPOINT_PATH, serve_step), "a step file's source (tooling)")

    def _add_stream(self, stream: StreamDeclaration) -> None:
        self._streams[stream.name] = stream.bind(self)
        if stream.on_join is not None:
            self._register(f"motia::stream::join({stream.name})", StreamHookFunction(stream, stream.on_join, self,
                           joining=True), f"join hook of stream {stream.name}", "stream:join", {})
        if stream.on_leave is not None:
            self._register(f"motia::stream::leave({stream.name})", StreamHookFunction(stream, stream.on_leave, self,
                           joining=False), f"leave hook of stream {stream.name}", "stream:leave", {})

    def _add_step(self, step: Step) -> None:
        metadata = step_metadata(step)
        for index, (trigger, function_id) in enumerate(zip(step.triggers, function_ids(step), strict=True)):
            function = FUNCTIONS[type(trigger)](step, trigger, index, self, self.default_timeout)
            config = trigger_config(trigger.wire_config())
            if getattr(function, "http_args", False):  # an HTTP handler that reads `request_body` as it arrives
                config["stream_request_body"] = True
            self._register(function_id, function, step.description, trigger.wire_type, config, metadata)
            self._step_of_function[function_id] = (step.name, trigger.wire_type)

    async def attach(self, transport: Transport) -> None:
        """Register every function and trigger through `transport` (again after a reconnect)."""
        self.transport = transport
        self.loop = asyncio.get_running_loop()
        _current.attach(self)
        for message in self.registrations:
            await transport.send(message)

    def detach(self) -> None:
        _current.detach(self)
        self.transport = None

    # --- engine -> worker ---------------------------------------------------------------------------

    async def handle_invoke(self, message: InvokeFunction) -> InvocationResult:
        function = self.functions.get(message.function_id)
        if function is None:
            return InvocationResult(
                message.invocation_id, message.function_id,
                error=ErrorBody("function_not_found", f"Function {message.function_id} not found"),
            )
        try:
            if self.recorder is not None:
                result = await self.recorder.invocation(self._run, function, message,
                                                        self._step_of_function.get(message.function_id))
            elif tracing.HAS_OTEL and tracing.enabled():
                result = await self._traced(function, message)
            else:
                result = await function(message)
        except HandledError as exc:
            return InvocationResult(message.invocation_id, message.function_id, error=ErrorBody(exc.code, exc.message))
        except Exception as exc:
            log.exception("function %s failed", message.function_id)
            return InvocationResult(
                message.invocation_id, message.function_id, error=ErrorBody("invocation_failed", str(exc))
            )
        return InvocationResult(message.invocation_id, message.function_id, result)

    async def _run(self, function: Function, message: InvokeFunction) -> Any:
        if tracing.HAS_OTEL and tracing.enabled():
            return await self._traced(function, message)
        return await function(message)

    async def _traced(self, function: Function, message: InvokeFunction) -> Any:
        """`function(message)` inside its step's `step:<name>` span, continuing the caller's trace."""
        step = self._step_of_function.get(message.function_id)
        if step is None:  # a built-in route (OpenAPI, the step endpoint), not a step
            return await function(message)
        token = tracing.incoming_traceparent.set(message.traceparent or _header_traceparent(message.data))
        try:
            with tracing.step_span(*step) as span:
                result = await function(message)
                if isinstance(result, HttpResponseData) and result.status_code >= 500:
                    tracing.set_span_error(span, f"HTTP {result.status_code}")
                return result
        finally:
            tracing.incoming_traceparent.reset(token)

    async def handle_message(self, message: Message) -> None:
        if isinstance(message, TriggerRegistrationResult) and message.error is not None:
            log.error("trigger for %s was refused: %s", message.function_id, message.error.message)
        elif isinstance(message, RegistrationRejected):
            log.error("the engine refused %s: %s", message.function_id or message.worker_name, message.code)

    # --- services for handlers ----------------------------------------------------------------------

    async def call(self, function_id: str, data: Any) -> Any:
        """Invoke an engine (or other worker's) function and return its result; errors raise MotiaError."""
        if self.transport is None:
            raise MotiaError("the worker is not connected to an engine")
        context = _current.current_context.get()
        if tracing.HAS_OTEL and tracing.enabled():
            with tracing.operation_span(function_id, **tracing.call_attributes(function_id, data)):
                traceparent = tracing.traceparent_for(context.trace_id, span_id()) if context is not None else None
                result = await self._invoke_recorded("call", function_id, function_id, data, traceparent)
        else:
            traceparent = f"00-{context.trace_id}-{span_id()}-01" if context is not None else None
            result = await self._invoke_recorded("call", function_id, function_id, data, traceparent)
        if result.error is not None:
            raise _failed(f"{function_id} failed", result.error)
        return result.result

    async def emit(self, topic: str, data: Any, *, trace_id: str, message_group_id: str | None = None,
                   step: str | None = None) -> None:
        if self.transport is None:
            raise MotiaError("the worker is not connected to an engine")
        if step is not None:
            declared = self._declared.get(step)
            if declared is not None and topic not in declared and (step, topic) not in self._warned_undeclared:
                self._warned_undeclared.add((step, topic))
                close = did_you_mean(topic, sorted(declared))
                log.warning("step %s emitted %r, which it does not declare (emits=%r)%s (logged once per step and "
                            "topic)", step, topic, sorted(declared), f"; {close}" if close else "",
                            extra={"step": step, "trace_id": trace_id})
        payload: dict[str, Any] = {"topic": topic, "data": data}
        if message_group_id is not None:
            payload["messageGroupId"] = message_group_id
        if tracing.HAS_OTEL and tracing.enabled():
            with tracing.operation_span("enqueue", **{"motia.enqueue.topic": topic}):
                result = await self._invoke_recorded("emit", f"emit {topic}", "iii::durable::publish", payload,
                                                     tracing.traceparent_for(trace_id, span_id()))
        else:
            result = await self._invoke_recorded("emit", f"emit {topic}", "iii::durable::publish", payload,
                                                 f"00-{trace_id}-{span_id()}-01")
        if result.error is not None:
            raise _failed(f"emit to {topic!r} failed", result.error)

    async def _invoke_recorded(self, kind: str, name: str, function_id: str, data: Any,
                               traceparent: str | None) -> InvocationResult:
        """Invoke through the transport; with a recorder, as a span of the running invocation."""
        assert self.transport is not None
        invoke = self.transport.invoke(InvokeFunction(function_id, data, traceparent=traceparent))
        if self.recorder is None:
            return await invoke
        return await self.recorder.call(kind, name, function_id, data, traceparent, invoke)

    def stream(self, name: str) -> Stream[Any]:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = Stream[Any](name).bind(self)
        return stream


def _stream_function(step: Step, trigger: StreamTrigger, index: int, worker: Worker,
                     timeout: float | None) -> StreamFunction:
    """A stream trigger's function decodes items into the declared stream's item type."""
    declared = worker.registry.streams.get(trigger.stream_name)
    return StreamFunction(step, trigger, index, worker, timeout, declared.item_type if declared is not None else None)


# The function class of each trigger kind, called with (step, trigger, index, worker, default timeout).
FUNCTIONS: dict[type[Any], Callable[..., Function]] = {
    HttpTrigger: HttpFunction, QueueTrigger: QueueFunction, CronTrigger: CronFunction, StateTrigger: StateFunction,
    StreamTrigger: _stream_function,
}


def _header_traceparent(data: Any) -> str | None:
    """An HTTP request's own `traceparent` header: a traced client's trace continues into the step."""
    headers = data.get("headers") if isinstance(data, dict) else getattr(data, "headers", None)
    return headers.get("traceparent") if isinstance(headers, dict) else None


def step_metadata(step: Step) -> dict[str, Any]:
    """What the engine (and the iii console) learns about a step besides its trigger config."""
    metadata: dict[str, Any] = {"stepName": step.name}
    if step.source is not None:
        metadata["filePath"] = step.source.file
        metadata["line"] = step.source.line
    if step.description:
        metadata["description"] = step.description
    if step.flows:
        metadata["flows"] = list(step.flows)
    if step.emits:
        metadata["enqueues"] = [e.topic for e in step.emits]
    return metadata


def _failed(what: str, error: ErrorBody) -> MotiaError:
    """The exception a handler's engine call raises; the store being away is its own kind (HTTP 503)."""
    kind = StoreUnavailable if error.code == STORE_UNAVAILABLE else MotiaError
    return kind(f"{what}: {error.code}: {error.message}")
