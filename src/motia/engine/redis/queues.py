"""Durable topic queues on Redis Streams (docs/protocol.md §3.6, §5): `QueueModule`'s surface and semantics,
shared by every engine node that points at the same Redis.

Each (topic, function) subscription is one stream read by one consumer group; every node reading it is a
consumer of that group, so nodes compete for messages while each subscribing function gets its own copy
(fan-out per function). An entry is acknowledged and deleted when its delivery finishes; a node that dies
leaves its entries pending, and another node claims them once they sat idle for the visibility timeout
(XAUTOCLAIM). Retries and `delaySeconds` wait in a sorted set scored by due time, moved back to the stream
when due. Dead letters are a hash per topic, read by `motia dlq` on any node. A FIFO subscription keeps one
list per message group and exactly one token per non-empty group in the stream or the sorted set: whoever
holds the token delivers the group's head, so one message per group is in flight across all nodes, in
publish order.

Keys (docs/deployment.md): everything of a topic shares the hash tag `{topic}` so that a publish, an ack or
a retry is one atomic script on one Redis Cluster slot; no command spans two topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..._backoff import ReconnectPolicy
from ..clock import Clock
from ..engine import CALL_TRACEPARENT, BuiltinError, Engine, TriggerEntry
from ..queues import AWAY_RETENTION, ERROR_HISTORY, AttemptError, Binding, QueueFront, QueueSettings, SubscriptionCount
from ..store import QueuedMessage
from ..tasks import Tasks
from .batch import MAX_ITEMS, Deferred, ScriptBatch
from .connection import answering
from .held import HeldConnection
from .keys import PREFIX as ROOT
from .keys import tag

log = logging.getLogger("motia.engine.queues")

PREFIX = f"{ROOT}:q:"
TOPICS_KEY = PREFIX + "topics"  # every topic that ever had a subscription (for `motia dlq` and list_topics)
GROUP = "motia"  # the consumer group of each (topic, function) stream: one function per stream
# A subscription no node has refreshed for this long counts as away (nodes refresh every SEEN_INTERVAL).
SEEN_INTERVAL = 10.0
CONNECTED_WINDOW = 3 * SEEN_INTERVAL
# Redis gone: how the readers and the acks wait for it to come back.
OUTAGE_BACKOFF = ReconnectPolicy(initial_delay=0.05, max_delay=2.0)
READ_BLOCK = 250  # ms a read waits for new entries (a retry coming due sooner shortens it)
# Prefetch: a read takes, beyond the free delivery slots, as many entries as the subscription's handlers get
# through in PREFETCH_WINDOW seconds at the pace they have shown (none until a first delivery finished, none
# for handlers slower than the window), at most READ_MAX in all. Each read and each ack is a round trip; a
# read of only the free slots makes a fast subscription pay one of each per `concurrency` messages. The
# window keeps a taken entry waiting here far below the visibility timeout (one that still waited half of it
# is left for the visibility timeout to hand out again), and a node from sitting on work another could do.
PREFETCH_WINDOW = 0.1
READ_MAX = 256
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class Message(msgspec.Struct, array_like=True):
    """A message as it sits in a stream entry, a delayed-set member or a FIFO group list."""

    id: int
    data: msgspec.Raw
    enqueued_at: float
    group: str | None = None
    traceparent: str | None = None
    attempts: int = 0
    error: str | None = None


class DeadLetter(msgspec.Struct, kw_only=True):
    """A message that ran out of retries (or whose subscription was forgotten), in the topic's dead hash."""

    id: int
    function_id: str
    topic: str
    data: msgspec.Raw
    attempts: int
    error: str | None
    failed_at: float
    enqueued_at: float
    group: str | None = None
    traceparent: str | None = None


_message_decoder = msgspec.json.Decoder(Message)
_dead_decoder = msgspec.json.Decoder(DeadLetter)
_settings_decoder = msgspec.json.Decoder(QueueSettings)
_encode = msgspec.json.encode


def topic_prefix(topic: str) -> str:
    """`motia:q:{topic}:`: the hash tag puts every key of a topic on one Redis Cluster slot."""
    return f"{PREFIX}{tag(topic)}:"


def message_id() -> int:
    """Unique across nodes without a round trip: milliseconds since 2026 and 22 random bits (63 bits)."""
    return (int(time.time() * 1000) - 1_767_225_600_000) << 22 | random.getrandbits(22)


# --- the scripts: each touches the keys of one topic only --------------------------------------------------

# Stream entries and delayed members are 'm' + a Message (standard), 'h' + a Message (held for the local
# delivery of the node that published it: `Local`) or 'g' + a group name (a FIFO token).
# FIFO list items are '<due> <Message>'. `ga:<fid>` holds the groups that have their one token out.
_ENQUEUE_LUA = """
local function enqueue(prefix, fid, fifo, delay, now, msg, group)
  if fifo then
    local gkey = prefix .. 'g:' .. #fid .. ':' .. fid .. ':' .. group
    redis.call('RPUSH', gkey, string.format('%.6f', now + delay) .. ' ' .. msg)
    if redis.call('HSETNX', prefix .. 'ga:' .. fid, group, '1') == 1 then
      if delay > 0 then redis.call('ZADD', prefix .. 'd:' .. fid, now + delay, 'g' .. group)
      else redis.call('XADD', prefix .. 's:' .. fid, '*', 'e', 'g' .. group) end
    end
  elseif delay > 0 then redis.call('ZADD', prefix .. 'd:' .. fid, now + delay, 'm' .. msg)
  else redis.call('XADD', prefix .. 's:' .. fid, '*', 'e', 'm' .. msg) end
end
local function settings(prefix, fid)
  local raw = redis.call('HGET', prefix .. 'subs', fid)
  if not raw then return false, 0 end
  local cfg = cjson.decode(raw)
  return cfg['type'] == 'fifo', tonumber(cfg['delaySeconds'] or 0)
end
"""

