"""OpenTelemetry tracing (the `otel` extra): a `step:<name>` span per handler, a span per state, stream and
enqueue call, and W3C `traceparent` carried across the engine so an HTTP -> queue -> queue chain is one
trace. The names are official motia 1.0's (`motia.tracing`).

Without `opentelemetry` installed, or with `MOTIA_OTEL=0`, every function here is a cheap no-op: the
span helpers yield None and nothing is imported. Spans are recorded by whatever tracer provider the app
configures (`opentelemetry.trace.set_tracer_provider(...)`).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from typing import Any

try:
    from opentelemetry import trace as _trace
    from opentelemetry.trace import SpanKind, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    HAS_OTEL = os.environ.get("MOTIA_OTEL", "1") != "0"
except ImportError:  # the optional extra is not installed
    HAS_OTEL = False

__all__ = [
    "HAS_OTEL",
    "enabled",
    "extract_parent_context",
    "get_trace_id_from_span",
    "get_tracer",
    "inject_context",
    "operation_span",
    "record_exception",
    "set_span_error",
    "set_span_ok",
    "step_span",
]

_propagator: Any = TraceContextTextMapPropagator() if HAS_OTEL else None
# The traceparent of the invocation being handled in this task (what `step_span` continues).
incoming_traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "motia_incoming_traceparent", default=None
)


def get_tracer() -> Any:
    """The `motia` tracer, or None without OpenTelemetry."""
    if not HAS_OTEL:
        return None
    # No provider configured: the API's proxy would make non-recording spans; skip the work altogether.
    if isinstance(_trace.get_tracer_provider(), _trace.ProxyTracerProvider):
        return None
    return _trace.get_tracer("motia")


def enabled() -> bool:
    """Whether spans are being recorded (OpenTelemetry installed and a tracer provider configured)."""
    return get_tracer() is not None


def extract_parent_context(traceparent: str | None, baggage: str | None = None) -> Any:
    """The OpenTelemetry context a W3C `traceparent` (and `baggage`) header describes, or None."""
    if not HAS_OTEL or not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if baggage:
        carrier["baggage"] = baggage
    return _propagator.extract(carrier=carrier)


def inject_context() -> dict[str, str]:
    """The current span as W3C headers (`{"traceparent": ...}`), empty without OpenTelemetry or a span."""
    if not HAS_OTEL:
        return {}
    carrier: dict[str, str] = {}
    _propagator.inject(carrier=carrier)
    return carrier


def get_trace_id_from_span() -> str | None:
    """The current span's trace id as 32 hex digits, or None."""
    if not HAS_OTEL:
        return None
    context = _trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.trace_id else None


@contextlib.contextmanager
def step_span(step_name: str, trigger_type: str, **attributes: Any) -> Iterator[Any]:
    """A SERVER span `step:<name>` around one handler run, child of the incoming `traceparent`."""
    tracer = get_tracer()
    if tracer is None:
        yield None
        return
    parent = extract_parent_context(incoming_traceparent.get())
    attrs = {"motia.step.name": step_name, "motia.trigger.type": trigger_type,
             **{k: v for k, v in attributes.items() if v is not None}}
    with tracer.start_as_current_span(f"step:{step_name}", context=parent, kind=SpanKind.SERVER,
                                      attributes=attrs, record_exception=False, set_status_on_exception=False) as span:
        try:
            yield span
        except BaseException as exc:
            if isinstance(exc, Exception):
                record_exception(span, exc)
            raise
        if getattr(getattr(span, "status", None), "status_code", None) is StatusCode.UNSET:
            set_span_ok(span)


@contextlib.contextmanager
def operation_span(operation: str, **attributes: Any) -> Iterator[Any]:
    """A CLIENT span for one state/stream/enqueue call (`state::set`, `stream::get`, `enqueue`)."""
    tracer = get_tracer()
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(operation, kind=SpanKind.CLIENT,
                                      attributes={k: v for k, v in attributes.items() if v is not None}) as span:
        yield span


def record_exception(span: Any, exc: Exception) -> None:
    if HAS_OTEL and span is not None:
        span.set_status(StatusCode.ERROR, str(exc))
        span.record_exception(exc)


def set_span_error(span: Any, message: str) -> None:
    """An ERROR status without an exception (an HTTP handler's failure already answered as a 500)."""
    if HAS_OTEL and span is not None:
        span.set_status(StatusCode.ERROR, message)


def set_span_ok(span: Any) -> None:
    if HAS_OTEL and span is not None:
        span.set_status(StatusCode.OK)


def traceparent_for(trace_id: str, span_id: str) -> str:
    """The traceparent of an outgoing call: the current span's when tracing, else one made of our ids."""
    if HAS_OTEL and get_tracer() is not None:
        traceparent = inject_context().get("traceparent")
        if traceparent:
            return traceparent
    return f"00-{trace_id}-{span_id}-01"
