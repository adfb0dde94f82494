"""What is recorded, as it is stored and served: spans, log lines and the summary of a trace (msgspec Structs,
the one definition of the recording API's JSON).

Spans and log lines are kept by the thousand and replaced all the time: they are not tracked by the garbage
collector (`gc=False`, their nested values already encoded as JSON bytes), else each one kept a while would push
the collector into full collections of the whole heap, costing the app more than the recording itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import msgspec

# JSON bytes, or None. For msgspec it is `Raw` alone (it decodes no union with Raw; None is never written, and a
# missing field decodes as the default None); for type checkers it is optional.
if TYPE_CHECKING:
    MaybeRaw = Optional[msgspec.Raw]
else:
    MaybeRaw = msgspec.Raw


class Span(msgspec.Struct, omit_defaults=True, gc=False):  # fields in the order the recorder passes them
    """One timed piece of a trace: a handler invocation (`http`, `queue`, `cron`, `state`, `stream`), an
    `emit`, or a `call` of an engine function (`state::set`, `stream::set`...) made by a handler."""

    trace_id: str
    span_id: str
    kind: str
    name: str
    function_id: str
    start: float  # seconds since the epoch
    duration_ms: float
    status: str  # "ok" or "error"
    parent_id: str | None = None
    step: str | None = None
    error: str | None = None
    attempt: int | None = None  # a queue delivery's attempt number (1 is the first, 2 the first retry)
    attributes: MaybeRaw = None  # a JSON object: `status_code`, `motia.state.scope`...
    # What `/__motia/api/rerun` re-sends: an HTTP request (`method`, `path`, `query`, `headers`, `body`) or a
    # queue message (`topic`, `data`). Only on the span of an invocation that can be re-sent.
    request: MaybeRaw = None
    rerun_of: str | None = None  # the trace this run re-sends (set on a rerun's first span)


class LogLine(msgspec.Struct, omit_defaults=True, gc=False):
    """One log line: `seq` orders every line of the app (the live tail resumes from it)."""

    seq: int
    time: float
    level: str
    message: str
    step: str | None = None
    trace_id: str | None = None
    logger: str | None = None
    fields: MaybeRaw = None  # a JSON object
    span_id: str | None = None  # the invocation (handler run) that wrote it, when it ran in one


class TraceSummary(msgspec.Struct, omit_defaults=True):
    """A row of the traces list."""

    trace_id: str
    name: str  # the root span's
    start: float
    duration_ms: float
    status: str
    spans: int
    steps: list[str]
    rerun_of: str | None = None
