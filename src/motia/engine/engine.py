"""The embedded iii engine's core: functions, triggers, trigger types and invocation routing.

Workers talk to it only through protocol messages (`motia.protocol`). A worker in the same process is a
`LocalConnection`, which hands message objects over without serialising them; the WebSocket worker port
adds a second `Connection` kind. Trigger types (http, and later cron, queues, state, streams) are
providers that the engine hands `registertrigger` bindings to.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..protocol import (
    ErrorBody,
    InvocationResult,
    InvokeFunction,
    Message,
    Ping,
    Pong,
    RegisterFunction,
    RegisterService,
    RegisterTrigger,
    RegistrationRejected,
    TriggerRegistrationResult,
    UnregisterFunction,
    UnregisterTrigger,
    new_id,
)

log = logging.getLogger("motia.engine")

Builtin = Callable[[Any], Awaitable[Any]]


class Connection(ABC):
    """The engine's side of one worker connection."""

    def __init__(self) -> None:
        self.worker_id = new_id()
        self.reattach_token = new_id()
        self.closed = False

    @abstractmethod
    async def invoke(self, message: InvokeFunction) -> InvocationResult:
        """Run a function hosted by this worker and wait for its result."""

    @abstractmethod
    async def send(self, message: Message) -> None:
        """Deliver an engine -> worker message that expects no reply."""


class WorkerEndpoint(Protocol):
    """What an in-process worker offers the engine."""

    async def handle_invoke(self, message: InvokeFunction) -> InvocationResult: ...

    async def handle_message(self, message: Message) -> None: ...


class LocalConnection(Connection):
    """A worker in the engine's own process: messages are passed as objects, never encoded."""

    def __init__(self, endpoint: WorkerEndpoint) -> None:
        super().__init__()
        self.endpoint = endpoint
        # Bound once: `invoke` is on the HTTP hot path.
        self.invoke = endpoint.handle_invoke  # type: ignore[method-assign]

    async def invoke(self, message: InvokeFunction) -> InvocationResult:  # replaced per instance
        return await self.endpoint.handle_invoke(message)

    async def send(self, message: Message) -> None:
        await self.endpoint.handle_message(message)


class FunctionEntry:
    __slots__ = ("connection", "description", "id", "metadata")

    def __init__(self, id: str, connection: Connection | None, description: str | None, metadata: Any) -> None:
        self.id = id
        self.connection = connection
        self.description = description
        self.metadata = metadata


class TriggerEntry:
    __slots__ = ("config", "function_id", "id", "metadata", "owner", "type")

    def __init__(
        self, id: str, type: str, function_id: str, config: Any, metadata: Any, owner: Connection | None
    ) -> None:
        self.id = id
        self.type = type
        self.function_id = function_id
        self.config = config if config is not None else {}
        self.metadata = metadata
        self.owner = owner


class TriggerProvider(Protocol):
    """A trigger type: accepts bindings (returns an error message to refuse one) and drops them."""

    def register(self, trigger: TriggerEntry) -> str | None: ...

    def unregister(self, trigger: TriggerEntry) -> None: ...


