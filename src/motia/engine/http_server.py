"""The HTTP server's connection limits, which uvicorn lacks: a request head and body must arrive in time
(slow-loris clients are cut off), a head has a size and header-count limit (431), a response must be read
(a client that stops reading is cut off and its buffer freed), and a connection over a cap is answered 503
rather than queued. Every answer the server gives itself (408, 400, 431, 503) is in the error envelope.

`protocol_class(limits)` is uvicorn's httptools protocol with these limits (`HttpLimits`); `App` serves with it.

It also takes a complete request down a shorter path (the fast lane): a request whose head and body came in one
read is started at the end of that read, its task's first step run at once on Python 3.12+ (a handler that
awaits nothing is answered without the task ever being scheduled), and the response's status line, headers and
body go out in one `transport.write` instead of two (`OneWrite`, the app's `send`). The request is still
uvicorn's `RequestResponseCycle` (its `receive`, its state), so keep-alive, pipelining, flow control, HEAD,
disconnects, graceful shutdown (a suspended request is in `server_state.tasks`) and the deadlines below work as
before; a body still arriving, `Expect: 100-continue` and streamed responses take uvicorn's own path. An idle
kept-alive connection is closed by the connection's timer too, instead of a timer handle made and cancelled per
request.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from .. import errors
from .http import HttpLimits

log = logging.getLogger("motia.engine.http")

EAGER_TASKS = sys.version_info >= (3, 12)  # asyncio.Task(..., eager_start=True)

# A connection's timer ticks this many times per (shortest) deadline: a slow client (or an idle kept-alive
# connection) is cut off at most 2/TICKS of that deadline after its own, and a request costs nothing extra.
TICKS = 8


def protocol_class(limits: HttpLimits) -> type[DeadlineProtocol]:
    """The protocol uvicorn instantiates per connection (`uvicorn.Config(http=...)`), bound to `limits`."""
    return type("DeadlineProtocol", (DeadlineProtocol,), {"limits": limits})


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a head over a limit (httptools wraps it in a parser error)."""


