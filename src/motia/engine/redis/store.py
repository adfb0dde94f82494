"""`RedisStore`: the one connection a node keeps to the shared Redis, and the engine parts built on it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ...protocol import new_id
from . import keys
from .bus import RedisBus
from .connection import check_url, connect, readers, redact
from .cron_lock import RedisTickLock
from .hashes import RedisHashes
from .state import RedisState
from .streams import RedisStreams

if TYPE_CHECKING:
    from ..clock import Clock
    from ..cron import CronModule
    from ..engine import Engine
    from ..pubsub import PubSubModule
    from ..queues import Queues
    from ..streams import StreamModule
    from ..tasks import Tasks

class RedisStore:
    """Where a node keeps what it shares with the others. Construction checks the URL and that the server
    answers (RedisUnavailable otherwise); commands run on the asyncio client of the engine's loop."""

    def __init__(self, url: str) -> None:
        self.url = check_url(url)
        self.client: Any = connect(url)
        self.readers: Any = readers(url)  # the queue's blocking reads, apart from everything else
        self.node_id = new_id()  # tells this node's own pub/sub messages from the others'
        hashes = RedisHashes(self.client, url)
        self.state = RedisState(hashes)
        self.streams = RedisStreams(hashes)
        self.bus = RedisBus(self.client, url, self.node_id)

    def share(self, streams: StreamModule, pubsub: PubSubModule, cron: CronModule) -> None:
        """Tie this node's modules to the other nodes': stream changes and `publish` go to them through the
        bus (and theirs come here), and cron ticks are claimed in Redis."""

        def stream_change(frame: bytes) -> None:
            route = _decode_route(frame)
            streams.push_local(route.streamName, route.groupId, route.id, frame)

        def published(body: bytes) -> None:
            message = _decode_published(body)
            pubsub.deliver(message.topic, msgspec.json.decode(message.data))

        streams.fanout = lambda frame: self.bus.send(keys.STREAM_EVENTS, frame)
        self.bus.on(keys.STREAM_EVENTS, stream_change)
        pubsub.fanout = lambda topic, data: self.bus.send(
            keys.PUBSUB_EVENTS, msgspec.json.encode(Published(topic, msgspec.Raw(msgspec.json.encode(data)))))
        self.bus.on(keys.PUBSUB_EVENTS, published)
        cron.lock = RedisTickLock(self.client, self.url)

    async def start(self, tasks: Tasks) -> None:
        await self.bus.start(tasks)

    def describe(self) -> str:
        return f"Redis at {redact(self.url)}"

    def queue_module(self, engine: Engine, tasks: Tasks, clock: Clock) -> Queues:
        """The durable queue on Redis Streams (`redis/queues.py`)."""
        from .queues import RedisQueueModule

        return RedisQueueModule(engine, self.client, tasks, clock, url=redact(self.url), readers=self.readers)

    async def flush(self) -> None:
        """Nothing to do: a command Redis answered is as durable as its AOF settings make it."""

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.readers.aclose()


class Published(msgspec.Struct, array_like=True):
    """A `publish` another node made (its subscribers there already have it)."""

    topic: str
    data: msgspec.Raw


class _Route(msgspec.Struct):
    """Where a stream change frame goes (the frame's other fields are passed on as they are)."""

    streamName: str
    groupId: str
    id: str | None = None


_decode_route = msgspec.json.Decoder(_Route).decode
_decode_published = msgspec.json.Decoder(Published).decode
