"""The HTTP server's connection limits, which uvicorn lacks: a request head and body must arrive in time
(slow-loris clients are cut off), a head has a size and header-count limit (431), a response must be read
(a client that stops reading is cut off and its buffer freed), and a connection over a cap is answered 503
rather than queued. Every answer the server gives itself (408, 400, 431, 503) is in the error envelope.

`protocol_class(limits)` is uvicorn's httptools protocol with these limits (`HttpLimits`); `App` serves with it.

It also takes a complete request down a shorter path (the fast lane): a request whose head and body came in one
read is started at the end of that read, its task's first step run at once on Python 3.12+ (a handler that
awaits nothing is answered without the task ever being scheduled), and the response's status line, headers and
body go out in one `transport.write` instead of two. The request is still uvicorn's `RequestResponseCycle` (a
subclass), so keep-alive, pipelining, flow control, HEAD, disconnects, graceful shutdown (a suspended request is
in `server_state.tasks`) and the deadlines below work as before; a body still arriving, `Expect: 100-continue`
and streamed responses take uvicorn's own path. An idle kept-alive connection is closed by the connection's
timer too, instead of a timer handle made and cancelled per request.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

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
        cycle.__class__ = OneWriteCycle  # same attributes: only `send` differs
        # uvicorn's opt-in fresh context per request (`reset_contextvars`, uvicorn >= 0.50), else a copy.
        context = contextvars.Context() if getattr(self.config, "reset_contextvars", False) else None
        if eager and EAGER_TASKS:
            # Its first step runs now: a handler that awaits nothing is answered before this returns, and its
            # task is never scheduled. (On 3.11 a coroutine stepped outside a task would find no
            # `asyncio.current_task()`, which `asyncio.timeout`, anyio and motia's time limits need.)
            task = asyncio.Task(cycle.run_asgi(app), loop=self.loop, context=context,  # type: ignore[call-arg]
                                eager_start=True)
            if task.done():
                return
        else:
            task = self.loop.create_task(cycle.run_asgi(app), context=context)
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


class _Parts:
    """Stands in for the transport while a response's head is built: the head's bytes are kept, not sent."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)


class OneWriteCycle(RequestResponseCycle):
    """uvicorn's request/response cycle whose response head waits for the first body message: a complete
    response (the engine's usual answer) is one write, one system call, instead of two. Streams, HEAD, a paused
    transport or a client gone take uvicorn's own path for what follows the head."""

    _head: Any = None  # the held `http.response.start` message

    async def send(self, message: Any) -> None:
        head = self._head
        if head is None:
            if message["type"] == "http.response.start" and not self.response_started and not self.disconnected:
                self._head = message
                return
            await super().send(message)
            return
        self._head = None
        if self.flow.write_paused or self.disconnected or message["type"] != "http.response.body":
            await super().send(head)
            await super().send(message)
            return
        transport, held = self.transport, _Parts()
        self.transport = held  # type: ignore[assignment]
        try:
            await super().send(head)  # checks and formats the head (never suspends: the transport is not paused)
        finally:
            self.transport = transport
        body: bytes = message.get("body", b"")
        if message.get("more_body", False) or self.chunked_encoding:
            transport.write(b"".join(held.parts))
            await super().send(message)
            return
        if self.scope["method"] == "HEAD":
            body = b""
        elif len(body) != self.expected_content_length:
            transport.write(b"".join(held.parts))
            raise RuntimeError("Response content longer than Content-Length" if len(body) > self.expected_content_length
                               else "Response content shorter than Content-Length")
        self.expected_content_length = 0
        held.parts.append(body)
        transport.write(b"".join(held.parts))
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            transport.close()
        self.on_response()


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