class DeadlineProtocol(HttpToolsProtocol):
    """One connection, watched by a timer of its own rather than by anything on the request path.

    What the connection is reading is read off uvicorn's own state: a scope newer than the current cycle's is a
    request head coming in (uvicorn makes the scope on the head's first byte and the cycle at its end); a cycle
    with `more_body` is a body coming in. The same part seen in progress for longer than its deadline is late.
    What it writes is read off the transport: a write buffer that neither shrinks nor drains is a client that
    does not read.
    """

    limits: ClassVar[HttpLimits] = HttpLimits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cap = self.limits.max_connections
        if cap is not None and len(self.connections) > cap:
            self.app = _overloaded  # every request of this connection: 503, then the connection is closed
        limits = self.limits
        self._period = min(limits.header_timeout, limits.body_timeout, limits.write_timeout,
                           limits.keep_alive_timeout) / TICKS
        self._watched: object = None  # the head (its scope) or body (its cycle) in progress at the last tick
        self._since = 0.0  # when that was first seen
        # Head limits. httptools hands over a header only once it is complete, so a single endless header is
        # bounded by the bytes fed while a head is in progress (`_head_fed`), the rest by the callbacks' counts.
        self._in_head = False
        self._heads = 0  # heads begun on this connection: tells a head that began within a read from an old one
        self._head_size = 0
        self._head_fed = 0
        self._refusal: tuple[int, str, str] | None = None  # what a parser error is answered with (else 400)
        # The write side: buffered bytes at the last tick, whether the transport drained since, since when stuck.
        self._buffered = 0
        self._drained = False
        self._write_since = self.loop.time()
        self._timer: asyncio.TimerHandle | None = self.loop.call_later(self._period, self._tick)
        # The fast lane: the request whose start waits for the end of the read in progress (`_reading_data`).
        self._reading_data = False
        self._held: tuple[RequestResponseCycle, Any] | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    # --- the request head's limits ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._heads += 1
        self._head_size = self._head_fed = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_size += len(url)
        if self._head_size > self.limits.max_head_size:
            self._refusal = self._head_too_large()
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        if len(self.headers) >= self.limits.max_headers:
            self._refusal = (431, errors.HEADERS_TOO_LARGE,
                             f"The request has more than {self.limits.max_headers} headers")
            raise _Refused
        if self._head_size > self.limits.max_head_size:
            self._refusal = self._head_too_large()
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def _head_too_large(self) -> tuple[int, str, str]:
        return 431, errors.HEADERS_TOO_LARGE, f"The request head is larger than {self.limits.max_head_size} bytes"

    def data_received(self, data: bytes) -> None:
        in_head, heads = self._in_head, self._heads
        self._reading_data = True
        try:
            super().data_received(data)  # a callback's _Refused, like any parser error, ends in send_400_response
        finally:
            self._reading_data = False
        if in_head and self._in_head and heads == self._heads and not self.transport.is_closing():
            # All of `data` belongs to a head still incomplete (one header may be all of it).
            self._head_fed += len(data)
            if self._head_fed > self.limits.max_head_size:
                self._refusal = self._head_too_large()
                self.send_400_response("")
        held = self._held
        if held is not None:
            self._held = None
            self._start(*held, eager=True)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request the parser refuses: in the envelope (431 for a head over a limit)."""
        status, code, message = self._refusal or (400, errors.BAD_REQUEST, "The request is not valid HTTP/1.1")
        self._refusal = None
        log.debug("answering %s to %s: %s", status, _peer(self.client), message)
        self._send_error(status, code, message)
        self.transport.close()

    def on_response_complete(self) -> None:
        """uvicorn's, without its keep-alive timer: a timer handle made per response and cancelled by the next
        request was a measurable share of a fast request. The connection's timer closes an idle connection."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)

    # --- the fast lane ----------------------------------------------------------------------------------

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        """uvicorn starts a request at the end of its head; this waits for the end of the read (the body that
        came with the head is in by then). A pipelined request, started when the one before it is answered,
        starts as an ordinary task (eagerly, a pipeline answered at once would nest one request per level)."""
        if self._reading_data and cycle is self.cycle:
            self._held = (cycle, app)  # started by data_received once the parser is done with this read
            return
        self._start(cycle, app, eager=False)

    def _start(self, cycle: RequestResponseCycle, app: Any, *, eager: bool) -> None:
        if cycle.more_body or cycle.waiting_for_100_continue:
            super()._start_asgi_task(cycle, app)  # the body is still coming: uvicorn's task reads it
            return
        run = OneWrite(cycle).run(app)
        # uvicorn's opt-in fresh context per request (`reset_contextvars`, uvicorn >= 0.50), else a copy.
        context = contextvars.Context() if getattr(self.config, "reset_contextvars", False) else None
        if eager and EAGER_TASKS:
            # Its first step runs now: a handler that awaits nothing is answered before this returns, and its
            # task is never scheduled. (On 3.11 a coroutine stepped outside a task would find no
            # `asyncio.current_task()`, which `asyncio.timeout`, anyio and motia's time limits need.)
            task = asyncio.Task(run, loop=self.loop, context=context, eager_start=True)  # type: ignore[call-arg]
            if task.done():
                return
        else:
            # (`context.run` rather than create_task's `context=`, which Python 3.10 lacks.)
            task = self.loop.create_task(run) if context is None else context.run(self.loop.create_task, run)
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)  # uvicorn's graceful shutdown waits for these

    # --- the response's reader ---------------------------------------------------------------------

    def resume_writing(self) -> None:
        self._drained = True  # the client read the buffer down to the low-water mark since the last tick
        super().resume_writing()

    def _write_stalled(self, now: float) -> bool:
        """Whether the client has taken nothing of its pending response for `write_timeout` seconds."""
        size = self.transport.get_write_buffer_size()
        if size == 0 or size < self._buffered or self._drained:
            self._write_since = now
        self._buffered, self._drained = size, False
        return now - self._write_since >= self.limits.write_timeout

    # --- the timer ---------------------------------------------------------------------------------

    def _reading(self) -> tuple[object, float]:
        """What the client is expected to be sending (an object standing for it) and its time limit, or None."""
        cycle, scope = self.cycle, self.scope
        if self.flow.read_paused:
            return None, 0.0  # the server is not reading (a pipelined request waits its turn): nobody is late
        if cycle is None or cycle.scope is not scope:
            if cycle is not None and not cycle.response_complete:
                return None, 0.0  # the next head came early, while the server is still answering
            return (scope if scope is not None else self), self.limits.header_timeout  # self: not a byte yet
        if cycle.more_body:
            return cycle, self.limits.body_timeout
        if cycle.response_complete and not self.pipeline:
            # Idle between requests: kept alive for keep_alive_timeout. The cycle's event stands for this idle
            # time alone (the cycle itself stood for its body, whose time must not count).
            return cycle.message_event, self.limits.keep_alive_timeout
        return None, 0.0  # the request is in: a slow handler is not a slow client

    def _tick(self) -> None:
        self._timer = None
        now = self.loop.time()
        if self._write_stalled(now):
            log.debug("closing a connection from %s: it read none of its response for %ss",
                      _peer(self.client), self.limits.write_timeout)
            self.transport.abort()  # close() would wait for the unread buffer to flush: abort frees it
            return
        if self.transport.is_closing():
            if self._buffered:  # closing once flushed: watched until it is flushed or its reader stalls
                self._timer = self.loop.call_later(self._period, self._tick)
            return
        part, limit = self._reading()
        if part is None or part is not self._watched:
            self._watched, self._since = part, now
        elif now - self._since >= limit:
            self._expire(part)
            return
        self._timer = self.loop.call_later(self._period, self._tick)

    def _expire(self, part: object) -> None:
        cycle = self.cycle
        if cycle is not None and part is cycle.message_event:  # idle past keep_alive_timeout: closed, no answer
            self.transport.close()
            return
        if part is cycle and cycle is not None:
            log.debug("closing a connection from %s: the request body did not arrive within %ss",
                      _peer(self.client), self.limits.body_timeout)
            if not cycle.response_started:
                self._send_error(408, errors.REQUEST_TIMEOUT, "The request body did not arrive in time")
            cycle.disconnected = True  # the app waiting on the body gets http.disconnect
            cycle.message_event.set()
        elif part is not self:  # part of a head came
            log.debug("closing a connection from %s: no complete request head within %ss",
                      _peer(self.client), self.limits.header_timeout)
            self._send_error(408, errors.REQUEST_TIMEOUT, "The request head did not arrive in time")
        self.transport.close()

    def _send_error(self, status: int, code: str, message: str) -> None:
        """An answer of the server's own, written straight to the transport (no request reached the app)."""
        body = errors.error_body(code, message)
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([
            b"content-type: application/json\r\n",
            b"content-length: ", str(len(body)).encode(), b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ])
        self.transport.write(b"".join(content))


