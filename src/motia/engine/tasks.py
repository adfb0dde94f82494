"""Background tasks with an owner: every task the engine starts is tracked here and stopped on close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Generic

from ..protocol import Config, InvalidTriggerConfig, decode_trigger_config

if TYPE_CHECKING:
    from .engine import Engine, TriggerEntry

log = logging.getLogger("motia.engine")


class Tasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the running tasks to finish; True if they all did."""
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        return not pending

    async def close(self) -> None:
        """Cancel what is still running and wait for it to stop."""
        self.closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class ChangeDelivery(Generic[Config]):
    """The trigger type of change events (state, stream): its bindings, each with its config decoded once, and
    the events delivered to the bindings they match, one after another in change order, from one task started
    with the first event. A handler's failure is logged only (§3.3): changes are not retried."""

    def __init__(self, engine: Engine, tasks: Tasks, kind: str, config: type[Config], refusals: Mapping[str, str],
                 matches: Callable[[Config, dict[str, Any]], bool]) -> None:
        self.engine = engine
        self.tasks = tasks
        self.kind = kind
        self.config = config
        self.refusals = refusals  # why a binding is refused, by the config key at fault
        self.matches = matches  # (binding's config, event) -> fire?
        self.bindings: dict[str, tuple[TriggerEntry, Config]] = {}
        self._events: asyncio.Queue[dict[str, Any] | None] | None = None
        self.delivering = 0
        engine.add_trigger_type(kind, self)

    def register(self, trigger: TriggerEntry) -> str | None:
        try:
            self.bindings[trigger.id] = (trigger, decode_trigger_config(trigger.config, self.config, self.refusals))
        except InvalidTriggerConfig as exc:
            return str(exc)
        return None

    def unregister(self, trigger: TriggerEntry) -> None:
        self.bindings.pop(trigger.id, None)

    def put(self, event: dict[str, Any]) -> None:
        if self._events is None:
            self._events = asyncio.Queue()
            self.tasks.spawn(self._deliver(self._events), name=f"{self.kind}-triggers")
        self._events.put_nowait(event)

    def close(self) -> None:
        """What was queued before is still delivered; shutdown need not wait for more."""
        if self._events is not None:
            self._events.put_nowait(None)

    def busy(self) -> bool:
        return self.delivering > 0 or (self._events is not None and not self._events.empty())

    async def _deliver(self, events: asyncio.Queue[dict[str, Any] | None]) -> None:
        while True:
            event = await events.get()
            if event is None:
                return
            self.delivering += 1
            try:
                for trigger, config in list(self.bindings.values()):
                    if not self.matches(config, event):
                        continue
                    result = await self.engine.fire(trigger, event)
                    if result.error is not None:
                        log.error("%s trigger %s failed: %s", self.kind, trigger.function_id, result.error.message)
            finally:
                self.delivering -= 1
