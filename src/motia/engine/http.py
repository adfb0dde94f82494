"""The `http` trigger type: an ASGI app (served by uvicorn) that routes requests to bound functions.

Semantics follow iii's REST module (`docs/protocol.md` §3.1): the function gets `HttpRequestData` and
returns `HttpResponseData` (or the dict form an external worker sends); errors use the iii envelope. Before
it, the engine-wide middleware (`EngineOptions.http_middleware`, by priority), the route's
`condition_function_id` and the route's `middleware_function_ids` run, each able to answer instead.
The embedded engine adds 405 + `Allow`, HEAD and OPTIONS, repeated query keys as lists, and a request
body limit (413); the server's own limits (`HttpLimits`: read deadlines, a connection cap) are applied by the
connection protocol in `http_server.py`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from .. import errors
from ..json_depth import MAX_JSON_DEPTH, too_deep
from ..protocol import (
    HttpRequestData,
    HttpResponseData,
    HttpTriggerConfig,
    HttpTriggerInfo,
    InvalidTriggerConfig,
    decode_trigger_config,
)
from .cors import CorsPolicy
from .credentials import refusal_body, repeated_credential
from .engine import Engine, TriggerEntry
from .operator_guard import OperatorGuard, is_operator_path
from .options import HttpMiddlewareConfig
from .router import RouteConflict, Router, encoded_slash_segments

log = logging.getLogger("motia.engine.http")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_MAX_BODY_SIZE = 1024 * 1024


class HttpLimits(msgspec.Struct, frozen=True, kw_only=True):
    """How long a client may take, and how many may be served at once."""

    # Seconds from the connection (or from the first byte of a request on a kept-alive one) to the end of the
    # request head; past it the connection is closed (with a 408 if part of a head came).
    header_timeout: float = 10.0
    # Seconds from the end of the head to the end of the body (at the 1 MiB default body limit, a client
    # slower than ~35 KB/s); past it a 408, then the connection is closed.
    body_timeout: float = 30.0
    # Seconds an idle kept-alive connection stays open (closed by the connection's timer, up to a quarter of the
    # shortest of these timeouts later). Behind a load balancer keep it above the balancer's idle timeout.
    keep_alive_timeout: float = 5.0
    # Seconds a response may sit unread: a client that takes none of its pending response for that long is cut
    # off (its buffered response freed, its connection slot given back). A slow reader that keeps reading is not.
    write_timeout: float = 30.0
    # Open connections; a connection over the cap is answered 503 and closed (None: no cap). Slow clients cannot
    # hold them for long: they are cut off by the deadlines above.
    max_connections: int | None = 1000
    # A request head (request line and headers) over either limit is answered 431 before any handler runs.
    max_head_size: int = 64 * 1024
    max_headers: int = 100


_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"
_BINARY = b"application/octet-stream"
_encoder = msgspec.json.Encoder()


# Why an `http` binding is refused, by the config key at fault (§2.6).
_REFUSALS = {
    "api_path": "api_path is required for http triggers",
    "http_method": "http_method must be a method name",
    "middleware_function_ids": "middleware_function_ids must be a list of function ids",
    "condition_function_id": "condition_function_id must be a function id",
}


class HttpRoute:
    __slots__ = ("condition", "function_id", "info", "metadata", "method", "middleware", "path", "stream_body",
                 "trigger", "trigger_id")

    def __init__(
        self, trigger: TriggerEntry, method: str, path: str, middleware: tuple[str, ...], condition: str | None,
        stream_body: bool = False,
    ) -> None:
        self.trigger = trigger
        self.trigger_id = trigger.id
        # The function reads a non-JSON request body as it arrives (config `stream_request_body`).
        self.stream_body = stream_body
        self.function_id = trigger.function_id
        self.metadata = trigger.metadata
        self.method = method
        self.path = path
        self.info = HttpTriggerInfo("http", path, method)
        self.middleware = middleware  # the route's `middleware_function_ids`
        self.condition = condition


class _Answer(Exception):
    """A middleware or the condition answered the request itself (or failed): this response is sent."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers


