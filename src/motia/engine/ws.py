"""The engine's worker port (`docs/protocol.md` §1-§2): external workers connect over WebSocket and speak the
same protocol messages an in-process worker hands over as objects.

A `WebSocketConnection` is the engine's side of one such worker; everything it receives goes through the same
`Engine.receive` / `Engine.disconnect` as a `LocalConnection`, only the transport differs. The same port serves
data channels (`/ws/channels/...`, §4.7); `/otel` (telemetry) is accepted and discarded; other paths are 404.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..frames import FrameWriter
from ..json_depth import decode_shallow
from ..protocol import (
    ENGINE_FEATURES,
    UUID_PATTERN,
    ErrorBody,
    HttpRequestData,
    HttpResponseData,
    InvocationResult,
    InvokeFunction,
    Message,
    ProtocolError,
    Reattach,
    WorkerRegistered,
    decode_message,
    encode_message,
    http_response_wire,
    new_id,
    wire_http_request,
)
from .channels import CHUNK, Channel, Channels
from .engine import Connection, Engine
from .introspection import workers_changed
from .rbac import AuthRefused, SessionRules, WorkerPortConfig, authenticate

log = logging.getLogger("motia.engine.ws")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 49134
# The Rust engine's limit (tungstenite's default); the SDK sends up to this much, fragmented above 16 MiB.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
# WebSocket-level keepalive (control frames every client library answers by itself): a worker whose machine
# vanished without closing TCP is dropped after PING_TIMEOUT instead of when TCP gives up, minutes later, and
# its in-flight calls fail over at once. iii's engine does not ping (§1.5); SDKs are unaffected either way.
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
REATTACH_WAIT = 5.0  # §1.6: how long a reattach waits for the old connection's clean-up
TELEMETRY_PREFIXES = (b"OTLP", b"MTRC", b"LOGS")
# A function that returned null while its response channel is still unclaimed gets this long to start
# streaming (the SDK's writer connects in the background) before the null counts as its answer.
STREAM_GRACE = 1.0

_json = msgspec.json.Decoder()
_UUID = re.compile(UUID_PATTERN)
Spawn = Callable[[Coroutine[Any, Any, Any]], None]


class WebSocketConnection(Connection):
    """One external worker. Frames are handled in arrival order; each `invokefunction` from the worker runs
    as its own task (so a worker can call itself), and calls the engine makes to the worker wait in
    `pending` for the matching `invocationresult`."""

    def __init__(self, engine: Engine, ws: ServerConnection, channels: Channels, spawn: Spawn) -> None:
        super().__init__()
        self.engine = engine
        self.ws = ws
        self.frames = FrameWriter(ws)  # every frame to the worker goes through it, in order
        self.channels = channels
        self.spawn = spawn
        self.pending: dict[str, asyncio.Future[InvocationResult]] = {}
        # HTTP calls in flight: their response channel, which may answer instead of the result (§3.1).
        self.responses: dict[str, Channel] = {}
        self.ip_address = _host(ws.remote_address)
        self.cleaned_up = asyncio.Event()
        self._cleaning = False
        self.refused = False  # it sent what is not JSON: closing, whatever else it sends is ignored
        # On a guarded port (RBAC, session middleware): the checks its frames go through (§4.9).
        self.rules: SessionRules | None = None

    def load(self) -> int:
        return len(self.pending)

    def begin_clean_up(self) -> bool:
        """True the first time only: the caller forgets the worker and sets `cleaned_up`; later callers wait."""
        first, self._cleaning = not self._cleaning, True
        return first

    async def invoke(self, message: InvokeFunction) -> InvocationResult:
        if self.closed:
            return _stopped(message.function_id)
        # A fresh id per delivery, whatever the caller's: the target always gets one, even for void calls.
        invocation_id = message.invocation_id = new_id()
        if self.aliases:
            message.function_id = self.aliases.get(message.function_id, message.function_id)
        if type(message.data) is HttpRequestData:
            return await self._invoke_http(message, message.data)
        future: asyncio.Future[InvocationResult] = asyncio.get_running_loop().create_future()
        self.pending[invocation_id] = future
        try:
            await self.frames.send(encode_message(message))
            return await future
        except ConnectionClosed:
            self.closed = True  # clean-up follows; until then replicas are preferred
            return _stopped(message.function_id)
        finally:
            self.pending.pop(invocation_id, None)

    async def _invoke_http(self, message: InvokeFunction, request: HttpRequestData) -> InvocationResult:
        """An HTTP request for a remote function: the raw body goes through a `request_body` channel, and the
        answer is the function's result or what it streams to its `response` channel, whichever comes first."""
        invocation_id = message.invocation_id or ""
        body = self.channels.create()
        if isinstance(request.request_body, AsyncIterator):  # a route that streams its body: sent as it arrives
            self.spawn(_pump(request.request_body, body))
        else:
            body.fill(request.raw_body or b"")
        response = self.channels.create()
        response.on_writer = lambda channel: self.spawn(self._stream_response(invocation_id, channel))
        message.data = wire_http_request(request, body.ref("read"), response.ref("write"))
        future: asyncio.Future[InvocationResult] = asyncio.get_running_loop().create_future()
        self.pending[invocation_id] = future
        self.responses[invocation_id] = response
        streamed = False
        try:
            await self.frames.send(encode_message(message))
            result = await future
            streamed = isinstance(result.result, HttpResponseData) and isinstance(result.result.body, AsyncIterator)
            return result
        except ConnectionClosed:
            self.closed = True
            return _stopped(message.function_id)
        finally:
            self.pending.pop(invocation_id, None)
            self.responses.pop(invocation_id, None)
            self.channels.remove(body)
            if not streamed:  # a streamed body removes its channel once it is written out
                self.channels.remove(response)

    async def _stream_response(self, invocation_id: str, channel: Channel) -> None:
        """The function writes its response: `set_status`/`set_headers` text frames, then body chunks (§3.1)."""
        status, headers = 200, {}
        frames = channel.read()
        async for frame in frames:
            if isinstance(frame, str):
                try:
                    control = _json.decode(frame)
                except msgspec.DecodeError:
                    continue
                if not isinstance(control, dict):
                    continue
                code, fields = control.get("status_code"), control.get("headers")
                if control.get("type") == "set_status" and isinstance(code, int) and 100 <= code <= 599:
                    status = code
                elif control.get("type") == "set_headers" and isinstance(fields, dict):
                    headers.update({str(k): str(v) for k, v in fields.items()})
                continue
            streaming = HttpResponseData(status, headers, self._body(frame, frames, channel))
            if not self._answer(invocation_id, InvocationResult(result=streaming)):
                await streaming.body.aclose()
            return
        self._answer(invocation_id, InvocationResult(result=HttpResponseData(status, headers, b"")))

    async def _body(self, first: bytes, rest: AsyncIterator[str | bytes], channel: Channel) -> AsyncIterator[bytes]:
        try:
            yield first
            async for frame in rest:
                if isinstance(frame, bytes):
                    yield frame
        finally:
            self.channels.remove(channel)

    def _answer(self, invocation_id: str, result: InvocationResult) -> bool:
        future = self.pending.get(invocation_id)
        if future is None or future.done():
            return False
        future.set_result(result)
        return True

    async def send(self, message: Message) -> None:
        if isinstance(message, InvocationResult) and type(message.result) is HttpResponseData:
            message.result = http_response_wire(message.result)  # one of our steps, called by this worker
        try:
            await self.frames.send(encode_message(message))
        except ConnectionClosed:
            log.debug("worker %s is gone; %s not delivered", self.name, type(message).__name__)

    async def close(self) -> None:
        self.frames.flush()
        await self.ws.close()

    def resolve(self, result: InvocationResult) -> None:
        """A result from the worker; one for an unknown (finished, timed-out, stopped) call is dropped."""
        invocation_id = result.invocation_id or ""
        future = self.pending.get(invocation_id)
        if future is None or future.done():
            return
        response = self.responses.get(invocation_id) if result.result is None and result.error is None else None
        if response is not None:
            # Null is not an HTTP response: the function streams it, or is about to (§3.1).
            if not response.claimed("write"):
                asyncio.get_running_loop().call_later(STREAM_GRACE, self._no_stream, invocation_id, response, result)
            return
        future.set_result(result)

    def _no_stream(self, invocation_id: str, response: Channel, result: InvocationResult) -> None:
        if not response.claimed("write"):
            self._answer(invocation_id, result)

    def stop_invocations(self) -> None:
        """The worker is gone: every call still running on it fails with `invocation_stopped` (§1.6)."""
        for invocation_id, future in list(self.pending.items()):
            if not future.done():
                future.set_result(
                    InvocationResult(invocation_id, error=ErrorBody("invocation_stopped", "Invocation stopped"))
                )


