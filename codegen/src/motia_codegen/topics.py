"""The topics of an app: who publishes each one (declared emits), who consumes it, and its payload type.

A topic's payload type is what its subscribers decode it into. When they disagree it is the union of their
types (a payload one of them cannot decode is a failed delivery for that one); when none declares a type (or
nobody subscribes) it is any JSON value, never an impossible type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from motia.model import Emit, QueueTrigger, Step
from motia.registry import Registry


@dataclass
class Publisher:
    step: Step
    emit: Emit
    virtual: bool = False


@dataclass
class Subscriber:
    step: Step
    trigger: QueueTrigger | None  # None for a virtual subscription (documentation only)

    @property
    def virtual(self) -> bool:
        return self.trigger is None


@dataclass
class Topic:
    name: str
    publishers: list[Publisher] = field(default_factory=list)
    subscribers: list[Subscriber] = field(default_factory=list)

    @property
    def virtual(self) -> bool:
        """Only virtual edges (`virtual_emits`/`virtual_subscribes`): drawn in flows, never on a queue."""
        return all(p.virtual for p in self.publishers) and all(s.virtual for s in self.subscribers)

    @property
    def payloads(self) -> list[Any]:
        """The distinct payload types (or JSON-Schema dicts) the subscribers declare, in step order."""
        found: list[Any] = []
        for subscriber in self.subscribers:
            if subscriber.trigger is None:
                continue
            payload = subscriber.trigger.input
            if payload is Any or payload is None or any(_same(payload, known) for known in found):
                continue
            found.append(payload)
        return found


def topics(registry: Registry) -> list[Topic]:
    """Every topic an app emits or subscribes to, sorted by name."""
    found: dict[str, Topic] = {}

    def topic(name: str) -> Topic:
        return found.setdefault(name, Topic(name))

    for step in registry:
        for emit in step.emits:
            topic(emit.topic).publishers.append(Publisher(step, emit))
        for emit in step.virtual_emits:
            topic(emit.topic).publishers.append(Publisher(step, emit, virtual=True))
        for trigger in step.triggers:
            if isinstance(trigger, QueueTrigger):
                topic(trigger.topic).subscribers.append(Subscriber(step, trigger))
        for name in step.virtual_subscribes:
            topic(name).subscribers.append(Subscriber(step, None))
    return [found[name] for name in sorted(found)]


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False