class HttpModule:
    """Trigger provider for `http` plus the ASGI application that serves the routes."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        cors: CorsPolicy | None = None,
        middleware: tuple[HttpMiddlewareConfig, ...] = (),
        middleware_timeout: float = 30.0,
        operator_guard: OperatorGuard | None = None,
    ) -> None:
        self.engine = engine
        self.cors = cors
        self.operator_guard = operator_guard or OperatorGuard()
        self.max_body_size = max_body_size
        # Engine-wide middleware, lowest priority first (a stable sort keeps equal priorities in list order).
        self.middleware = tuple(m.function_id for m in sorted(middleware, key=lambda m: m.priority))
        self.middleware_timeout = middleware_timeout
        self.router: Router[HttpRoute] = Router()
        self._bound: dict[str, HttpRoute] = {}
        # Every binding of one (method, pattern), newest last: the newest serves (last writer wins, §3.1), and
        # when it goes (a replica's worker stopped) the one before it serves again.
        self._stacks: dict[tuple[str, str], list[HttpRoute]] = {}
        engine.add_trigger_type("http", self)

    # --- trigger provider ---------------------------------------------------------------------------

    def register(self, trigger: TriggerEntry) -> str | None:
        try:
            config = decode_trigger_config(trigger.config, HttpTriggerConfig, _REFUSALS)
        except InvalidTriggerConfig as exc:
            return str(exc)
        api_path = config.api_path
        if not api_path.strip("/ ") and api_path.strip() != "/":
            return _REFUSALS["api_path"]
        method = (config.http_method or "GET").upper()
        if method not in METHODS:
            return f"Unsupported http_method '{method}'"
        middleware = config.middleware_function_ids or []
        if not all(m.strip() for m in middleware):
            return _REFUSALS["middleware_function_ids"]
        condition = config.condition_function_id
        if condition is not None and not condition.strip():
            return _REFUSALS["condition_function_id"]
        path = "/" + api_path.strip().strip("/")
        route = HttpRoute(trigger, method, path, tuple(middleware), condition, config.stream_request_body)
        try:
            self.router.add(method, path, route)
        except RouteConflict as exc:
            return str(exc)
        self._bound[trigger.id] = route
        self._stacks.setdefault((method, path), []).append(route)
        return None

    def unregister(self, trigger: TriggerEntry) -> None:
        route = self._bound.pop(trigger.id, None)
        if route is None:
            return
        key = (route.method, route.path)
        stack = self._stacks.get(key, [])
        serving = bool(stack) and stack[-1] is route
        if route in stack:
            stack.remove(route)
        if not stack:
            self._stacks.pop(key, None)
            self.router.remove(route.method, route.path, route)
        elif serving:
            self.router.add(route.method, route.path, stack[-1])

    # --- ASGI ---------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if is_operator_path(scope["path"]):  # motia's own routes: never CORS, never from a web page
                await self.operator_guard(scope, receive, send, self.handle)
            elif self.cors is not None:
                await self.cors(scope, receive, send, self.handle)
            else:
                await self.handle(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1008})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        segments = encoded_slash_segments(scope.get("raw_path"))  # `%2F` stays inside its segment
        route, params, allowed = self.router.match(method, path, segments)
        head_only = False
        if route is None:
            if method == "HEAD":
                route, params, _ = self.router.match("GET", path, segments)
                head_only = route is not None
            if route is None:
                await self._no_route(method, path, allowed, send)
                return
        headers, repeated = _merge_headers(scope["headers"])
        if repeated is not None:
            credential = repeated_credential(repeated)
            if credential is not None:
                await _respond(send, 400, refusal_body(credential), _JSON, [(b"connection", b"close")])
                return
        body = b""
        streamed: _StreamedBody | None = None
        if route.stream_body and "json" not in headers.get("content-type", ""):
            # Not buffered, so not held to max_body_size: the handler reads as much as it wants.
            streamed = _StreamedBody(receive) if "content-length" in headers or "transfer-encoding" in headers else None
        elif "content-length" in headers or "transfer-encoding" in headers:
            read = await self._read_body(headers, receive, send)
            if read is None:
                return
            body = read
        query_string: bytes = scope["query_string"]
        query = _parse_query(query_string) if query_string else {}
        json_body = None
        if body and "json" in headers.get("content-type", ""):
            if too_deep(body):  # msgspec would recurse until RecursionError (here, or in the worker)
                await _respond(send, 400, _TOO_DEEP, _JSON)
                return
            json_body = msgspec.Raw(body)
        payload = HttpRequestData(
            method, route.path, params, query, headers, json_body, route.info, body, streamed
        )
        payload.client = scope["client"][0] if scope.get("client") else None
        if self.middleware or route.middleware or route.condition:
            try:
                await self._before(route, payload)
            except _Answer as answer:
                await self._write_result(HttpResponseData(answer.status, answer.headers, answer.body), route,
                                         send, head_only)
                return
        result = await self.engine.fire(route.trigger, payload)
        if result.error is not None and result.error.code == "invocation_stopped" and method in _SAFE_METHODS:
            # The worker went away mid-request. A safe method may run twice, so, like a proxy trying the next
            # upstream, it gets one more try (on a replica, if one is left).
            result = await self.engine.fire(route.trigger, payload)
        if result.error is not None and result.error.code == errors.STORE_UNAVAILABLE:
            await _store_unavailable(send, f"function {route.function_id}: {result.error.message}")
            return
        if result.error is not None:
            await _internal_error(send, f"function {route.function_id} failed: {result.error.code}: "
                                        f"{result.error.message}")
            return
        # A streamed response watches `receive` for the client leaving, once nobody else reads the body from it.
        watch = receive if streamed is None or streamed.finished else None
        await self._write_result(result.result, route, send, head_only, watch)

    async def _before(self, route: HttpRoute, payload: HttpRequestData) -> None:
        """The engine-wide middleware, the condition, then the route's middleware (§3.1). Raises `_Answer` when
        one of them answers the request (or fails)."""
        request = {"path_params": payload.path_params, "query_params": payload.query_params,
                   "headers": payload.headers, "method": payload.method}
        namespace = route.trigger.namespace
        for function_id in self.middleware:
            await self._middleware(function_id, request, "default")
        if route.condition is not None:
            result = await self.engine.invoke(route.condition, payload, namespace=namespace)
            if result.error is not None:
                raise self._failure(route.condition, "condition", result.error.code, result.error.message)
            if result.result is False:
                raise _Answer(422, msgspec.Raw(errors.error_body(
                    "CONDITION_NOT_MET", "Request condition not met", skipped=True)))
        for function_id in route.middleware:
            await self._middleware(function_id, request, namespace)

    async def _middleware(self, function_id: str, request: dict[str, Any], namespace: str) -> None:
        payload = {"phase": "preHandler", "request": request, "context": {}}
        try:
            result = await asyncio.wait_for(self.engine.invoke(function_id, payload, namespace=namespace),
                                            self.middleware_timeout)
        except asyncio.TimeoutError:
            log.error("middleware %s did not answer within %ss", function_id, self.middleware_timeout)
            raise _Answer(504, msgspec.Raw(errors.error_body(
                "MIDDLEWARE_TIMEOUT", f"Middleware {function_id} did not answer in time"))) from None
        if result.error is not None:
            raise self._failure(function_id, "middleware", result.error.code, result.error.message)
        answer = result.result
        if isinstance(answer, dict) and answer.get("action") == "respond":
            response = answer.get("response")
            status, headers, body = _from_dict(response if isinstance(response, dict) else {})
            raise _Answer(status, body, headers)

    @staticmethod
    def _failure(function_id: str, kind: str, code: str, message: str) -> _Answer:
        """A failed middleware or condition: logged with an error id; the client gets the id, not the cause."""
        return _Answer(500, msgspec.Raw(_logged_internal_error(f"{kind} {function_id} failed: {code}: {message}")))

    async def _read_body(self, headers: dict[str, str], receive: Receive, send: Send) -> bytes | None:
        limit = self.max_body_size
        declared = headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _respond(send, 400, errors.error_body(errors.VALIDATION_ERROR, "Invalid Content-Length"), _JSON)
                return None
            if size > limit:
                await _too_large(send, limit)
                return None
        chunks: list[bytes] = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                await _too_large(send, limit)
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _no_route(self, method: str, path: str, allowed: list[str], send: Send) -> None:
        if not allowed:
            await _respond(send, 404, _NOT_FOUND, _JSON)
            return
        allow = ", ".join(sorted({*allowed, "OPTIONS", *(["HEAD"] if "GET" in allowed else [])}))
        if method == "OPTIONS":
            await _respond(send, 204, b"", None, [(b"allow", allow.encode())])
            return
        body = errors.error_body(errors.METHOD_NOT_ALLOWED, f"Method {method} not allowed on {path}")
        await _respond(send, 405, body, _JSON, [(b"allow", allow.encode())])

    async def _write_result(self, result: Any, route: HttpRoute, send: Send, head_only: bool,
                            receive: Receive | None = None) -> None:
        if isinstance(result, HttpResponseData):
            status, user_headers, body = result.status_code, result.headers, result.body
        elif isinstance(result, dict):
            status, user_headers, body = _from_dict(result)
        else:
            await _internal_error(send, f"function {route.function_id} returned {type(result).__name__!r}, not an "
                                        "HTTP response")
            return
        content_type: bytes | None = None
        extra: list[tuple[bytes, bytes]] = []
        problem = None if isinstance(status, int) and 200 <= status <= 599 else f"status {status!r} is not 200-599"
        if user_headers and problem is None:
            for name, value in user_headers.items():
                lower, text = str(name).lower(), str(value)
                problem = _invalid_header(lower, text)
                if problem is not None:
                    break
                if lower == "content-type":
                    content_type = text.encode("latin-1")
                elif lower != "content-length":
                    extra.append((lower.encode("latin-1"), text.encode("latin-1")))
        if problem is not None:
            # Written as given, it would break the response (a CRLF splits it, uvicorn drops the connection):
            # the client gets a 500 like any handler failure, the log says what was wrong.
            await _internal_error(send, f"function {route.function_id} returned an invalid HTTP response: {problem}")
            return
        if isinstance(body, AsyncIterator):  # written to the response channel by a remote worker (§3.1)
            await _stream(send, status, body, content_type or _BINARY, extra, head_only, receive)
            return
        if isinstance(body, msgspec.Raw):
            data = bytes(body)
            content_type = content_type or _JSON
        elif isinstance(body, (bytes, bytearray, memoryview)):
            data = bytes(body)
            content_type = content_type or _BINARY
        elif isinstance(body, str) and content_type is not None:
            data = body.encode()
        elif body is None:
            data = b""
        else:
            data = _encoder.encode(body)
            content_type = content_type or _JSON
        await _respond(send, status, data, content_type, extra, head_only)


_NOT_FOUND = errors.error_body(errors.NOT_FOUND, "Not Found")
_TOO_DEEP = errors.error_body(errors.INVALID_JSON, f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels")


def _merge_headers(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], dict[str, list[str]] | None]:
    """Request headers by name, a repeated name's values joined with ", " in order (RFC 9110, section 5.3), in one join
    per name (appending to the growing string per copy is quadratic in the number of copies); and the repeated
    names with their values (None when none was)."""
    headers: dict[str, str] = {}
    repeated: dict[str, list[str]] | None = None
    for name, value in raw:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        if key in headers:
            if repeated is None:
                repeated = {}
            repeated.setdefault(key, [headers[key]]).append(text)
        else:
            headers[key] = text
    if repeated:
        for key, values in repeated.items():
            headers[key] = ", ".join(values)
    return headers, repeated


# What uvicorn refuses to write (it would drop the connection): a name that is not an RFC 9110 token, a value
# with control characters (CR and LF above all: they would split the response).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _invalid_header(name: str, value: str) -> str | None:
    """Why a handler's response header cannot be sent, or None."""
    if not _HEADER_NAME.fullmatch(name):
        return f"header name {name!r} is not a valid token"
    if _HEADER_VALUE_FORBIDDEN.search(value):
        return f"header {name!r} has a control character (CR, LF, ...) in its value"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return f"header {name!r} has a value that is not latin-1"
    return None