class OneWrite:
    """The `send` of a request on the fast lane: the response head waits for the body, and a complete response
    (the engine's usual answer: a content-length and one body message) goes out in one write, formatted as
    uvicorn's `RequestResponseCycle.send` formats it. Anything else (a stream, a paused transport, a client
    gone, uvicorn's own access log, a head uvicorn must check further) is handed to that `send` as it came."""

    __slots__ = ("cycle", "head")

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self.cycle = cycle
        self.head: Any = None

    async def run(self, app: Any) -> None:
        """uvicorn's `RequestResponseCycle.run_asgi`, the app called with this `send`."""
        cycle = self.cycle
        try:
            result = await app(cycle.scope, cycle.receive, self.send)
        except BaseException as exc:
            cycle.logger.error("Exception in ASGI application\n", exc_info=exc)
            if not cycle.response_started:
                self.head = None
                await cycle.send_500_response()
            else:
                cycle.transport.close()
        else:
            if result is not None:
                cycle.logger.error("ASGI callable should return None, but returned '%s'.", result)
                cycle.transport.close()
            elif self.head is not None or (not cycle.response_started and not cycle.disconnected):
                cycle.logger.error("ASGI callable returned without starting response.")
                self.head = None
                await cycle.send_500_response()
            elif not cycle.response_complete and not cycle.disconnected:
                cycle.logger.error("ASGI callable returned without completing response.")
                cycle.transport.close()
        finally:
            cycle.on_response = lambda: None

    async def send(self, message: Any) -> None:
        cycle, head = self.cycle, self.head
        if head is None:
            if message["type"] == "http.response.start" and not cycle.response_started:
                self.head = message  # held for the body
                return
            await RequestResponseCycle.send(cycle, message)
            return
        if message["type"] == "http.response.start":
            # Nothing was written yet: uvicorn's 500 after an app error (a new head) replaces the held one.
            self.head = message
            return
        self.head = None
        content = None
        if (message["type"] == "http.response.body" and not message.get("more_body", False)
                and not cycle.disconnected and not cycle.flow.write_paused and not cycle.access_log):
            content = self._head(head["status"], head.get("headers", ()), message.get("body", b""))
        if content is None:
            await RequestResponseCycle.send(cycle, head)
            await RequestResponseCycle.send(cycle, message)
            return
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        cycle.transport.write(b"".join(content))
        cycle.response_complete = True
        cycle.message_event.set()
        if not cycle.keep_alive:
            cycle.transport.close()
        cycle.on_response()

    def _head(self, status: int, headers: Any, body: bytes) -> list[bytes] | None:
        """Status line, headers and body as uvicorn writes them; None when uvicorn's own path must take it."""
        cycle = self.cycle
        content = [STATUS_LINE[status]]
        length = -1
        close = False
        for name, value in (*cycle.default_headers, *headers):
            if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
                return None  # uvicorn raises its error
            name = name.lower()
            if name == b"content-length":
                if length < 0:
                    length = int(value)
            elif name == b"transfer-encoding":
                return None
            elif name == b"connection" and b"close" in [token.lower().strip() for token in value.split(b",")]:
                cycle.keep_alive = False
                close = True
            content.extend([name, b": ", value, b"\r\n"])
        head_only = cycle.scope["method"] == "HEAD"
        if head_only:
            body = b""
        elif len(body) != (length if length >= 0 or status not in (204, 304) else 0):
            return None  # no length (uvicorn chunks the body) or a body of another length (uvicorn raises)
        if not cycle.keep_alive and not close:
            content.append(b"connection: close\r\n")
        content.append(b"\r\n")
        content.append(body)
        return content


_UNAVAILABLE = errors.error_body(errors.SERVICE_UNAVAILABLE, "Too many connections; try again shortly")


async def _overloaded(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_UNAVAILABLE)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": _UNAVAILABLE})


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "?"
