"""Durable topic queues (docs/protocol.md §3.6, §5): `durable:subscriber` triggers and `iii::durable::publish`.

Every function subscribed to a topic gets its own copy of each message (fan-out per function; replicas
of one function compete for it). A message is stored before `publish` returns (or already delivered: see
`store.py`) and deleted when its delivery succeeds; a failed delivery is retried with fixed or exponential
back-off and, after `maxRetries` retries, moved to the dead letters, which can be listed and re-driven. FIFO subscribers
deliver one message at a time per message group, in publish order, a failing message blocking its group.

A subscription is identified by its (topic, function id) and is remembered in the store, so it outlives the
connection of the worker that made it: while no worker of that function is connected ("away"), its messages
are stored and wait; a worker that registers the function with that topic again gets them. A subscription
away longer than `away_retention` seconds (counted while the engine runs) is forgotten and its waiting
messages become dead letters.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

import msgspec

from ..errors import INVALID_PAYLOAD, did_you_mean
from ..protocol import InvalidTriggerConfig, QueueConfig, QueueTriggerConfig, decode_trigger_config, new_id
from .clock import Clock
from .engine import CALL_TRACEPARENT, BuiltinError, Engine, TriggerEntry
from .store import QueuedMessage, Store
from .tasks import Tasks

log = logging.getLogger("motia.engine.queues")


# The engine's name for the one `QueueConfig` (rqueue and the config loader import it from here).
QueueSettings = QueueConfig


# Why a `durable:subscriber` binding is refused, by the config key at fault.
_REFUSALS = {"topic": "topic is required for durable:subscriber triggers"}


# How long a subscription whose worker is away is remembered (seconds the engine runs while it is away).
AWAY_RETENTION = 7 * 24 * 3600


ERROR_HISTORY = 20  # failed attempts remembered per message


class AttemptError(msgspec.Struct, kw_only=True):
    """One failed delivery attempt of a message: which, when (epoch seconds), and the error."""

    attempt: int
    at: float
    error: str


class SubscriptionCount(msgspec.Struct, kw_only=True):
    """One remembered (topic, function) subscription: its messages waiting and dead, and whether a worker of
    the function is subscribed (on any node)."""

    topic: str
    function_id: str
    pending: int
    dead: int
    connected: bool


class Queues(Protocol):
    """What the rest of the engine uses of a queue module: `QueueModule` (the engine's store) or
    `redis.queues.RedisQueueModule` (Redis Streams, shared by several nodes)."""

    queue_settings: dict[str, QueueSettings]
    away_retention: float

    async def publish(self, data: Any) -> Any: ...
    def unheard(self, topic: str) -> str | None: ...
    def forget_away(self) -> None: ...
    def busy(self, *, count_waiting: bool = True) -> bool: ...
    async def wait_idle(self) -> None: ...
    async def stop(self, timeout: float) -> None: ...
    async def dlq_list(self, data: Any) -> Any: ...
    async def dlq_redrive(self, data: Any) -> Any: ...
    # What the console reads (console/api.py):
    def in_flight(self, function_id: str) -> int: ...
    def attempt_history(self, message_id: int) -> list[AttemptError]: ...
    async def messages(self, topic: str, function_id: str) -> tuple[list[QueuedMessage], list[QueuedMessage]]: ...
    async def subscription_counts(self) -> list[SubscriptionCount]: ...


class Subscription:
    """A (topic, function) pair the engine remembers, connected or not: publish stores a copy for each."""

    __slots__ = ("away_since", "function_id", "settings", "topic")

    def __init__(self, topic: str, function_id: str, settings: QueueSettings, away_since: float | None) -> None:
        self.topic = topic
        self.function_id = function_id
        self.settings = settings
        # When its last binding went (or the engine started without it); None while a worker is subscribed.
        self.away_since = away_since


class Binding:
    """A function subscribed to topics, as every queue module keeps it: its settings and the triggers that bind it
    to each topic (replicas of a function bind a topic with triggers of their own)."""

    def __init__(self, function_id: str, settings: QueueSettings) -> None:
        self.function_id = function_id
        self.settings = settings
        self.fifo = settings.type == "fifo"
        self.trigger_ids: set[str] = set()
        self.topic_triggers: dict[str, set[str]] = {}


B = TypeVar("B", bound=Binding)


class Subscriber(Binding):
    """The deliveries of one function: a ready queue worked by up to `concurrency` workers."""

    def __init__(self, function_id: str, settings: QueueSettings) -> None:
        super().__init__(function_id, settings)
        self.topics: set[str] = set()
        # standard: QueuedMessage items; fifo: group keys whose head message may be delivered.
        self.ready: asyncio.Queue[Any] = asyncio.Queue()
        self.groups: dict[str, deque[QueuedMessage]] = {}
        self.busy_groups: set[str] = set()
        self.workers: list[asyncio.Task[None]] = []
        self.busy_workers: set[asyncio.Task[None]] = set()
        self.in_flight = 0
        self.waiting = 0  # messages held by timers (delays, back-off)
        self.known: set[int] = set()


class QueueFront(ABC):
    """What a queue module answers the same way whatever keeps its messages (this module's store, or Redis:
    `redis/queues.py`): its trigger types and built-in functions, the checks of a subscription's config, the
    bookkeeping of the triggers that bind a function to a topic, and iii's names for the dead-letter calls."""

    queue_settings: dict[str, QueueSettings]  # named queue -> its settings (config.yaml's `queue_configs`)

    def _install(self, engine: Engine) -> None:
        engine.add_trigger_type("durable:subscriber", self)
        engine.add_trigger_type("queue", self)  # the 0.9-era name (§6.2)
        engine.enqueue = self.enqueue
        for name, fn in {
            "iii::durable::publish": self.publish,
            "enqueue": self.publish,  # the 0.9-era name
            "motia::dlq::list": self.dlq_list,
            "motia::dlq::redrive": self.dlq_redrive,
            "motia::dlq::discard": self.dlq_discard,
            "iii::queue::redrive": self.iii_redrive,
            "iii::queue::redrive_message": self.iii_redrive_message,
            "iii::queue::discard_message": self.iii_discard_message,
            "engine::queue::dlq_messages": self.iii_dlq_messages,
            "engine::queue::list_topics": self.list_topics,
        }.items():
            engine.add_builtin(name, fn)

    @abstractmethod
    def register(self, trigger: TriggerEntry) -> str | None: ...

    @abstractmethod
    def unregister(self, trigger: TriggerEntry) -> None: ...

    @abstractmethod
    async def publish(self, data: Any) -> Any: ...

    @abstractmethod
    async def enqueue(self, queue: str, function_id: str, data: Any, traceparent: str | None) -> str: ...

    @abstractmethod
    async def dlq_list(self, data: Any) -> Any: ...

    @abstractmethod
    async def dlq_redrive(self, data: Any) -> Any: ...

    @abstractmethod
    async def dlq_discard(self, data: Any) -> Any: ...

    @abstractmethod
    async def subscription_counts(self) -> list[SubscriptionCount]: ...

    async def list_topics(self, data: Any) -> Any:
        """`engine::queue::list_topics`: every remembered subscription, by topic, with what waits for it and its
        dead letters."""
        topics: dict[str, list[dict[str, Any]]] = {}
        for row in await self.subscription_counts():
            topics.setdefault(row.topic, []).append(
                {"function_id": row.function_id, "pending": row.pending, "dead": row.dead,
                 "connected": row.connected})
        return {"topics": [{"topic": topic, "subscribers": subscribers} for topic, subscribers in topics.items()]}

    @staticmethod
    def subscription(trigger: TriggerEntry) -> tuple[str, QueueSettings] | str:
        """A `durable:subscriber` trigger's topic and settings, or why it is refused."""
        try:
            config = decode_trigger_config(trigger.config, QueueTriggerConfig, _REFUSALS)
        except InvalidTriggerConfig as exc:
            return str(exc)
        if not config.topic:
            return _REFUSALS["topic"]
        return config.topic, config.queue_config or QueueSettings()

    def bind(self, subscribers: dict[str, B], make: Callable[[str, QueueSettings], B],
             trigger: TriggerEntry) -> tuple[str, B, QueueSettings, bool] | str:
        """Bind `trigger`'s function to its topic: the topic, the function's entry in `subscribers` (made by `make`
        when it has none), its settings and whether the entry is new; or what is wrong with the trigger's config."""
        parsed = self.subscription(trigger)
        if isinstance(parsed, str):
            return parsed
        topic, settings = parsed
        subscriber = subscribers.get(trigger.function_id)
        created = subscriber is None
        if subscriber is None:
            subscriber = subscribers[trigger.function_id] = make(trigger.function_id, settings)
        subscriber.trigger_ids.add(trigger.id)
        subscriber.topic_triggers.setdefault(topic, set()).add(trigger.id)
        return topic, subscriber, settings, created

    def enqueue_to(self, subscribers: dict[str, B], make: Callable[[str, QueueSettings], B], queue: str,
                   function_id: str, data: Any) -> tuple[bytes, B, bool]:
        """What an `enqueue` action checks and whom it reaches: the payload as JSON, the function's entry in
        `subscribers` (made by `make` with the named queue's settings when it has none) and whether it is new."""
        if not queue.strip():
            raise BuiltinError("enqueue_error", "Queue '' not found")
        try:
            payload = msgspec.json.encode(data)
        except (TypeError, msgspec.EncodeError) as exc:
            raise BuiltinError("serialization_error", f"data is not JSON-serialisable: {exc}") from None
        subscriber = subscribers.get(function_id)
        created = subscriber is None
        if subscriber is None:
            settings = self.queue_settings.get(queue) or QueueSettings()
            subscriber = subscribers[function_id] = make(function_id, settings)
            subscriber.trigger_ids.add(f"enqueue:{queue}")
        return payload, subscriber, created

    @classmethod
    async def finish_workers(cls, subscribers: Iterable[Any], timeout: float) -> None:
        """At a stop: cancel the idle workers of `subscribers` (each has `workers` and `busy_workers`), and give
        the busy ones `timeout` seconds (`finish_deliveries`)."""
        busy: set[asyncio.Task[None]] = set()
        for subscriber in subscribers:
            for worker in subscriber.workers:
                if worker in subscriber.busy_workers:
                    busy.add(worker)
                else:
                    worker.cancel()
        await cls.finish_deliveries(busy, timeout)

    @staticmethod
    async def finish_deliveries(busy: set[asyncio.Task[None]], timeout: float) -> None:
        """Give the deliveries running at a stop `timeout` seconds to finish; cancel the others (not acknowledged,
        they are delivered again)."""
        if not busy:
            return
        _, late = await asyncio.wait(busy, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            log.warning("%d deliveries did not finish in %ss; they will be redelivered", len(late), timeout)

    @staticmethod
    def topic_of(data: Any) -> str:
        """The topic of a `publish` call's `{topic, data}`."""
        if not isinstance(data, dict):
            raise BuiltinError("topic_not_set", "publish takes {topic, data}")
        topic = data.get("topic")
        if not isinstance(topic, str) or not topic:
            raise BuiltinError("topic_not_set", "topic is required")
        return topic

    @staticmethod
    def unbind(trigger_ids: set[str], topic_triggers: dict[str, set[str]], trigger: TriggerEntry) -> str | None:
        """Forget one trigger of a function; the topic it bound when that was the topic's last trigger (replicas
        bind the same topic with their own triggers: the topic stays while one is left)."""
        trigger_ids.discard(trigger.id)
        topic = next((topic for topic, ids in topic_triggers.items() if trigger.id in ids), None)
        if topic is None:
            return None
        bindings = topic_triggers[topic]
        bindings.discard(trigger.id)
        if bindings:
            return None
        del topic_triggers[topic]
        return topic

    @staticmethod
    def redrive_ids(data: Any) -> list[int] | None:
        ids = data.get("ids")
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, int) for i in ids)):
            raise BuiltinError("redrive_failed", "'ids' must be a list of message ids")
        return ids

    # iii's names for the same (the queue of a topic subscription is its topic here)
    async def iii_redrive(self, data: Any) -> Any:
        queue = data.get("queue") if isinstance(data, dict) else None
        if not isinstance(queue, str):
            raise BuiltinError("queue_not_set", "queue is required")
        result = await self.dlq_redrive({"topic": queue})
        return {"queue": queue, "redriven": result["redriven"]}

    async def iii_redrive_message(self, data: Any) -> Any:
        message_id = _int(data.get("message_id") if isinstance(data, dict) else None)
        return await self.dlq_redrive({"ids": [message_id]})

    async def iii_discard_message(self, data: Any) -> Any:
        return await self.dlq_discard({"id": _int(data.get("message_id") if isinstance(data, dict) else None)})

    async def iii_dlq_messages(self, data: Any) -> Any:
        queue = data.get("queue") if isinstance(data, dict) else None
        return {"messages": await self.dlq_list({"topic": queue} if isinstance(queue, str) else {})}