def _from_dict(result: dict[str, Any]) -> tuple[Any, dict[str, str] | None, Any]:
    """An external worker's `{status_code|statusCode|status, headers, body}` (§3.1)."""
    status = result.get("status_code", result.get("statusCode", result.get("status", 200)))
    headers = result.get("headers")
    if isinstance(headers, list):
        pairs = [h.split(":", 1) for h in headers if isinstance(h, str) and ":" in h]
        headers = {k.strip(): v.strip() for k, v in pairs}
    elif not isinstance(headers, dict):
        headers = None
    return status, headers, result.get("body")


def _parse_query(query_string: bytes) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key in query:
            existing = query[key]
            if isinstance(existing, list):
                existing.append(value)
            else:
                query[key] = [existing, value]
        else:
            query[key] = value
    return query


class _StreamedBody:
    """A request body chunk by chunk, as the client sends it (an async iterator over `receive`)."""

    __slots__ = ("finished", "receive")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.finished = False

    def __aiter__(self) -> _StreamedBody:
        return self

    async def __anext__(self) -> bytes:
        while not self.finished:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ConnectionError("the client disconnected before the request body ended")
            self.finished = not message.get("more_body", False)
            chunk: bytes = message.get("body", b"")
            if chunk:
                return chunk
        raise StopAsyncIteration