async def _pump(chunks: AsyncIterator[bytes], channel: Channel) -> None:
    """A request body into its channel, chunk by chunk, as the client sends it (ends at EOF or when the channel
    is removed with the HTTP exchange)."""
    try:
        async for chunk in chunks:
            for start in range(0, len(chunk), CHUNK):
                if channel.closed:
                    return
                await channel.frames.put(chunk[start:start + CHUNK])
    except ConnectionError:
        pass  # the client went away: the reader gets EOF (a short body)
    finally:
        if not channel.closed:
            await channel.frames.put(None)


def _stopped(function_id: str | None) -> InvocationResult:
    return InvocationResult(function_id=function_id, error=ErrorBody("invocation_stopped", "Invocation stopped"))


def _host(address: Any) -> str | None:
    return str(address[0]) if isinstance(address, tuple) and address else None


class WorkerServer:
    """A worker port of an engine: `await start()`, then `url`; `await close()` disconnects everyone.

    `settings` (an `iii-worker-manager` entry) adds what is asked of the workers on this port: a token, the
    browser origins allowed, RBAC and a session middleware. Several ports of one engine share `channels`."""

    def __init__(
        self,
        engine: Engine,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        max_message_size: int = MAX_MESSAGE_SIZE,
        settings: WorkerPortConfig | None = None,
        channels: Channels | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings or WorkerPortConfig(host=host, port=port)
        self.host = self.settings.host
        self.port = self.settings.port
        self.max_message_size = max_message_size
        self.channels = channels or Channels()
        engine.add_builtin("engine::channels::create", self.channels.builtin_create)
        self._guarded = self.settings.rbac is not None or self.settings.middleware_function_id is not None
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._route,
            max_size=self.max_message_size,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            compression=None,  # tungstenite (the iii engine) has none
            open_timeout=self.settings.handshake_timeout_ms / 1000,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"ws://{host}:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- connections --------------------------------------------------------------------------------

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        origin = request.headers.get("Origin")
        if not self.settings.origin_allowed(origin):
            # A page in a browser: any site could otherwise drive the engine through its visitors.
            log.warning("refused a worker port handshake from the browser origin %s", origin)
            return connection.respond(HTTPStatus.FORBIDDEN, "Browser origins may not connect to the worker port\n")
        path = request.path.partition("?")[0]
        if path in ("/", "", "/otel") or self._channel(request.path) is not None:
            return None
        return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")

    def _channel(self, target: str) -> tuple[Channel, str] | None:
        """`/ws/channels/<id>?key=<access_key>&dir=read|write` -> the channel and the end asked for."""
        path, _, query = target.partition("?")
        if not path.startswith("/ws/channels/"):
            return None
        params = parse_qs(query)
        key, direction = params.get("key", [""])[0], params.get("dir", [""])[0]
        channel = self.channels.find(path[len("/ws/channels/"):], key)
        return (channel, direction) if channel is not None and direction in ("read", "write") else None

    async def _handle(self, ws: ServerConnection) -> None:
        target = ws.request.path if ws.request is not None else "/"
        path = target.partition("?")[0]
        if path in ("/", "", "/otel") and not await self._admitted(ws):
            return
        if path == "/otel":
            await _discard(ws)  # telemetry only: spans, metrics and logs are not kept by the embedded engine
            return
        channel = self._channel(target)
        if channel is not None:
            await self.channels.serve(ws, *channel)
            return
        connection = WebSocketConnection(self.engine, ws, self.channels, self._spawn)
        if self._guarded:
            try:
                session = await authenticate(self.engine, self.settings, _handshake(ws))
            except AuthRefused as exc:
                await _refuse_handshake(ws, str(exc))
                return
            connection.rules = SessionRules(self.engine, self.settings, session)
        self.engine.add_connection(connection)
        try:
            registered = WorkerRegistered(connection.worker_id, connection.reattach_token, ENGINE_FEATURES)
            await ws.send(encode_message(registered), text=True)
            workers_changed(self.engine, "worker_connected", connection)
            async for frame in ws:
                await self._dispatch(connection, frame)
        except ConnectionClosed:
            pass
        finally:
            await self._clean_up(connection)

    async def _dispatch(self, connection: WebSocketConnection, frame: str | bytes) -> None:
        if connection.refused or (isinstance(frame, bytes) and frame[:4] in TELEMETRY_PREFIXES):
            return
        try:
            message = decode_message(frame)
        except msgspec.DecodeError as exc:  # ValidationError included
            await self._refuse(connection, frame, exc)
            return
        kind = type(message)
        if kind is InvokeFunction:
            self._spawn(self._receive(connection, message))
        elif connection.rules is not None and kind is not InvocationResult and kind is not Reattach:
            admitted = await connection.rules.admit(connection, message)
            if admitted is not None:
                await self._receive(connection, admitted)
        elif kind is InvocationResult:
            connection.resolve(message)  # type: ignore[arg-type]
        elif kind is Reattach:
            await self._reattach(connection, message)  # type: ignore[arg-type]
        else:
            await self._receive(connection, message)

    async def _refuse(self, connection: WebSocketConnection, frame: str | bytes, error: Exception) -> None:
        """A frame that is not a protocol message. Not JSON at all: no SDK sends that, so the connection is
        closed (1007). An `invokefunction` that names its invocation but does not decode: answered with an
        `invalid_message` error, so that its caller does not wait for its own timeout. Anything else (an
        unknown type from a newer SDK, a wrong field): dropped and logged, as the iii engine does."""
        try:
            envelope = decode_shallow(frame)  # a frame nested too deep still names its invocation
        except msgspec.DecodeError:
            log.warning("closing worker %s: it sent a frame that is not JSON", connection.name)
            connection.refused = True
            # Closed from a task: the handshake needs the frames queued behind this one read (and ignored).
            self._spawn(connection.ws.close(1007, "frame is not JSON"))
            return
        if isinstance(envelope, dict) and envelope.get("type") == "invokefunction":
            invocation_id, function_id = envelope.get("invocation_id"), envelope.get("function_id")
            if isinstance(invocation_id, str) and _UUID.match(invocation_id):
                await connection.send(InvocationResult(
                    invocation_id, function_id if isinstance(function_id, str) else None,
                    error=ErrorBody("invalid_message", f"invokefunction does not decode: {error}"),
                ))
                return
        log.warning("dropped a frame from worker %s that does not decode: %s", connection.name, error)

    async def _receive(self, connection: WebSocketConnection, message: Message) -> None:
        try:
            if connection.rules is not None and type(message) is InvokeFunction:
                admitted = await connection.rules.admit(connection, message)
                if admitted is None:
                    return
                message = admitted
            await self.engine.receive(connection, message)
        except Exception:
            log.exception("handling %s from worker %s failed", type(message).__name__, connection.name)

    async def _reattach(self, connection: WebSocketConnection, message: Reattach) -> None:
        """A reconnecting worker retires its previous connection before replaying its registrations."""
        previous = self.engine.connections.get(message.previous_worker_id)
        if (
            not isinstance(previous, WebSocketConnection)
            or previous is connection
            or previous.reattach_token != message.reattach_token
        ):
            return
        try:
            await asyncio.wait_for(self._clean_up(previous), REATTACH_WAIT)
        except asyncio.TimeoutError:
            log.warning("clean-up of worker %s took over %ss", previous.name, REATTACH_WAIT)
        self._spawn(previous.close())

    async def _clean_up(self, connection: WebSocketConnection) -> None:
        """Forget the worker (§1.6), once, whether it closed or was evicted by a reattach."""
        if not connection.begin_clean_up():
            await connection.cleaned_up.wait()
            return
        try:
            await self.engine.disconnect(connection)
            connection.stop_invocations()
            workers_changed(self.engine, "worker_disconnected", connection)
        finally:
            connection.cleaned_up.set()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _admitted(self, ws: ServerConnection) -> bool:
        """The port's token, when it has one: a worker without it is refused with AUTH_ERROR."""
        authorization = ws.request.headers.get("Authorization") if ws.request is not None else None
        if self.settings.token_accepted(authorization):
            return True
        log.warning("refused a worker from %s: %s", _host(ws.remote_address),
                    "wrong worker token" if authorization else "no worker token")
        await _refuse_handshake(ws, "this worker port needs a worker token: send Authorization: Bearer <token> "
                                    "(iii SDKs and motia send $III_TOKEN)")
        return False


def _handshake(ws: ServerConnection) -> dict[str, Any]:
    """What an RBAC auth function is told about a handshake (§4.9)."""
    request = ws.request
    headers = {k.lower(): v for k, v in request.headers.raw_items()} if request is not None else {}
    query = parse_qs(request.path.partition("?")[2]) if request is not None else {}
    return {"headers": headers, "query_params": query, "ip_address": _host(ws.remote_address)}


async def _refuse_handshake(ws: ServerConnection, message: str) -> None:
    """One `error` frame with AUTH_ERROR, then close (§1.3)."""
    try:
        await ws.send(encode_message(ProtocolError(ErrorBody("AUTH_ERROR", message))), text=True)
        await ws.close(1008, "AUTH_ERROR")
    except ConnectionClosed:
        pass


async def _discard(ws: ServerConnection) -> None:
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass


__all__ = [
    "DEFAULT_PORT", "MAX_MESSAGE_SIZE", "WebSocketConnection", "WorkerPortConfig", "WorkerServer",
]
