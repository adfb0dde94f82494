"""The runtime as a worker of an engine in another process: `motia engine` or a real iii engine, over the
WebSocket protocol of `docs/protocol.md` §1-§2.

`WebSocketTransport` implements the same `Transport` interface as `InProcessTransport`; the `Worker` that
registers the steps and runs the engine's invocations is the same object either way. What this module adds
is only what a network needs: JSON frames, a pending map for calls, reconnecting with back-off, `reattach`
and the replay of registrations, `engine::workers::register`, and a graceful drain on close.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from typing import Any
from urllib.parse import quote

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .._backoff import ReconnectPolicy
from .._pending import run_eagerly
from ..crontab import to_iii
from ..frames import FrameWriter
from ..protocol import (
    Action,
    ErrorBody,
    HttpResponseData,
    InvocationResult,
    InvokeFunction,
    Message,
    Ping,
    Pong,
    ProtocolError,
    Reattach,
    RegisterFunction,
    RegisterTrigger,
    RegistrationRejected,
    UnregisterFunction,
    UnregisterTrigger,
    WorkerRegistered,
    decode_message,
    encode_message,
    http_response_wire,
    new_id,
)
from .transport import Transport
from .worker import Worker

log = logging.getLogger("motia.runtime")

MAX_MESSAGE_SIZE = 64 * 1024 * 1024
CHANNEL_FRAME = 64 * 1024  # binary frames on a data channel, as the SDKs cut them
OPEN_TIMEOUT = 10.0


class EngineRejected(Exception):
    """The engine refused this worker for good (`registrationrejected` WORKER_NAMESPACE_CONFLICT)."""


class WebSocketTransport(Transport):
    """`worker` as a worker of the engine at `url` (e.g. `ws://127.0.0.1:49134`)."""

    def __init__(
        self,
        url: str,
        worker: Worker,
        *,
        invocation_timeout: float = 30.0,
        drain_timeout: float = 30.0,
        reconnect: ReconnectPolicy | None = None,
        name: str | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> None:
        self.url = url
        self.worker = worker
        self.invocation_timeout = invocation_timeout
        self.drain_timeout = drain_timeout
        self.reconnect = reconnect or ReconnectPolicy()
        self.name = name or os.environ.get("III_WORKER_NAME") or f"{platform.node()}:{os.getpid()}"
        self.headers = dict(headers or {})
        # The worker token, sent as iii SDKs send theirs: `Authorization: Bearer $III_TOKEN` on every handshake.
        token = (token or os.environ.get("III_TOKEN") or "").strip()
        if token and not any(k.lower() == "authorization" for k in self.headers):
            self.headers["Authorization"] = f"Bearer {token}"
        # The engine's name for this worker on the current (or last) connection; sent back in `reattach`.
        self.worker_id: str | None = None
        self.reattach_token: str | None = None
        self.connects = 0
        self.rejected: RegistrationRejected | None = None
        self._ws: ClientConnection | None = None
        self._frames: FrameWriter | None = None  # the frames of `_ws`: every frame on it goes through this
        self._connected = asyncio.Event()
        self._pong = asyncio.Event()
        self._pending: dict[str, asyncio.Future[InvocationResult]] = {}
        self._running: set[asyncio.Task[Any]] = set()  # the engine's calls to this worker
        self._runner: asyncio.Task[None] | None = None
        self._closing = False

    # --- lifecycle ----------------------------------------------------------------------------------

    async def start(self, timeout: float | None = None) -> None:
        """Connect (retrying with back-off) and register; returns once registered, or raises when the engine
        refuses the worker or `timeout` seconds pass without a connection."""
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run(), name="motia-engine-connection")
        waiter = asyncio.ensure_future(self._connected.wait())
        done, _ = await asyncio.wait({waiter, self._runner}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            if self._runner in done:
                self._runner.result()
            raise TimeoutError(f"could not register with the engine at {self.url} in {timeout}s")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def stopped(self) -> asyncio.Task[None] | None:
        """The connection task: it ends only on `close()` or when the engine refuses the worker."""
        return self._runner

    async def close(self) -> None:
        """Leave gracefully: stop receiving new calls, finish the running ones, then disconnect."""
        self._closing = True
        ws, frames = self._ws, self._frames
        if ws is not None and frames is not None and self._connected.is_set():
            try:
                await asyncio.wait_for(self._drain(frames), self.drain_timeout)
            except (asyncio.TimeoutError, ConnectionClosed):
                log.warning("closing the engine connection with %d calls still running", len(self._running))
            frames.flush()
            await ws.close()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        running = list(self._running)
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        self._fail_pending("the worker is shutting down")
        self.worker.detach()  # module-level helpers stop finding this app

    async def _drain(self, frames: FrameWriter) -> None:
        # Unregister first so the engine routes new calls to a replica; the pong of a ping sent after the
        # unregistrations proves the engine applied them (it handles a connection's frames in order), so
        # every call it will ever send us has arrived before it.
        for message in reversed(self.worker.registrations):
            if isinstance(message, RegisterTrigger):
                await frames.send(encode_message(UnregisterTrigger(message.id, message.trigger_type)))
            elif isinstance(message, RegisterFunction):
                await frames.send(encode_message(UnregisterFunction(message.id)))
        self._pong.clear()
        await frames.send(encode_message(Ping()))
        await self._pong.wait()
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    # --- the connection loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                ws = await websockets.connect(
                    self.url,
                    max_size=MAX_MESSAGE_SIZE,
                    compression=None,
                    open_timeout=OPEN_TIMEOUT,
                    additional_headers=self.headers or None,
                )
            except (OSError, TimeoutError, asyncio.TimeoutError, InvalidHandshake, InvalidURI) as exc:
                delay = self.reconnect.delay(attempt)
                attempt += 1
                log.warning("cannot reach the engine at %s (%s); retrying in %.1fs", self.url, exc, delay)
                await asyncio.sleep(delay)
                continue
            if await self._session(ws):
                attempt = 0
            if self.rejected is not None:
                raise EngineRejected(f"the engine refused this worker: {self.rejected.code}")
            if self._closing:
                return
            delay = self.reconnect.delay(attempt)
            attempt += 1
            log.warning("lost the engine at %s; reconnecting in %.1fs", self.url, delay)
            await asyncio.sleep(delay)

    async def _session(self, ws: ClientConnection) -> bool:
        """One connection, from `workerregistered` to close; True when the registration went through."""
        registered = False
        reader: asyncio.Task[None] | None = None
        frames = FrameWriter(ws)
        try:
            first = decode_message(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT))
            if isinstance(first, ProtocolError):
                # AUTH_ERROR: a wrong or missing token, or an RBAC auth function said no. Retried with back-off:
                # the auth function's worker may not be connected yet.
                hint = " (set --worker-token or III_TOKEN)" if "token" in first.error.message else ""
                log.error("the engine at %s refused this worker: %s: %s%s", self.url, first.error.code,
                          first.error.message, hint)
                return False
            if not isinstance(first, WorkerRegistered):
                raise ValueError(f"expected workerregistered, got {type(first).__name__}")
            previous = self.worker_id, self.reattach_token
            self.worker_id, self.reattach_token = first.worker_id, first.reattach_token
            if previous[0] is not None and previous[1] is not None:
                await frames.send(encode_message(Reattach(previous[0], previous[1])))
            self._ws, self._frames = ws, frames
            reader = asyncio.get_running_loop().create_task(self._read(ws, frames))
            await self.worker.attach(self)
            await frames.send(encode_message(InvokeFunction(
                "engine::workers::register", self.metadata(), action=Action("void"),
            )))
            registered = True
            self.connects += 1
            self._connected.set()
            log.info("registered with the engine at %s as worker %s", self.url, self.worker_id)
            await reader
        except ConnectionClosed:
            pass
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, asyncio.TimeoutError) as exc:
            log.error("the engine at %s did not accept the connection: %s", self.url, exc)
        finally:
            self._connected.clear()
            self._ws = self._frames = None
            if reader is not None and not reader.done():
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
            self._fail_pending("the connection to the engine was lost")
            frames.flush()
            await ws.close()
        return registered

    async def _read(self, ws: ClientConnection, frames: FrameWriter) -> None:
        try:
            async for frame in ws:
                try:
                    message = decode_message(frame)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    log.warning("dropped a frame from the engine that does not decode: %s", exc)
                    continue
                if isinstance(message, InvokeFunction):
                    self._spawn(self._serve(frames, message))
                elif isinstance(message, InvocationResult):
                    future = self._pending.get(message.invocation_id or "")
                    if future is not None and not future.done():
                        future.set_result(message)
                elif isinstance(message, Pong):
                    self._pong.set()
                elif isinstance(message, Ping):
                    await frames.send(encode_message(Pong()))
                else:
                    if isinstance(message, RegistrationRejected) and message.code != "FUNCTION_NAMESPACE_CONFLICT":
                        self.rejected = message  # fatal (§2.4): no reconnecting after this
                        self._closing = True
                    try:
                        await self.worker.handle_message(message)
                    except Exception:
                        log.exception("handling %s from the engine failed", type(message).__name__)
        except ConnectionClosed:
            pass

    async def _serve(self, frames: FrameWriter, message: InvokeFunction) -> None:
        """One call from the engine, run concurrently with the others; the result goes back on the connection
        the call came on (after a reconnect the engine has already failed it, §1.6)."""
        data = message.data
        if isinstance(data, dict) and data.get("body") is None and _has_body(data.get("headers")):
            ref = data.get("request_body")
            if isinstance(ref, dict) and isinstance(ref.get("channel_id"), str):
                # Not JSON (or not valid JSON): the handler reads the raw bytes itself, as in-process, from
                # the channel, as they arrive (a handler that wants them whole joins them).
                data["request_body"] = self._read_channel(ref)
        result = await self.worker.handle_invoke(message)
        if message.invocation_id is None:
            return
        result.invocation_id = message.invocation_id
        if result.traceparent is None:
            result.traceparent = message.traceparent
        if type(result.result) is HttpResponseData:
            response = result.result
            ref = data.get("response") if isinstance(data, dict) else None
            if isinstance(ref, dict) and (_binary(response.body) or isinstance(response.body, AsyncIterator)):
                # JSON cannot carry it: the bytes go through the response channel, and null says "streamed".
                try:
                    await self._write_channel(ref, response)
                    result.result = None
                except (OSError, InvalidHandshake, ConnectionClosed, asyncio.TimeoutError) as exc:
                    log.error("could not write the response channel of %s: %s", message.function_id, exc)
                    if isinstance(response.body, AsyncGenerator):  # stops the handler still writing it
                        await response.body.aclose()
                    result.result = None
                    result.error = ErrorBody("channel_send_failed", str(exc))
            else:
                result.result = http_response_wire(response)
        try:
            await frames.send(encode_message(result))
        except ConnectionClosed:
            log.debug("result of %s not delivered: the connection closed", message.function_id)

    async def _read_channel(self, ref: dict[str, Any]) -> AsyncIterator[bytes]:
        """The binary frames of a data channel (§4.7) as they arrive, read from the engine's channel endpoint
        (connected at the first read)."""
        try:
            async with websockets.connect(self._channel_url(ref, "read"), max_size=MAX_MESSAGE_SIZE, compression=None,
                                          open_timeout=OPEN_TIMEOUT, additional_headers=self.headers or None) as ws:
                async for frame in ws:
                    if isinstance(frame, bytes):
                        yield frame
        except (OSError, InvalidHandshake, ConnectionClosed, asyncio.TimeoutError) as exc:
            raise ConnectionError(f"could not read the request body channel: {exc}") from exc

    async def _write_channel(self, ref: dict[str, Any], response: HttpResponseData) -> None:
        """A response written to the engine through its `response` channel (§3.1): status, headers, bytes."""
        headers = dict(response.headers or {})
        if not any(k.lower() == "content-type" for k in headers):
            headers["content-type"] = "application/octet-stream"
        body = response.body
        async with websockets.connect(self._channel_url(ref, "write"), max_size=MAX_MESSAGE_SIZE, compression=None,
                                      open_timeout=OPEN_TIMEOUT, additional_headers=self.headers or None) as ws:
            await ws.send(msgspec.json.encode({"type": "set_status", "status_code": response.status_code}), text=True)
            await ws.send(msgspec.json.encode({"type": "set_headers", "headers": headers}), text=True)
            if isinstance(body, AsyncIterator):  # streamed: each chunk goes out when the handler writes it
                async for chunk in body:
                    for start in range(0, len(chunk), CHANNEL_FRAME):
                        await ws.send(chunk[start:start + CHANNEL_FRAME])
                return
            content = bytes(body)
            for start in range(0, len(content), CHANNEL_FRAME):
                await ws.send(content[start:start + CHANNEL_FRAME])

    def _channel_url(self, ref: dict[str, Any], direction: str) -> str:
        base, _, query = self.url.partition("?")
        params = "&".join(p for p in (query, f"key={quote(str(ref.get('access_key', '')))}", f"dir={direction}") if p)
        return f"{base.rstrip('/')}/ws/channels/{ref['channel_id']}?{params}"

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        # Most calls (a handler that does not wait on I/O) run to their result right here, with no task and no
        # loop turn; one that suspends goes on in a task, tracked for the drain.
        task = run_eagerly(coro)
        if task is not None:
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _fail_pending(self, reason: str) -> None:
        for invocation_id, future in list(self._pending.items()):
            if not future.done():
                future.set_result(InvocationResult(invocation_id, error=ErrorBody("invocation_stopped", reason)))

    # --- Transport ----------------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        frames = self._frames
        if frames is None:
            await asyncio.wait_for(self._connected.wait(), self.invocation_timeout)
            frames = self._frames
            assert frames is not None
        try:
            await frames.send(encode_message(for_external_engine(message)))
        except ConnectionClosed:
            # What a registration carried is replayed on the next connection; a lost void call is lost, as
            # with the SDKs.
            log.debug("%s not sent: the connection to the engine closed", type(message).__name__)

    async def invoke(self, message: InvokeFunction) -> InvocationResult:
        if message.action is not None and message.action.type == "void":
            await self.send(message)
            return InvocationResult(function_id=message.function_id)
        invocation_id = message.invocation_id or new_id()
        message = msgspec.structs.replace(message, invocation_id=invocation_id)
        future: asyncio.Future[InvocationResult] = asyncio.get_running_loop().create_future()
        self._pending[invocation_id] = future
        try:
            return await asyncio.wait_for(self._call(message, future), self.invocation_timeout)
        except asyncio.TimeoutError:
            return InvocationResult(invocation_id, message.function_id, error=ErrorBody(
                "TIMEOUT", f"invocation timed out after {int(self.invocation_timeout * 1000)}ms"))
        finally:
            self._pending.pop(invocation_id, None)

    async def _call(self, message: InvokeFunction, future: asyncio.Future[InvocationResult]) -> InvocationResult:
        await self.send(message)
        return await future

    def metadata(self) -> dict[str, Any]:
        """What `engine::workers::register` tells the engine about this worker (§2.11)."""
        return {
            "runtime": "python",
            "version": _version(),
            "name": self.name,
            "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
            "pid": os.getpid(),
            "isolation": os.environ.get("III_ISOLATION") or None,
            "namespace": None,
            "telemetry": {"language": "python", "framework": "motia", "project_name": os.path.basename(os.getcwd())},
        }


def for_external_engine(message: Message) -> Message:
    """Adapt a message to what the iii engine accepts: it parses cron with seconds first (6 or 7 fields,
    §3.2) and knows no `@daily`-style alias, so a cron expression is sent in `crontab.to_iii`'s form."""
    if isinstance(message, RegisterTrigger) and message.trigger_type == "cron" and isinstance(message.config, dict):
        expression = message.config.get("expression")
        if isinstance(expression, str) and to_iii(expression) != expression:
            return msgspec.structs.replace(message, config={**message.config, "expression": to_iii(expression)})
    return message


def _binary(body: Any) -> bool:
    if not isinstance(body, (bytes, bytearray, memoryview)):
        return False
    try:
        bytes(body).decode()
    except UnicodeDecodeError:
        return True
    return False


def _has_body(headers: Any) -> bool:
    if not isinstance(headers, dict):
        return False
    length = headers.get("content-length")
    return (isinstance(length, str) and length.strip() not in ("", "0")) or "transfer-encoding" in headers


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("motia-py")
    except PackageNotFoundError:
        return "unknown"
