"""The embedded iii engine's core: functions, triggers, trigger types and invocation routing.

Workers talk to it only through protocol messages (`motia.protocol`). A worker in the same process is a
`LocalConnection`, which hands message objects over without serialising them; the WebSocket worker port
(`ws.WebSocketConnection`) is the other `Connection` kind. Trigger types are providers that the engine hands
`registertrigger` bindings to: the built-in modules' (http, durable:subscriber/queue, cron, state, stream,
subscribe, each decoding a binding's config into its `protocol` Struct; `introspection`'s engine::*-available)
and those a worker registers (`WorkerTriggerType`). Functions are kept per namespace (§2.9); a
network worker's registrations wait until its namespace is known (§1.3). A function registered with an
`invocation` URL is called over HTTP (`http_functions`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
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
    RegisterTriggerType,
    RegistrationRejected,
    Route,
    TriggerRegistrationResult,
    UnregisterFunction,
    UnregisterTrigger,
    UnregisterTriggerType,
    new_id,
)
from .http_functions import HttpFunctions, HttpInvocation, InvalidInvocation, parse_invocation
from .options import EngineOptions

log = logging.getLogger("motia.engine")

DEFAULT_NAMESPACE = "default"
# What a connection's registrations wait in while its namespace is unknown (§1.3); invocations never wait.
BUFFERED = (RegisterFunction, UnregisterFunction, RegisterTrigger, UnregisterTrigger, RegisterTriggerType,
            UnregisterTriggerType)

# The `traceparent` of the call a built-in function is serving (publish stores it with the message).
CALL_TRACEPARENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("call_traceparent", default=None)

Builtin = Callable[[Any], Awaitable[Any]]


class Connection(ABC):
    """The engine's side of one worker connection."""

    def __init__(self) -> None:
        self.worker_id = new_id()
        self.reattach_token = new_id()
        self.closed = False
        # What the worker said about itself through `engine::workers::register` (§2.11).
        self.metadata: dict[str, Any] = {}
        self.connected_at_ms = int(time.time() * 1000)
        self._posted: set[asyncio.Task[None]] = set()
        # Where its functions and trigger types go (§1.3, §2.9). None until `engine::workers::register` names it
        # (or the grace time passes); meanwhile its registrations wait, in order, in `buffered`.
        self.namespace: str | None = None
        self.buffered: deque[Message] | None = deque()
        self.grace_timer: asyncio.TimerHandle | None = None
        # Engine-side function id -> the id this worker registered (an RBAC prefix or hook renamed it, §4.9).
        self.aliases: dict[str, str] = {}

    @property
    def name(self) -> str:
        name = self.metadata.get("name")
        return name if isinstance(name, str) and name else self.worker_id

    def load(self) -> int:
        """Invocations this worker is running for the engine right now (replica choice, `workers::list`)."""
        return 0

    @abstractmethod
    async def invoke(self, message: InvokeFunction) -> InvocationResult:
        """Run a function hosted by this worker and wait for its result."""

    @abstractmethod
    async def send(self, message: Message) -> None:
        """Deliver an engine -> worker message that expects no reply."""

    async def close(self) -> None:  # noqa: B027 - optional: only a network connection can be closed
        """Close the connection from the engine's side (a refused worker name, an evicted connection)."""

    def post(self, message: Message) -> None:
        """`send` from synchronous code: scheduled now, delivered in the order posted."""
        self.track(asyncio.get_running_loop().create_task(self.send(message)))

    def track(self, task: asyncio.Task[None]) -> None:
        """Keep a task about this connection alive until it is done."""
        self._posted.add(task)
        task.add_done_callback(self._posted.discard)


class WorkerEndpoint(Protocol):
    """What an in-process worker offers the engine."""

    async def handle_invoke(self, message: InvokeFunction) -> InvocationResult: ...

    async def handle_message(self, message: Message) -> None: ...


class LocalConnection(Connection):
    """A worker in the engine's own process: messages are passed as objects, never encoded."""

    def __init__(self, endpoint: WorkerEndpoint) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.namespace, self.buffered = DEFAULT_NAMESPACE, None  # in-process steps: nothing to wait for
        # Bound once: `invoke` is on the HTTP hot path.
        self.invoke = endpoint.handle_invoke  # type: ignore[method-assign]

    async def invoke(self, message: InvokeFunction) -> InvocationResult:  # replaced per instance
        return await self.endpoint.handle_invoke(message)

    async def send(self, message: Message) -> None:
        await self.endpoint.handle_message(message)


