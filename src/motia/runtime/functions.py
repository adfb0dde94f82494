"""The functions behind queue, cron, state and stream triggers, and behind stream hooks.

Each decodes what the engine delivers into the handler's types once, checks the trigger's condition,
runs the handler with its time limit, and raises on failure (the engine then retries or logs).
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import msgspec

from .. import _current
from ..context import FlowContext, TriggerInfo, trace_id_for
from ..errors import INVALID_PAYLOAD, STORE_UNAVAILABLE, StoreUnavailable
from ..inputs import (
    StateTriggerInput,
    StreamAuthInput,
    StreamAuthResult,
    StreamEvent,
    StreamSubscription,
    StreamTriggerInput,
)
from ..model import CronTrigger, QueueTrigger, StateTrigger, Step, StreamDeclaration, StreamTrigger
from ..protocol import InvokeFunction
from ..pydantic_types import PydanticDecoder, decoder
from ..state import decode
from .invoke import AttemptGate, abandoned_attempt, make_caller, maybe_await, with_timeout

log = logging.getLogger("motia.runtime")


class HandledError(Exception):
    """A failure the function has already logged; the worker reports it without logging again."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TriggerFunction:
    """What every step trigger function shares: context, condition, time limit, error logging."""

    def __init__(self, step: Step, trigger: Any, info: TriggerInfo, services: _current.Services,
                 default_timeout: float | None, *, input_is_context: bool = False) -> None:
        self.step = step
        self.info = info
        self.services = services
        self.condition = trigger.condition
        self.call = make_caller(step.handler, input_is_context=input_is_context)
        self.timeout = step.handler_config.timeout if step.handler_config else default_timeout
        self.gate = AttemptGate()

    async def run(self, value: Any, message: InvokeFunction) -> None:
        ctx = FlowContext(self.step.name, self.info, self.services, traceparent=message.traceparent,
                          input_value=value)
        with _current.running(ctx, self.services) as invocation:
            try:
                if self.condition is not None and not await maybe_await(self.condition(value, ctx)):
                    return
                # Acked only once the writes the handler started (awaited or not) are applied.
                await with_timeout(_current.settled(self._call_after_abandoned(value, ctx), invocation), self.timeout)
            except TimeoutError:
                attempt = abandoned_attempt(ctx)
                if attempt is None:
                    ctx.logger.error(f"handler timed out after {self.timeout}s")
                else:
                    self.gate.hold(attempt)
                    ctx.logger.error(f"handler timed out after {self.timeout}s; its thread is still running: the "
                                     "invocation is closed (its state, stream and emit calls are refused) and the "
                                     "next attempt waits for the thread to return")
                raise HandledError("TIMEOUT", f"handler timed out after {self.timeout}s") from None
            except Exception as exc:
                ctx.logger.error("handler failed", exc_info=True)
                code = STORE_UNAVAILABLE if isinstance(exc, StoreUnavailable) else "invocation_failed"
                raise HandledError(code, f"{type(exc).__name__}: {exc}") from None

    async def _call_after_abandoned(self, value: Any, ctx: FlowContext) -> None:
        await self.gate.wait()  # within the time limit: a retry that waits too long fails without running
        await self.call(value, ctx)


class QueueFunction(TriggerFunction):
    def __init__(self, step: Step, trigger: QueueTrigger, index: int, services: _current.Services,
                 default_timeout: float | None) -> None:
        super().__init__(step, trigger, TriggerInfo("queue", index, topic=trigger.topic), services, default_timeout)
        self.topic = trigger.topic
        self.payload_type = trigger.input
        self.validator = None
        if isinstance(trigger.input, dict):
            from .http import compile_json_schema

            self.validator = compile_json_schema(trigger.input)
            self.decoder: Any = msgspec.json.Decoder()
        else:
            self.decoder = decoder(trigger.input)

    async def __call__(self, message: InvokeFunction) -> None:
        await self.run(self.decode(message.data, message.traceparent), message)

    def decode(self, data: Any, traceparent: str | None = None) -> Any:
        try:
            if isinstance(data, msgspec.Raw):
                value = self.decoder.decode(data)
            elif isinstance(self.decoder, PydanticDecoder):
                value = self.decoder.convert(data)
            elif self.validator is None and self.payload_type is not Any:
                value = msgspec.convert(data, self.payload_type)
            else:
                value = data
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            self._refuse("type", f"payload does not match: {exc}", traceparent)
        if self.validator is not None:
            problems = [f"{e.json_path}: {e.message}" for e in self.validator.iter_errors(value)]
            if problems:
                self._refuse("schema", "; ".join(problems), traceparent)
        return value

    def _refuse(self, what: str, reason: str, traceparent: str | None) -> NoReturn:
        """Log a payload the handler cannot take, under the trace of the emit that sent it, and fail the delivery
        as INVALID_PAYLOAD (the queue dead-letters it at once: the same payload never decodes)."""
        trace_id = trace_id_for(traceparent)  # the one the handler's context would have had
        log.error("step %s: payload on topic %r does not match its %s: %s", self.step.name, self.topic, what,
                  reason.removeprefix("payload does not match: "), extra={"step": self.step.name,
                                                                          "trace_id": trace_id})
        raise HandledError(INVALID_PAYLOAD, reason)


