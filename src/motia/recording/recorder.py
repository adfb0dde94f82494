"""The recorder: spans and log lines of a running app, bounded in memory, saved to a `History` in the background,
and pushed to live-tail subscribers.

The runtime calls it once per invocation (`invocation`) and once per emit or engine call a handler makes
(`call`); log lines arrive through `motia.log`'s tap, from the event loop or from sync handlers' threads, so
that path only appends (a deque and a list, both atomic) and wakes the loop when a live tail listens.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import itertools
import logging
import random
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from .. import _current, log
from ..context import trace_id_from
from ..protocol import HttpRequestData, HttpResponseData, InvocationResult, span_id
from ..protocol import trace_id as new_trace_id
from ..tracing import call_attributes
from .history import History
from .model import LogLine, Span

_log = logging.getLogger("motia.runtime.recording")

# The span of the invocation running in this task (or a sync handler's thread): (trace id, span id). The emits
# and engine calls a handler makes are recorded as its children.
current_span: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("motia_span", default=None)

# Span ids of invocations (children name them as their parent): a counter from a random start, unique in the
# process and unlikely to meet another run's, at a fraction of a random draw's cost.
_span_ids = itertools.count(random.getrandbits(62) + 1)
# Wall-clock time = perf_counter() + _WALL: one clock read per span edge, not two.
_WALL = time.time() - time.perf_counter()

# What a trigger type is called in a span (the worker's trigger type names are the iii protocol's).
_KINDS = {"http": "http", "durable:subscriber": "queue", "cron": "cron", "state": "state", "stream": "stream"}
_LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning", logging.ERROR: "error",
           logging.CRITICAL: "critical"}
# The loggers whose lines are recorded besides the step loggers': motia's own diagnostics (a failed function,
# a refused trigger), which carry a step and trace id when they have one.
_DIAGNOSTIC_LOGGERS = ("motia.runtime", "motia.engine")


class RecordingConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How much is kept. Memory holds the newest `max_traces` traces (each up to `max_spans_per_trace` spans)
    and `max_logs` lines; the history file keeps what is younger than `window` seconds."""

    max_traces: int = 1000
    max_spans_per_trace: int = 500
    max_logs: int = 10_000
    window: float = 24 * 3600.0
    flush_interval: float = 0.5

    def __post_init__(self) -> None:
        for name in ("max_traces", "max_spans_per_trace", "max_logs"):
            if getattr(self, name) < 1:
                raise ValueError(f"recording {name} must be 1 or more, not {getattr(self, name)}")
        if not self.window > 0 or not self.flush_interval > 0:
            raise ValueError("the recording window and flush interval must be positive numbers of seconds")


def _unencodable(value: Any) -> str:
    return repr(value)  # a log field of any type is kept as its repr rather than lost


def encode(value: Any) -> msgspec.Raw:
    """`value` as JSON bytes (from any thread: the module-level encode keeps no shared state)."""
    return msgspec.Raw(msgspec.json.encode(value, enc_hook=_unencodable))


