"""The worker: registers every step trigger with the engine as a function plus a trigger, and runs the
invocations the engine sends back (iii protocol, `shared/reference/iii-protocol.md` §2)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..model import CronTrigger, HttpTrigger, QueueTrigger, StateTrigger, Step, StreamTrigger, function_ids
from ..protocol import (
    ErrorBody,
    InvocationResult,
    InvokeFunction,
    Message,
    RegisterFunction,
    RegisterTrigger,
    RegistrationRejected,
    TriggerRegistrationResult,
    new_id,
)
from ..registry import Registry
from .http import HttpFunction
from .transport import Transport

log = logging.getLogger("motia.runtime")

Function = Callable[[Any, Any], Awaitable[Any]]


class Worker:
    """Hosts the functions of an app's steps and answers the engine's invocations."""

    def __init__(self, registry: Registry, *, default_timeout: float | None = 30.0) -> None:
        self.registry = registry
        self.default_timeout = default_timeout
        self.functions: dict[str, Function] = {}
        self.registrations: list[Message] = []
        self.transport: Transport | None = None
        for step in registry:
            self._add_step(step)

    def _add_step(self, step: Step) -> None:
        metadata = step_metadata(step)
        for index, (trigger, function_id) in enumerate(zip(step.triggers, function_ids(step), strict=False)):
            if isinstance(trigger, HttpTrigger):
                self.functions[function_id] = HttpFunction(step, trigger, index, self, self.default_timeout)
                trigger_type = "http"
                config: dict[str, Any] = {"api_path": trigger.path, "http_method": trigger.method}
            elif isinstance(trigger, QueueTrigger):
                trigger_type = "durable:subscriber"
                config = {"topic": trigger.topic}
                if trigger.config is not None:
                    config["queue_config"] = trigger.config.to_wire()
            elif isinstance(trigger, CronTrigger):
                trigger_type, config = "cron", {"expression": trigger.expression}
            elif isinstance(trigger, StateTrigger):
                trigger_type = "state"
                config = {k: v for k, v in (("scope", trigger.scope), ("key", trigger.key)) if v is not None}
            elif isinstance(trigger, StreamTrigger):
                trigger_type = "stream"
                config = {"stream_name": trigger.stream_name}
                config.update({k: v for k, v in (("group_id", trigger.group_id), ("item_id", trigger.item_id)) if v})
            else:  # pragma: no cover - the model has five trigger kinds
                raise TypeError(f"unknown trigger {trigger!r}")
            self.registrations.append(
                RegisterFunction(function_id, description=step.description, metadata=metadata)
            )
            self.registrations.append(
                RegisterTrigger(new_id(), trigger_type, function_id, config, metadata=metadata)
            )

    async def attach(self, transport: Transport) -> None:
        """Register every function and trigger through `transport` (again after a reconnect)."""
        self.transport = transport
        for message in self.registrations:
            await transport.send(message)

    # --- engine -> worker ---------------------------------------------------------------------------

    async def handle_invoke(self, message: InvokeFunction) -> InvocationResult:
        function = self.functions.get(message.function_id)
        if function is None:
            return InvocationResult(
                message.invocation_id, message.function_id,
                error=ErrorBody("function_not_found", f"Function {message.function_id} not found"),
            )
        try:
            result = await function(message.data, message.metadata)
        except Exception as exc:
            log.exception("function %s failed", message.function_id)
            return InvocationResult(
                message.invocation_id, message.function_id, error=ErrorBody("invocation_failed", str(exc))
            )
        return InvocationResult(message.invocation_id, message.function_id, result)

    async def handle_message(self, message: Message) -> None:
        if isinstance(message, TriggerRegistrationResult) and message.error is not None:
            log.error("trigger for %s was refused: %s", message.function_id, message.error.message)
        elif isinstance(message, RegistrationRejected):
            log.error("the engine refused %s: %s", message.function_id or message.worker_name, message.code)

    # --- services for handlers (FlowContext) ------------------------------------------------------

    async def emit(self, topic: str, data: Any, *, trace_id: str, message_group_id: str | None = None) -> None:
        if self.transport is None:
            raise RuntimeError("the worker is not connected to an engine")
        payload: dict[str, Any] = {"topic": topic, "data": data}
        if message_group_id is not None:
            payload["messageGroupId"] = message_group_id
        result = await self.transport.invoke(
            InvokeFunction("iii::durable::publish", payload, traceparent=f"00-{trace_id}-{new_span_id()}-01")
        )
        if result.error is not None:
            raise RuntimeError(f"emit to {topic!r} failed: {result.error.code}: {result.error.message}")


def new_span_id() -> str:
    import os

    return os.urandom(8).hex()


def step_metadata(step: Step) -> dict[str, Any]:
    """What the engine (and the iii console) learns about a step besides its trigger config."""
    metadata: dict[str, Any] = {"stepName": step.name}
    if step.source is not None:
        metadata["filePath"] = step.source.file
        metadata["line"] = step.source.line
    if step.description:
        metadata["description"] = step.description
    if step.flows:
        metadata["flows"] = list(step.flows)
    if step.emits:
        metadata["enqueues"] = [e.topic for e in step.emits]
    return metadata