class Engine:
    def __init__(self) -> None:
        self.functions: dict[str, FunctionEntry] = {}
        self.triggers: dict[str, TriggerEntry] = {}
        self.trigger_types: dict[str, TriggerProvider] = {}
        self.builtins: dict[str, Builtin] = {}
        # Bindings whose trigger type is not (yet) provided; activated when it appears (§2.6).
        self.parked: dict[str, TriggerEntry] = {}
        self.connections: dict[str, Connection] = {}

    # --- set-up -------------------------------------------------------------------------------------

    def add_trigger_type(self, type_id: str, provider: TriggerProvider) -> None:
        self.trigger_types[type_id] = provider
        for trigger in [t for t in self.parked.values() if t.type == type_id]:
            del self.parked[trigger.id]
            self._bind(trigger)

    def add_builtin(self, function_id: str, fn: Builtin) -> None:
        self.builtins[function_id] = fn

    def connect(self, endpoint: WorkerEndpoint) -> LocalConnection:
        connection = LocalConnection(endpoint)
        self.connections[connection.worker_id] = connection
        return connection

    # --- messages from workers ----------------------------------------------------------------------

    async def receive(self, connection: Connection, message: Message) -> None:
        """Handle one worker -> engine message (frames of one connection are handled in order)."""
        if isinstance(message, InvokeFunction):
            result = await self.handle_invoke(connection, message)
            if message.invocation_id is not None and (message.action is None or message.action.type != "void"):
                await connection.send(result)
        elif isinstance(message, RegisterFunction):
            await self._register_function(connection, message)
        elif isinstance(message, RegisterTrigger):
            error = self.register_trigger(
                TriggerEntry(
                    message.id, message.trigger_type, message.function_id, message.config, message.metadata,
                    connection,
                )
            )
            if error is not None:
                await connection.send(
                    TriggerRegistrationResult(
                        message.id, message.trigger_type, message.function_id,
                        ErrorBody("trigger_registration_failed", error),
                    )
                )
        elif isinstance(message, UnregisterTrigger):
            self.unregister_trigger(message.id)
        elif isinstance(message, UnregisterFunction):
            entry = self.functions.get(message.id)
            if entry is not None and entry.connection is connection:
                del self.functions[message.id]
        elif isinstance(message, Ping):
            await connection.send(Pong())
        elif isinstance(message, RegisterService):
            pass
        else:
            log.debug("ignoring %s from worker %s", type(message).__name__, connection.worker_id)

    async def _register_function(self, connection: Connection, message: RegisterFunction) -> None:
        existing = self.functions.get(message.id)
        if existing is not None and existing.connection is not connection and existing.connection is not None \
                and not existing.connection.closed:
            await connection.send(
                RegistrationRejected(
                    "FUNCTION_NAMESPACE_CONFLICT", function_id=message.id,
                    owner_worker_id=existing.connection.worker_id,
                )
            )
            return
        self.functions[message.id] = FunctionEntry(message.id, connection, message.description, message.metadata)

    def register_trigger(self, trigger: TriggerEntry) -> str | None:
        """Bind a trigger; returns the provider's refusal message, None when bound or parked."""
        previous = self.triggers.get(trigger.id) or self.parked.get(trigger.id)
        if previous is not None:
            self.unregister_trigger(previous.id)
        if trigger.type not in self.trigger_types:
            self.parked[trigger.id] = trigger
            return None
        return self._bind(trigger)

    def _bind(self, trigger: TriggerEntry) -> str | None:
        error = self.trigger_types[trigger.type].register(trigger)
        if error is None:
            self.triggers[trigger.id] = trigger
        return error

    def unregister_trigger(self, trigger_id: str) -> bool:
        if self.parked.pop(trigger_id, None) is not None:
            return True
        trigger = self.triggers.pop(trigger_id, None)
        if trigger is None:
            return False
        provider = self.trigger_types.get(trigger.type)
        if provider is not None:
            provider.unregister(trigger)
        return True

    async def disconnect(self, connection: Connection) -> None:
        """Forget everything a closed connection owned (§1.6)."""
        connection.closed = True
        self.connections.pop(connection.worker_id, None)
        for function_id in [f for f, e in self.functions.items() if e.connection is connection]:
            del self.functions[function_id]
        for trigger_id in [t for t, e in {**self.triggers, **self.parked}.items() if e.owner is connection]:
            self.unregister_trigger(trigger_id)

    # --- invocation ---------------------------------------------------------------------------------

    async def handle_invoke(self, caller: Connection | None, message: InvokeFunction) -> InvocationResult:
        """An `invokefunction` from a worker: route it and return the result to send back."""
        data = message.data
        if caller is not None and isinstance(data, dict) and not isinstance(caller, LocalConnection):
            data = {**data, "_caller_worker_id": caller.worker_id}
        result = await self.invoke(
            message.function_id, data, metadata=message.metadata, traceparent=message.traceparent,
            baggage=message.baggage,
        )
        result.invocation_id = message.invocation_id
        return result

    async def invoke(
        self,
        function_id: str,
        data: Any,
        *,
        metadata: Any = None,
        traceparent: str | None = None,
        baggage: str | None = None,
    ) -> InvocationResult:
        """Call a function wherever it lives (built-in or a worker) and wait for its result."""
        builtin = self.builtins.get(function_id)
        if builtin is not None:
            try:
                return InvocationResult(function_id=function_id, result=await builtin(data))
            except BuiltinError as exc:
                return InvocationResult(function_id=function_id, error=ErrorBody(exc.code, exc.message))
            except Exception as exc:
                log.exception("built-in function %s failed", function_id)
                return InvocationResult(function_id=function_id, error=ErrorBody("invocation_error", str(exc)))
        entry = self.functions.get(function_id)
        if entry is None or entry.connection is None:
            return InvocationResult(
                function_id=function_id,
                error=ErrorBody("function_not_found", f"Function {function_id} not found in namespace default."),
            )
        return await entry.connection.invoke(
            InvokeFunction(function_id, data, metadata=metadata, traceparent=traceparent, baggage=baggage)
        )


class BuiltinError(Exception):
    """A built-in function's refusal, reported to the caller as an ErrorBody."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
