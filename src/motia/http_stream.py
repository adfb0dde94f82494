"""Streamed HTTP: request bodies read as they arrive, responses written as they are produced (SSE).

Official Motia form: a handler typed `MotiaHttpArgs` reads `args.request.request_body.stream` chunk by chunk
and may answer by writing: `await response.status(200)`, `await response.headers({...})`,
`response.writer.stream.write(b"...")`, `response.close()` (official Motia's streaming HTTP API). The client gets
each chunk when it is written. Native form for decorator steps: return an async iterator of bytes/str, a
`StreamingResponse`, or `event_stream(...)` (server-sent events).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterator, Mapping
from typing import Any, Generic, TypeVar

import msgspec

from .errors import MotiaError
from .requests import Headers

BodyT = TypeVar("BodyT")

# Chunks a writer may queue before the HTTP connection takes them; past it `await writer.drain()` waits.
HIGH_WATER = 64


class _Done:
    """An awaitable that is already complete: `await response.status(200)` and `response.status(200)` both work."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


_DONE = _Done()


async def _no_chunks() -> AsyncIterator[bytes]:
    return
    yield  # pragma: no cover


class ChannelReader:
    """Incoming bytes (a request body), read incrementally: `async for chunk in reader`, `for chunk in reader`
    (from a sync handler's thread), or `await reader.read_all()`. Each chunk can be read once."""

    def __init__(self, chunks: AsyncIterator[bytes] | bytes | None = None,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        if chunks is None or isinstance(chunks, (bytes, bytearray)):
            content = bytes(chunks or b"")
            self._buffered: bytes | None = content
            self._chunks: AsyncIterator[bytes] = _no_chunks()
        else:
            self._buffered = None
            self._chunks = chunks
        self._loop = loop

    @property
    def stream(self) -> ChannelReader:
        """The official SDK's name for the readable side (`request.request_body.stream`)."""
        return self

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._buffered is not None:
            content, self._buffered = self._buffered, None
            if content:
                return content
        return await self._chunks.__anext__()

    def __iter__(self) -> Iterator[bytes]:
        loop = self._event_loop("iterate it with `async for`")
        while True:
            try:
                yield asyncio.run_coroutine_threadsafe(self.__anext__(), loop).result()
            except StopAsyncIteration:
                return

    def read_all(self) -> Coroutine[Any, Any, bytes]:
        """Every remaining byte: awaitable in async code, the bytes themselves in a sync handler's thread
        (typed as the awaitable, as the state and stream calls are)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            loop = self._event_loop("use `await reader.read_all()`")
            content: Any = asyncio.run_coroutine_threadsafe(self._read_all(), loop).result()
            return content  # in sync code the bytes themselves
        return self._read_all()

    async def _read_all(self) -> bytes:
        return b"".join([chunk async for chunk in self])

    def _event_loop(self, hint: str) -> asyncio.AbstractEventLoop:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is not None:
                return self._loop
            raise MotiaError("this request body is not attached to a running app") from None
        raise MotiaError(f"a request body cannot be read synchronously on the event loop: {hint}")


class _WriteStream:
    """`writer.stream.write(data)`: queue a chunk (bytes, or str as UTF-8); callable from any thread."""

    def __init__(self, writer: ChannelWriter) -> None:
        self._writer = writer

    def write(self, data: bytes | bytearray | str) -> None:
        self._writer.write(data)


class ChannelWriter:
    """Outgoing bytes (a response body): `write()` any number of times, then `close()`."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self._thread = threading.get_ident()
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed = False
        self._ended = "close() was called"
        self.stream = _WriteStream(self)
        # Called (on the loop) at the first write or close: the HTTP response starts then.
        self.on_start: Callable[[], None] | None = None

    def write(self, data: bytes | bytearray | str) -> None:
        if self.closed:
            raise MotiaError(f"write() after the response ended: {self._ended}")
        if isinstance(data, str):
            data = data.encode()
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"write() takes bytes or str, not {type(data).__name__}")
        self._put(bytes(data))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._put(None)

    def abort(self, reason: str) -> None:
        """End the stream early (the client went away): further writes raise, with `reason`."""
        self._ended = reason
        self.close()

    def _put(self, item: bytes | None) -> None:
        if self._loop is None or threading.get_ident() == self._thread:
            self._deliver(item)
        else:  # a sync handler's thread
            self._loop.call_soon_threadsafe(self._deliver, item)

    def _deliver(self, item: bytes | None) -> None:
        self._queue.put_nowait(item)
        if self.on_start is not None:
            start, self.on_start = self.on_start, None
            start()

    async def drain(self) -> None:
        """Wait until the client has taken most of what was written (back-pressure for fast producers)."""
        while self._queue.qsize() > HIGH_WATER:
            await asyncio.sleep(0.005)

    async def chunks(self) -> AsyncIterator[bytes]:
        """What was written, as the client should receive it, until `close()`."""
        while True:
            chunk = await self._queue.get()
            if chunk is None:
                return
            if chunk:
                yield chunk


