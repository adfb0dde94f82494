"""Streams (docs/protocol.md §3.4, §4.2, §4.4): `stream::*` functions, the `stream`, `stream:join` and
`stream:leave` trigger types, and the WebSocket endpoint browsers subscribe on (port 3112).

A stream is name -> group -> item -> JSON value, kept by a `StreamBackend`: this process's store
(`LocalStreams`) or Redis, shared by every node (`redis/streams.py`). Every change is pushed to the
subscriptions of its group (or item) on this node, handed to `fanout` (Redis: the other nodes push it to
theirs) and fired to this node's stream triggers.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from ..protocol import ErrorBody, StreamError, StreamTriggerConfig, decode_stream_request, new_id
from .clock import Clock
from .credentials import refuse_repeated_on_handshake
from .engine import BuiltinError, Engine, TriggerEntry
from .ops import apply_ops
from .state import Change, encode_value, raw, require_str
from .store import Store
from .tasks import ChangeDelivery, Tasks

log = logging.getLogger("motia.engine.streams")

AUTH_FUNCTION = "motia::stream::authenticate"
MAX_CLIENT_MESSAGE = 64 * 1024
# A socket that is being closed (over a limit) gets this long to take its close frame; then TCP is cut.
CLOSE_TIMEOUT = 2.0
# A client that does not answer a ping within PING_TIMEOUT is gone (closed 1011): its subscriptions end.
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
_encode = msgspec.json.encode
_decode = msgspec.json.decode


class Subscription:
    __slots__ = ("client", "group_id", "item_id", "stream_name", "subscription_id")

    def __init__(self, client: StreamClientConnection, subscription_id: str, stream: str, group: str,
                 item: str | None) -> None:
        self.client = client
        self.subscription_id = subscription_id
        self.stream_name = stream
        self.group_id = group
        self.item_id = item


class StreamLimits(msgspec.Struct, frozen=True):
    """What one stream socket, and the stream port, may hold (`motia run --stream-max-...`)."""

    # Outbound bytes waiting for a client that does not read (a frame on its way counts until it is sent):
    # over it, the socket is closed with 1008. One frame larger than this is still sent when nothing else waits.
    max_queued_bytes: int = 8 * 1024 * 1024
    # Subscriptions on one socket: the join over it closes the socket with 1008.
    max_subscriptions: int = 1000
    # Open stream sockets: one over it is closed with 1013 (try again later) before authentication.
    max_connections: int = 1000


class StreamClientConnection:
    """One browser (or Python client) socket: an outgoing frame queue, bounded in bytes, drained by its own
    writer task."""

    def __init__(self, websocket: Any, context: Any, limits: StreamLimits) -> None:
        self.websocket = websocket
        self.context = context
        self.limits = limits
        self.subscriptions: dict[str, Subscription] = {}
        self.outbox: deque[bytes] = deque()
        self.queued_bytes = 0
        self.closing = False
        self._ready = asyncio.Event()
        self.id = new_id()
        self.writer = asyncio.get_running_loop().create_task(self._write())
        self.closer: asyncio.Task[None] | None = None

    def push(self, frame: bytes) -> None:
        if self.closing:
            return
        if self.queued_bytes and self.queued_bytes + len(frame) > self.limits.max_queued_bytes:
            self.close(1008, "too slow: over the queued-bytes limit")
            log.warning("stream client %s does not read: %d bytes queued, over the %d-byte limit; closing it "
                        "(1008)", self.id, self.queued_bytes + len(frame), self.limits.max_queued_bytes)
            return
        self.queued_bytes += len(frame)
        self.outbox.append(frame)
        self._ready.set()

    def close(self, code: int, reason: str) -> None:
        """Close now: what is queued is dropped (so is its memory), and the close frame is not queued behind it."""
        if self.closing:
            return
        self.closing = True
        self.outbox.clear()
        self.queued_bytes = 0
        self.closer = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        # The writer may be blocked on a peer that does not read: stop it, and cut TCP if the peer will not
        # take the close frame either.
        self.writer.cancel()
        try:
            await asyncio.wait_for(self.websocket.close(code, reason), CLOSE_TIMEOUT)
        except asyncio.TimeoutError:
            self.websocket.transport.abort()

    async def _write(self) -> None:
        while True:
            await self._ready.wait()
            while self.outbox:
                frame = self.outbox[0]
                await self.websocket.send(frame.decode())
                if not self.closing:  # (closing emptied the queue)
                    self.outbox.popleft()
                    self.queued_bytes -= len(frame)
            self._ready.clear()

    async def stop(self) -> None:
        """The socket is gone: stop the writer and let a close in progress finish."""
        self.writer.cancel()
        if self.closer is not None:
            await self.closer


class StreamBackend(ABC):
    """(stream, group) -> item -> JSON bytes."""

    @abstractmethod
    async def get(self, stream: str, group: str, item: str) -> bytes | None: ...

    @abstractmethod
    async def set(self, stream: str, group: str, item: str, value: bytes) -> bytes | None:
        """Store and return the previous value."""

    @abstractmethod
    async def delete(self, stream: str, group: str, item: str) -> bytes | None:
        """Delete and return the previous value."""

    @abstractmethod
    async def update(self, stream: str, group: str, item: str,
                     change: Change) -> tuple[bytes | None, bytes]:
        """Replace the value by `change(old)` atomically: (old, new)."""

    @abstractmethod
    async def items(self, stream: str, group: str) -> list[tuple[str, bytes]]:
        """The items of a group, ordered by item id."""

    @abstractmethod
    async def groups(self, stream: str) -> list[str]: ...

    @abstractmethod
    async def names(self) -> list[str]: ...


class LocalStreams(StreamBackend):
    """Stream items in this process's store (SQLite or memory); a write returns once it is durable."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, stream: str, group: str, item: str) -> bytes | None:
        return self.store.stream_get(stream, group, item)

    async def set(self, stream: str, group: str, item: str, value: bytes) -> bytes | None:
        old = self.store.stream_set(stream, group, item, value)
        await self.store.flush()
        return old

    async def delete(self, stream: str, group: str, item: str) -> bytes | None:
        old = self.store.stream_delete(stream, group, item)
        await self.store.flush()
        return old

    async def update(self, stream: str, group: str, item: str,
                     change: Change) -> tuple[bytes | None, bytes]:
        old = self.store.stream_get(stream, group, item)
        new = change(old)
        self.store.stream_set(stream, group, item, new)
        await self.store.flush()
        return old, new

    async def items(self, stream: str, group: str) -> list[tuple[str, bytes]]:
        return self.store.stream_items(stream, group)

    async def groups(self, stream: str) -> list[str]:
        return self.store.stream_groups(stream)

    async def names(self) -> list[str]:
        return self.store.stream_names()


