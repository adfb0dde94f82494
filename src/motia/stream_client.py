"""A Python client for the stream WebSocket (docs/protocol.md §4.4): subscribe to a group or one item of a
stream and keep its current state while the server pushes changes. When the connection drops (a server
restart), the client reconnects with back-off and jitter, joins every subscription again and takes each one's
state from the `sync` that answers it.

    async with StreamClient("ws://127.0.0.1:3112", token=token) as client:
        inbox = await client.subscribe_group("todos", "inbox", type=Todo)
        print(inbox.state)                      # the group after the initial sync
        async for message in inbox:             # sync, create, update, delete, event
            print(message.type, message.id, inbox.state)
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import msgspec

from ._backoff import ReconnectPolicy
from .errors import MotiaError
from .protocol import ErrorBody, StreamFrame, StreamRequest, StreamSubscribe, decode_stream_frame

log = logging.getLogger("motia.stream_client")

UNAUTHORIZED_CLOSE_CODE = 4401  # what the embedded engine closes a socket with when @stream_auth refuses it


class StreamError(MotiaError):
    """A stream subscription that cannot go on."""


class StreamClosed(StreamError):
    """The connection closed while a subscription was open or being made."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"the stream connection closed (code {code}{': ' + reason if reason else ''})")


class StreamUnauthorized(StreamError):
    """The server refused the connection (its authentication) or a subscription (a join hook; then
    `subscription` is the refused one, marked `refused`)."""

    def __init__(self, message: str, subscription: Subscription | None = None) -> None:
        super().__init__(message)
        self.subscription = subscription


class StreamMessage(msgspec.Struct, frozen=True):
    """One thing the server said about a subscription.

    `type` is `sync` (data: the group's items, or the item or None), `create`/`update` (data: the new item),
    `delete` (data: the removed item) or `event` (a custom event: `name` is its type, `data` its data).
    """

    type: str
    data: Any = None
    name: str | None = None
    stream_name: str = ""
    group_id: str = ""
    id: str | None = None
    timestamp: int = 0


_encode = msgspec.json.encode