# The publishes to one topic of one loop turn (`batch.py` merges them). KEYS: subs, seen. ARGV: prefix,
# retention, then (message, group, now, here) per message, `here` naming the function the publishing node
# delivers the message to itself (`Local`): '' for none; 'S' .. fid when that delivery succeeded before the
# publish went out (nothing to store for it); 'H' .. due .. ' ' .. #fid .. ' ' .. fid .. member while it may
# not have (held in the delayed set until due: the node removes it when the delivery ends; should the node
# die first, it comes due and another node delivers it). -> {subscribers reached, expired fid...}
PUBLISH = _ENQUEUE_LUA + """
local function local_fid(here)
  local kind = string.sub(here, 1, 1)
  if kind == 'S' then return string.sub(here, 2) end
  if kind ~= 'H' then return nil end
  local a = string.find(here, ' ', 2, true)
  local b = string.find(here, ' ', a + 1, true)
  local n = tonumber(string.sub(here, a + 1, b - 1))
  return string.sub(here, b + 1, b + n), tonumber(string.sub(here, 2, a - 1)), string.sub(here, b + n + 1)
end
local prefix, retention = ARGV[1], tonumber(ARGV[2])
local last = tonumber(ARGV[#ARGV - 1])
local subs = redis.call('HKEYS', KEYS[1])
local result = {0}
for _, fid in ipairs(subs) do
  local seen = tonumber(redis.call('HGET', KEYS[2], fid) or last)
  if last - seen > retention then table.insert(result, fid)
  else
    local fifo, delay = settings(prefix, fid)
    for i = 3, #ARGV, 4 do
      local here, due, member = local_fid(ARGV[i + 3])
      if here ~= fid then enqueue(prefix, fid, fifo, delay, tonumber(ARGV[i + 2]), ARGV[i], ARGV[i + 1])
      elseif member then redis.call('ZADD', prefix .. 'd:' .. fid, due, member) end
    end
    result[1] = result[1] + 1
  end
end
return result
"""

# One function through a named queue (the `enqueue` action) or a redriven dead letter.
# KEYS: dead. ARGV: prefix, fid, message, group, now, dead id ('' = none). -> 1 when enqueued.
ENQUEUE_ONE = _ENQUEUE_LUA + """
local prefix, fid, msg, group, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if ARGV[6] ~= '' and redis.call('HDEL', KEYS[1], ARGV[6]) == 0 then return 0 end
local fifo = settings(prefix, fid)
enqueue(prefix, fid, fifo, 0, now, msg, group)
return 1
"""

# Standard deliveries that succeeded, of one stream in one loop turn (`_acknowledge` gathers them): acknowledged
# and deleted at once. KEYS: stream. ARGV: entry ids.
ACK = """
redis.call('XACK', KEYS[1], 'motia', unpack(ARGV))
redis.call('XDEL', KEYS[1], unpack(ARGV))
return 1
"""

# A standard delivery failed. KEYS: stream, delayed, dead. ARGV: entry id, outcome ('retry'|'dead'),
# due, member or dead id, dead record.
FINISH = """
redis.call('XACK', KEYS[1], 'motia', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
if ARGV[2] == 'retry' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
elseif ARGV[2] == 'dead' then redis.call('HSET', KEYS[3], ARGV[4], ARGV[5]) end
return 1
"""

