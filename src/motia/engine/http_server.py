"""The HTTP server's connection limits, which uvicorn lacks: a request head and body must arrive in time
(slow-loris clients are cut off), and a connection over a cap is answered 503 rather than queued.

`protocol_class(limits)` is uvicorn's httptools protocol with these limits (`HttpLimits`); `App` serves with it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .. import errors
from .http import HttpLimits

log = logging.getLogger("motia.engine.http")

# A connection's timer ticks this many times per (shortest) deadline: a slow client is cut off at most 2/TICKS
# of that deadline after its own, and a request costs nothing extra.
TICKS = 8


def protocol_class(limits: HttpLimits) -> type[DeadlineProtocol]:
    """The protocol uvicorn instantiates per connection (`uvicorn.Config(http=...)`), bound to `limits`."""
    return type("DeadlineProtocol", (DeadlineProtocol,), {"limits": limits})


class DeadlineProtocol(HttpToolsProtocol):
    """One connection, watched by a timer of its own rather than by anything on the request path.

    What the connection is reading is read off uvicorn's own state: a scope newer than the current cycle's is a
    request head coming in (uvicorn makes the scope on the head's first byte and the cycle at its end); a cycle
    with `more_body` is a body coming in. The same part seen in progress for longer than its deadline is late.
    """

    limits: ClassVar[HttpLimits] = HttpLimits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cap = self.limits.max_connections
        if cap is not None and len(self.connections) > cap:
            self.app = _overloaded  # every request of this connection: 503, then the connection is closed
        self._period = min(self.limits.header_timeout, self.limits.body_timeout) / TICKS
        self._watched: object = None  # the head (its scope) or body (its cycle) in progress at the last tick
        self._since = 0.0  # when that was first seen
        self._timer: asyncio.TimerHandle | None = self.loop.call_later(self._period, self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

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
        return None, 0.0  # the request is in: a slow handler is not a slow client; idle is keep-alive's business

    def _tick(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        part, limit = self._reading()
        if part is None or part is not self._watched:
            self._watched, self._since = part, now
        elif now - self._since >= limit:
            self._expire(part)
            return
        self._timer = self.loop.call_later(self._period, self._tick)

    def _expire(self, part: object) -> None:
        cycle = self.cycle
        if part is cycle and cycle is not None:
            log.debug("closing a connection from %s: the request body did not arrive within %ss",
                      _peer(self.client), self.limits.body_timeout)
            if not cycle.response_started:
                self._send_408("The request body did not arrive in time")
            cycle.disconnected = True  # the app waiting on the body gets http.disconnect
            cycle.message_event.set()
        elif part is not self:  # part of a head came
            log.debug("closing a connection from %s: no complete request head within %ss",
                      _peer(self.client), self.limits.header_timeout)
            self._send_408("The request head did not arrive in time")
        self.transport.close()

    def _send_408(self, message: str) -> None:
        body = errors.error_body(errors.REQUEST_TIMEOUT, message)
        content = [STATUS_LINE[408]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([
            b"content-type: application/json\r\n",
            b"content-length: ", str(len(body)).encode(), b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ])
        self.transport.write(b"".join(content))


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