class Subscription:
    """A joined group (`item_id` None) or item: its current `state`, and the messages that built it.

    Iterate it (`async for message in subscription`) to receive every message in order; iteration ends
    when the subscription is closed, and raises StreamClosed/StreamUnauthorized if the server ends it.
    """

    def __init__(self, client: StreamClient, stream_name: str, group_id: str, item_id: str | None,
                 item_type: Any, max_buffered: int) -> None:
        self.client = client
        self.subscription_id = uuid.uuid4().hex
        self.stream_name = stream_name
        self.group_id = group_id
        self.item_id = item_id
        self.item_type = item_type
        self.refused = False
        self.closed = False
        # Joined again after a reconnect, its sync not in yet: the next sync is its own, changes wait for it.
        self.resyncing = False
        self.synced: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._items: dict[str, Any] = {}
        self._value: Any = None
        self._buffer: collections.deque[StreamMessage] = collections.deque(maxlen=max_buffered)
        self._dropped = False
        self._arrived = asyncio.Event()
        self._handlers: dict[str, list[Callable[[Any], Any]]] = {}
        self._last_frame: str | bytes | None = None
        self._ended: BaseException | None = None

    # --- state --------------------------------------------------------------------------------------

    @property
    def state(self) -> Any:
        """A group's items (a list, in the order they were first seen), or the item (None when absent)."""
        return list(self._items.values()) if self.item_id is None else self._value

    @property
    def items(self) -> dict[str, Any]:
        """A group's items by their id."""
        return dict(self._items)

    async def wait_for(self, predicate: Callable[[Any], Any], timeout: float | None = 5.0) -> Any:
        """Wait until `predicate(state)` holds and return the state (TimeoutError after `timeout` seconds)."""

        async def satisfied() -> Any:
            while not predicate(self.state):
                if self._ended is not None or self.closed:
                    raise self._ended or StreamError("the subscription is closed")
                self._arrived.clear()
                await self._arrived.wait()
            return self.state

        try:
            return await asyncio.wait_for(satisfied(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"{self!r}: condition not met within {timeout}s; state is {self.state!r}") from None

    # --- messages -----------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[StreamMessage]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[StreamMessage]:
        while True:
            message = await self._next()
            if message is None:
                return
            yield message

    async def next_message(self, timeout: float | None = 5.0) -> StreamMessage:
        """The next message (TimeoutError after `timeout` seconds, StreamError once the subscription ended)."""
        try:
            message = await asyncio.wait_for(self._next(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"{self!r}: no message within {timeout}s") from None
        if message is None:
            raise StreamError("the subscription is closed")
        return message

    async def _next(self) -> StreamMessage | None:
        while not self._buffer:
            if self._ended is not None:
                raise self._ended
            if self.closed:
                return None
            self._arrived.clear()
            await self._arrived.wait()
        return self._buffer.popleft()

    def on_event(self, name: str, handler: Callable[[Any], Any]) -> None:
        """Call `handler(data)` for every custom event of type `name` (`stream.send(..., {"type": name})`).
        It runs on the client's reader: keep it quick (an async handler is run as a task of the client)."""
        self._handlers.setdefault(name, []).append(handler)

    def off_event(self, name: str, handler: Callable[[Any], Any]) -> None:
        handlers = self._handlers.get(name, [])
        if handler in handlers:
            handlers.remove(handler)

    async def close(self) -> None:
        """Leave: the server stops sending and runs the stream's leave hook."""
        if self.closed:
            return
        was_joined = self.synced.done() and not self.refused and self._ended is None
        self._finish(None)
        self.client._forget(self)
        if was_joined and not self.client.closed:
            await self.client._send("leave", self._address())

    # --- internals ----------------------------------------------------------------------------------

    def _address(self) -> StreamSubscribe:
        return StreamSubscribe(self.subscription_id, self.stream_name, self.group_id, self.item_id)

    def _receive(self, frame: StreamFrame, raw: str | bytes) -> None:
        # A server sends one copy of a change per matching subscription of the socket (a group and an
        # item subscription both see an item's change): the copy right after the original is not news.
        if raw == self._last_frame:
            return
        self._last_frame = raw
        assert frame.event is not None
        kind = frame.event.type
        item_id = None if frame.id is None else str(frame.id)
        if kind == "unauthorized":
            self.refused = True
            self._finish(StreamUnauthorized(f"the server refused the subscription to {self._describe()}", self))
            self.client._forget(self)
            return
        name = None
        if kind == "event":
            custom = frame.event.event
            name, data = (custom.type, custom.data) if custom is not None else (None, frame.event.data)
        elif kind == "sync":
            data = self._sync(frame.event.data)
            self.resyncing = False
        elif kind in ("create", "update"):
            data = self._convert(frame.event.data)
            if self.item_id is None:
                self._items[item_id if item_id is not None else _key_of(frame.event.data, len(self._items))] = data
            else:
                self._value = data
        elif kind == "delete":
            data = self._convert(frame.event.data)
            if self.item_id is None:
                self._items.pop(item_id if item_id is not None else _key_of(frame.event.data, -1), None)
            else:
                self._value = None
        else:
            data = frame.event.data
        message = StreamMessage(kind, data, name, frame.stream_name, frame.group_id, item_id, frame.timestamp)
        if len(self._buffer) == self._buffer.maxlen and not self._dropped:
            self._dropped = True
            log.warning("%r: more than %d unread messages; dropping the oldest", self, self._buffer.maxlen)
        self._buffer.append(message)
        self._arrived.set()
        if kind == "sync" and not self.synced.done():
            self.synced.set_result(None)
        if name is not None:
            for handler in list(self._handlers.get(name, ())):
                self.client._run_handler(handler, data)

    def _sync(self, data: Any) -> Any:
        if self.item_id is not None:
            self._value = None if data is None else self._convert(data)
            return self._value
        self._items = {}
        for index, item in enumerate(data if isinstance(data, list) else []):
            self._items[_key_of(item, index)] = self._convert(item)
        return list(self._items.values())

    def _convert(self, data: Any) -> Any:
        if self.item_type is None or data is None:
            return data
        try:
            return msgspec.convert(data, self.item_type)
        except msgspec.ValidationError as exc:
            log.warning("%r: an item does not match %s (%s); kept as JSON", self, self.item_type, exc)
            return data

    def _finish(self, error: BaseException | None) -> None:
        if self.closed:
            return
        self.closed = True
        self._ended = error
        if not self.synced.done():
            if error is not None:
                self.synced.set_exception(error)
                self.synced.exception()  # retrieved here: whoever awaits it gets it too
            else:
                self.synced.cancel()
        self._arrived.set()

    def _describe(self) -> str:
        path = f"{self.stream_name}/{self.group_id}"
        return path if self.item_id is None else f"{path}/{self.item_id}"

    def __repr__(self) -> str:
        return f"Subscription({self._describe()})"


def _key_of(item: Any, index: int) -> str:
    """Group items are keyed by their `id` field (what motia's clients merge on)."""
    key = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
    return str(key) if key is not None else f"#{index}"


class StreamClient:
    """A connection to a stream WebSocket (`ws://host:3112`), shared by any number of subscriptions.

    `headers=` are sent with the handshake; `token=` adds `Authorization: Bearer <token>` (a `@stream_auth`
    function sees both in `input.headers`; apps that read `?authToken=` take it from the URL).

    A connection that drops (other than by `close()` or a refused authentication) is opened again after
    `reconnect_delay` seconds, doubling up to `max_reconnect_delay` (±30 % jitter), until it succeeds or the
    client is closed; every open subscription is joined again and its state replaced by the server's `sync`
    (so changes missed while away are not lost). `reconnect=False` ends the subscriptions with StreamClosed
    instead.
    """

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None, token: str | None = None,
                 open_timeout: float = 10.0, max_size: int | None = 32 * 1024 * 1024,
                 max_buffered: int = 10_000, reconnect: bool = True, reconnect_delay: float = 1.0,
                 max_reconnect_delay: float = 30.0) -> None:
        self.url = url
        self.headers = dict(headers or {})
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        self.open_timeout = open_timeout
        self.max_size = max_size
        self.max_buffered = max_buffered
        self.errors: collections.deque[dict[str, str]] = collections.deque(maxlen=100)
        self.close_code: int | None = None
        self.close_reason = ""
        self._websocket: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._subscriptions: dict[tuple[str, str], list[Subscription]] = {}
        self._by_id: dict[str, Subscription] = {}
        self._handler_tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._ended: BaseException | None = None
        self.reconnect = ReconnectPolicy(initial_delay=reconnect_delay, max_delay=max_reconnect_delay) \
            if reconnect else None
        self.reconnects = 0  # connections opened again after a drop
        self._stop = asyncio.Event()

    async def connect(self) -> StreamClient:
        self._websocket = await self._open()
        self._reader = asyncio.get_running_loop().create_task(self._run(), name=f"stream-client {self.url}")
        return self

    async def _open(self) -> Any:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        try:
            return await connect(self.url, additional_headers=self.headers, open_timeout=self.open_timeout,
                                 max_size=self.max_size)
        except InvalidStatus as exc:
            if exc.response.status_code in (401, 403):
                raise StreamUnauthorized(f"the server refused the connection ({exc.response.status_code})") from None
            raise

    async def close(self) -> None:
        """Close the connection (the server runs the leave hooks of every open subscription)."""
        self._closing = True
        self._stop.set()
        if self._websocket is not None:
            await self._websocket.close()
        if self._reader is not None:
            await self._reader
        for task in list(self._handler_tasks):
            task.cancel()
        if self._handler_tasks:
            await asyncio.gather(*self._handler_tasks, return_exceptions=True)

    async def __aenter__(self) -> StreamClient:
        return await self.connect()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._reader is None or self._reader.done()

    async def wait_closed(self, timeout: float | None = 5.0) -> None:
        """Wait until the connection is closed (by either side)."""
        if self._reader is not None:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)

    async def subscribe_group(self, stream_name: str, group_id: str, *, type: Any = None,
                              timeout: float | None = 10.0) -> Subscription:
        """Join a whole group; returns once the initial sync arrived (`state` is then the group's items).

        `type=Todo` converts items into Todo. Raises StreamUnauthorized if the server refuses."""
        return await self._subscribe(stream_name, group_id, None, type, timeout)

    async def subscribe_item(self, stream_name: str, group_id: str, item_id: str, *, type: Any = None,
                             timeout: float | None = 10.0) -> Subscription:
        """Join one item; returns once the initial sync arrived (`state` is the item, or None)."""
        return await self._subscribe(stream_name, group_id, item_id, type, timeout)

    async def _subscribe(self, stream_name: str, group_id: str, item_id: str | None, item_type: Any,
                         timeout: float | None) -> Subscription:
        if self._reader is None:
            raise StreamError("the client is not connected: use `async with StreamClient(url)` or `await connect()`")
        if self.closed:
            raise self._ended or StreamClosed(self.close_code, self.close_reason)
        subscription = Subscription(self, stream_name, group_id, item_id, item_type, self.max_buffered)
        self._subscriptions.setdefault((stream_name, group_id), []).append(subscription)
        self._by_id[subscription.subscription_id] = subscription
        try:
            await self._send("join", subscription._address())
            await asyncio.wait_for(asyncio.shield(subscription.synced), timeout)
        except asyncio.TimeoutError:
            await subscription.close()
            raise TimeoutError(f"no answer to the join of {subscription!r} within {timeout}s") from None
        except BaseException:
            subscription._finish(None)
            self._forget(subscription)
            raise
        return subscription

    async def _send(self, kind: str, data: StreamSubscribe) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self._websocket.send(_encode(StreamRequest(kind, data)).decode())
        except ConnectionClosed:
            if self.reconnect is not None and not self._closing:
                return  # a join is sent again on the next connection; a left subscription is not
            await self.wait_closed(None)
            raise self._ended or StreamClosed(self.close_code, self.close_reason) from None

    def _forget(self, subscription: Subscription) -> None:
        self._by_id.pop(subscription.subscription_id, None)
        key = (subscription.stream_name, subscription.group_id)
        group = self._subscriptions.get(key)
        if group is not None and subscription in group:
            group.remove(subscription)
            if not group:
                del self._subscriptions[key]

    def _run_handler(self, handler: Callable[[Any], Any], data: Any) -> None:
        try:
            result = handler(data)
        except Exception:
            log.exception("stream event handler %r failed", handler)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._handler_tasks.add(task)
            task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Task[Any]) -> None:
        self._handler_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("stream event handler failed", exc_info=task.exception())

    async def _run(self) -> None:
        """Read the connection; when it drops, open it again (back-off) and join every subscription again."""
        attempt = 0
        try:
            while True:
                websocket = self._websocket
                if await self._read(websocket):
                    attempt = 0  # it worked for a while: a new drop starts the back-off afresh
                self.close_code = websocket.close_code
                self.close_reason = websocket.close_reason or ""
                if self._closing or self.reconnect is None or self.close_code == UNAUTHORIZED_CLOSE_CODE:
                    return
                log.warning("stream connection to %s closed (code %s); reconnecting", self.url, self.close_code)
                for subscription in self._by_id.values():
                    subscription.resyncing = True
                while True:
                    if await self._pause(self.reconnect.delay(attempt)):
                        return
                    attempt += 1
                    try:
                        self._websocket = await self._open()
                        break
                    except StreamUnauthorized as exc:
                        self._ended = exc
                        return
                    except Exception as exc:  # refused, timed out, a 503 handshake...: try again later
                        log.debug("stream client: reconnecting to %s failed: %s", self.url, exc)
                if self._closing:  # closed while connecting
                    await self._websocket.close()
                    return
                self.reconnects += 1
                log.info("stream connection to %s open again; joining %d subscriptions", self.url, len(self._by_id))
                for subscription in list(self._by_id.values()):
                    subscription._last_frame = None
                    await self._send("join", subscription._address())
        finally:
            if self.close_code == UNAUTHORIZED_CLOSE_CODE:
                self._ended = StreamUnauthorized(f"the server refused the connection: {self.close_reason}")
            elif not self._closing and self._ended is None:
                self._ended = StreamClosed(self.close_code, self.close_reason)
            for subscription in list(self._by_id.values()):
                subscription._finish(self._ended)
            self._subscriptions.clear()
            self._by_id.clear()

    async def _pause(self, seconds: float) -> bool:
        """Sleep `seconds`; True as soon as the client is closed."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except asyncio.TimeoutError:
            return False
        return True

    async def _read(self, websocket: Any) -> bool:
        """Dispatch every frame until the connection closes; whether any came."""
        from websockets.exceptions import ConnectionClosed

        received = False
        try:
            async for raw in websocket:
                received = True
                try:
                    self._dispatch(raw)
                except Exception:  # one bad frame must not end the connection
                    log.exception("stream client: cannot handle a frame")
        except ConnectionClosed:
            pass
        return received

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            frame = decode_stream_frame(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("stream client: ignoring a frame that is not a stream message: %s", exc)
            return
        if frame.type == "error":
            error = frame.error or ErrorBody("", "")
            self.errors.append({"code": error.code, "message": error.message})
            log.warning("stream server reported an error: %s: %s", error.code, error.message)
            return
        if frame.type != "stream" or frame.event is None:
            return
        for subscription in self._targets(frame):
            subscription._receive(frame, raw)

    def _targets(self, frame: StreamFrame) -> list[Subscription]:
        assert frame.event is not None
        if frame.subscription_id is not None:
            addressed = self._by_id.get(frame.subscription_id)
            return [addressed] if addressed is not None else []
        candidates = self._subscriptions.get((frame.stream_name, frame.group_id), [])
        item_id = None if frame.id is None else str(frame.id)
        if frame.event.type in ("sync", "unauthorized"):
            # The answer to a join: joins are answered in order, so it is the oldest one still waiting.
            waiting = (s for s in candidates if (not s.synced.done() or s.resyncing) and s.item_id == item_id)
            first = next(waiting, None)
            return [first] if first is not None else []
        return [s for s in candidates
                if s.synced.done() and not s.resyncing and (s.item_id is None or s.item_id == item_id)]
