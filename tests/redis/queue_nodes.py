"""Engine nodes in one event loop, each with its own Redis client on the test's real redis-server: the queue
module's behaviour across nodes without processes (tests/redis/test_queue_processes.py has the processes)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from motia.engine.embedded import EmbeddedEngine
from motia.engine.engine import TriggerEntry
from motia.engine.redis import RedisStore
from motia.engine.redis.queues import RedisQueueModule

Handler = Callable[[Any], Awaitable[Any]]


class Node:
    """One engine on a `RedisStore` (as `--store redis://...` builds it); its functions are built-ins (they run
    in the test)."""

    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self.engine = EmbeddedEngine(RedisStore(url), admin=False)
        self.queues = self.engine.queues
        assert isinstance(self.queues, RedisQueueModule)
        self.triggers: dict[str, str] = {}

    def subscribe(self, function_id: str, topic: str, handler: Handler, **queue_config: Any) -> None:
        async def run(data: Any) -> Any:
            return await handler(msgspec.json.decode(data) if isinstance(data, msgspec.Raw) else data)

        self.engine.core.add_builtin(function_id, run)
        trigger_id = str(uuid.uuid4())
        self.triggers[function_id] = trigger_id
        error = self.engine.core.register_trigger(TriggerEntry(
            trigger_id, "durable:subscriber", function_id, {"topic": topic, "queue_config": queue_config}, None, None))
        assert error is None, error

    async def unsubscribe(self, function_id: str) -> None:
        """Unbind and wait for this node's readers of the function to end (each finishes its current read)."""
        subscriber = self.queues.subscribers[function_id]
        readers = [lane.task for lane in subscriber.lanes.values() if lane.task is not None]
        self.engine.core.unregister_trigger(self.triggers.pop(function_id))
        await asyncio.wait(readers)

    async def call(self, function_id: str, data: Any = None) -> Any:
        result = await self.engine.core.invoke(function_id, data)
        if result.error is not None:
            raise RuntimeError(f"{result.error.code}: {result.error.message}")
        return msgspec.json.decode(msgspec.json.encode(result.result))

    async def publish(self, topic: str, data: Any, group: str | None = None) -> None:
        message: dict[str, Any] = {"topic": topic, "data": data}
        if group is not None:
            message["messageGroupId"] = group
        await self.call("iii::durable::publish", message)

    async def close(self) -> None:
        await self.engine.stop(drain_timeout=1)  # closes the store's client