class Recorder:
    """Every trace and log line of one app (see the module docstring)."""

    def __init__(self, config: RecordingConfig | None = None, path: Path | None = None) -> None:
        self.config = config or RecordingConfig()
        self.history = History(path) if path is not None else None
        self.traces: dict[str, list[Span]] = {}  # oldest first
        self._order: collections.deque[str] = collections.deque()  # the same ids: the oldest leaves in O(1)
        self.logs: collections.deque[LogLine] = collections.deque(maxlen=self.config.max_logs)
        self.owner: Any = None  # the worker whose handlers' lines are recorded (set by the runtime)
        self._seq = itertools.count(1)
        self._unsaved_spans: list[Span] = []
        self._unsaved_logs: list[LogLine] = []
        # trace id -> (function id, parent span id) -> deliveries so far: a queue span's attempt number.
        self._attempts: dict[str, dict[tuple[str, str | None], int]] = {}
        self._reruns: dict[str, str] = {}
        # A queue function's span name and the start of its message's JSON (`{"topic":..,"function_id":..,"data":`).
        self._queue_parts: dict[str, tuple[str, bytes]] = {}  # a rerun's new trace id -> the trace it re-sends
        self._tails: list[asyncio.Queue[list[LogLine]]] = []
        self._tail_lines: list[LogLine] = []
        self._tail_armed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._handler = _DiagnosticHandler(self)

    # --- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the saved history, start listening to log lines and saving in the background."""
        self._loop = asyncio.get_running_loop()
        if self.history is not None:
            since = time.time() - self.config.window
            spans, lines = await asyncio.to_thread(self.history.load, since, self.config.max_traces,
                                                   self.config.max_logs)
            for span in spans:
                self._keep(span)
            self.logs.extend(lines)
            last = lines[-1].seq if lines else 0
            self._seq = itertools.count(last + 1)
            self._flusher = asyncio.create_task(self._flush_every(self.config.flush_interval))
        log.add_tap(self.log)
        for name in _DIAGNOSTIC_LOGGERS:
            logging.getLogger(name).addHandler(self._handler)

    async def stop(self) -> None:
        """Stop listening, save what is left, close the history."""
        log.remove_tap(self.log)
        for name in _DIAGNOSTIC_LOGGERS:
            logging.getLogger(name).removeHandler(self._handler)
        self.end_tails()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        if self.history is not None:
            await asyncio.to_thread(self._save)
            self.history.close()

    def end_tails(self) -> None:
        """End every live tail's response (the app is shutting down: its connections must close)."""
        for tail in self._tails:
            tail.put_nowait([])  # an empty batch ends the tail

    async def _flush_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._unsaved_spans or self._unsaved_logs:
                try:
                    await asyncio.to_thread(self._save)
                except Exception:  # a full disk must not end recording in memory
                    _log.exception("could not save the recording history")

    def _save(self) -> None:
        spans, self._unsaved_spans = self._unsaved_spans, []
        lines, self._unsaved_logs = self._unsaved_logs, []
        assert self.history is not None
        self.history.save(spans, lines, time.time() - self.config.window)

    # --- spans ----------------------------------------------------------------------------------------

    async def invocation(self, call: Callable[[Any, Any], Awaitable[Any]], function: Any, message: Any,
                         step: tuple[str, str] | None) -> Any:
        """`call(function, message)`, recorded as a span of its trace (a new trace when the message carries
        none: the handler's `ctx.trace_id` is then the recorded one). On the path of every invocation: a few
        microseconds (bench/events.py --recording)."""
        if step is None:  # a built-in route (OpenAPI, the step endpoint), not a step
            return await call(function, message)
        step_name, trigger_type = step
        kind = _KINDS.get(trigger_type, trigger_type)
        data = message.data
        traceparent = message.traceparent
        if kind == "http":
            headers = data.headers if type(data) is HttpRequestData else (data or {}).get("headers") or {}
            traceparent = headers.get("traceparent") or traceparent
        if traceparent is not None and len(traceparent) == 55 and traceparent[2] == "-":  # ours, well-formed
            trace_id, parent_id = traceparent[3:35], traceparent[36:52]
        else:
            trace_id = trace_id_from(traceparent)
            parent_id = traceparent.split("-")[2] if trace_id is not None and traceparent is not None else None
        if trace_id is None:
            trace_id = new_trace_id()
            message.traceparent = f"00-{trace_id}-{span_id()}-01"
        own_id = f"{next(_span_ids):016x}"
        token = current_span.set((trace_id, own_id))
        began = time.perf_counter()
        status, error, result = "ok", None, None
        try:
            result = await call(function, message)
            return result
        except BaseException as exc:
            status = "error"
            code = getattr(exc, "code", None)
            error = f"{code}: {getattr(exc, 'message', exc)}" if code else f"{type(exc).__name__}: {exc}"
            raise
        finally:
            current_span.reset(token)
            ended = time.perf_counter()
            attributes = None
            request = None
            if kind == "queue":
                parts = self._queue_parts.get(message.function_id)
                if parts is None:
                    topic = getattr(function, "topic", None)
                    head = bytes(encode({"topic": topic, "function_id": message.function_id}))
                    parts = self._queue_parts[message.function_id] = (f"queue {topic}", head[:-1] + b',"data":')
                name = parts[0]
                # In process the payload is the message's JSON bytes (`msgspec.Raw`): kept as they are.
                request = msgspec.Raw(parts[1] + (data if isinstance(data, msgspec.Raw) else encode(data)) + b"}")
            elif kind == "http":
                name, request = _http_request(data)
                if isinstance(result, HttpResponseData):
                    attributes = msgspec.Raw(b'{"status_code":%d}' % result.status_code)
                    if result.status_code >= 500:
                        status, error = "error", error or f"HTTP {result.status_code}"
            else:
                name = f"{kind} {step_name}"
            span = Span(trace_id, own_id, kind, name, message.function_id, began + _WALL, (ended - began) * 1000,
                        status, parent_id, step_name, error, None, attributes, request,
                        self._reruns.pop(trace_id, None) if self._reruns else None)
            if kind == "queue":  # deliveries of one message share their function and parent (the emit)
                attempts = self._attempts.get(trace_id)
                if attempts is None:
                    attempts = self._attempts[trace_id] = {}
                key = (message.function_id, parent_id)
                span.attempt = attempts[key] = attempts.get(key, 0) + 1
            self.add(span)

    async def call(self, kind: str, name: str, function_id: str, data: Any, traceparent: str | None,
                   invoke: Awaitable[InvocationResult]) -> InvocationResult:
        """`await invoke`, recorded as a child span of the running invocation (an emit, a state or stream call);
        `traceparent` is what the call carries, so what it triggers (a queue delivery) becomes its child."""
        running = current_span.get()
        if running is None:  # outside any handler (start-up code): no trace to join
            return await invoke
        trace_id, parent_id = running
        own_id = traceparent[36:52] if traceparent is not None else f"{next(_span_ids):016x}"
        began = time.perf_counter()
        error = None
        try:
            result = await invoke
            if result.error is not None:
                error = f"{result.error.code}: {result.error.message}"
            return result
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            found = call_attributes(function_id, data)
            attributes = encode(found) if found else None
            self.add(Span(trace_id, own_id, kind, name, function_id, began + _WALL,
                          (time.perf_counter() - began) * 1000, "error" if error else "ok", parent_id, None, error,
                          None, attributes))

    def add(self, span: Span) -> None:
        self._keep(span)
        if self.history is not None:
            self._unsaved_spans.append(span)

    def _keep(self, span: Span) -> None:
        spans = self.traces.get(span.trace_id)
        if spans is None:
            spans = self.traces[span.trace_id] = []
            self._order.append(span.trace_id)
            if len(self._order) > self.config.max_traces:
                oldest = self._order.popleft()
                del self.traces[oldest]
                self._attempts.pop(oldest, None)
        elif len(spans) >= self.config.max_spans_per_trace:
            return
        spans.append(span)

    def expect_rerun(self, trace_id: str, original: str) -> None:
        """The next span of `trace_id` re-sends `original` (linked both ways in the API)."""
        self._reruns[trace_id] = original

    # --- log lines ------------------------------------------------------------------------------------

    def log(self, level: int, message: str, step: str | None, trace_id: str | None, fields: dict[str, Any],
            exc_info: Any = None, logger: str | None = None) -> None:
        """`motia.log`'s tap: one line (from any thread)."""
        services = _current.current_services.get()
        if services is not None and services is not self.owner:  # another app's handler, in this process
            return
        if exc_info:
            fields = {**fields, "exception": "".join(traceback.format_exception(*exc_info)).rstrip()}
        running = current_span.get()
        line = LogLine(next(self._seq), time.time(), _LEVELS.get(level) or logging.getLevelName(level).lower(),
                       message, step, trace_id, logger, encode(fields) if fields else None,
                       running[1] if running is not None else None)
        self.logs.append(line)
        if self.history is not None:
            self._unsaved_logs.append(line)
        if self._tails:
            self._tail_lines.append(line)
            if not self._tail_armed and self._loop is not None:
                self._tail_armed = True
                with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening any more
                    self._loop.call_soon_threadsafe(self._push_tail)

    def _push_tail(self) -> None:
        self._tail_armed = False
        lines, self._tail_lines = self._tail_lines, []
        for tail in self._tails:
            tail.put_nowait(lines)

    def lines(self) -> list[LogLine]:
        """Every line in memory, oldest first."""
        return list(self.logs)

    @contextlib.contextmanager
    def tail(self) -> Iterator[asyncio.Queue[list[LogLine]]]:
        """A queue of the batches of lines logged from now on (an empty batch: the recorder stopped)."""
        queue: asyncio.Queue[list[LogLine]] = asyncio.Queue()
        self._tails.append(queue)
        try:
            yield queue
        finally:
            self._tails.remove(queue)


class _DiagnosticHandler(logging.Handler):
    """Records motia's own log lines (see `_DIAGNOSTIC_LOGGERS`)."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        fields = dict(getattr(record, "fields", None) or {})
        error_id = getattr(record, "error_id", None)
        if error_id is not None:
            fields["error_id"] = error_id
        self.recorder.log(record.levelno, record.getMessage(), getattr(record, "step", None) or None,
                          getattr(record, "trace_id", None) or None, fields, record.exc_info, record.name)


def _http_request(data: Any) -> tuple[str, msgspec.Raw]:
    """An HTTP span's name and what a rerun re-sends of its request."""
    if type(data) is not HttpRequestData:
        data = msgspec.convert(data, HttpRequestData) if isinstance(data, dict) else data
    request: dict[str, Any] = {"method": data.method, "path": data.path, "query": data.query_params,
                               "headers": data.headers}
    body = data.raw_body
    if body:
        try:
            request["body"] = body.decode()
        except UnicodeDecodeError:
            import base64

            request["body_base64"] = base64.b64encode(body).decode()
    elif data.raw_body is None and data.request_body is not None:
        request["streamed"] = True  # read as it came: not kept, so it cannot be re-sent
    return f"{data.method} {data.path}", encode(request)
