"""The recording's operator routes, as functions of an `HttpRequestData` (the runtime binds them to paths):

- `GET /__motia/api/traces` (`?step=`, `?status=`, `?limit=`): the newest traces first;
- `GET /__motia/api/traces/:id`: a trace's spans, its log lines and the reruns of it;
- `GET /__motia/api/logs` (`?step=`, `?level=` the lowest, `?trace_id=`, `?q=` text, `?after=` seq, `?limit=`);
- `GET /__motia/api/logs/tail` (same filters): Server-Sent Events, one `log` event per line as it is logged;
- `POST /__motia/api/rerun` `{"trace_id": ..., "span_id": ...?}`: re-sends a recorded HTTP request or queue message
  with its original payload, as a new trace linked to the original.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from .. import errors
from ..protocol import HttpRequestData, HttpResponseData, span_id
from ..protocol import trace_id as new_trace_id
from .model import LogLine, Span, TraceSummary
from .recorder import Recorder

_JSON = {"content-type": "application/json", "cache-control": "no-store"}
_LEVEL_ORDER = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_encoder = msgspec.json.Encoder()
# Headers a re-sent request does not copy: the connection's own, and the trace it belonged to.
_NOT_RESENT = frozenset({"host", "content-length", "connection", "transfer-encoding", "traceparent", "tracestate",
                         "keep-alive", "upgrade", "expect"})
HEARTBEAT = 15.0  # seconds between SSE comments on a quiet tail (they notice a client that has left)

# (method, path, query, headers, body) -> the status code: how a rerun re-sends an HTTP request to the app.
SendHttp = Callable[[str, str, dict[str, Any], dict[str, str], bytes], Awaitable[int]]
# (topic, function id, data, traceparent) -> message id: how a rerun enqueues a message for one function.
Enqueue = Callable[[str, str, Any, str], Awaitable[str]]


class RerunRequest(msgspec.Struct, forbid_unknown_fields=True):
    trace_id: str
    span_id: str | None = None


_rerun_request = msgspec.json.Decoder(RerunRequest)


def _error(status: int, code: str, message: str) -> HttpResponseData:
    return HttpResponseData(status, {"content-type": "application/json"}, msgspec.Raw(errors.error_body(code, message)))


def _ok(value: Any) -> HttpResponseData:
    return HttpResponseData(200, _JSON, msgspec.Raw(_encoder.encode(value)))


def _text(query: dict[str, Any], name: str) -> str | None:
    value = query.get(name)
    if isinstance(value, list):
        value = value[-1] if value else None
    return value if isinstance(value, str) and value != "" else None


def _limit(query: dict[str, Any], default: int) -> int:
    value = _text(query, "limit")
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"limit must be a positive whole number, not {value!r}")
    return int(value)


def summary(trace_id: str, spans: list[Span]) -> TraceSummary:
    ids = {span.span_id for span in spans}
    roots = [span for span in spans if span.parent_id not in ids] or spans
    root = min(roots, key=lambda span: span.start)
    start = min(span.start for span in spans)
    end = max(span.start + span.duration_ms / 1000 for span in spans)
    steps = list(dict.fromkeys(span.step for span in spans if span.step))
    status = "error" if any(span.status == "error" for span in spans) else "ok"
    rerun_of = next((span.rerun_of for span in spans if span.rerun_of), None)
    return TraceSummary(trace_id, root.name, start, (end - start) * 1000, status, len(spans), steps, rerun_of)


def list_traces(recorder: Recorder, request: HttpRequestData) -> HttpResponseData:
    query = request.query_params
    try:
        limit = _limit(query, 200)
    except ValueError as exc:
        return _error(400, errors.VALIDATION_ERROR, str(exc))
    step, status = _text(query, "step"), _text(query, "status")
    found: list[TraceSummary] = []
    for trace_id, spans in reversed(list(recorder.traces.items())):
        if step is not None and not any(span.step == step for span in spans):
            continue
        row = summary(trace_id, list(spans))
        if status is not None and row.status != status:
            continue
        found.append(row)
    found.sort(key=lambda row: row.start, reverse=True)
    return _ok({"traces": found[:limit]})


def get_trace(recorder: Recorder, request: HttpRequestData) -> HttpResponseData:
    trace_id = request.path_params.get("id", "")
    spans = recorder.traces.get(trace_id)
    if spans is None:
        return _error(404, errors.NOT_FOUND, f"No recorded trace {trace_id!r} (it may be older than what is kept)")
    spans = sorted(spans, key=lambda span: span.start)
    reruns = [other for other, kept in recorder.traces.items() if any(s.rerun_of == trace_id for s in kept)]
    lines = [line for line in recorder.lines() if line.trace_id == trace_id]
    return _ok({"trace": summary(trace_id, spans), "spans": spans, "logs": lines, "reruns": reruns})


class LogFilter:
    """The `step`, `level`, `trace_id` and `q` filters of the log routes."""

    def __init__(self, query: dict[str, Any]) -> None:
        self.step = _text(query, "step")
        self.trace_id = _text(query, "trace_id")
        level = _text(query, "level")
        if level is not None and level.lower() not in _LEVEL_ORDER:
            raise ValueError(f"unknown level {level!r}; use one of {', '.join(_LEVEL_ORDER)}")
        self.lowest = _LEVEL_ORDER[level.lower()] if level is not None else 0
        text = _text(query, "q")
        self.text = text.lower() if text is not None else None
        after = _text(query, "after")
        if after is not None and not after.isdigit():
            raise ValueError(f"after must be a line's seq (a whole number), not {after!r}")
        self.after = int(after) if after is not None else 0

    def __call__(self, line: LogLine) -> bool:
        if line.seq <= self.after or _LEVEL_ORDER.get(line.level, 20) < self.lowest:
            return False
        if (self.step is not None and line.step != self.step) or (
                self.trace_id is not None and line.trace_id != self.trace_id):
            return False
        if self.text is not None and self.text not in line.message.lower():
            return line.fields is not None and self.text in bytes(line.fields).decode(errors="replace").lower()
        return True


def list_logs(recorder: Recorder, request: HttpRequestData) -> HttpResponseData:
    try:
        wanted = LogFilter(request.query_params)
        limit = _limit(request.query_params, 500)
    except ValueError as exc:
        return _error(400, errors.VALIDATION_ERROR, str(exc))
    lines = [line for line in recorder.lines() if wanted(line)]
    return _ok({"logs": lines[-limit:]})


def tail_logs(recorder: Recorder, request: HttpRequestData) -> HttpResponseData:
    """The live tail: what matches the filters, pushed as it is logged (with `?after=`, the lines in memory
    after that seq first, so a reconnecting page misses nothing)."""
    try:
        wanted = LogFilter(request.query_params)
    except ValueError as exc:
        return _error(400, errors.VALIDATION_ERROR, str(exc))
    resume = wanted.after > 0 or request.headers.get("last-event-id", "").isdigit()
    if request.headers.get("last-event-id", "").isdigit():
        wanted.after = int(request.headers["last-event-id"])

    async def events() -> AsyncIterator[bytes]:
        with recorder.tail() as batches:
            yield b": tail\n\n"  # the response starts now (EventSource's `open`)
            if resume:
                for line in recorder.lines():
                    if wanted(line):
                        yield _event(line)
            while True:
                try:
                    batch = await asyncio.wait_for(batches.get(), HEARTBEAT)
                except asyncio.TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if not batch:  # the recorder stopped
                    return
                for line in batch:
                    if wanted(line):
                        wanted.after = line.seq
                        yield _event(line)

    return HttpResponseData(200, {"content-type": "text/event-stream", "cache-control": "no-store",
                                  "x-accel-buffering": "no"}, events())


def _event(line: LogLine) -> bytes:
    return b"id: %d\nevent: log\ndata: %s\n\n" % (line.seq, _encoder.encode(line))


async def rerun(recorder: Recorder, request: HttpRequestData, send_http: SendHttp,
                enqueue: Enqueue) -> HttpResponseData:
    try:
        body = request.raw_body if request.raw_body is not None else _encoder.encode(request.body)
        asked = _rerun_request.decode(body or b"")
    except msgspec.DecodeError as exc:
        return _error(400, errors.VALIDATION_ERROR, f"Expected {{\"trace_id\": ..., \"span_id\": ...?}}: {exc}")
    spans = recorder.traces.get(asked.trace_id)
    if spans is None:
        return _error(404, errors.NOT_FOUND, f"No recorded trace {asked.trace_id!r}")
    candidates = [span for span in sorted(spans, key=lambda span: span.start) if span.request is not None
                  and (asked.span_id is None or span.span_id == asked.span_id)]
    if not candidates:
        what = f"span {asked.span_id!r} of trace" if asked.span_id else "trace"
        return _error(422, errors.VALIDATION_ERROR, f"The {what} {asked.trace_id!r} has no HTTP request or queue "
                      "message to re-send")
    span = candidates[0]
    assert span.request is not None
    sent: dict[str, Any] = msgspec.json.decode(span.request)
    if sent.get("streamed"):
        return _error(422, errors.VALIDATION_ERROR, "That request's body was streamed to its handler and not kept: "
                      "it cannot be re-sent")
    new_trace = new_trace_id()
    traceparent = f"00-{new_trace}-{span_id()}-01"
    recorder.expect_rerun(new_trace, asked.trace_id)
    answer: dict[str, Any] = {"trace_id": new_trace, "rerun_of": asked.trace_id, "kind": span.kind}
    if span.kind == "http":
        headers = {k: v for k, v in (sent.get("headers") or {}).items() if k.lower() not in _NOT_RESENT}
        headers["traceparent"] = traceparent
        payload = base64.b64decode(sent["body_base64"]) if "body_base64" in sent else (sent.get("body") or "").encode()
        try:
            answer["status_code"] = await send_http(sent["method"], sent["path"], sent.get("query") or {}, headers,
                                                    payload)
        except OSError as exc:
            return _error(502, errors.INTERNAL_ERROR, f"Could not re-send the request to the app: {exc}")
    else:
        answer["message_id"] = await enqueue(sent.get("topic") or "default", sent["function_id"], sent.get("data"),
                                             traceparent)
    return _ok(answer)


def assets_dir() -> str:
    """Where traces.js and logs.js live (the console's assets)."""
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "console", "assets")
