"""Fire-and-forget pub/sub (docs/protocol.md §3.5): `subscribe` triggers and the `publish` function.

No persistence and no retries: every current subscriber is invoked once with the published data. Nodes
sharing Redis hand each message to `fanout`; the others `deliver` it to their own subscribers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..protocol import InvalidTriggerConfig, SubscribeTriggerConfig, decode_trigger_config
from .engine import BuiltinError, Engine, TriggerEntry
from .tasks import Tasks

log = logging.getLogger("motia.engine.pubsub")


_REFUSALS = {"topic": "topic is required for subscribe triggers"}  # why a binding is refused, by the key at fault


class PubSubModule:
    def __init__(self, engine: Engine, tasks: Tasks) -> None:
        self.engine = engine
        self.tasks = tasks
        self.topics: dict[str, dict[str, TriggerEntry]] = {}
        self.fanout: Callable[[str, Any], None] | None = None  # (topic, data) to the other nodes
        engine.add_trigger_type("subscribe", self)
        engine.add_builtin("publish", self.publish)

    def register(self, trigger: TriggerEntry) -> str | None:
        try:
            topic = decode_trigger_config(trigger.config, SubscribeTriggerConfig, _REFUSALS).topic
        except InvalidTriggerConfig as exc:
            return str(exc)
        if not topic:
            return _REFUSALS["topic"]
        self.topics.setdefault(topic, {})[trigger.id] = trigger
        return None

    def unregister(self, trigger: TriggerEntry) -> None:
        for subscribers in self.topics.values():
            subscribers.pop(trigger.id, None)

    async def publish(self, data: Any) -> Any:
        topic = data.get("topic") if isinstance(data, dict) else None
        if not isinstance(topic, str) or not topic:
            raise BuiltinError("topic_not_set", "topic is required")
        self.deliver(topic, data.get("data"))
        if self.fanout is not None:
            self.fanout(topic, data.get("data"))
        return None

    def deliver(self, topic: str, data: Any) -> None:
        """To this node's subscribers of `topic`."""
        for trigger in list(self.topics.get(topic, {}).values()):
            self.tasks.spawn(self._deliver(trigger, data), name=f"publish:{topic}")

    async def _deliver(self, trigger: TriggerEntry, data: Any) -> None:
        result = await self.engine.fire(trigger, data, metadata=False)  # data only (§3.5)
        if result.error is not None:
            log.error("subscriber %s failed: %s", trigger.function_id, result.error.message)