class FunctionEntry:
    """A function hosted by a worker. Replicas (several connections that registered the very same function)
    all own it: `connection` is the first, `replicas` every one, and each call goes to the least busy."""

    __slots__ = ("_turn", "connection", "description", "id", "invocation", "metadata", "namespace", "registration",
                 "replicas")

    def __init__(
        self,
        id: str,
        connection: Connection | None,
        description: str | None,
        metadata: Any,
        registration: RegisterFunction | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        invocation: HttpInvocation | None = None,
    ) -> None:
        self.id = id
        self.connection = connection
        self.description = description
        self.metadata = metadata
        self.registration = registration
        self.namespace = namespace
        # Set for an HTTP-invoked function (§4.8): the engine calls this URL; `connection` only owns the entry.
        self.invocation = invocation
        self.replicas: list[Connection] = [] if connection is None else [connection]
        self._turn = 0

    def pick(self) -> Connection | None:
        """The replica with the fewest calls in flight; ties go round-robin."""
        replicas = self.replicas
        count = len(replicas)
        if count < 2:
            return self.connection
        self._turn = turn = (self._turn + 1) % count
        best = replicas[turn]
        best_load = best.load() if not best.closed else 1 << 62  # closing: clean-up is on its way
        for offset in range(1, count):
            candidate = replicas[(turn + offset) % count]
            if not candidate.closed and candidate.load() < best_load:
                best, best_load = candidate, candidate.load()
        return best

    def drop(self, connection: Connection) -> bool:
        """Forget one owner; True when none is left."""
        if connection in self.replicas:
            self.replicas.remove(connection)
        self.connection = self.replicas[0] if self.replicas else None
        return self.connection is None