class CronFunction(TriggerFunction):
    def __init__(self, step: Step, trigger: CronTrigger, index: int, services: _current.Services,
                 default_timeout: float | None) -> None:
        super().__init__(step, trigger, TriggerInfo("cron", index, expression=trigger.expression), services,
                         default_timeout, input_is_context=True)

    async def __call__(self, message: InvokeFunction) -> None:
        await self.run(None, message)


class StateFunction(TriggerFunction):
    def __init__(self, step: Step, trigger: StateTrigger, index: int, services: _current.Services,
                 default_timeout: float | None) -> None:
        super().__init__(step, trigger, TriggerInfo("state", index), services, default_timeout)

    async def __call__(self, message: InvokeFunction) -> None:
        data = message.data if isinstance(message.data, dict) else {}
        change = StateTriggerInput(
            group_id=str(data.get("scope", data.get("group_id", ""))),
            item_id=str(data.get("key", data.get("item_id", ""))),
            old_value=decode(data.get("old_value")),
            new_value=decode(data.get("new_value")),
            event_type=data.get("event_type", ""),
        )
        await self.run(change, message)


class StreamFunction(TriggerFunction):
    def __init__(self, step: Step, trigger: StreamTrigger, index: int, services: _current.Services,
                 default_timeout: float | None, item_type: Any = None) -> None:
        info = TriggerInfo("stream", index, stream_name=trigger.stream_name, group_id=trigger.group_id,
                           item_id=trigger.item_id)
        super().__init__(step, trigger, info, services, default_timeout)
        self.item_type = item_type

    async def __call__(self, message: InvokeFunction) -> None:
        await self.run(stream_input(message.data, self.item_type), message)


def stream_input(data: Any, item_type: Any = None) -> StreamTriggerInput:
    data = data if isinstance(data, dict) else {}
    event = data.get("event") or {}
    kind = event.get("type", "")
    if kind == "event":
        custom = event.get("event") or {}
        parsed = StreamEvent("event", decode(custom.get("data")), custom.get("type"))
    else:
        raw = event.get("data")
        try:
            value = decode(raw, item_type)
        except (msgspec.ValidationError, msgspec.DecodeError):
            value = decode(raw)
        parsed = StreamEvent(kind, value)
    return StreamTriggerInput(data.get("streamName", ""), data.get("groupId", ""), data.get("id"), parsed,
                              int(data.get("timestamp") or 0))


class StreamHookFunction:
    """A stream's `on_join`/`on_leave` hook (`stream:join`/`stream:leave` triggers fire for every stream)."""

    def __init__(self, stream: StreamDeclaration, hook: Any, services: _current.Services, *, joining: bool) -> None:
        self.stream = stream
        self.call = hook
        self.services = services
        self.joining = joining

    async def __call__(self, message: InvokeFunction) -> Any:
        data = message.data if isinstance(message.data, dict) else {}
        if data.get("stream_name") != self.stream.name:
            return None
        subscription = StreamSubscription(str(data.get("subscription_id", "")), self.stream.name,
                                          str(data.get("group_id", "")), data.get("id"), data.get("context"))
        ctx = FlowContext(f"stream:{self.stream.name}", TriggerInfo("stream", 0, stream_name=self.stream.name),
                          self.services, traceparent=message.traceparent, input_value=subscription)
        with _current.running(ctx, self.services) as invocation:
            result = await _current.settled(
                maybe_await(_call_hook(self.call, subscription, ctx, subscription.auth_context)), invocation)
        if not self.joining:
            return None
        if isinstance(result, dict):
            return {"unauthorized": bool(result.get("unauthorized", False))}
        return {"unauthorized": result is False}


class StreamAuthFunction:
    def __init__(self, fn: Any, services: _current.Services) -> None:
        self.fn = fn
        self.services = services

    async def __call__(self, message: InvokeFunction) -> Any:
        data = message.data if isinstance(message.data, dict) else {}
        request = StreamAuthInput(dict(data.get("headers") or {}), str(data.get("path", "/")),
                                  dict(data.get("query_params") or {}), str(data.get("addr", "")))
        ctx = FlowContext("stream:authenticate", TriggerInfo("stream", 0), self.services, input_value=request)
        with _current.running(ctx, self.services) as invocation:
            result = await _current.settled(maybe_await(_call_hook(self.fn, request, ctx)), invocation)
        if isinstance(result, StreamAuthResult):
            result = result.to_dict()
        if isinstance(result, dict) and ("authorized" in result or "context" in result):
            return {"authorized": bool(result.get("authorized", True)), "context": result.get("context")}
        return {"authorized": bool(result), "context": None}


def _call_hook(fn: Any, *args: Any) -> Any:
    """Hooks may take fewer arguments than offered (`on_join(subscription)`)."""
    import inspect

    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return fn(*args)
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return fn(*args)
    count = sum(1 for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    return fn(*args[:count])
