"""What one node tells the others through Redis pub/sub: stream changes (for their stream sockets) and
`publish` messages (for their `subscribe` triggers).

Pub/sub is at most once: a node that is not connected when a message is published does not get it (its stream
clients are re-synced by joining again). Messages go out in the order they were sent, from one task; the
listener reconnects by itself, backing off, and logs when Redis is lost and when it is back. Its connection is
the first to notice Redis going away: it then drops the client's idle connections too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import msgspec

from ..._backoff import ReconnectPolicy
from ..tasks import Tasks
from .connection import redact

log = logging.getLogger("motia.engine.redis")

# Messages waiting for Redis; over this (Redis slow or gone) new ones are dropped, as pub/sub would.
MAX_WAITING = 10_000
RECONNECT = ReconnectPolicy(initial_delay=0.2, max_delay=5.0)


class Envelope(msgspec.Struct, array_like=True):
    """One message on a channel: the node that sent it (which ignores its own) and the body."""

    node: str
    body: msgspec.Raw


_encode = msgspec.json.encode
_decode_envelope = msgspec.json.Decoder(Envelope).decode


class RedisBus:
    def __init__(self, client: Any, url: str, node_id: str) -> None:
        self.client = client
        self.url = url
        self.node_id = node_id
        self.handlers: dict[str, Callable[[bytes], None]] = {}
        self._outbox: asyncio.Queue[tuple[str, bytes]] | None = None
        self.connected = asyncio.Event()  # the listener is subscribed (tests and start-up wait for it)

    def on(self, channel: str, handler: Callable[[bytes], None]) -> None:
        """Hand the body of every message another node sends on `channel` to `handler`."""
        self.handlers[channel] = handler

    def send(self, channel: str, body: bytes) -> None:
        """To every other node, soon (never blocks the caller)."""
        if self._outbox is None:
            return  # not started (or stopped): there is nobody to tell yet
        if self._outbox.qsize() >= MAX_WAITING:
            log.warning("Redis at %s is not taking messages: a message on %s is dropped", redact(self.url), channel)
            return
        self._outbox.put_nowait((channel, _encode(Envelope(self.node_id, msgspec.Raw(body)))))

    async def start(self, tasks: Tasks) -> None:
        """Start sending and listening; returns once subscribed (or after a few seconds without Redis)."""
        self._outbox = asyncio.Queue()
        tasks.spawn(self._send(self._outbox), name="redis-bus-send")
        tasks.spawn(self._listen(), name="redis-bus-listen")
        try:
            await asyncio.wait_for(self.connected.wait(), 5)
        except asyncio.TimeoutError:
            log.warning("not subscribed to Redis at %s yet; still trying", redact(self.url))

    async def _send(self, outbox: asyncio.Queue[tuple[str, bytes]]) -> None:
        import redis

        failing = False
        while True:
            channel, message = await outbox.get()
            try:
                await self.client.publish(channel, message)
                failing = False
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                if not failing:
                    log.warning("cannot publish to Redis at %s (%s): other nodes miss changes until it is back",
                                redact(self.url), type(exc).__name__)
                failing = True

    async def _listen(self) -> None:
        import redis

        attempt = 0
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*self.handlers)
                if attempt:
                    log.info("subscribed to Redis at %s again", redact(self.url))
                attempt = 0
                self.connected.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._dispatch(message)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self.connected.clear()
                if not attempt:
                    log.warning("lost Redis at %s (%s): reconnecting", redact(self.url), type(exc).__name__)
                    # The idle pooled connections died with it (the client does not retry, see connection.py):
                    # dropped now, the first commands after Redis returns open new ones instead of failing.
                    await self.client.connection_pool.disconnect(inuse_connections=False)
                await asyncio.sleep(RECONNECT.delay(attempt))
                attempt += 1
            finally:
                await pubsub.aclose()

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
        handler = self.handlers.get(channel)
        if handler is None:
            return
        try:
            envelope = _decode_envelope(message["data"])
        except msgspec.DecodeError:
            log.warning("a message on %s that is not motia's is ignored", channel)
            return
        if envelope.node != self.node_id:
            handler(bytes(envelope.body))
