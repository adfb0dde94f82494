"""`motia.tracing` with OpenTelemetry (the `otel` extra): a `step:<name>` span per handler, CLIENT spans for
state, stream and enqueue calls, one trace across HTTP -> queue, `ctx.trace_id` = the OTel trace id; and
without OpenTelemetry the same API as no-ops."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

import motia
from motia import ApiResponse, tracing

from .conftest import app_of


class Recorder(SpanProcessor):
    """Keeps finished spans while a test listens (the provider is global to the process, set once)."""

    def __init__(self) -> None:
        self.listening = False
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        if self.listening:
            self.spans.append(span)


_recorder = Recorder()


@pytest.fixture
def spans() -> Iterator[list[ReadableSpan]]:
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(_recorder)
        trace.set_tracer_provider(provider)
    if _recorder not in getattr(getattr(provider, "_active_span_processor", None), "_span_processors", ()):
        pytest.skip("another tracer provider was installed first")
    _recorder.spans.clear()
    _recorder.listening = True
    yield _recorder.spans
    _recorder.listening = False


@pytest.mark.anyio
async def test_spans_per_step_and_per_call_in_one_trace_from_http_through_the_queue(spans):
    trace_ids: list[str] = []

    async def place(request: Any, ctx: Any) -> ApiResponse[Any]:
        trace_ids.append(ctx.trace_id)
        await motia.stateManager.set("orders", "o1", {"n": 1})
        await motia.enqueue({"topic": "placed", "data": {"id": "o1"}})
        return ApiResponse(status=202, body=None)

    async def store(data: Any, ctx: Any) -> None:
        trace_ids.append(ctx.trace_id)
        await motia.Stream("orders").set("all", data["id"], data)

    async with app_of(({"name": "Place", "triggers": [motia.http("POST", "/orders")]}, place),
                      ({"name": "Store", "triggers": [motia.queue("placed")]}, store)) as app:
        await app.http.post("/orders")
        await app.wait_idle()

    by_name = {s.name: s for s in spans}
    assert {"step:Place", "state::set", "enqueue", "step:Store", "stream::set"} <= set(by_name)
    assert by_name["step:Place"].kind == trace.SpanKind.SERVER
    assert by_name["step:Place"].attributes["motia.trigger.type"] == "http"  # type: ignore[index]
    assert by_name["state::set"].attributes["motia.state.scope"] == "orders"  # type: ignore[index]
    assert by_name["state::set"].parent.span_id == by_name["step:Place"].context.span_id  # type: ignore[union-attr]
    # The queue step continues the trace of the HTTP step, through the enqueue's traceparent.
    assert by_name["step:Store"].parent.span_id == by_name["enqueue"].context.span_id  # type: ignore[union-attr]
    otel_trace_id = format(by_name["step:Place"].context.trace_id, "032x")  # type: ignore[union-attr]
    assert trace_ids == [otel_trace_id, otel_trace_id]
    assert by_name["step:Place"].status.status_code == trace.StatusCode.OK


@pytest.mark.anyio
async def test_a_failing_handler_marks_its_span_as_an_error(spans):
    async def boom(request: Any, ctx: Any) -> None:
        raise ValueError("boom")

    async with app_of(({"name": "Boom", "triggers": [motia.http("GET", "/boom")]}, boom)) as app:
        assert (await app.http.get("/boom")).status_code == 500
    (span,) = [s for s in spans if s.name == "step:Boom"]
    assert span.status.status_code == trace.StatusCode.ERROR


def test_w3c_traceparent_extract_and_inject(spans):
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with tracing.step_span("Manual", "queue"):
        pass
    token = tracing.incoming_traceparent.set(parent)
    try:
        with tracing.step_span("Child", "queue") as span:
            assert tracing.get_trace_id_from_span() == "0af7651916cd43dd8448eb211c80319c"
            injected = tracing.inject_context()["traceparent"]
    finally:
        tracing.incoming_traceparent.reset(token)
    assert injected.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert injected.split("-")[2] == format(span.get_span_context().span_id, "016x")
    assert tracing.extract_parent_context(None) is None


def test_without_opentelemetry_the_api_is_a_no_op():
    script = (
        "from motia import tracing\n"
        "assert tracing.HAS_OTEL is False and tracing.get_tracer() is None\n"
        "with tracing.step_span('S', 'http') as s, tracing.operation_span('state::get') as o:\n"
        "    assert s is None and o is None\n"
        "assert tracing.inject_context() == {} and tracing.get_trace_id_from_span() is None\n"
        "assert tracing.traceparent_for('a' * 32, 'b' * 16) == '00-' + 'a' * 32 + '-' + 'b' * 16 + '-01'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env={"MOTIA_OTEL": "0", "PATH": ""}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