class QueueModule(QueueFront):
    def __init__(self, engine: Engine, store: Store, tasks: Tasks, clock: Clock) -> None:
        self.engine = engine
        self.store = store
        self.tasks = tasks
        self.clock = clock
        self.subscribers: dict[str, Subscriber] = {}
        # Delivery settings of named queues for the `enqueue` action (config.yaml's `queue_configs`).
        self.queue_settings: dict[str, QueueSettings] = {}
        self.topics: dict[str, dict[str, Subscriber]] = {}
        # topic -> function id -> every remembered subscription, those of connected workers included.
        self.subscriptions: dict[str, dict[str, Subscription]] = {}
        self.away_retention: float = AWAY_RETENTION
        self._unheard: set[str] = set()  # topics already warned about (once each)
        self._load_subscriptions()
        self._idle: asyncio.Event | None = None
        self.accepting = True
        self.delivered = 0
        self.failed = 0
        # message id -> its failed attempts, for the console (in memory: the store keeps the last error only).
        self.attempt_errors: dict[int, list[AttemptError]] = {}
        self._install(engine)

    # --- trigger type -------------------------------------------------------------------------------

    def register(self, trigger: TriggerEntry) -> str | None:
        bound = self.bind(self.subscribers, Subscriber, trigger)
        if isinstance(bound, str):
            return bound
        topic, subscriber, settings, created = bound
        if created:
            self._start(subscriber)
        subscriber.topics.add(topic)
        self.topics.setdefault(topic, {})[trigger.function_id] = subscriber
        self._remember(topic, trigger.function_id, settings)
        return None

    def unregister(self, trigger: TriggerEntry) -> None:
        subscriber = self.subscribers.get(trigger.function_id)
        if subscriber is None:
            return
        topic = self.unbind(subscriber.trigger_ids, subscriber.topic_triggers, trigger)
        if topic is not None:
            subscriber.topics.discard(topic)
            if topic in self.topics:
                self.topics[topic].pop(trigger.function_id, None)
                if not self.topics[topic]:
                    del self.topics[topic]
            # Whether its worker died, stopped or unsubscribed, the subscription is kept (away).
            remembered = self.subscriptions.get(topic, {}).get(trigger.function_id)
            if remembered is not None:
                remembered.away_since = self.clock.now()
        if not subscriber.trigger_ids:
            # Messages stay in the store and are picked up when the function registers again.
            del self.subscribers[subscriber.function_id]
            for worker in subscriber.workers:
                worker.cancel()

    # --- remembered subscriptions ------------------------------------------------------------------

    def _load_subscriptions(self) -> None:
        now = self.clock.now()
        for topic, function_id, raw in self.store.subscriptions():
            try:
                settings = _settings_decoder.decode(raw)
            except msgspec.DecodeError:
                settings = QueueSettings()  # written by another version: the defaults until it registers again
            self.subscriptions.setdefault(topic, {})[function_id] = Subscription(topic, function_id, settings, now)

    def _remember(self, topic: str, function_id: str, settings: QueueSettings) -> None:
        known = self.subscriptions.setdefault(topic, {})
        remembered = known.get(function_id)
        if remembered is not None and remembered.settings == settings:
            remembered.away_since = None
            return
        known[function_id] = Subscription(topic, function_id, settings, None)
        self.store.subscription_save(topic, function_id, msgspec.json.encode(settings))
        self.store.request_flush()

    def forget_away(self) -> None:
        """Forget every subscription no worker holds now. For an engine whose only worker is in-process, once
        it has registered its steps: a subscription it did not make is that of a step that no longer exists."""
        now = self.clock.now()
        for subscriptions in list(self.subscriptions.values()):
            for subscription in list(subscriptions.values()):
                if subscription.away_since is not None:
                    self._forget(subscription, now, "its step is gone")

    def _forget(self, subscription: Subscription, now: float, why: str) -> None:
        """Drop a remembered subscription; the messages that waited for it become dead letters."""
        topic, function_id = subscription.topic, subscription.function_id
        del self.subscriptions[topic][function_id]
        if not self.subscriptions[topic]:
            del self.subscriptions[topic]
        self.store.subscription_delete(topic, function_id)
        buried = self.store.queue_bury(function_id, topic, f"subscriber_gone: {why}", now)
        self.store.request_flush()
        log.warning("forgot the subscription of %s to %s (%s); %d waiting messages are now dead letters",
                    function_id, topic, why, buried)

    def unheard(self, topic: str) -> str | None:
        """Why a message published to `topic` reaches no one, or None when some subscription gets it."""
        if topic in self.subscriptions:
            return None
        why = f"no function subscribes to topic {topic!r}: the message is dropped"
        close = did_you_mean(topic, list(self.subscriptions))
        return f"{why}; {close}" if close else why

    def _start(self, subscriber: Subscriber) -> None:
        for message in self.store.queue_pending(subscriber.function_id):
            self._offer(subscriber, message)
        for index in range(subscriber.settings.concurrency):
            subscriber.workers.append(
                self.tasks.spawn(self._work(subscriber), name=f"queue:{subscriber.function_id}:{index}")
            )

    # --- publishing ---------------------------------------------------------------------------------

    async def publish(self, data: Any) -> Any:
        topic = self.topic_of(data)
        subscriptions = self.subscriptions.get(topic)
        if not subscriptions:
            if topic not in self._unheard:
                self._unheard.add(topic)
                log.warning("%s (logged once per topic)", self.unheard(topic))
            return None
        try:
            payload = msgspec.json.encode(data.get("data"))
        except (TypeError, msgspec.EncodeError) as exc:
            raise BuiltinError("serialization_error", f"data is not JSON-serialisable: {exc}") from None
        group = data.get("messageGroupId", data.get("message_group_id"))
        traceparent = CALL_TRACEPARENT.get() or data.get("traceparent")
        now = self.clock.now()
        connected = self.topics.get(topic) or _NOBODY
        expired: list[Subscription] | None = None  # rare: no list is allocated on the hot path
        for subscription in subscriptions.values():  # nothing is awaited in this loop
            if subscription.away_since is not None and now - subscription.away_since > self.away_retention:
                expired = [*(expired or ()), subscription]
                continue
            subscriber = connected.get(subscription.function_id)
            settings = subscription.settings if subscriber is None else subscriber.settings
            message = QueuedMessage(
                self.store.next_message_id(), subscription.function_id, topic, payload,
                group_id=None if group is None else str(group),
                available_at=now + settings.delay_seconds, traceparent=traceparent, enqueued_at=now,
            )
            self.store.queue_add(message)
            if subscriber is not None:  # else it waits in the store for the function to register again
                self._offer(subscriber, message)
        for subscription in expired or ():
            self._forget(subscription, now, f"away for more than {self.away_retention:g}s")
        await self.store.flush()
        return None

    async def enqueue(self, queue: str, function_id: str, data: Any, traceparent: str | None) -> str:
        """The `enqueue` action of `invokefunction`: a durable call of one function through the named queue.
        Every queue name is accepted; delivery uses the function's own subscription settings when it has
        one, else the defaults. Dead letters are listed and redriven by queue name (`iii::queue::redrive`)."""
        payload, subscriber, created = self.enqueue_to(self.subscribers, Subscriber, queue, function_id, data)
        if created:
            self._start(subscriber)
        now = self.clock.now()
        message = QueuedMessage(self.store.next_message_id(), function_id, queue, payload,
                                available_at=now, traceparent=traceparent, enqueued_at=now)
        self.store.queue_add(message)
        self._offer(subscriber, message)
        await self.store.flush()
        return new_id()  # an opaque receipt, as iii's engine returns

    def _offer(self, subscriber: Subscriber, message: QueuedMessage) -> None:
        if message.id in subscriber.known:
            return
        subscriber.known.add(message.id)
        if subscriber.fifo:
            group = message.group_id or ""
            queue = subscriber.groups.get(group)
            if queue is None:
                queue = subscriber.groups[group] = deque()
            queue.append(message)
            if group not in subscriber.busy_groups:
                subscriber.busy_groups.add(group)
                subscriber.ready.put_nowait(group)
        elif message.available_at > self.clock.now():
            self._later(subscriber, message, message.available_at)
        else:
            subscriber.ready.put_nowait(message)

    def _later(self, subscriber: Subscriber, item: Any, when: float) -> None:
        subscriber.waiting += 1

        def due() -> None:
            subscriber.waiting -= 1
            if self.subscribers.get(subscriber.function_id) is subscriber:
                subscriber.ready.put_nowait(item)

        self.clock.call_at(when, due)

    # --- delivering ---------------------------------------------------------------------------------

    async def _work(self, subscriber: Subscriber) -> None:
        worker = asyncio.current_task()
        assert worker is not None
        ready = subscriber.ready
        while self.accepting:
            item = await ready.get()
            if not self.accepting:
                return
            subscriber.in_flight += 1
            subscriber.busy_workers.add(worker)
            try:
                if subscriber.fifo:
                    await self._work_group(subscriber, item)
                else:
                    done = await self._deliver(subscriber, item)
                    if not done:
                        self._later(subscriber, item, item.available_at)
            finally:
                subscriber.in_flight -= 1
                subscriber.busy_workers.discard(worker)
                self._check_idle()

    async def stop(self, timeout: float) -> None:
        """Take no new deliveries; give those in flight `timeout` seconds, then cancel them (they stay
        stored, so they are delivered again after a restart)."""
        self.accepting = False
        await self.finish_workers(self.subscribers.values(), timeout)

    async def _work_group(self, subscriber: Subscriber, group: str) -> None:
        queue = subscriber.groups.get(group)
        if not queue:
            subscriber.busy_groups.discard(group)
            subscriber.groups.pop(group, None)
            return
        message = queue[0]
        if message.available_at > self.clock.now():
            self._later(subscriber, group, message.available_at)
            return
        if not await self._deliver(subscriber, message):
            self._later(subscriber, group, message.available_at)  # the group waits for the retry
            return
        queue.popleft()
        if queue:
            subscriber.ready.put_nowait(group)
        else:
            subscriber.busy_groups.discard(group)
            del subscriber.groups[group]

    async def _deliver(self, subscriber: Subscriber, message: QueuedMessage) -> bool:
        """One attempt. True when the message is finished with (delivered or dead-lettered)."""
        message.attempts += 1
        code = message_text = None
        try:
            async with self.clock.deadline(subscriber.settings.visibility_timeout):
                result = await self.engine.invoke(
                    subscriber.function_id, msgspec.Raw(message.payload), traceparent=message.traceparent
                )
            if result.error is not None:
                code, message_text = result.error.code, result.error.message
        except TimeoutError:
            code, message_text = "visibility_timeout", "no result within the visibility timeout"
        if code is None:
            subscriber.known.discard(message.id)
            self.attempt_errors.pop(message.id, None)
            self.store.queue_ack(message.id)
            self.store.request_flush()
            self.delivered += 1
            return True
        self.failed += 1
        message.error = f"{code}: {message_text}"
        history = self.attempt_errors.setdefault(message.id, [])
        history.append(AttemptError(attempt=message.attempts, at=self.clock.now(), error=message.error))
        del history[:-ERROR_HISTORY]
        retries = message.attempts - 1
        if retries >= subscriber.settings.max_retries or code == INVALID_PAYLOAD:
            message.failed_at = self.clock.now()
            subscriber.known.discard(message.id)
            self.store.queue_dead(message)
            self.store.request_flush()
            when = ("at once, as its payload does not match the subscriber's type (retrying cannot help)"
                    if code == INVALID_PAYLOAD else f"after {message.attempts} attempts")
            log.error("message %s on %s to %s dead-lettered %s: %s", message.id, message.topic,
                      subscriber.function_id, when, message.error)
            return True
        delay = subscriber.settings.backoff(message.attempts)
        message.available_at = self.clock.now() + delay
        self.store.queue_retry(message)
        self.store.request_flush()
        log.warning(
            "delivery %d of message %s on %s to %s failed (%s); retrying in %.3gs",
            message.attempts, message.id, message.topic, subscriber.function_id, message.error, delay,
        )
        return False

    # --- idleness (tests, graceful shutdown) --------------------------------------------------------

    def busy(self, *, count_waiting: bool = True) -> bool:
        """Messages ready or in flight (and, with `count_waiting`, held by a back-off or delay timer). Once
        stopped, only deliveries in flight count: ready messages stay stored for the next start."""
        for s in self.subscribers.values():
            if s.in_flight or (self.accepting and not s.ready.empty()):
                return True
            if count_waiting and (s.waiting or s.groups):
                return True
        return False

    def _check_idle(self) -> None:
        if self._idle is not None and not self.busy():
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return when no message is ready, in flight or waiting for a timer."""
        while self.busy():
            self._idle = asyncio.Event()
            await self._idle.wait()

    # --- dead letters -------------------------------------------------------------------------------

    def _dead_letters(self, function_id: Any = None, topic: Any = None) -> list[QueuedMessage]:
        return [
            m for m in self.store.queue_dead_letters()
            if (function_id is None or m.function_id == function_id) and (topic is None or m.topic == topic)
        ]

    async def dlq_list(self, data: Any) -> Any:
        data = data if isinstance(data, dict) else {}
        return [
            {"id": m.id, "function_id": m.function_id, "topic": m.topic, "data": msgspec.Raw(m.payload),
             "attempts": m.attempts, "error": m.error, "failed_at": m.failed_at, "enqueued_at": m.enqueued_at}
            for m in self._dead_letters(data.get("function_id"), data.get("topic"))
        ]

    async def dlq_redrive(self, data: Any) -> Any:
        data = data if isinstance(data, dict) else {}
        ids = self.redrive_ids(data)
        chosen = [m.id for m in self._dead_letters(data.get("function_id"), data.get("topic"))]
        if ids is not None:
            chosen = [i for i in chosen if i in set(ids)]
        redriven = 0
        for message_id in chosen:
            message = self.store.queue_revive(message_id, self.clock.now())
            if message is None:
                continue
            redriven += 1
            subscriber = self.subscribers.get(message.function_id)
            if subscriber is not None:
                self._offer(subscriber, message)
        await self.store.flush()
        return {"redriven": redriven}

    async def dlq_discard(self, data: Any) -> Any:
        message_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(message_id, int):
            raise BuiltinError("discard_failed", "'id' must be a message id")
        discarded = self.store.queue_discard(message_id)
        self.attempt_errors.pop(message_id, None)
        await self.store.flush()
        return {"discarded": discarded}

    def in_flight(self, function_id: str) -> int:
        subscriber = self.subscribers.get(function_id)
        return subscriber.in_flight if subscriber is not None else 0

    def attempt_history(self, message_id: int) -> list[AttemptError]:
        return list(self.attempt_errors.get(message_id, []))

    async def messages(self, topic: str, function_id: str) -> tuple[list[QueuedMessage], list[QueuedMessage]]:
        """The pending messages and the dead letters of one subscription, oldest first."""
        pending = [m for m in self.store.queue_pending(function_id) if m.topic == topic]
        return pending, self._dead_letters(function_id, topic)

    async def subscription_counts(self) -> list[SubscriptionCount]:
        """Every remembered subscription with its own counts, topics in order, functions in order within each;
        `connected` false while its worker is away."""
        counts = self.store.queue_counts()
        return [SubscriptionCount(topic=topic, function_id=function_id,
                                  pending=counts.get((function_id, topic), (0, 0))[0],
                                  dead=counts.get((function_id, topic), (0, 0))[1],
                                  connected=subscription.away_since is None)
                for topic, subscriptions in sorted(self.subscriptions.items())
                for function_id, subscription in sorted(subscriptions.items())]


_settings_decoder = msgspec.json.Decoder(QueueSettings)
_NOBODY: dict[str, Subscriber] = {}  # no connected subscriber (shared, never written)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BuiltinError("redrive_failed", "message_id must be a message id") from None
