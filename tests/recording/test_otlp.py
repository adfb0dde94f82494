"""`motia run` exports its OpenTelemetry spans over OTLP when the standard OTEL_* variables ask (the `otel` extra):
a request -> emit -> queue handler reach a collector (served by the test) as one trace, whose id is the handler's
`ctx.trace_id` and the recording's."""

from __future__ import annotations

import http.server
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MotiaProcess, eventually

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

STEPS = textwrap.dedent('''
    from motia import ApiRequest, FlowContext, api, on


    @api("POST", "/orders")
    async def place(req: ApiRequest[dict], ctx: FlowContext) -> dict:
        await ctx.state.set("orders", req.body["id"], req.body)
        await ctx.emit("order.placed", req.body)
        return {"trace_id": ctx.trace_id}


    @on("order.placed")
    async def bill(data: dict, ctx: FlowContext) -> None:
        ctx.logger.info("billed", order=data["id"])
''')


class Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP collector's trace endpoint: keeps every exported request."""

    received: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            Collector.received.append(request)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    Collector.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _spans() -> dict[str, Any]:
    return {span.name: (span, resource.resource) for request in Collector.received
            for resource in request.resource_spans for scope in resource.scope_spans for span in scope.spans}


def test_spans_of_a_request_its_emit_and_the_handler_reach_the_collector_as_one_trace(tmp_path: Path, collector,
                                                                                        monkeypatch):
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "orders_step.py").write_text(STEPS)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "shop")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    app = MotiaProcess(tmp_path, "--record", "--memory", "--stream-port", "0")
    try:
        trace_id = app.client.post("/orders", json={"id": "o1"}).json()["trace_id"]
        found = eventually(lambda: {"step:place", "state::set", "enqueue", "step:bill"} <= set(_spans()) and _spans())
        recorded = app.client.get(f"/__motia/api/traces/{trace_id}")
    finally:
        app.stop()
    place, resource = found["step:place"]
    enqueue, bill = found["enqueue"][0], found["step:bill"][0]
    assert {span.trace_id.hex() for span, _ in found.values()} == {trace_id}
    assert bill.parent_span_id == enqueue.span_id and enqueue.parent_span_id == place.span_id
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "shop"
    assert recorded.status_code == 200  # the recording knows the trace by the same id


def test_otel_traces_exporter_none_exports_nothing_even_with_an_endpoint(tmp_path: Path, collector, monkeypatch):
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "orders_step.py").write_text(STEPS)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    app = MotiaProcess(tmp_path, "--memory", "--stream-port", "0")
    try:
        assert app.client.post("/orders", json={"id": "o1"}).status_code == 200
    finally:
        app.stop()  # an installed provider would flush its spans at exit
    assert Collector.received == []