# The failed delivery of a message held for its local delivery (`Local`): the held copy goes; the message is
# retried (or made due at once: given back) or dead-lettered. Unless the held copy is gone already: it came due
# (the delivery outlasted the visibility timeout) and another delivery has it. KEYS: delayed, dead. ARGV: held
# member, outcome ('retry'|'dead'), due, member or dead id, dead record.
FINISH_HELD = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] == 'retry' then redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
elseif ARGV[2] == 'dead' then redis.call('HSET', KEYS[2], ARGV[4], ARGV[5]) end
return 1
"""

# The held copies of local deliveries that succeeded after their publish went out. KEYS: delayed. ARGV: members.
UNHOLD = """
redis.call('ZREM', KEYS[1], unpack(ARGV))
return 1
"""

# A FIFO token's turn ended. KEYS: stream, delayed, dead, group list, active groups. ARGV: entry id, outcome
# ('next'|'dead'|'retry'|'wait'), group, due, head item (retry) or dead id, dead record.
FINISH_GROUP = """
redis.call('XACK', KEYS[1], 'motia', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
local outcome, group = ARGV[2], ARGV[3]
if outcome == 'retry' or outcome == 'wait' then
  if outcome == 'retry' then redis.call('LSET', KEYS[4], 0, ARGV[5]) end
  redis.call('ZADD', KEYS[2], ARGV[4], 'g' .. group)
  return 1
end
redis.call('LPOP', KEYS[4])
if outcome == 'dead' then redis.call('HSET', KEYS[3], ARGV[5], ARGV[6]) end
if redis.call('LLEN', KEYS[4]) > 0 then redis.call('XADD', KEYS[1], '*', 'e', 'g' .. group)
else redis.call('HDEL', KEYS[5], group) end
return 1
"""

# Move what is due from the delayed set to the stream. KEYS: delayed, stream. ARGV: now.
# -> the score of the next member still waiting, or false.
PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 256)
for _, member in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'e', member)
  redis.call('ZREM', KEYS[1], member)
end
local next = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return next[2] or false
"""


class Keys:
    """The keys of one (topic, function) subscription."""

    __slots__ = ("active", "dead", "delayed", "prefix", "seen", "stream", "subs")

    def __init__(self, topic: str, function_id: str) -> None:
        self.prefix = topic_prefix(topic)
        self.subs = self.prefix + "subs"
        self.seen = self.prefix + "seen"
        self.dead = self.prefix + "dead"
        self.stream = f"{self.prefix}s:{function_id}"
        self.delayed = f"{self.prefix}d:{function_id}"
        self.active = f"{self.prefix}ga:{function_id}"

    def group_list(self, function_id: str, group: str) -> str:
        # The function id's length keeps `a:b` + `c` apart from `a` + `b:c`.
        return f"{self.prefix}g:{len(function_id)}:{function_id}:{group}"


class Local(Deferred):
    """A message this node publishes and gives at once to a free worker of its own of one subscribing function
    (a standard queue without delay): the Redis analogue of the SQLite store's group commit, which never
    writes a message delivered and acknowledged before its publish was committed. When the publish goes out
    (`render`, the item `here` of PUBLISH), a delivery that has succeeded is not stored for that function at
    all; one that has not is stored held: in the delayed set, due after the visibility timeout, removed when
    the delivery ends (a failure makes it the retry), so that another node delivers it should this one die.
    A worker that cannot take it any more (stopping) gives it back: written as any message if the publish has
    not gone out, else made due at once."""

    __slots__ = ("abandoned", "due", "held", "lane", "message", "publish", "rendered", "succeeded")

    def __init__(self, lane: Lane, message: Message, due: float) -> None:
        self.lane = lane
        self.message = message
        self.due = due  # of the held copy
        self.succeeded = False
        self.abandoned = False
        self.rendered = False
        self.held: bytes | None = None  # the delayed-set member of the held copy, once the publish went out
        self.publish: asyncio.Future[Any] | None = None  # the publish's reply

    def render(self) -> bytes:
        self.rendered = True
        if self.abandoned:
            return b""
        function_id = self.lane.subscriber.function_id.encode()
        if self.succeeded:
            return b"S" + function_id
        self.held = b"h" + _encode(msgspec.structs.replace(self.message, attempts=1, error=None))
        return b"H%r %d %s%s" % (self.due, len(function_id), function_id, self.held)


class Ready:
    """The entries read from Redis that wait for a worker (lane, entry id, entry, when read), oldest first, and
    the messages this node published for its own workers (lane, None, `Local`, when published); a worker
    waiting for one is handed the next directly."""

    def __init__(self) -> None:
        self.items: deque[Item] = deque()
        self._waiters: deque[asyncio.Future[Item]] = deque()

    def __len__(self) -> int:
        return len(self.items)

    def put(self, item: Item) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        self.items.append(item)

    async def get(self) -> Item:
        if self.items:
            return self.items.popleft()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed an entry as the worker was cancelled
                self.items.appendleft(waiter.result())
            raise

    def take(self, lane: Lane) -> list[Item]:
        """Remove the lane's items."""
        taken = [item for item in self.items if item[0] is lane]
        if taken:
            self.items = deque(item for item in self.items if item[0] is not lane)
        return taken


# (lane, stream entry id, entry, when read) or (lane, None, Local, when published)
Item = tuple["Lane", "bytes | None", "bytes | Local", float]


class Subscriber(Binding):
    """The deliveries of one function on this node: `concurrency` workers taking the entries its lanes read
    (over all its topics), some read ahead of a free worker."""

    def __init__(self, function_id: str, settings: QueueSettings) -> None:
        super().__init__(function_id, settings)
        self.lanes: dict[str, Lane] = {}
        self.ready = Ready()
        self.reading = 0  # room reserved by the reads in flight
        self.room_made = asyncio.Event()  # a worker took an entry or finished one
        self.workers: list[asyncio.Task[None]] = []
        self.busy_workers: set[asyncio.Task[None]] = set()
        self.pace = 0.0  # seconds a delivery takes, a moving average (0: none finished yet)
        self.window = min(PREFETCH_WINDOW, settings.visibility_timeout / 10)

    def takes_local(self) -> bool:
        """Whether a message published here may go to these workers (`Local`): fewer are running and waiting
        than `concurrency` (items handed to a waiting worker in this loop turn do not count yet, so up to
        twice `concurrency` may be taken in one turn; those past the free workers wait here, held in Redis,
        as read-ahead entries do)."""
        return len(self.busy_workers) + len(self.ready) < self.settings.concurrency

    def room(self) -> int:
        """How many entries a read may take now: the free workers plus the read-ahead the pace allows."""
        ahead = 0
        if self.pace > 0:
            ahead = int(self.settings.concurrency * self.window / self.pace)
        free = self.settings.concurrency - len(self.busy_workers)
        return min(free + ahead, READ_MAX) - len(self.ready) - self.reading

    def timed(self, seconds: float) -> None:
        self.pace = seconds if self.pace == 0 else self.pace * 0.9 + seconds * 0.1


class Lane:
    """This node's reader of one (topic, function) stream."""

    def __init__(self, topic: str, subscriber: Subscriber, *, remembered: bool = True) -> None:
        self.topic = topic
        self.subscriber = subscriber
        # A topic subscription (publish finds it in Redis) or a named queue of the `enqueue` action (it does not).
        self.remembered = remembered
        self.keys = Keys(topic, subscriber.function_id)
        self.task: asyncio.Task[None] | None = None
        # Cleared to stop: the reader ends after its current read (a blocking read cancelled half-way would
        # leave what it took pending until the visibility timeout).
        self.reading = True
        self.next_due = 0.0  # when the delayed set may next hold something due (0: look now)
        self.next_claim = 0.0
        self.next_seen = 0.0
        # Entry ids taken here and not settled yet (read ahead, delivered, or being acknowledged): not to be
        # claimed from us.
        self.handling: set[bytes] = set()


class RedisQueueModule(QueueFront):
    """`QueueModule` with its messages in Redis: construct it with the engine core and a `redis.asyncio`
    client (bytes responses) that this module does not close; `readers`, when given, is the client of the
    blocking reads (`connection.readers`), so that they hold none of `client`'s connections."""

    def __init__(self, engine: Engine, client: aioredis.Redis, tasks: Tasks, clock: Clock, *,
                 url: str = "redis", node: str | None = None, readers: aioredis.Redis | None = None) -> None:
        self.engine = engine
        # redis-py's replies are typed as unions of every RESP shape: read them as what these commands return.
        self.client: Any = client
        self.readers: Any = readers or client
        self.tasks = tasks
        self.clock = clock
        self.url = url  # named in errors
        self.consumer = node or f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"
        self.subscribers: dict[str, Subscriber] = {}
        self.queue_settings: dict[str, QueueSettings] = {}
        self.away_retention: float = AWAY_RETENTION
        self.accepting = True
        self.delivered = 0
        self.failed = 0
        self.attempt_errors: dict[int, list[AttemptError]] = {}  # message id -> failed attempts made here
        self._topic_keys: dict[str, Keys] = {}  # the keys a publish to each topic uses
        self._local_lanes: dict[str, list[Lane]] = {}  # topic -> this node's lanes that may take its publishes
        self._heard: dict[str, bool] = {}  # topic -> did the last publish reach a subscription
        self._unheard_logged: set[str] = set()
        # Subscriptions being written to Redis: a publish from this node waits for them, so that an emit
        # right after the steps registered reaches them.
        self._subscribing: set[asyncio.Task[bool]] = set()
        # Entries delivered in this loop turn, to acknowledge; held copies of local deliveries, to remove.
        self._unacked: dict[tuple[Lane, bool], list[bytes]] = {}
        self._acking: set[asyncio.Task[None]] = set()  # acks tried again after a failed round trip
        self._batch = ScriptBatch(client, tasks)
        self._publish = client.register_script(PUBLISH)
        self._ack = client.register_script(ACK)
        self._enqueue_one = client.register_script(ENQUEUE_ONE)
        self._finish = client.register_script(FINISH)
        self._finish_group = client.register_script(FINISH_GROUP)
        self._finish_held = client.register_script(FINISH_HELD)
        self._unhold = client.register_script(UNHOLD)
        self._promote = client.register_script(PROMOTE)
        self._install(engine)

    # --- trigger type -------------------------------------------------------------------------------

    def register(self, trigger: TriggerEntry) -> str | None:
        bound = self.bind(self.subscribers, Subscriber, trigger)
        if isinstance(bound, str):
            return bound
        topic, subscriber = bound[:2]
        if topic not in subscriber.lanes:
            self._open(subscriber.lanes.setdefault(topic, Lane(topic, subscriber)))
        return None

    def _open(self, lane: Lane) -> None:
        """Write the subscription to Redis, then read its stream (the subscriber's workers start with its first
        lane)."""
        subscriber = lane.subscriber
        self._local_lanes.clear()
        if not subscriber.workers:
            subscriber.workers = [self.tasks.spawn(self._work(subscriber), name=f"queue:{subscriber.function_id}:{n}")
                                  for n in range(subscriber.settings.concurrency)]
        subscribing = self.tasks.spawn(self._first_subscribe(lane), name=f"queue:subscribe:{lane.topic}")
        self._subscribing.add(subscribing)
        subscribing.add_done_callback(self._subscribing.discard)
        lane.task = self.tasks.spawn(self._read(lane, subscribing),
                                     name=f"queue:{lane.subscriber.function_id}:{lane.topic}")

    def unregister(self, trigger: TriggerEntry) -> None:
        subscriber = self.subscribers.get(trigger.function_id)
        if subscriber is None:
            return
        topic = self.unbind(subscriber.trigger_ids, subscriber.topic_triggers, trigger)
        lane = subscriber.lanes.pop(topic, None) if topic is not None else None
        self._local_lanes.clear()
        if lane is not None:  # the subscription stays in Redis (away); this node stops reading it
            lane.reading = False  # the reader marks the subscription away as it ends
            subscriber.room_made.set()  # a reader waiting for room sees it
        if not subscriber.trigger_ids:
            del self.subscribers[subscriber.function_id]
            for lane in subscriber.lanes.values():
                lane.reading = False
            for worker in subscriber.workers:  # a busy one ends after its delivery
                if worker not in subscriber.busy_workers:
                    worker.cancel()

    async def _mark_away(self, keys: Keys, function_id: str) -> None:
        # Backdated so that it counts as away at once unless another node still refreshes it.
        with _quiet_outage():
            await self.client.hset(keys.seen, function_id, str(self.clock.now() - CONNECTED_WINDOW))

    async def _first_subscribe(self, lane: Lane) -> bool:
        """Whether the subscription is written (else the reader tries again, backing off while Redis is away)."""
        try:
            await self._subscribe(lane)
        except (*UNREACHABLE, RedisError) as exc:
            log.warning("subscribing %s to %s in Redis failed (%s): trying again", lane.subscriber.function_id,
                        lane.topic, exc)
            return False
        return True

    async def _subscribe(self, lane: Lane) -> None:
        """Remember the subscription in Redis (refreshed every SEEN_INTERVAL: the node holds it) and make
        sure the stream and its consumer group exist (from the first entry: what waited while away)."""
        subscriber, keys = lane.subscriber, lane.keys
        async with self.client.pipeline(transaction=False) as pipe:
            if lane.remembered:
                pipe.hset(keys.subs, subscriber.function_id, _encode(subscriber.settings))
                pipe.hset(keys.seen, subscriber.function_id, repr(self.clock.now()))
            pipe.sadd(TOPICS_KEY, lane.topic)  # where `motia dlq` looks for dead letters
            await pipe.execute()
        try:
            await self.client.xgroup_create(keys.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # --- remembered subscriptions ------------------------------------------------------------------

    def forget_away(self) -> None:
        """Forget the subscriptions no node has held lately (an engine whose only worker is in-process calls
        this once its steps are registered: what it did not subscribe is a removed step, unless another node
        still runs it)."""
        self.tasks.spawn(self._forget_away(), name="queue:forget-away")

    async def _forget_away(self) -> None:
        now = self.clock.now()
        with _quiet_outage():
            for topic in sorted(await self._topics()):
                keys = Keys(topic, "")
                seen = await self.client.hgetall(keys.seen)
                for fid in await self.client.hkeys(keys.subs):
                    function_id = _str(fid)
                    held = function_id in self.subscribers and topic in self.subscribers[function_id].lanes
                    last = float(seen.get(fid, 0))
                    if not held and now - last > CONNECTED_WINDOW:
                        await self._forget(topic, function_id, now, "its step is gone")

    async def _forget(self, topic: str, function_id: str, now: float, why: str) -> None:
        """Drop a subscription; what waited for it becomes dead letters."""
        keys = Keys(topic, function_id)
        await self.client.hdel(keys.subs, function_id)
        await self.client.hdel(keys.seen, function_id)
        waiting: list[Message] = []
        for _, fields in await self.client.xrange(keys.stream):
            entry = fields.get(b"e", b"")
            if entry[:1] in (b"m", b"h"):
                waiting.append(_message_decoder.decode(entry[1:]))
        for member in await self.client.zrange(keys.delayed, 0, -1):
            if member[:1] in (b"m", b"h"):
                waiting.append(_message_decoder.decode(member[1:]))
        for group in await self.client.hkeys(keys.active):
            for item in await self.client.lrange(keys.group_list(function_id, _str(group)), 0, -1):
                waiting.append(_message_decoder.decode(item.split(b" ", 1)[1]))
        async with self.client.pipeline(transaction=True) as pipe:
            for message in waiting:
                message.error = f"subscriber_gone: {why}"
                pipe.hset(keys.dead, str(message.id), _encode(_dead(message, function_id, topic, now)))
            for group in await self.client.hkeys(keys.active):
                pipe.delete(keys.group_list(function_id, _str(group)))
            pipe.delete(keys.stream, keys.delayed, keys.active)
            await pipe.execute()
        log.warning("forgot the subscription of %s to %s (%s); %d waiting messages are now dead letters",
                    function_id, topic, why, len(waiting))

    def unheard(self, topic: str) -> str | None:
        """Why a message published to `topic` reached no one (as far as this node's last publish saw)."""
        if self._heard.get(topic, True):
            return None
        return f"no function subscribes to topic {topic!r}: the message is dropped"

    # --- publishing ---------------------------------------------------------------------------------

    async def publish(self, data: Any) -> Any:
        topic = self.topic_of(data)
        try:
            payload = _encode(data.get("data"))
        except (TypeError, msgspec.EncodeError) as exc:
            raise BuiltinError("serialization_error", f"data is not JSON-serialisable: {exc}") from None
        group = data.get("messageGroupId", data.get("message_group_id"))
        now = self.clock.now()
        message = Message(message_id(), msgspec.Raw(payload), now, None if group is None else str(group),
                          CALL_TRACEPARENT.get() or data.get("traceparent"))
        keys = self._topic_keys.get(topic)
        if keys is None:
            if len(self._topic_keys) >= 1024:  # topics named by data: keep the cache bounded
                self._topic_keys.clear()
            keys = self._topic_keys[topic] = Keys(topic, "")
        if self._subscribing:
            await asyncio.wait(set(self._subscribing))
        local = self._local(topic, message, now)
        published = self._batch.call(self._publish, [keys.subs, keys.seen], [keys.prefix, repr(self.away_retention)],
                                     (_encode(message), message.group or "", repr(now), local or ""),
                                     deferred=local is not None)
        if local is not None:
            local.publish = published
            local.lane.subscriber.ready.put((local.lane, None, local, now))
        with answering(self.url):
            reached, *expired = await published
        self._heard[topic] = bool(reached)
        if not reached and not expired and topic not in self._unheard_logged:
            self._unheard_logged.add(topic)
            log.warning("%s (logged once per topic)", self.unheard(topic))
        for function_id in expired:
            await self._forget(topic, _str(function_id), now, f"away for more than {self.away_retention:g}s")
        return None

    def _local(self, topic: str, message: Message, now: float) -> Local | None:
        """A `Local` delivery of the message when the workers of a function subscribed here (a standard queue
        without delay) may take it (`Subscriber.takes_local`)."""
        if not self.accepting or message.group is not None or not self._batch.ready():
            return None  # (with Redis away, the publish is refused: a delivery here would surprise its caller)
        lanes = self._local_lanes.get(topic)
        if lanes is None:
            lanes = self._local_lanes[topic] = [
                s.lanes[topic] for s in self.subscribers.values()
                if topic in s.lanes and s.lanes[topic].remembered and not s.fifo and not s.settings.delay_seconds
            ]
        for lane in lanes:
            if lane.reading and lane.subscriber.takes_local():
                return Local(lane, message, now + lane.subscriber.settings.visibility_timeout)
        return None

    async def enqueue(self, queue: str, function_id: str, data: Any, traceparent: str | None) -> str:
        """The `enqueue` action: a durable call of one function through the named queue (its stream)."""
        payload, subscriber, _ = self.enqueue_to(self.subscribers, Subscriber, queue, function_id, data)
        if queue not in subscriber.lanes:
            self._open(subscriber.lanes.setdefault(queue, Lane(queue, subscriber, remembered=False)))
        now = self.clock.now()
        message = Message(message_id(), msgspec.Raw(payload), now, None, traceparent)
        keys = Keys(queue, function_id)
        with answering(self.url):
            await self._enqueue_one(keys=[keys.dead],
                                    args=[keys.prefix, function_id, _encode(message), "", repr(now), ""])
        return str(message.id)

    # --- delivering ---------------------------------------------------------------------------------

    async def _read(self, lane: Lane, subscribing: asyncio.Task[bool]) -> None:
        """Read the lane's stream for as long as the subscription is held here; Redis trouble backs off."""
        subscriber, keys = lane.subscriber, lane.keys
        await asyncio.wait([subscribing])
        subscribed = not subscribing.cancelled() and subscribing.result()  # else: again, below
        reads = HeldConnection(self.readers.connection_pool)  # this lane's blocking reads, one at a time
        try:
            await self._read_while_held(lane, reads, subscribed)
        finally:
            await reads.release()
        ids: list[bytes] = []
        for _, entry_id, entry, _ in lane.subscriber.ready.take(lane):  # not started: given back
            if isinstance(entry, Local):
                self._give_back(entry)  # published here for this lane
            elif entry_id is not None:
                ids.append(entry_id)  # read ahead: another node (or the next start) delivers them
        if ids:
            await self._hand_back(lane, ids)
        if not lane.reading and lane.remembered:  # unsubscribed here (not a shutdown, which leaves it held)
            await self._mark_away(keys, subscriber.function_id)

    async def _read_while_held(self, lane: Lane, reads: HeldConnection, subscribed: bool) -> None:
        subscriber, keys = lane.subscriber, lane.keys
        outage = 0
        while self.accepting and lane.reading:
            try:
                if not subscribed:
                    await self._subscribe(lane)
                    subscribed = True
                await self._maintain(lane)
                while (count := subscriber.room()) <= 0 and self.accepting and lane.reading:
                    subscriber.room_made.clear()
                    await subscriber.room_made.wait()
                if not (self.accepting and lane.reading):
                    break
                subscriber.reading += count  # reserved before the await: the function's other lanes see it
                try:
                    block = max(10, min(READ_BLOCK, int((lane.next_due - self.clock.now()) * 1000)))
                    [reply] = await reads.round_trip([("XREADGROUP", "GROUP", GROUP, self.consumer, "COUNT", count,
                                                       "BLOCK", block, "STREAMS", keys.stream, ">")])
                finally:
                    subscriber.reading -= count
                if isinstance(reply, ResponseError):
                    raise reply
                # {stream: [[id, [field, value, ...]], ...]} (RESP3), [[stream, [...]]] (RESP2) or nil.
                now = self.clock.now()
                for _, entries in reply.items() if isinstance(reply, dict) else reply or ():
                    for entry_id, fields in entries:
                        lane.handling.add(entry_id)
                        subscriber.ready.put((lane, entry_id, fields[1] if fields and fields[0] == b"e" else b"", now))
                if outage:
                    log.warning("Redis at %s is back: deliveries of %s resume", self.url, subscriber.function_id)
                    outage = 0
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):  # the stream is gone (Redis lost its data): create it again
                    log.error("reading %s for %s failed: %s", lane.topic, subscriber.function_id, exc)
                subscribed = False
                await asyncio.sleep(OUTAGE_BACKOFF.delay(outage))
                outage += 1
            except (*UNREACHABLE, RedisError) as exc:
                if not outage:
                    log.warning("Redis at %s is unreachable (%s): deliveries of %s wait for it",
                                self.url, exc, subscriber.function_id)
                await asyncio.sleep(OUTAGE_BACKOFF.delay(outage))
                outage += 1

    async def _maintain(self, lane: Lane) -> None:
        """Move due retries and delays to the stream, claim what a dead or slow node left pending, and tell
        the other nodes this one still holds the subscription."""
        now = self.clock.now()
        subscriber, keys = lane.subscriber, lane.keys
        if now >= lane.next_due:
            following = await self._promote(keys=[keys.delayed, keys.stream], args=[repr(now)])
            lane.next_due = min(float(following), now + 1.0) if following else now + 1.0
        if now >= lane.next_claim:
            visibility = subscriber.settings.visibility_timeout
            lane.next_claim = now + min(1.0, visibility / 2)
            reply = await self.client.xautoclaim(keys.stream, GROUP, self.consumer, int(visibility * 1000),
                                                 "0-0", count=max(1, subscriber.room()))
            claimed = 0
            for entry_id, fields in reply[1]:
                if fields and entry_id not in lane.handling:
                    claimed += 1
                    lane.handling.add(entry_id)
                    subscriber.ready.put((lane, entry_id, fields.get(b"e", b""), now))
            if claimed:
                log.warning("%d messages on %s to %s were taken and not finished (a node died, or ran past the "
                            "%ss visibility timeout, or stopped with them read ahead): delivering them", claimed,
                            lane.topic, subscriber.function_id, visibility)
        if lane.remembered and now >= lane.next_seen:
            lane.next_seen = now + SEEN_INTERVAL
            await self.client.hset(keys.seen, subscriber.function_id, repr(now))

    async def _work(self, subscriber: Subscriber) -> None:
        """One of the subscriber's `concurrency` workers: deliver the entries its lanes read, one at a time."""
        worker = asyncio.current_task()
        assert worker is not None
        ready, visibility = subscriber.ready, subscriber.settings.visibility_timeout
        while self.accepting and self.subscribers.get(subscriber.function_id) is subscriber:
            lane, entry_id, entry, read_at = await ready.get()
            subscriber.room_made.set()
            delivery: Coroutine[Any, Any, None]
            if isinstance(entry, Local):
                if not self.accepting or not lane.reading:
                    self._give_back(entry)
                    continue
                delivery = self._handle_local(lane, entry)
            else:
                assert entry_id is not None
                if not self.accepting or not lane.reading or read_at < self.clock.now() - visibility / 2:
                    # Stopping, or unsubscribed here, or read ahead so long ago that the visibility timeout may
                    # hand it out again soon (a delivery now could overlap that one): give it back.
                    self.tasks.spawn(self._hand_back(lane, [entry_id]), name="queue:hand-back")
                    continue
                delivery = self._handle(lane, entry_id, entry)
            subscriber.busy_workers.add(worker)
            try:
                await delivery
            except Exception:  # a bug here must not take the worker with it: the message is delivered again
                shown = f"message {entry.message.id}" if isinstance(entry, Local) else f"entry {_str(entry_id)}"
                log.exception("delivering %s on %s to %s failed", shown, lane.topic, subscriber.function_id)
                if entry_id is not None:
                    lane.handling.discard(entry_id)
            finally:
                subscriber.busy_workers.discard(worker)
                subscriber.room_made.set()

    async def _hand_back(self, lane: Lane, entry_ids: list[bytes]) -> None:
        """Entries read ahead that this node will not deliver (its reader stopped, or they waited too long) go
        back at once: marked idle for the visibility timeout, the next claim of any node takes them (the
        retry count stays). If that fails, the visibility timeout hands them out in time all the same."""
        visibility = int(lane.subscriber.settings.visibility_timeout * 1000)
        with _quiet_outage():
            try:
                await self.client.execute_command("XCLAIM", lane.keys.stream, GROUP, self.consumer, 0, *entry_ids,
                                                  "IDLE", visibility, "JUSTID")
            except ResponseError as exc:  # the stream is gone (Redis lost its data): nothing to give back
                log.debug("handing back %d entries of %s failed: %s", len(entry_ids), lane.topic, exc)
        for entry_id in entry_ids:
            lane.handling.discard(entry_id)

    async def _handle(self, lane: Lane, entry_id: bytes, entry: bytes) -> None:
        """Deliver one entry and record its outcome. A success is acknowledged in the background (the worker
        goes on with the next entry; the entry stays ours in `handling` until the ack is in Redis)."""
        kind, body = entry[:1], entry[1:]
        if kind == b"g":
            try:
                await self._handle_group(lane, entry_id, body.decode())
            finally:
                lane.handling.discard(entry_id)
            return
        message = _message_decoder.decode(body)
        error = await self._deliver(lane, message)
        if error is None:
            self.attempt_errors.pop(message.id, None)
            self._acknowledge(lane, entry_id)
            return
        keys = lane.keys
        try:
            await self._settle_failure(lane, message, error, self._finish, [keys.stream, keys.delayed, keys.dead],
                                       entry_id)
        finally:
            lane.handling.discard(entry_id)

    def _acknowledge(self, lane: Lane, entry_id: bytes, *, held: bool = False) -> None:
        """Acknowledge (and delete) a delivered entry, or remove the held copy of a local delivery (`held`),
        with the others of this loop turn: one script call per lane, one future per call (not per entry)."""
        ids = self._unacked.get((lane, held))
        if ids is None:
            if not self._unacked:
                asyncio.get_running_loop().call_soon(self._send_acks)
            ids = self._unacked[lane, held] = []
        ids.append(entry_id)

    def _send_acks(self) -> None:
        unacked, self._unacked = self._unacked, {}
        for (lane, held), ids in unacked.items():
            script, keys = self._ack_script(lane, held)
            for start in range(0, len(ids), MAX_ITEMS):
                chunk = ids[start:start + MAX_ITEMS]
                self._batch.call(script, keys, chunk).add_done_callback(
                    functools.partial(self._acked, lane, held, chunk))

    def _ack_script(self, lane: Lane, held: bool) -> tuple[Any, list[str]]:
        """The script and keys that acknowledge the lane's entries, or remove its held copies (`held`)."""
        return (self._unhold, [lane.keys.delayed]) if held else (self._ack, [lane.keys.stream])

    def _acked(self, lane: Lane, held: bool, ids: list[bytes], ack: asyncio.Future[Any]) -> None:
        """An ack's round trip ended: done, or (Redis away) tried again until it is recorded."""
        if ack.cancelled() or ack.exception() is None:
            if not held:
                lane.handling.difference_update(ids)
            return
        retry = self.tasks.spawn(self._ack_again(lane, held, ids, ack.exception()), name="queue:ack")
        self._acking.add(retry)
        retry.add_done_callback(self._acking.discard)

    async def _ack_again(self, lane: Lane, held: bool, ids: list[bytes], error: BaseException | None) -> None:
        try:
            if isinstance(error, UNREACHABLE) and self.accepting:
                await self._settle(*self._ack_script(lane, held), ids)
            else:  # left pending (or held): the visibility timeout delivers them again
                log.error("acknowledging %d messages on %s failed: %s", len(ids), lane.topic, error)
        finally:
            if not held:
                lane.handling.difference_update(ids)

    async def _handle_local(self, lane: Lane, local: Local) -> None:
        """Deliver a message this node published (`Local`) and record its outcome."""
        message = local.message
        error = await self._deliver(lane, message)
        if error is None:
            if not local.rendered:
                local.succeeded = True  # its publish stores nothing for this function
            elif local.held is not None:
                self._acknowledge(lane, local.held, held=True)
            return
        if local.publish is not None and not local.publish.done():
            await asyncio.wait([local.publish])  # the held copy is in Redis once the publish is
        if local.held is None:  # the publish failed before it went out: its caller was told, nothing is stored
            return
        keys = lane.keys
        await self._settle_failure(lane, message, error, self._finish_held, [keys.delayed, keys.dead], local.held)

    def _give_back(self, local: Local) -> None:
        """A local delivery this node will not make (stopping, or unsubscribed): the message is stored as any
        other if its publish has not gone out yet, else its held copy comes due at once."""
        if not local.rendered:
            local.abandoned = True
        elif local.held is not None:
            keys = local.lane.keys
            self._batch.call(self._finish_held, [keys.delayed, keys.dead],
                             [local.held, "retry", repr(self.clock.now()), local.held])

    async def _settle_failure(self, lane: Lane, message: Message, error: str, script: Any, keys: list[str],
                              taken: bytes) -> None:
        """A delivery failed: retry later or, out of retries, dead-letter. `script` (FINISH or FINISH_HELD) with
        `keys` ends the way the message was taken: `taken` is its stream entry id, or its held copy."""
        settings = lane.subscriber.settings
        message.error = error
        now = self.clock.now()
        self._failed(message, now)
        if message.attempts - 1 >= settings.max_retries:
            dead = _encode(_dead(message, lane.subscriber.function_id, lane.topic, now))
            await self._settle(script, keys, [taken, "dead", "0", str(message.id), dead])
            return
        due = now + settings.backoff(message.attempts)
        await self._settle(script, keys, [taken, "retry", repr(due), b"m" + _encode(message)])
        lane.next_due = min(lane.next_due, due)

    async def _handle_group(self, lane: Lane, entry_id: bytes, group: str) -> None:
        """This node holds the group's one token: deliver the group's head, then pass the token on."""
        function_id, settings, keys = lane.subscriber.function_id, lane.subscriber.settings, lane.keys
        group_list = keys.group_list(function_id, group)
        finish_keys = [keys.stream, keys.delayed, keys.dead, group_list, keys.active]
        head = await self._retrying(lambda: self.client.lindex(group_list, 0))
        if head is None:  # emptied by a redrive or a discard
            await self._settle(self._finish_group, finish_keys, [entry_id, "next", group])
            return
        due_text, body = head.split(b" ", 1)
        now = self.clock.now()
        if float(due_text) > now:  # delaySeconds of a message behind the previous head
            await self._settle(self._finish_group, finish_keys, [entry_id, "wait", group, due_text.decode()])
            lane.next_due = min(lane.next_due, float(due_text))
            return
        message = _message_decoder.decode(body)
        error = await self._deliver(lane, message)
        if error is None:
            self.attempt_errors.pop(message.id, None)
            await self._settle(self._finish_group, finish_keys, [entry_id, "next", group])
            return
        message.error = error
        now = self.clock.now()
        self._failed(message, now)
        if message.attempts - 1 >= settings.max_retries:
            dead = _encode(_dead(message, function_id, lane.topic, now))
            await self._settle(self._finish_group, finish_keys, [entry_id, "dead", group, "0", str(message.id), dead])
            return
        due = now + settings.backoff(message.attempts)
        await self._settle(self._finish_group, finish_keys,
                           [entry_id, "retry", group, repr(due), due_text + b" " + _encode(message)])
        lane.next_due = min(lane.next_due, due)

    def _failed(self, message: Message, now: float) -> None:
        """Remember a failed attempt for the console: the attempts this node made (nodes share the last error only)."""
        history = self.attempt_errors.setdefault(message.id, [])
        history.append(AttemptError(attempt=message.attempts, at=now, error=message.error or ""))
        del history[:-ERROR_HISTORY]

    async def _deliver(self, lane: Lane, message: Message) -> str | None:
        """One attempt; the error text when it failed."""
        message.attempts += 1
        subscriber = lane.subscriber
        started = time.perf_counter()
        try:
            async with self.clock.deadline(subscriber.settings.visibility_timeout):
                result = await self.engine.invoke(subscriber.function_id, message.data,
                                                  traceparent=message.traceparent)
        except TimeoutError:
            self.failed += 1
            return "visibility_timeout: no result within the visibility timeout"
        finally:
            subscriber.timed(time.perf_counter() - started)
        if result.error is None:
            self.delivered += 1
            return None
        self.failed += 1
        error = f"{result.error.code}: {result.error.message}"
        retries_left = subscriber.settings.max_retries - (message.attempts - 1)
        if retries_left > 0:
            log.warning("delivery %d of message %s on %s to %s failed (%s); retrying",
                        message.attempts, message.id, lane.topic, subscriber.function_id, error)
        else:
            log.error("message %s on %s to %s dead-lettered after %d attempts: %s",
                      message.id, lane.topic, subscriber.function_id, message.attempts, error)
        return error

    async def _settle(self, script: Any, keys: list[str], args: list[Any], items: tuple[Any, ...] = ()) -> None:
        """Record a delivery's outcome, waiting out a Redis outage: the entry stays pending until it is
        recorded (another node reclaims it after the visibility timeout if this one stops first)."""
        await self._retrying(lambda: self._batch.call(script, keys, args, items))

    async def _retrying(self, call: Any) -> Any:
        attempt = 0
        while True:
            try:
                return await call()
            except UNREACHABLE:
                if not self.accepting:
                    raise
                await asyncio.sleep(OUTAGE_BACKOFF.delay(attempt))
                attempt += 1

    # --- idleness and shutdown ----------------------------------------------------------------------

    def busy(self, *, count_waiting: bool = True) -> bool:
        """Deliveries running on this node (what waits in Redis is the business of every node)."""
        return any(s.busy_workers or s.ready for s in self.subscribers.values())

    async def wait_idle(self) -> None:
        """Return when nothing this node reads waits in Redis or runs here (retries and delays included)."""
        while True:
            if not self.busy() and not await self._waiting():
                await asyncio.sleep(0.02)  # an entry being settled between two reads
                if not self.busy() and not await self._waiting():
                    return
            await asyncio.sleep(0.01)

    async def _waiting(self) -> int:
        lanes = [lane for s in self.subscribers.values() for lane in s.lanes.values()]
        async with self.client.pipeline(transaction=False) as pipe:
            for lane in lanes:
                pipe.xlen(lane.keys.stream)
                pipe.zcard(lane.keys.delayed)
            counts = await pipe.execute()
        return sum(counts)

    async def stop(self, timeout: float) -> None:
        """Read no more; give deliveries in flight `timeout` seconds, then cancel them (their entries stay
        pending, and the visibility timeout hands them to another node or to the next start)."""
        self.accepting = False
        for subscriber in self.subscribers.values():
            subscriber.room_made.set()  # a reader waiting for room sees it
        readers = {lane.task for s in self.subscribers.values() for lane in s.lanes.values() if lane.task}
        if readers:  # each ends after its current read (at most READ_BLOCK), delivering what it took
            _, late = await asyncio.wait(readers, timeout=timeout)
            for reader in late:
                reader.cancel()
        await self.finish_workers(self.subscribers.values(), timeout)
        # The acks of the deliveries that finished: recorded before the store closes (else each is delivered
        # again after the visibility timeout).
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._settled(), timeout)
        await self._batch.close()

    async def _settled(self) -> None:
        if self._unacked:
            self._send_acks()
        await self._batch.drain()
        if self._acking:
            await asyncio.wait(set(self._acking))

    # --- dead letters -------------------------------------------------------------------------------

    async def _topics(self) -> list[str]:
        return sorted(_str(t) for t in await self.client.smembers(TOPICS_KEY))

    async def _dead_letters(self, function_id: Any = None, topic: Any = None) -> list[DeadLetter]:
        topics = [topic] if isinstance(topic, str) else await self._topics()
        letters = []
        for name in topics:
            for raw in (await self.client.hgetall(topic_prefix(name) + "dead")).values():
                letter = _dead_decoder.decode(raw)
                if function_id is None or letter.function_id == function_id:
                    letters.append(letter)
        return sorted(letters, key=lambda letter: (letter.failed_at, letter.id))

    async def dlq_list(self, data: Any) -> Any:
        data = data if isinstance(data, dict) else {}
        with answering(self.url):
            letters = await self._dead_letters(data.get("function_id"), data.get("topic"))
        return [
            {"id": m.id, "function_id": m.function_id, "topic": m.topic, "data": m.data, "attempts": m.attempts,
             "error": m.error, "failed_at": m.failed_at, "enqueued_at": m.enqueued_at}
            for m in letters
        ]

    async def dlq_redrive(self, data: Any) -> Any:
        data = data if isinstance(data, dict) else {}
        ids = self.redrive_ids(data)
        with answering(self.url):
            letters = await self._dead_letters(data.get("function_id"), data.get("topic"))
            if ids is not None:
                letters = [m for m in letters if m.id in set(ids)]
            redriven = 0
            now = self.clock.now()
            for letter in letters:
                keys = Keys(letter.topic, letter.function_id)
                message = Message(letter.id, letter.data, letter.enqueued_at, letter.group, letter.traceparent)
                redriven += await self._enqueue_one(
                    keys=[keys.dead],
                    args=[keys.prefix, letter.function_id, _encode(message), letter.group or "", repr(now),
                          str(letter.id)],
                )
        return {"redriven": redriven}

    async def dlq_discard(self, data: Any) -> Any:
        message_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(message_id, int):
            raise BuiltinError("discard_failed", "'id' must be a message id")
        with answering(self.url):
            discarded = False
            for topic in await self._topics():
                if await self.client.hdel(topic_prefix(topic) + "dead", str(message_id)):
                    discarded = True
                    self.attempt_errors.pop(message_id, None)
                    break
        return {"discarded": discarded}

    async def subscription_counts(self) -> list[SubscriptionCount]:
        """Every remembered subscription of every node, topics in order, functions in order within each."""
        now = self.clock.now()
        rows = []
        with answering(self.url):
            dead: dict[tuple[str, str], int] = {}
            for letter in await self._dead_letters():
                dead[letter.topic, letter.function_id] = dead.get((letter.topic, letter.function_id), 0) + 1
            for topic in await self._topics():
                keys = Keys(topic, "")
                seen = await self.client.hgetall(keys.seen)
                for fid in sorted(_str(f) for f in await self.client.hkeys(keys.subs)):
                    held = fid in self.subscribers and topic in self.subscribers[fid].lanes
                    rows.append(SubscriptionCount(
                        topic=topic, function_id=fid, pending=await self._pending(Keys(topic, fid), fid),
                        dead=dead.get((topic, fid), 0),
                        connected=held or now - float(seen.get(fid.encode(), 0)) <= CONNECTED_WINDOW,
                    ))
        return rows

    def in_flight(self, function_id: str) -> int:
        """The function's deliveries running on this node now (over all its topics)."""
        subscriber = self.subscribers.get(function_id)
        return len(subscriber.busy_workers) if subscriber is not None else 0

    def attempt_history(self, message_id: int) -> list[AttemptError]:
        """The failed attempts of a message that this node made (another node's are not shared)."""
        return list(self.attempt_errors.get(message_id, []))

    async def messages(self, topic: str, function_id: str) -> tuple[list[QueuedMessage], list[QueuedMessage]]:
        """The pending messages (in the stream, waiting in the delayed set, or in the FIFO group lists) and the
        dead letters of one subscription, as every node sees them, oldest first. A message being delivered stays in
        the stream until it is acknowledged: it is listed (and counted) as pending, where SQLite counts it in flight
        only."""
        keys = Keys(topic, function_id)
        pending: list[QueuedMessage] = []
        with answering(self.url):
            groups = [_str(g) for g in await self.client.hkeys(keys.active)]
            if groups:  # FIFO: the group lists hold the messages, the stream and the set only tokens
                for group in groups:
                    for item in await self.client.lrange(keys.group_list(function_id, group), 0, -1):
                        due, body = item.split(b" ", 1)
                        pending.append(_queued(_message_decoder.decode(body), function_id, topic, float(due)))
            else:
                for _, fields in await self.client.xrange(keys.stream):
                    entry = fields.get(b"e", b"")
                    if entry[:1] in (b"m", b"h"):
                        message = _message_decoder.decode(entry[1:])
                        pending.append(_queued(message, function_id, topic, message.enqueued_at))
                for member, due in await self.client.zrange(keys.delayed, 0, -1, withscores=True):
                    if member[:1] == b"m":
                        pending.append(_queued(_message_decoder.decode(member[1:]), function_id, topic, due))
                    elif member[:1] == b"h":  # being delivered by the node that published it (`Local`)
                        message = _message_decoder.decode(member[1:])
                        pending.append(_queued(message, function_id, topic, message.enqueued_at))
            dead = [
                QueuedMessage(letter.id, function_id, topic, bytes(letter.data), group_id=letter.group,
                              attempts=letter.attempts, available_at=letter.failed_at,
                              traceparent=letter.traceparent, enqueued_at=letter.enqueued_at, error=letter.error,
                              failed_at=letter.failed_at)
                for letter in await self._dead_letters(function_id, topic)
            ]
        return sorted(pending, key=lambda m: m.id), dead

    async def _pending(self, keys: Keys, function_id: str) -> int:
        groups = [_str(g) for g in await self.client.hkeys(keys.active)]
        if groups:  # FIFO: the group lists hold the messages, the stream and the set only tokens
            return sum([await self.client.llen(keys.group_list(function_id, g)) for g in groups])
        return int(await self.client.xlen(keys.stream)) + int(await self.client.zcard(keys.delayed))


def _dead(message: Message, function_id: str, topic: str, failed_at: float) -> DeadLetter:
    return DeadLetter(id=message.id, function_id=function_id, topic=topic, data=message.data,
                      attempts=message.attempts, error=message.error, failed_at=failed_at,
                      enqueued_at=message.enqueued_at, group=message.group, traceparent=message.traceparent)


def _queued(message: Message, function_id: str, topic: str, available_at: float) -> QueuedMessage:
    return QueuedMessage(message.id, function_id, topic, bytes(message.data), group_id=message.group,
                         attempts=message.attempts, available_at=available_at, traceparent=message.traceparent,
                         enqueued_at=message.enqueued_at, error=message.error)


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _quiet_outage:
    """Best-effort bookkeeping: a Redis outage is logged, not raised (the readers report it too)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if exc is not None and isinstance(exc, UNREACHABLE):
            log.warning("Redis unreachable: %s", exc)
            return True
        return False
