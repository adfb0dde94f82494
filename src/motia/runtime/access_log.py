"""The access log: one line per HTTP request (method, path, status, duration, trace id) at INFO, written by log.py's
writer thread. A client error carries its reason from the error envelope (validation details at DEBUG); headers,
bodies and the values of credential-looking query parameters are never written.

It wraps the engine's ASGI app only when it is on (`motia dev`, `motia run --access-log`): when off, requests
never pass through it, so it costs them nothing.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, quote

import msgspec

from .. import log
from ..context import trace_id_from
from ..errors import ErrorEnvelope
from ..protocol import span_id
from ..protocol import trace_id as new_trace_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Query parameters whose values are never written (`?token=...` -> `?token=***`).
CREDENTIAL_NAME = re.compile(r"token|key|secret|passw|auth|session|sig|credential|jwt|cookie|code", re.IGNORECASE)
_MAX_ERROR_BODY = 64 * 1024  # an error envelope is small; a bigger 4xx body is not read for a reason
_decode_envelope = msgspec.json.Decoder(ErrorEnvelope).decode


class AccessLog:
    """ASGI middleware around the engine's HTTP app. A request without a valid `traceparent` is given one, so
    its access line and its handler's log lines carry the same trace id."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        trace_id = _trace_id(scope)
        response = _Response(send)
        try:
            await self.app(scope, receive, response.send)
        finally:
            _write(scope, response, trace_id, (time.perf_counter() - started) * 1000)


class _Response:
    """What the access line needs of a response: its status, and the body of a client error (its reason)."""

    __slots__ = ("body", "forward", "status")

    def __init__(self, forward: Send) -> None:
        self.forward = forward
        self.status = 0  # no response started (the client went away first)
        self.body: bytearray | None = None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            if 400 <= self.status < 500:
                self.body = bytearray()
        elif kind == "http.response.body" and self.body is not None and len(self.body) <= _MAX_ERROR_BODY:
            self.body += message.get("body", b"")
        await self.forward(message)


def _trace_id(scope: Scope) -> str:
    """The request's trace id: from its `traceparent`, or a new one written into the request as one."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"traceparent":
            found = trace_id_from(value.decode("latin-1"))
            if found is not None:
                return found
    trace_id = new_trace_id()
    scope["headers"] = [*(h for h in headers if h[0] != b"traceparent"),
                        (b"traceparent", f"00-{trace_id}-{span_id()}-01".encode())]
    return trace_id


def _write(scope: Scope, response: _Response, trace_id: str, duration_ms: float) -> None:
    method, path, status = scope["method"], scope["path"], response.status
    target = path + ("?" + redacted_query(scope["query_string"]) if scope.get("query_string") else "")
    fields: dict[str, Any] = {"method": method, "path": target, "status": status,
                              "duration_ms": round(duration_ms, 2)}
    message = f"{method} {target} {status or 'no response'} {duration_ms:.1f}ms"
    envelope = _envelope(response.body)
    if envelope is not None:
        error = envelope.error
        fields["error"] = error.code
        message += f" {error.code}: {error.message}"
    log.access(logging.INFO, message, trace_id, fields)
    if envelope is not None and envelope.error.details:
        details = "; ".join(f"{d.path or '$'}: {d.message}" for d in envelope.error.details)
        log.access(logging.DEBUG, f"{method} {path} {status} details: {details}", trace_id,
                   {"details": [msgspec.to_builtins(d) for d in envelope.error.details]})


def _envelope(body: bytearray | None) -> ErrorEnvelope | None:
    if not body or len(body) > _MAX_ERROR_BODY:
        return None
    try:
        return _decode_envelope(body)
    except (msgspec.DecodeError, msgspec.ValidationError):  # a client error of the handler's own shape
        return None


def redacted_query(query_string: bytes) -> str:
    """The query string, the value of every credential-looking parameter replaced by `***`."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return "&".join(f"{quote(name)}={'***' if CREDENTIAL_NAME.search(name) else quote(value)}"
                    for name, value in pairs)
