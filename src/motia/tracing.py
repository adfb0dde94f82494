"""OpenTelemetry tracing (the `otel` extra): a `step:<name>` span per handler, a span per state, stream and
enqueue call, and W3C `traceparent` carried across the engine so an HTTP -> queue -> queue chain is one
trace. The names are official motia 1.0's (`motia.tracing`).

Without `opentelemetry` installed, with `MOTIA_OTEL=0`, or until a tracer provider is configured (by the app:
`opentelemetry.trace.set_tracer_provider(...)` or `motia.init_iii(otel_config=...)`; or by `motia run` from the
standard `OTEL_*` variables, `export_from_env`), every function here is a cheap no-op: the span helpers yield
None, and OpenTelemetry is not even imported.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.util
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

# Installed and not switched off. Importing OpenTelemetry costs a tenth of a second, so it is not imported
# here: spans are only recorded once the app has imported `opentelemetry.trace` (it must, to set a provider).
HAS_OTEL = os.environ.get("MOTIA_OTEL", "1") != "0" and importlib.util.find_spec("opentelemetry") is not None

__all__ = [
    "HAS_OTEL",
    "call_attributes",
    "enabled",
    "export_from_env",
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

# The traceparent of the invocation being handled in this task (what `step_span` continues).
incoming_traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "motia_incoming_traceparent", default=None
)


def export_from_env() -> bool:
    """Export spans over OTLP as the standard variables ask, the way OpenTelemetry's own SDKs read them: when
    `OTEL_TRACES_EXPORTER` names `otlp`, or (it unset) an `OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT` is given, and
    `OTEL_SDK_DISABLED` is not `true`, install an SDK tracer provider (resource from `OTEL_SERVICE_NAME` and
    `OTEL_RESOURCE_ATTRIBUTES`, `motia` by default) with a batch processor (`OTEL_BSP_*`) and the OTLP exporter of
    `OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL` (`http/protobuf` by default, or `grpc`), which reads its endpoint,
    headers, timeout and TLS settings itself. A provider the app set first is kept. True when installed."""
    env = os.environ
    if not HAS_OTEL or env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    named = env.get("OTEL_TRACES_EXPORTER")
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not ("otlp" in [name.strip() for name in named.split(",")] if named else endpoint):
        return False
    protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf").strip()
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        logging.getLogger("motia").warning(
            "the OTEL_* variables ask for an OTLP exporter (%s) that is not installed (%s): spans are not exported; "
            "pip install opentelemetry-exporter-otlp", protocol, exc.name)
        return False
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return False  # the app configured tracing itself
    named_service = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    provider = TracerProvider(resource=Resource.create({} if named_service else {"service.name": "motia"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def _api() -> Any:
    """`opentelemetry.trace` if the app has imported it, else None."""
    return sys.modules.get("opentelemetry.trace") if HAS_OTEL else None


@functools.cache
def _propagator() -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator()


def get_tracer() -> Any:
    """The `motia` tracer, or None when no spans are recorded."""
    trace = _api()
    # No provider configured: the API's proxy would make non-recording spans; skip the work altogether.
    if trace is None or isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return None
    return trace.get_tracer("motia")


def enabled() -> bool:
    """Whether spans are being recorded (OpenTelemetry installed and a tracer provider configured)."""
    return get_tracer() is not None


def extract_parent_context(traceparent: str | None, baggage: str | None = None) -> Any:
    """The OpenTelemetry context a W3C `traceparent` (and `baggage`) header describes, or None."""
    if _api() is None or not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if baggage:
        carrier["baggage"] = baggage
    return _propagator().extract(carrier=carrier)


def inject_context() -> dict[str, str]:
    """The current span as W3C headers (`{"traceparent": ...}`), empty without OpenTelemetry or a span."""
    if _api() is None:
        return {}
    carrier: dict[str, str] = {}
    _propagator().inject(carrier=carrier)
    return carrier


def get_trace_id_from_span() -> str | None:
    """The current span's trace id as 32 hex digits, or None."""
    trace = _api()
    if trace is None:
        return None
    context = trace.get_current_span().get_span_context()
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
    with tracer.start_as_current_span(f"step:{step_name}", context=parent, kind=_api().SpanKind.SERVER,
                                      attributes=attrs, record_exception=False, set_status_on_exception=False) as span:
        try:
            yield span
        except BaseException as exc:
            if isinstance(exc, Exception):
                record_exception(span, exc)
            raise
        if getattr(getattr(span, "status", None), "status_code", None) is _api().StatusCode.UNSET:
            set_span_ok(span)


@contextlib.contextmanager
def operation_span(operation: str, **attributes: Any) -> Iterator[Any]:
    """A CLIENT span for one state/stream/enqueue call (`state::set`, `stream::get`, `enqueue`)."""
    tracer = get_tracer()
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(operation, kind=_api().SpanKind.CLIENT,
                                      attributes={k: v for k, v in attributes.items() if v is not None}) as span:
        yield span


def call_attributes(function_id: str, data: Any) -> dict[str, Any]:
    """The official span attributes of a state or stream call (`motia.state.scope`, `motia.stream.name`...),
    without the ones it does not have."""
    if not isinstance(data, dict):
        return {}
    if function_id.startswith("state::"):
        found = {"motia.state.scope": data.get("scope"), "motia.state.key": data.get("key")}
    elif function_id.startswith("stream::"):
        found = {"motia.stream.name": data.get("stream_name"), "motia.stream.group_id": data.get("group_id"),
                 "motia.stream.item_id": data.get("item_id")}
    else:
        return {}
    return {k: v for k, v in found.items() if v is not None}


def record_exception(span: Any, exc: Exception) -> None:
    if span is not None and _api() is not None:
        span.set_status(_api().StatusCode.ERROR, str(exc))
        span.record_exception(exc)


def set_span_error(span: Any, message: str) -> None:
    """An ERROR status without an exception (an HTTP handler's failure already answered as a 500)."""
    if span is not None and _api() is not None:
        span.set_status(_api().StatusCode.ERROR, message)


def set_span_ok(span: Any) -> None:
    if span is not None and _api() is not None:
        span.set_status(_api().StatusCode.OK)


def traceparent_for(trace_id: str, span_id: str) -> str:
    """The traceparent of an outgoing call: the current span's when tracing, else one made of our ids."""
    if get_tracer() is not None:
        traceparent = inject_context().get("traceparent")
        if traceparent:
            return traceparent
    return f"00-{trace_id}-{span_id}-01"