def _matches(config: StreamTriggerConfig, message: dict[str, Any]) -> bool:
    return (config.stream_name == message["streamName"]
            and config.group_id in (None, "", message["groupId"])
            and config.item_id in (None, "", message["id"]))


# Why a `stream` binding is refused, by the config key at fault.
_REFUSALS = {"stream_name": "stream_name is required for stream triggers"}


class StreamModule:
    def __init__(
        self, engine: Engine, backend: StreamBackend, tasks: Tasks, clock: Clock, limits: StreamLimits | None = None
    ) -> None:
        self.engine = engine
        self.limits = limits or StreamLimits()
        self.connections = 0
        self.backend = backend
        # Each change's frame, for the other nodes (set on Redis; they `push_local` it to their sockets).
        self.fanout: Callable[[bytes], None] | None = None
        self.tasks = tasks
        self.clock = clock
        self.join_triggers: dict[str, TriggerEntry] = {}
        self.leave_triggers: dict[str, TriggerEntry] = {}
        self.subscriptions: dict[tuple[str, str], set[Subscription]] = {}
        self.changes = ChangeDelivery(engine, tasks, "stream", StreamTriggerConfig, _REFUSALS, _matches)
        self._server: Any = None
        self.port: int | None = None
        self.ping_interval = PING_INTERVAL
        self.ping_timeout = PING_TIMEOUT
        # Called with each client's handshake when registered (config.yaml's `iii-stream.auth_function`).
        self.auth_function = AUTH_FUNCTION
        engine.add_trigger_type("stream:join", _Provider(self.join_triggers))
        engine.add_trigger_type("stream:leave", _Provider(self.leave_triggers))
        for name, fn in {
            "stream::get": self.get,
            "stream::set": self.set,
            "stream::delete": self.delete,
            "stream::update": self.update,
            "stream::list": self.list,
            "stream::list_groups": self.list_groups,
            "stream::list_all": self.list_all,
            "stream::send": self.send,
        }.items():
            engine.add_builtin(name, fn)

    # --- changes ------------------------------------------------------------------------------------

    def _change(self, stream: str, group: str, item: str | None, event: dict[str, Any]) -> dict[str, Any]:
        """A change of a group or item: the frame its subscribers get (`StreamFrame`) and the `stream` triggers'
        payload (§3.8)."""
        return {"type": "stream", "timestamp": int(self.clock.now() * 1000), "streamName": stream,
                "groupId": group, "id": item, "event": event}

    def _publish(self, stream: str, group: str, item: str | None, event: dict[str, Any]) -> None:
        message = self._change(stream, group, item, event)
        subscribers = self.subscriptions.get((stream, group))
        if subscribers or self.fanout is not None:
            frame = _encode(message)
            if subscribers:
                self._push(subscribers, item, frame)
            if self.fanout is not None:
                self.fanout(frame)
        if self.changes.bindings:
            self.changes.put(message)

    def push_local(self, stream: str, group: str, item: str | None, frame: bytes) -> None:
        """A change another node made: to this node's sockets subscribed to it (its triggers fired there)."""
        subscribers = self.subscriptions.get((stream, group))
        if subscribers:
            self._push(subscribers, item, frame)

    @staticmethod
    def _push(subscribers: set[Subscription], item: str | None, frame: bytes) -> None:
        for subscription in subscribers:
            if subscription.item_id is None or subscription.item_id == item:
                subscription.client.push(frame)

    def busy(self) -> bool:
        return self.changes.busy()

    async def _delegate(self, op: str, stream: str, data: dict[str, Any]) -> tuple[bool, Any]:
        """A custom stream implementation registered as `stream::<op>(<name>)` takes over (§4.2)."""
        function_id = f"stream::{op}({stream})"
        if function_id not in self.engine.functions:
            return False, None
        payload = {k: v for k, v in data.items() if k != "_caller_worker_id"}
        result = await self.engine.invoke(function_id, payload)
        if result.error is not None:
            raise BuiltinError(result.error.code, result.error.message)
        return True, result.result

    # --- functions ----------------------------------------------------------------------------------

    async def get(self, data: Any) -> Any:
        stream, group, item = require_str(data, "stream_name", "group_id", "item_id")
        delegated, result = await self._delegate("get", stream, data)
        return result if delegated else raw(await self.backend.get(stream, group, item))

    async def set(self, data: Any) -> Any:
        stream, group, item = require_str(data, "stream_name", "group_id", "item_id")
        new = encode_value(data.get("data"))
        delegated, result = await self._delegate("set", stream, data)
        if delegated:
            old_value = result.get("old_value") if isinstance(result, dict) else None
            self._publish(stream, group, item, {"type": "update" if old_value is not None else "create",
                                                "data": msgspec.Raw(new)})
            return result
        old = await self.backend.set(stream, group, item, new)
        self._publish(stream, group, item, {"type": "create" if old is None else "update", "data": msgspec.Raw(new)})
        return {"old_value": raw(old), "new_value": msgspec.Raw(new)}

    async def delete(self, data: Any) -> Any:
        stream, group, item = require_str(data, "stream_name", "group_id", "item_id")
        delegated, result = await self._delegate("delete", stream, data)
        if delegated:
            old_value = result.get("old_value") if isinstance(result, dict) else None
            if old_value is not None:
                self._publish(stream, group, item, {"type": "delete", "data": old_value})
            return result
        old = await self.backend.delete(stream, group, item)
        if old is not None:
            self._publish(stream, group, item, {"type": "delete", "data": msgspec.Raw(old)})
        return {"old_value": raw(old)}

    async def update(self, data: Any) -> Any:
        stream, group, item = require_str(data, "stream_name", "group_id", "item_id")
        ops = data.get("ops")
        if not isinstance(ops, list):
            raise BuiltinError("STREAM_UPDATE_ERROR", "'ops' must be a list of update operations")
        delegated, result = await self._delegate("update", stream, data)
        if delegated:
            return result
        errors: list[dict[str, Any]] = []

        def change(current: bytes | None) -> bytes:
            nonlocal errors  # the errors of the attempt that was stored (Redis may retry a lost race)
            value, errors = apply_ops(_decode(current) if current is not None else None, ops)
            return encode_value(value)

        old, new = await self.backend.update(stream, group, item, change)
        self._publish(stream, group, item, {"type": "create" if old is None else "update", "data": msgspec.Raw(new)})
        response: dict[str, Any] = {"old_value": raw(old), "new_value": msgspec.Raw(new)}
        if errors:
            response["errors"] = errors
        return response

    async def list(self, data: Any) -> Any:
        stream, group = require_str(data, "stream_name", "group_id")
        delegated, result = await self._delegate("list", stream, data)
        return result if delegated else [msgspec.Raw(v) for _, v in await self.backend.items(stream, group)]

    async def list_groups(self, data: Any) -> Any:
        (stream,) = require_str(data, "stream_name")
        delegated, result = await self._delegate("list_groups", stream, data)
        return result if delegated else await self.backend.groups(stream)

    async def list_all(self, data: Any) -> Any:
        streams = [{"id": name, "groups": await self.backend.groups(name)} for name in await self.backend.names()]
        return {"stream": streams, "count": len(streams)}

    async def send(self, data: Any) -> Any:
        stream, group = require_str(data, "stream_name", "group_id")
        event_type = data.get("type")
        if not isinstance(event_type, str) or not event_type:
            raise BuiltinError("INVALID_INPUT", "'type' must be a non-empty string")
        item = data.get("id")
        self._publish(stream, group, item if isinstance(item, str) else None,
                      {"type": "event", "event": {"type": event_type, "data": data.get("data")}})
        return None

    # --- WebSocket endpoint -------------------------------------------------------------------------

    async def serve(self, host: str, port: int) -> None:
        from websockets.asyncio.server import serve

        self._server = await serve(self._client, host, port, max_size=MAX_CLIENT_MESSAGE,
                                   ping_interval=self.ping_interval, ping_timeout=self.ping_timeout,
                                   process_request=refuse_repeated_on_handshake)
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.changes.close()

    async def _client(self, websocket: Any) -> None:
        if self.connections >= self.limits.max_connections:
            log.warning("stream connection refused: %d open, the limit (1013)", self.connections)
            await websocket.close(1013, "too many stream connections; try again later")
            return
        self.connections += 1
        try:
            await self._serve_client(websocket)
        finally:
            self.connections -= 1

    async def _serve_client(self, websocket: Any) -> None:
        context = await self._authenticate(websocket)
        if context is _REFUSED:
            await websocket.close(4401, "unauthorized")
            return
        client = StreamClientConnection(websocket, context, self.limits)
        try:
            async for frame in websocket:
                await self._on_frame(client, frame)
                if client.closing:  # over a limit: what it sends next is not read
                    break
        except Exception as exc:  # a broken socket ends this client only
            log.debug("stream client %s closed: %s", client.id, exc)
        finally:
            for subscription in list(client.subscriptions.values()):
                await self._leave(client, subscription)
            await client.stop()

    async def _authenticate(self, websocket: Any) -> Any:
        if self.auth_function not in self.engine.functions:
            return None
        request = websocket.request
        url = urlsplit(request.path)
        address = websocket.remote_address
        payload = {
            "headers": {k.lower(): v for k, v in request.headers.raw_items()},
            "path": url.path,
            "query_params": parse_qs(url.query),
            "addr": f"{address[0]}:{address[1]}" if address else "",
        }
        result = await self.engine.invoke(self.auth_function, payload)
        if result.error is not None:
            log.error("stream authentication failed: %s", result.error.message)
            return _REFUSED
        value = result.result
        if value is False or (isinstance(value, dict) and value.get("authorized") is False):
            return _REFUSED
        return value.get("context") if isinstance(value, dict) else None

    async def _on_frame(self, client: StreamClientConnection, frame: Any) -> None:
        try:
            request = decode_stream_request(frame if isinstance(frame, (bytes, str)) else b"")
        except msgspec.DecodeError as exc:  # not JSON, or not a join/leave (ValidationError is a DecodeError)
            client.push(_encode(StreamError(ErrorBody("INVALID_MESSAGE", str(exc)))))
            return
        kind, data = request.type, request.data
        subscription_id = str(data.subscription_id)
        if kind == "join":
            item = None if data.id is None else str(data.id)
            await self._join(client, Subscription(client, subscription_id, data.stream_name, data.group_id, item))
        elif kind == "leave":
            subscription = client.subscriptions.get(subscription_id)
            if subscription is not None:
                await self._leave(client, subscription)
        else:
            client.push(_encode(StreamError(ErrorBody("INVALID_MESSAGE", f"unknown message type {kind!r}"))))

    def _hook_payload(self, client: StreamClientConnection, subscription: Subscription) -> dict[str, Any]:
        return {"subscription_id": subscription.subscription_id, "stream_name": subscription.stream_name,
                "group_id": subscription.group_id, "id": subscription.item_id, "context": client.context}

    async def _join(self, client: StreamClientConnection, subscription: Subscription) -> None:
        limit = self.limits.max_subscriptions
        if subscription.subscription_id not in client.subscriptions and len(client.subscriptions) >= limit:
            log.warning("stream client %s: over %d subscriptions; closing it (1008)", client.id, limit)
            client.close(1008, f"too many subscriptions (the limit is {limit})")
            return
        payload = self._hook_payload(client, subscription)
        for trigger in list(self.join_triggers.values()):
            result = await self.engine.fire(trigger, payload)
            refused = result.error is not None or (
                isinstance(result.result, dict) and result.result.get("unauthorized") is True
            )
            if refused:
                client.push(self._frame(subscription, {"type": "unauthorized"}))
                return
        old = client.subscriptions.get(subscription.subscription_id)
        if old is not None:
            self._unindex(old)
        client.subscriptions[subscription.subscription_id] = subscription
        self.subscriptions.setdefault((subscription.stream_name, subscription.group_id), set()).add(subscription)
        if subscription.item_id is None:
            data: Any = [msgspec.Raw(v) for _, v in await self.backend.items(subscription.stream_name,
                                                                            subscription.group_id)]
        else:
            data = raw(await self.backend.get(subscription.stream_name, subscription.group_id, subscription.item_id))
        client.push(self._frame(subscription, {"type": "sync", "data": data}))

    async def _leave(self, client: StreamClientConnection, subscription: Subscription) -> None:
        client.subscriptions.pop(subscription.subscription_id, None)
        self._unindex(subscription)
        payload = self._hook_payload(client, subscription)
        for trigger in list(self.leave_triggers.values()):
            result = await self.engine.fire(trigger, payload)
            if result.error is not None:
                log.error("stream leave hook %s failed: %s", trigger.function_id, result.error.message)

    def _unindex(self, subscription: Subscription) -> None:
        key = (subscription.stream_name, subscription.group_id)
        subscribers = self.subscriptions.get(key)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self.subscriptions[key]

    def _frame(self, subscription: Subscription, event: dict[str, Any]) -> bytes:
        return _encode(self._change(subscription.stream_name, subscription.group_id, subscription.item_id, event))


_REFUSED = object()


class _Provider:
    """`stream:join` and `stream:leave`: the functions asked about every client's subscription (no config)."""

    def __init__(self, triggers: dict[str, TriggerEntry]) -> None:
        self.triggers = triggers

    def register(self, trigger: TriggerEntry) -> str | None:
        self.triggers[trigger.id] = trigger
        return None

    def unregister(self, trigger: TriggerEntry) -> None:
        self.triggers.pop(trigger.id, None)