def _logged_internal_error(reason: str) -> bytes:
    """The envelope of a 500; the reason is logged under the `error_id` the client gets, and only there."""
    error_id = os.urandom(8).hex()
    log.error("%s (error_id=%s)", reason, error_id)
    return errors.error_body(errors.INTERNAL_ERROR, "Internal server error", error_id=error_id)


async def _internal_error(send: Send, reason: str) -> None:
    await _respond(send, 500, _logged_internal_error(reason), _JSON)


async def _store_unavailable(send: Send, reason: str) -> None:
    """The shared store (Redis) did not answer: a 503 the client may retry; the node reconnects by itself."""
    log.warning("503: %s", reason)
    await _respond(send, 503, errors.store_unavailable_body(), _JSON, [(b"retry-after", b"1")])


async def _too_large(send: Send, limit: int) -> None:
    body = errors.error_body(errors.PAYLOAD_TOO_LARGE, f"Request body exceeds the limit of {limit} bytes")
    await _respond(send, 413, body, _JSON, [(b"connection", b"close")])


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes | None,
    extra: list[tuple[bytes, bytes]] | None = None,
    head_only: bool = False,
) -> None:
    headers = extra or []
    if status not in (204, 304) and not 100 <= status < 200:
        if content_type is not None and body:
            headers.append((b"content-type", content_type))
        headers.append((b"content-length", str(len(body)).encode()))
    else:
        body = b""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head_only else body})


async def _stream(
    send: Send,
    status: int,
    chunks: AsyncIterator[bytes],
    content_type: bytes,
    headers: list[tuple[bytes, bytes]],
    head_only: bool,
    receive: Receive | None = None,
) -> None:
    """A body that arrives in chunks: sent as it comes (chunked transfer encoding). When the client leaves
    (seen on `receive`), the chunks are closed, which stops whoever produces them."""
    headers = [*headers, (b"content-type", content_type)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    left = asyncio.ensure_future(_disconnect(receive)) if receive is not None and not head_only else None
    try:
        if not head_only:
            async for chunk in chunks:
                if left is not None and left.done():
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        if left is not None:
            left.cancel()
        await chunks.aclose()  # type: ignore[attr-defined]
    await send({"type": "http.response.body", "body": b""})


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