class MotiaHttpRequest(Generic[BodyT]):
    """The request part of `MotiaHttpArgs`: `path_params`, `query_params`, `body` (parsed JSON, None without
    one), `headers`, `method`, and `request_body` (a `ChannelReader` over the raw bytes)."""

    __slots__ = ("body", "headers", "method", "path", "path_params", "query_params", "request_body")

    def __init__(self, path_params: Mapping[str, str] | None = None,
                 query_params: Mapping[str, str | list[str]] | None = None, body: BodyT | None = None,
                 headers: Mapping[str, str] | None = None, method: str = "GET",
                 request_body: ChannelReader | None = None, path: str = "") -> None:
        self.path_params = dict(path_params or {})
        self.query_params = dict(query_params or {})
        self.body = body
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.method = method
        self.request_body = request_body if request_body is not None else ChannelReader()
        self.path = path

    # Official code sometimes reads the request like a dict.
    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, _SNAKE.get(key, key), default) if key in _FIELDS else default

    def __getitem__(self, key: str) -> Any:
        if key not in _FIELDS:
            raise KeyError(key)
        return getattr(self, _SNAKE.get(key, key))


_SNAKE = {"pathParams": "path_params", "queryParams": "query_params", "requestBody": "request_body"}
_FIELDS = frozenset({*_SNAKE, *_SNAKE.values(), "body", "headers", "method", "path"})


class MotiaHttpResponse:
    """The response part of `MotiaHttpArgs`, for answering by writing instead of returning:
    `await response.status(200)`, `await response.headers({...})`, `response.writer.stream.write(...)`,
    `response.close()`. The status and headers go out with the first chunk (or at `close()`)."""

    def __init__(self, writer: ChannelWriter | None = None) -> None:
        self.writer = writer if writer is not None else ChannelWriter()
        self.status_code = 200
        self.header_values: dict[str, str] = {}

    def status(self, status_code: int) -> Awaitable[None]:
        if not isinstance(status_code, int) or isinstance(status_code, bool) or not 100 <= status_code <= 599:
            raise ValueError(f"an HTTP status is an int from 100 to 599, not {status_code!r}")
        self.status_code = status_code
        return _DONE

    def headers(self, headers: Mapping[str, str]) -> Awaitable[None]:
        self.header_values.update({str(k): str(v) for k, v in headers.items()})
        return _DONE

    def close(self) -> None:
        self.writer.close()


class MotiaHttpArgs(Generic[BodyT]):
    """What an official-style HTTP handler receives: `args.request` and `args.response`; the request's fields
    (`path_params`, `query_params`, `body`, `headers`, `method`, `request_body`) and `.get(key)` are offered
    on the args too, so `ApiRequest`-style code keeps working."""

    __slots__ = ("request", "response")

    def __init__(self, request: MotiaHttpRequest[BodyT], response: MotiaHttpResponse | None = None) -> None:
        self.request = request
        self.response = response if response is not None else MotiaHttpResponse()

    @property
    def path_params(self) -> dict[str, str]:
        return self.request.path_params

    @property
    def query_params(self) -> dict[str, Any]:
        return self.request.query_params

    @property
    def body(self) -> BodyT | None:
        return self.request.body

    @property
    def headers(self) -> Headers:
        return self.request.headers

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def request_body(self) -> ChannelReader:
        return self.request.request_body

    def get(self, key: str, default: Any = None) -> Any:
        if key in ("request", "response"):
            return getattr(self, key)
        return self.request.get(key, default)


# --- the native form: return a stream -----------------------------------------------------------------------


class StreamingResponse:
    """A response whose body is produced while it is sent: `return StreamingResponse(chunks())` from an `@api`
    handler, `chunks` an async iterator of bytes or str."""

    __slots__ = ("chunks", "headers", "status")

    def __init__(self, chunks: AsyncIterable[bytes | str], *, status: int = 200,
                 headers: Mapping[str, str] | None = None, media_type: str = "application/octet-stream") -> None:
        self.chunks = chunks
        self.status = status
        self.headers = {"content-type": media_type, **dict(headers or {})}

    async def body(self) -> AsyncIterator[bytes]:
        async for chunk in self.chunks:
            yield chunk.encode() if isinstance(chunk, str) else bytes(chunk)


class ServerSentEvent(msgspec.Struct, omit_defaults=True):
    """One SSE event: `data` (str as is, anything else as JSON), optional `event` name, `id` and `retry` (ms)."""

    data: Any
    event: str | None = None
    id: str | None = None
    retry: int | None = None

    def encode(self) -> bytes:
        text = self.data if isinstance(self.data, str) else msgspec.json.encode(self.data).decode()
        lines = [f"event: {self.event}"] if self.event else []
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        lines += [f"data: {line}" for line in text.split("\n")]
        return ("\n".join(lines) + "\n\n").encode()


def sse_frame(data: Any, event: str | None = None, id: str | None = None) -> bytes:
    """The bytes of one server-sent event (for `response.writer.stream.write(...)`)."""
    return ServerSentEvent(data, event, id).encode()


def event_stream(events: AsyncIterable[Any], *, status: int = 200,
                 headers: Mapping[str, str] | None = None) -> StreamingResponse:
    """Server-sent events from an async iterator of `ServerSentEvent`s or plain values (each one `data:`)."""

    async def frames() -> AsyncIterator[bytes]:
        async for event in events:
            yield event.encode() if isinstance(event, ServerSentEvent) else ServerSentEvent(event).encode()

    sse_headers = {"cache-control": "no-cache", "x-accel-buffering": "no", **dict(headers or {})}
    return StreamingResponse(frames(), status=status, headers=sse_headers, media_type="text/event-stream")
