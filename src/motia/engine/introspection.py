"""The engine's own functions about workers, functions and triggers (iii's `iii-engine-functions`).

`engine::workers::register` (§2.11), the listings of §4.6, `engine::register_trigger` /
`engine::unregister_trigger` (§3.9), `engine::queue::enqueue` (§4.5) and the `engine::workers-available`
trigger type (§3.7). All of them read the engine's registries; none keeps state of its own except the
worker-available bindings.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..protocol import RegistrationRejected, new_id
from .engine import DEFAULT_NAMESPACE, BuiltinError, Connection, FunctionEntry, TriggerEntry, WorkerTriggerType

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger("motia.engine")

ENGINE_WORKER = "engine"  # worker_name shown for what the engine itself provides
PROVIDER_RESULT_TIMEOUT = 10.0  # §3.9: engine::register_trigger waits this long for a worker provider

# What `engine::triggers::list` says about the engine's own trigger types (iii's rows carry a description).
BUILTIN_TRIGGER_TYPES = {
    "http": "HTTP API trigger: a route on the REST port calls the function with the request",
    "cron": "Cron trigger: calls the function on a schedule",
    "state": "State trigger: calls the function after each change of a state key",
    "stream": "Stream trigger: calls the function after each change of a stream item",
    "stream:join": "Stream join trigger: calls the function when a client subscribes to a stream",
    "stream:leave": "Stream leave trigger: calls the function when a client unsubscribes from a stream",
    "subscribe": "Pub/sub trigger: calls the function with each message published to a topic",
    "durable:subscriber": "Durable queue subscriber: delivers each message of a topic, with retries",
    "queue": "Durable queue subscriber (the 0.9-era name of durable:subscriber)",
    "engine::workers-available": "Fires when a worker connects, disconnects or updates its metadata",
    "engine::functions-available": "Fires with the list of functions whenever functions are added or removed",
}


def install(engine: Engine) -> None:
    """Add the engine functions and the `engine::workers-available` trigger type to `engine`."""
    functions = EngineFunctions(engine)
    for function_id, fn in (
        ("engine::workers::register", functions.register_worker),
        ("engine::workers::list", functions.list_workers),
        ("engine::workers::info", functions.worker_info),
        ("engine::functions::list", functions.list_functions),
        ("engine::functions::info", functions.function_info),
        ("engine::triggers::list", functions.list_trigger_types),
        ("engine::triggers::info", functions.trigger_type_info),
        ("engine::registered-triggers::list", functions.list_registered_triggers),
        ("engine::registered-triggers::info", functions.registered_trigger_info),
        ("engine::register_trigger", functions.register_trigger),
        ("engine::unregister_trigger", functions.unregister_trigger),
        ("engine::queue::enqueue", functions.enqueue),
    ):
        engine.add_builtin(function_id, fn)
    engine.add_trigger_type(WORKERS_AVAILABLE, WorkersAvailable(engine))
    engine.add_trigger_type(FUNCTIONS_AVAILABLE, FunctionsAvailable(engine, functions))


WORKERS_AVAILABLE = "engine::workers-available"
FUNCTIONS_AVAILABLE = "engine::functions-available"


class _EngineTriggerType:
    """A trigger type the engine fires itself: keeps the bindings, fires each without waiting (the tasks are
    kept until done)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.bindings: dict[str, TriggerEntry] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def register(self, trigger: TriggerEntry) -> str | None:
        self.bindings[trigger.id] = trigger
        return None

    def unregister(self, trigger: TriggerEntry) -> None:
        self.bindings.pop(trigger.id, None)

    def fire_all(self, payload: dict[str, Any]) -> None:
        for trigger in list(self.bindings.values()):
            task = asyncio.get_running_loop().create_task(self.engine.fire(trigger, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


class WorkersAvailable(_EngineTriggerType):
    """Trigger type `engine::workers-available`: `{event: worker_connected|worker_disconnected|
    worker_metadata_updated, worker_id}` for every binding, fire-and-forget."""

    def fire(self, event: str, worker_id: str) -> None:
        self.fire_all({"event": event, "worker_id": worker_id})


class FunctionsAvailable(_EngineTriggerType):
    """Trigger type `engine::functions-available` (§3.7): `{event: "functions_changed", functions: [...]}` (the
    rows of `engine::functions::list`) once per burst of changes. iii polls every 5 s; here a change is seen
    when it happens, and the changes of one event-loop turn (a worker's whole replay) make one event."""

    def __init__(self, engine: Engine, functions: EngineFunctions) -> None:
        super().__init__(engine)
        self.functions = functions
        self._scheduled = False
        engine.function_listeners.append(self._changed)

    def _changed(self) -> None:
        if self.bindings and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._fire)

    def _fire(self) -> None:
        self._scheduled = False
        rows = [row for row in self.functions._function_rows() if not _internal(row)]
        self.fire_all({"event": "functions_changed", "functions": rows})


def _internal(row: dict[str, Any]) -> bool:
    """Hidden from listings unless asked for (§4.6): the engine's own functions and `metadata.internal`."""
    metadata = row.get("metadata")
    internal = isinstance(metadata, dict) and metadata.get("internal") is True
    return internal or row["function_id"].startswith("engine::")


def workers_changed(engine: Engine, event: str, connection: Connection) -> None:
    """Tell `engine::workers-available` bindings that a worker connected, left or described itself."""
    provider = engine.trigger_types.get(WORKERS_AVAILABLE)
    if isinstance(provider, WorkersAvailable) and provider.bindings:
        provider.fire(event, connection.worker_id)


def _namespace(connection: Connection) -> str:
    return connection.namespace or DEFAULT_NAMESPACE


def _arguments(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


class EngineFunctions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- workers ------------------------------------------------------------------------------------

    async def register_worker(self, data: Any) -> dict[str, Any]:
        """The de-facto hello (§2.11): store what the worker says about itself; claim its name."""
        args = _arguments(data)
        connection = self.engine.connections.get(args.get("_caller_worker_id", ""))
        if connection is None:
            return {"success": False}
        metadata = {k: v for k, v in args.items() if k != "_caller_worker_id"}
        name = metadata.get("name")
        namespace = metadata.get("namespace")
        if namespace is not None and (not isinstance(namespace, str) or not namespace.strip()):
            raise BuiltinError("INVALID_NAMESPACE", "namespace must be a non-blank string")
        namespace = namespace or DEFAULT_NAMESPACE
        if connection.namespace is not None and connection.namespace != namespace:
            # Its registrations already went to another namespace (the grace time passed, or a first hello).
            log.warning("worker %s asked for namespace %r after its registrations went to %r; it stays there",
                        connection.name, namespace, connection.namespace)
            namespace = connection.namespace
        if isinstance(name, str) and name:
            for other in self.engine.connections.values():
                if other is not connection and not other.closed and other.metadata.get("name") == name \
                        and _namespace(other) == namespace:
                    # The worker-name lease (§1.3): fatal for the newcomer, which the SDK does not retry.
                    await connection.send(RegistrationRejected(
                        "WORKER_NAMESPACE_CONFLICT", namespace=namespace, worker_name=name,
                        owner_worker_id=other.worker_id,
                    ))
                    await connection.close()
                    return {"success": False}
        connection.metadata = metadata
        await self.engine.settle_namespace(connection, namespace)
        workers_changed(self.engine, "worker_metadata_updated", connection)
        return {"success": True}

    def _worker_summary(self, connection: Connection) -> dict[str, Any]:
        meta = connection.metadata
        return {
            "name": connection.name,
            "description": meta.get("description"),
            "version": meta.get("version"),
            "id": connection.worker_id,
            "namespace": _namespace(connection),
            "runtime": meta.get("runtime"),
            "os": meta.get("os"),
            "status": "connected",
            "function_count": sum(1 for e in self._entries() if connection in e.replicas),
            "connected_at_ms": connection.connected_at_ms,
            "active_invocations": connection.load(),
            "isolation": meta.get("isolation"),
            "ip_address": getattr(connection, "ip_address", None),
        }

    async def list_workers(self, data: Any) -> dict[str, Any]:
        args = _arguments(data)
        search = str(args.get("search") or "").lower()
        workers = []
        for connection in list(self.engine.connections.values()):
            summary = self._worker_summary(connection)
            if search and search not in summary["name"].lower():
                continue
            if args.get("runtime") and summary["runtime"] != args["runtime"]:
                continue
            if args.get("status") and summary["status"] != args["status"]:
                continue
            workers.append(summary)
        return {"workers": workers}

    async def worker_info(self, data: Any) -> dict[str, Any]:
        args = _arguments(data)
        name = args.get("name")
        if not isinstance(name, str) or not name:
            raise BuiltinError("invalid_argument", "name is required")
        for connection in list(self.engine.connections.values()):
            if connection.name == name or connection.worker_id == name:
                worker = {**self._worker_summary(connection), "pid": connection.metadata.get("pid"), "internal": False}
                return {
                    "worker": worker,
                    "functions": [e.id for e in self._entries() if connection in e.replicas],
                    "trigger_types": [
                        t for t, p in self.engine.trigger_types.items()
                        if isinstance(p, WorkerTriggerType) and p.connection is connection
                    ],
                    "registered_triggers": [
                        self._binding(t) for t in self.engine.triggers.values() if t.owner is connection
                    ],
                }
        raise BuiltinError("worker_not_found", f"Worker {name} not found.")

    # --- functions ----------------------------------------------------------------------------------

    def _entries(self) -> list[FunctionEntry]:
        """Every worker-hosted function, of every namespace."""
        return [e for registry in list(self.engine.namespaces.values()) for e in list(registry.values())]

    def _function_rows(self) -> list[dict[str, Any]]:
        rows = [
            {"function_id": function_id, "namespace": DEFAULT_NAMESPACE, "worker_name": ENGINE_WORKER}
            for function_id in self.engine.builtins
        ]
        for entry in self._entries():
            rows.append(self._function_row(entry))
        return rows

    @staticmethod
    def _function_row(entry: FunctionEntry) -> dict[str, Any]:
        row: dict[str, Any] = {
            "function_id": entry.id,
            "namespace": entry.namespace,
            "worker_name": entry.connection.name if entry.connection is not None else ENGINE_WORKER,
        }
        if entry.description is not None:
            row["description"] = entry.description
        if entry.metadata is not None:
            row["metadata"] = entry.metadata
        if len(entry.replicas) > 1:
            row["replicas"] = len(entry.replicas)
        return row

    async def list_functions(self, data: Any) -> dict[str, Any]:
        args = _arguments(data)
        search = str(args.get("search") or "").lower()
        prefix = args.get("prefix")
        workers = set(args.get("workers") or ())
        if args.get("worker"):
            workers.add(args["worker"])
        functions = []
        for row in self._function_rows():
            function_id: str = row["function_id"]
            if _internal(row) and not args.get("include_internal"):
                continue
            if isinstance(prefix, str) and not function_id.startswith(prefix):
                continue
            if search and search not in function_id.lower() and search not in str(row.get("description", "")).lower():
                continue
            if workers and row["worker_name"] not in workers:
                continue
            functions.append(row)
        return {"functions": functions}

    def _function_detail(self, function_id: str, namespace: str) -> dict[str, Any] | None:
        entry = self.engine.namespaces.get(namespace, {}).get(function_id)
        if entry is None:
            if function_id not in self.engine.builtins:
                return None
            detail: dict[str, Any] = {
                "function_id": function_id, "namespace": DEFAULT_NAMESPACE, "worker_name": ENGINE_WORKER,
            }
        else:
            detail = self._function_row(entry)
            registration = entry.registration
            if registration is not None and registration.request_format is not None:
                detail["request_schema"] = registration.request_format
            if registration is not None and registration.response_format is not None:
                detail["response_schema"] = registration.response_format
        detail["registered_triggers"] = [
            {"id": t.id, "trigger_type": t.type, "config": t.config}
            for t in self.engine.triggers.values() if t.function_id == function_id and t.namespace == namespace
        ]
        return detail

    async def function_info(self, data: Any) -> dict[str, Any]:
        args = _arguments(data)
        namespace = args.get("namespace", DEFAULT_NAMESPACE)
        if not isinstance(namespace, str) or not namespace.strip():
            raise BuiltinError("INVALID_NAMESPACE", "namespace must be a non-blank string")
        ids = args.get("function_ids")
        if isinstance(ids, list):
            details = [self._function_detail(str(i), namespace) for i in ids[:32]]
            return {"functions": [d for d in details if d is not None]}
        function_id = args.get("function_id")
        if not isinstance(function_id, str):
            raise BuiltinError("invalid_argument", "function_id or function_ids is required")
        detail = self._function_detail(function_id, namespace)
        if detail is None:
            raise BuiltinError("function_not_found", f"Function {function_id} not found in namespace {namespace}.")
        return detail

    # --- trigger types and bindings -----------------------------------------------------------------

    def _trigger_type_row(self, type_id: str) -> dict[str, Any]:
        provider = self.engine.trigger_types[type_id]
        row: dict[str, Any] = {"id": type_id, "namespace": DEFAULT_NAMESPACE, "worker_name": ENGINE_WORKER}
        if isinstance(provider, WorkerTriggerType):
            row["worker_name"] = provider.connection.name
            row["namespace"] = _namespace(provider.connection)
            if provider.description is not None:
                row["description"] = provider.description
        elif type_id in BUILTIN_TRIGGER_TYPES:
            row["description"] = BUILTIN_TRIGGER_TYPES[type_id]
        return row

    async def list_trigger_types(self, data: Any) -> dict[str, Any]:
        return {"triggers": [self._trigger_type_row(t) for t in list(self.engine.trigger_types)]}

    async def trigger_type_info(self, data: Any) -> dict[str, Any]:
        type_id = _arguments(data).get("id")
        if not isinstance(type_id, str) or type_id not in self.engine.trigger_types:
            raise BuiltinError("trigger_type_not_found", f"Trigger type {type_id} not found.")
        row = self._trigger_type_row(type_id)
        provider = self.engine.trigger_types[type_id]
        if isinstance(provider, WorkerTriggerType):
            row["trigger_request_format"] = provider.trigger_request_format
            row["call_request_format"] = provider.call_request_format
        row["instance_count"] = sum(1 for t in self.engine.triggers.values() if t.type == type_id)
        return row

    @staticmethod
    def _binding(trigger: TriggerEntry) -> dict[str, Any]:
        config = trigger.config
        if trigger.type == "http" and isinstance(config, dict):
            summary = f"{str(config.get('http_method') or 'GET').upper()} {config.get('api_path')}"
        elif trigger.type == "cron" and isinstance(config, dict):
            summary = str(config.get("expression"))
        elif isinstance(config, dict):
            summary = ", ".join(f"{k}={v}" for k, v in config.items() if isinstance(v, (str, int, float)))
        else:
            summary = ""
        return {
            "id": trigger.id,
            "trigger_type": trigger.type,
            "function_id": trigger.function_id,
            "worker_name": trigger.owner.name if trigger.owner is not None else ENGINE_WORKER,
            "config": config,
            "config_summary": summary,
        }

    async def list_registered_triggers(self, data: Any) -> dict[str, Any]:
        args = _arguments(data)
        rows = []
        for trigger in list(self.engine.triggers.values()):
            if args.get("trigger_type") and trigger.type != args["trigger_type"]:
                continue
            if args.get("function_id") and trigger.function_id != args["function_id"]:
                continue
            row = self._binding(trigger)
            if args.get("worker") and row["worker_name"] != args["worker"]:
                continue
            rows.append(row)
        return {"registered_triggers": rows}

    async def registered_trigger_info(self, data: Any) -> dict[str, Any]:
        trigger_id = _arguments(data).get("id")
        trigger = self.engine.triggers.get(trigger_id) if isinstance(trigger_id, str) else None
        if trigger is None:
            raise BuiltinError("trigger_not_found", f"Trigger {trigger_id} not found.")
        return self._binding(trigger)

    async def register_trigger(self, data: Any) -> dict[str, Any]:
        """A durable binding (§3.9): owned by the engine, not the caller, so it outlives the caller."""
        args = _arguments(data)
        trigger_type, function_id = args.get("trigger_type"), args.get("function_id")
        if not isinstance(trigger_type, str) or not isinstance(function_id, str):
            raise BuiltinError("invalid_argument", "trigger_type and function_id are required")
        trigger = TriggerEntry(new_id(), trigger_type, function_id, args.get("config"), args.get("metadata"), None)
        provider = self.engine.trigger_types.get(trigger_type)
        waiter: asyncio.Future[Any] | None = None
        if isinstance(provider, WorkerTriggerType):
            waiter = asyncio.get_running_loop().create_future()
            provider.waiters[trigger.id] = waiter
        error = self.engine.register_trigger(trigger)
        if error is not None:
            raise BuiltinError("trigger_registration_failed", error)
        if waiter is not None and isinstance(provider, WorkerTriggerType):
            try:
                refused = await asyncio.wait_for(waiter, PROVIDER_RESULT_TIMEOUT)
            except asyncio.TimeoutError:
                refused = None  # no answer: the binding stays, as with the message form
            finally:
                provider.waiters.pop(trigger.id, None)
            if refused is not None:
                self.engine.unregister_trigger(trigger.id)
                raise BuiltinError("trigger_registration_failed", refused.message)
        return {"id": trigger.id}

    async def unregister_trigger(self, data: Any) -> dict[str, Any]:
        trigger_id = _arguments(data).get("id")
        return {"removed": isinstance(trigger_id, str) and self.engine.unregister_trigger(trigger_id)}

    async def enqueue(self, data: Any) -> dict[str, Any]:
        """The queue provider's function (§4.5): `{queue, function_id, data, ...}` -> `{messageReceiptId}`.
        Newer SDKs send `TriggerAction.Enqueue` here; the message is delivered later with `data` only."""
        args = _arguments(data)
        queue, function_id = args.get("queue") or "default", args.get("function_id")
        if not isinstance(queue, str) or not isinstance(function_id, str) or not function_id:
            raise BuiltinError("enqueue_error", "queue (a name) and function_id are required")
        if self.engine.enqueue is None:
            raise BuiltinError("enqueue_error", "No queue provider is installed in this engine")
        traceparent = args.get("traceparent")
        receipt = await self.engine.enqueue(
            queue, function_id, args.get("data"), traceparent if isinstance(traceparent, str) else None
        )
        return {"messageReceiptId": receipt}


__all__ = ["EngineFunctions", "FunctionsAvailable", "WorkersAvailable", "install", "workers_changed"]