class TriggerEntry:
    __slots__ = ("config", "function_id", "id", "metadata", "namespace", "owner", "type")

    def __init__(
        self,
        id: str,
        type: str,
        function_id: str,
        config: Any,
        metadata: Any,
        owner: Connection | None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self.id = id
        self.type = type
        self.function_id = function_id
        self.config = config if config is not None else {}
        self.metadata = metadata
        self.owner = owner
        self.namespace = namespace  # where `function_id` is resolved when the trigger fires (§2.6)


class TriggerProvider(Protocol):
    """A trigger type: accepts bindings (returns an error message to refuse one) and drops them."""

    def register(self, trigger: TriggerEntry) -> str | None: ...

    def unregister(self, trigger: TriggerEntry) -> None: ...


class WorkerTriggerType:
    """A trigger type a worker provides (§2.5-2.6): bindings are forwarded to it as `registertrigger` and it
    answers each with a `triggerregistrationresult`; when it goes away its bindings are parked."""

    def __init__(self, connection: Connection, message: RegisterTriggerType) -> None:
        self.connection = connection
        self.id = message.id
        self.description = message.description
        self.trigger_request_format = message.trigger_request_format
        self.call_request_format = message.call_request_format
        # trigger id -> the provider's verdict (None: accepted); absent while it has not answered.
        self.results: dict[str, ErrorBody | None] = {}
        self.waiters: dict[str, asyncio.Future[ErrorBody | None]] = {}

    def register(self, trigger: TriggerEntry) -> str | None:
        self.results.pop(trigger.id, None)
        namespace = trigger.namespace if trigger.namespace != DEFAULT_NAMESPACE else None
        self.connection.post(RegisterTrigger(
            trigger.id, trigger.type, trigger.function_id, trigger.config, trigger.metadata, namespace=namespace
        ))
        return None

    def unregister(self, trigger: TriggerEntry) -> None:
        self.results.pop(trigger.id, None)
        if not self.connection.closed:
            self.connection.post(UnregisterTrigger(trigger.id, trigger.type))


class Engine:
    """Functions (per namespace), triggers, trigger types and built-in functions, and the routing of every
    invocation. It imports none of the modules that provide trigger types or the worker port: they register
    themselves on it (`add_trigger_type`, `add_builtin`), and its own `engine::*` functions are installed by
    whoever assembles it (`introspection.install`, called by `embedded`)."""

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        # Functions by namespace, then id (§2.9); `functions` is the `default` namespace, where almost all live.
        self.functions: dict[str, FunctionEntry] = {}
        self.namespaces: dict[str, dict[str, FunctionEntry]] = {DEFAULT_NAMESPACE: self.functions}
        self.http_functions = HttpFunctions(self.options.http_functions)
        self.triggers: dict[str, TriggerEntry] = {}
        self.trigger_types: dict[str, TriggerProvider] = {}
        self.builtins: dict[str, Builtin] = {}
        # The provider of the `enqueue` action: (queue, function_id, data, traceparent) -> receipt id.
        self.enqueue: Callable[[str, str, Any, str | None], Awaitable[str]] | None = None
        # Bindings whose trigger type is not (yet) provided; activated when it appears (§2.6).
        self.parked: dict[str, TriggerEntry] = {}
        self.connections: dict[str, Connection] = {}
        # Called (synchronously) whenever a function appears or goes; `engine::functions-available` listens.
        self.function_listeners: list[Callable[[], None]] = []

    # --- set-up -------------------------------------------------------------------------------------

    def add_trigger_type(self, type_id: str, provider: TriggerProvider) -> None:
        replaced = type_id in self.trigger_types
        self.trigger_types[type_id] = provider
        if replaced:  # a new provider gets every live binding of its type again (§2.5)
            for trigger in [t for t in self.triggers.values() if t.type == type_id]:
                provider.register(trigger)
        for trigger in [t for t in self.parked.values() if t.type == type_id]:
            del self.parked[trigger.id]
            self._bind(trigger)

    def remove_trigger_type(self, type_id: str) -> None:
        """The provider is gone: its bindings wait, parked, for the next provider of the type (§1.6)."""
        self.trigger_types.pop(type_id, None)
        for trigger in [t for t in self.triggers.values() if t.type == type_id]:
            del self.triggers[trigger.id]
            self.parked[trigger.id] = trigger

    def add_builtin(self, function_id: str, fn: Builtin) -> None:
        self.builtins[function_id] = fn

    def add_route(self, route: Route) -> None:
        """Serve a `Route` (the health and operator routes and pages) with its handler as a built-in function:
        the `http` trigger it describes is bound as a worker's `registertrigger` would be (OpenAPI's is)."""
        self.add_builtin(route.function_id, route.handler)
        message = route.trigger()
        self.register_trigger(TriggerEntry(message.id, message.trigger_type, message.function_id, message.config,
                                           None, None))

    def functions_changed(self) -> None:
        for listener in self.function_listeners:
            listener()

    def connect(self, endpoint: WorkerEndpoint) -> LocalConnection:
        connection = LocalConnection(endpoint)
        self.add_connection(connection)
        return connection

    def add_connection(self, connection: Connection) -> None:
        """A worker connected (in process, or on a worker port): listed until `disconnect` forgets it."""
        self.connections[connection.worker_id] = connection

    # --- messages from workers ----------------------------------------------------------------------

    async def receive(self, connection: Connection, message: Message) -> None:
        """Handle one worker -> engine message (frames of one connection are handled in order)."""
        if isinstance(message, InvokeFunction):
            result = await self.handle_invoke(connection, message)
            if message.invocation_id is not None and (message.action is None or message.action.type != "void"):
                await connection.send(result)
        elif isinstance(message, BUFFERED):
            if connection.buffered is not None:  # namespace not known yet (§1.3)
                connection.buffered.append(message)
                self._arm_grace(connection)
            else:
                await self._register(connection, message)
        elif isinstance(message, TriggerRegistrationResult):
            self._trigger_result(connection, message)
        elif isinstance(message, Ping):
            await connection.send(Pong())
        elif isinstance(message, RegisterService):
            pass
        else:
            log.debug("ignoring %s from worker %s", type(message).__name__, connection.worker_id)

    async def _register(self, connection: Connection, message: Message) -> None:
        """A registration, applied in the connection's (now known) namespace."""
        namespace = connection.namespace or DEFAULT_NAMESPACE
        if isinstance(message, RegisterFunction):
            await self._register_function(connection, message)
        elif isinstance(message, RegisterTrigger):
            await self._register_trigger(connection, message)
        elif isinstance(message, UnregisterTrigger):
            self.unregister_trigger(message.id)
        elif isinstance(message, UnregisterFunction):
            registry = self.namespaces.get(namespace, {})
            entry = registry.get(message.id)
            if entry is not None and connection in entry.replicas and entry.drop(connection):
                del registry[message.id]
                self.functions_changed()
        elif isinstance(message, RegisterTriggerType):
            if message.namespace is not None and not message.namespace.strip():
                log.warning("worker %s: trigger type %r has a blank namespace (INVALID_NAMESPACE); ignored",
                            connection.name, message.id)
                return
            current = self.trigger_types.get(message.id)
            if current is not None and not isinstance(current, WorkerTriggerType):
                log.warning("worker %s may not replace the engine's trigger type %r", connection.name, message.id)
            else:
                self.add_trigger_type(message.id, WorkerTriggerType(connection, message))
        elif isinstance(message, UnregisterTriggerType):
            current = self.trigger_types.get(message.id)
            if isinstance(current, WorkerTriggerType) and current.connection is connection:
                self.remove_trigger_type(message.id)

    def _arm_grace(self, connection: Connection) -> None:
        """Registrations of a worker that never names its namespace go to `default` after the grace time."""
        if connection.grace_timer is not None:
            return
        elapsed = time.time() * 1000 - connection.connected_at_ms
        delay = max(0.0, self.options.namespace_grace_ms - elapsed) / 1000
        loop = asyncio.get_running_loop()
        connection.grace_timer = loop.call_later(
            delay, lambda: connection.track(loop.create_task(self.settle_namespace(connection, DEFAULT_NAMESPACE)))
        )

    async def settle_namespace(self, connection: Connection, namespace: str) -> None:
        """The connection's namespace is known: apply its buffered registrations there, in order. Messages
        that arrive while they are applied join the same queue (§1.3)."""
        if connection.namespace is not None:
            return
        connection.namespace = namespace
        if connection.grace_timer is not None:
            connection.grace_timer.cancel()
        queue = connection.buffered
        while queue and not connection.closed:
            await self._register(connection, queue.popleft())
        connection.buffered = None

    def registry(self, namespace: str) -> dict[str, FunctionEntry]:
        return self.namespaces.setdefault(namespace, {})

    async def _register_trigger(self, connection: Connection, message: RegisterTrigger) -> None:
        namespace = message.namespace
        if namespace is not None and not namespace.strip():
            error: str | None = "namespace must not be blank"
            code = "INVALID_NAMESPACE"
        else:
            code = "trigger_registration_failed"
            error = self.register_trigger(TriggerEntry(
                message.id, message.trigger_type, message.function_id, message.config, message.metadata,
                connection, namespace or DEFAULT_NAMESPACE,
            ))
        if error is not None:
            await connection.send(TriggerRegistrationResult(
                message.id, message.trigger_type, message.function_id, ErrorBody(code, error)
            ))

    async def _register_function(self, connection: Connection, message: RegisterFunction) -> None:
        namespace = connection.namespace or DEFAULT_NAMESPACE
        if message.id in self.builtins or (namespace != DEFAULT_NAMESPACE and message.id.startswith("engine::")):
            await connection.send(RegistrationRejected(
                "FUNCTION_NAMESPACE_CONFLICT", namespace=namespace, function_id=message.id
            ))
            return
        invocation = None
        if message.invocation is not None:
            try:
                invocation = parse_invocation(message.invocation)
            except InvalidInvocation as exc:
                log.warning("worker %s: HTTP function %r not registered: invalid invocation: %s",
                            connection.name, message.id, exc)
                return
        registry = self.registry(namespace)
        existing = registry.get(message.id)
        others = [] if existing is None else [c for c in existing.replicas if c is not connection and not c.closed]
        if existing is not None and others:
            # The same registration from another connection is a replica of the same code; a different one
            # is a conflict, refused as the iii engine refuses any second owner (§2.3).
            if existing.registration != message:
                await connection.send(
                    RegistrationRejected(
                        "FUNCTION_NAMESPACE_CONFLICT", namespace=namespace, function_id=message.id,
                        owner_worker_id=others[0].worker_id,
                    )
                )
            elif connection not in existing.replicas:
                existing.replicas.append(connection)
            return
        registry[message.id] = FunctionEntry(
            message.id, connection, message.description, message.metadata, message,
            namespace=namespace, invocation=invocation,
        )
        self.functions_changed()

    def _trigger_result(self, connection: Connection, message: TriggerRegistrationResult) -> None:
        """A provider's verdict on a forwarded binding; a refused binding is parked and its owner told."""
        trigger = self.triggers.get(message.id)
        provider = self.trigger_types.get(trigger.type) if trigger is not None else None
        if trigger is None or not isinstance(provider, WorkerTriggerType) or provider.connection is not connection:
            return
        provider.results[trigger.id] = message.error
        waiter = provider.waiters.pop(trigger.id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(message.error)
        if message.error is not None:
            del self.triggers[trigger.id]
            self.parked[trigger.id] = trigger
            if trigger.owner is not None and not trigger.owner.closed:
                trigger.owner.post(
                    TriggerRegistrationResult(trigger.id, trigger.type, trigger.function_id, message.error)
                )

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
        connection.buffered = None  # a pending namespace drain stops here
        if connection.grace_timer is not None:
            connection.grace_timer.cancel()
        self.connections.pop(connection.worker_id, None)
        for registry in self.namespaces.values():
            for function_id, entry in list(registry.items()):
                if connection in entry.replicas and entry.drop(connection):
                    del registry[function_id]
                    self.functions_changed()
        for trigger_id in [t for t, e in {**self.triggers, **self.parked}.items() if e.owner is connection]:
            self.unregister_trigger(trigger_id)
        for type_id, provider in list(self.trigger_types.items()):
            if isinstance(provider, WorkerTriggerType) and provider.connection is connection:
                self.remove_trigger_type(type_id)

    async def close(self) -> None:
        """Release what the engine holds outside its registries (the HTTP functions' connection pool)."""
        await self.http_functions.close()

    # --- invocation ---------------------------------------------------------------------------------

    async def handle_invoke(self, caller: Connection | None, message: InvokeFunction) -> InvocationResult:
        """An `invokefunction` from a worker: route it and return the result to send back."""
        if message.namespace is not None and not message.namespace.strip():
            # An explicit blank namespace is an error everywhere (§2.9).
            return InvocationResult(message.invocation_id, message.function_id,
                                    error=ErrorBody("INVALID_NAMESPACE", "namespace must not be blank"))
        data = message.data
        if caller is not None and isinstance(data, dict) and not isinstance(caller, LocalConnection):
            data = {**data, "_caller_worker_id": caller.worker_id}
        if message.action is not None and message.action.type == "enqueue":
            # Durable async call (§2.7): stored on a named queue, delivered to the function later.
            if self.enqueue is None:
                error = ErrorBody("enqueue_error", "No queue provider is installed in this engine")
                return InvocationResult(message.invocation_id, message.function_id, error=error)
            try:
                receipt = await self.enqueue(message.action.queue or "default", message.function_id, data,
                                             message.traceparent)
            except BuiltinError as exc:
                error = ErrorBody(exc.code, exc.message)
                return InvocationResult(message.invocation_id, message.function_id, error=error)
            return InvocationResult(message.invocation_id, message.function_id, {"messageReceiptId": receipt})
        result = await self.invoke(
            message.function_id, data, namespace=message.namespace, metadata=message.metadata,
            traceparent=message.traceparent, baggage=message.baggage,
        )
        result.invocation_id = message.invocation_id
        return result

    def fire(
        self, trigger: TriggerEntry, data: Any, *, metadata: bool = True
    ) -> Coroutine[Any, Any, InvocationResult]:
        """A trigger fires: its function, in the trigger's namespace, with the trigger's metadata (unless the
        trigger type delivers data only, as pub/sub does, §3.8)."""
        return self.invoke(trigger.function_id, data, namespace=trigger.namespace,
                           metadata=trigger.metadata if metadata else None, trigger=trigger)

    async def invoke(
        self,
        function_id: str,
        data: Any,
        *,
        namespace: str | None = None,
        metadata: Any = None,
        traceparent: str | None = None,
        baggage: str | None = None,
        trigger: TriggerEntry | None = None,
    ) -> InvocationResult:
        """Call a function wherever it lives (built-in, a worker, an HTTP endpoint) and wait for its result.
        Built-ins answer in every namespace; a worker's function only in its own (§2.9)."""
        builtin = self.builtins.get(function_id)
        if builtin is not None:
            token = CALL_TRACEPARENT.set(traceparent)
            try:
                return InvocationResult(function_id=function_id, result=await builtin(data))
            except BuiltinError as exc:
                return InvocationResult(function_id=function_id, error=ErrorBody(exc.code, exc.message))
            except Exception as exc:
                log.exception("built-in function %s failed", function_id)
                return InvocationResult(function_id=function_id, error=ErrorBody("invocation_error", str(exc)))
            finally:
                CALL_TRACEPARENT.reset(token)
        if namespace is None or namespace == DEFAULT_NAMESPACE:
            entry = self.functions.get(function_id)
        else:
            entry = self.namespaces.get(namespace, {}).get(function_id)
        if entry is not None and entry.invocation is not None:
            return await self.http_functions.call(
                function_id, entry.invocation, data, traceparent=traceparent, trigger=trigger
            )
        connection = entry.pick() if entry is not None else None
        if connection is None:
            return InvocationResult(function_id=function_id, error=self._not_found(function_id, namespace))
        return await connection.invoke(
            InvokeFunction(function_id, data, metadata=metadata, traceparent=traceparent, baggage=baggage)
        )

    def _not_found(self, function_id: str, namespace: str | None) -> ErrorBody:
        namespace = namespace or DEFAULT_NAMESPACE
        message = f"Function {function_id} not found in namespace {namespace}."
        elsewhere = sorted(ns for ns, registry in self.namespaces.items() if function_id in registry)
        if elsewhere:
            message += f" It is registered in namespace(s): {', '.join(elsewhere)}."
        return ErrorBody("function_not_found", message)


class BuiltinError(Exception):
    """A built-in function's refusal, reported to the caller as an ErrorBody."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
