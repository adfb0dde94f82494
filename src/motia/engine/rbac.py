"""Who may do what on a worker port: RBAC (`docs/protocol.md` §4.9) and motia's trusted-port checks.

`WorkerPortConfig` is one `iii-worker-manager` listener (one definition, used by `config.yaml` and the CLI).
A connection on a port with an `rbac` block gets a `Session` from the port's auth function; `SessionRules`
then stands between that connection and the engine: calls outside the session's grants are answered
`FORBIDDEN`, registrations go through the port's hooks and prefix, and `engine::functions::list` shows only
what the session may call.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import hmac
import logging
import re
from typing import TYPE_CHECKING, Any, Union

import msgspec

from ..protocol import (
    ErrorBody,
    InvocationResult,
    InvokeFunction,
    Message,
    ProtocolError,
    RegisterFunction,
    RegisterTrigger,
    RegisterTriggerType,
    TriggerRegistrationResult,
    UnregisterFunction,
)

if TYPE_CHECKING:
    from .engine import Connection, Engine

log = logging.getLogger("motia.engine.rbac")

# Always callable from an RBAC session: what every SDK needs to work at all (§4.9).
INFRASTRUCTURE = ("engine::channels::create", "engine::workers::register", "engine::log::*", "engine::baggage::*")
# The auth function and the hooks run while the connection waits (its frames are handled in order): one that
# never answers must not hold it for ever.
CALL_TIMEOUT = 10.0
_MATCH = re.compile(r"""^match\((?:"([^"]*)"|'([^']*)')\)$""")


class ExposeMetadata(msgspec.Struct, forbid_unknown_fields=True):
    """An `expose_functions` rule that exposes every function whose registration metadata has these values."""

    metadata: dict[str, Any]


def _glob(rule: str) -> str:
    """`match("orders::*")` -> `orders::*`; any other string is a configuration error."""
    found = _MATCH.match(rule.strip())
    if found is None:
        raise ValueError(f'an expose_functions rule is match("glob") or {{metadata: {{...}}}}, not {rule!r}')
    return found.group(1) if found.group(1) is not None else found.group(2)


class RbacConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The `rbac` block of a worker port (§4.9)."""

    auth_function_id: str | None = None
    expose_functions: list[Union[str, ExposeMetadata]] = msgspec.field(default_factory=list)
    on_function_registration_function_id: str | None = None
    on_trigger_registration_function_id: str | None = None
    on_trigger_type_registration_function_id: str | None = None

    def __post_init__(self) -> None:
        for rule in self.expose_functions:
            if isinstance(rule, str):
                _glob(rule)  # refused here, at start-up, rather than at the first call

    def exposes(self, function_id: str, metadata: Any) -> bool:
        for rule in self.expose_functions:
            if isinstance(rule, str):
                if fnmatch.fnmatchcase(function_id, _cached_glob(rule)):
                    return True
            elif isinstance(metadata, dict) and all(metadata.get(k) == v for k, v in rule.metadata.items()):
                return True
        return False


@functools.lru_cache(maxsize=256)
def _cached_glob(rule: str) -> str:
    return _glob(rule)


class WorkerPortConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One worker port: iii's `iii-worker-manager` entry, plus motia's trusted-port settings.

    `auth_token` and `allowed_origins` are motia's (iii has neither): a shared secret every worker must send
    as `Authorization: Bearer <token>` (what iii SDKs send from `III_TOKEN`), and the browser origins whose
    pages may open the port (none by default: a handshake carrying an `Origin` header is refused)."""

    # iii binds 0.0.0.0 by default; motia keeps the worker port on loopback unless told otherwise.
    host: str = "127.0.0.1"
    port: int = 49134
    handshake_timeout_ms: int = 10_000
    middleware_function_id: str | None = None
    rbac: RbacConfig | None = None
    auth_token: str | None = None
    allowed_origins: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, not {self.port}")
        if self.handshake_timeout_ms <= 0:
            raise ValueError("handshake_timeout_ms must be positive")
        if self.auth_token is not None and not self.auth_token.strip():
            self.auth_token = None  # `${MOTIA_WORKER_TOKEN:}` with the variable unset: no token

    def origin_allowed(self, origin: str | None) -> bool:
        """Workers send no `Origin`; a browser page always does. Only listed origins may connect."""
        return origin is None or "*" in self.allowed_origins or origin in self.allowed_origins

    def token_accepted(self, authorization: str | None) -> bool:
        if self.auth_token is None:
            return True
        scheme, _, credential = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(),
                                                                   self.auth_token.encode())


class Session(msgspec.Struct, kw_only=True):
    """What a port's auth function grants one connection (§4.9)."""

    allowed_functions: list[str] = msgspec.field(default_factory=list)
    forbidden_functions: list[str] = msgspec.field(default_factory=list)
    allowed_trigger_types: list[str] | None = None
    allow_trigger_type_registration: bool = False
    allow_function_registration: bool = True
    function_registration_prefix: str | None = None
    namespaces: dict[str, Any] | None = None
    context: Any = None


class AuthRefused(Exception):
    """The handshake is refused with AUTH_ERROR (§1.3): the message says why."""


async def authenticate(engine: Engine, port: WorkerPortConfig, request: dict[str, Any]) -> Session | None:
    """The session of a new connection: None on a port without `rbac` (everything allowed)."""
    rbac = port.rbac
    if rbac is None:
        return None
    if rbac.auth_function_id is None:
        return Session()
    result = await _call_within(engine, rbac.auth_function_id, request)
    if result.error is not None:
        raise AuthRefused(result.error.message or result.error.code)
    try:
        return msgspec.convert(result.result, Session)
    except msgspec.ValidationError as exc:
        raise AuthRefused(f"the auth function {rbac.auth_function_id} returned no valid session: {exc}") from None


class SessionRules:
    """The checks between one connection of a guarded port and the engine. `admit` returns the message the
    engine should handle (maybe rewritten), or None when it was refused or fully answered here."""

    def __init__(self, engine: Engine, port: WorkerPortConfig, session: Session | None) -> None:
        self.engine = engine
        self.port = port
        self.rbac = port.rbac
        self.session = session

    def may_call(self, function_id: str) -> bool:
        session, rbac = self.session, self.rbac
        if session is None or rbac is None:
            return True
        if function_id in session.forbidden_functions:
            return False
        if function_id in session.allowed_functions:
            return True
        if any(fnmatch.fnmatchcase(function_id, pattern) for pattern in INFRASTRUCTURE):
            return True
        entry = self.engine.functions.get(function_id)
        return rbac.exposes(function_id, entry.metadata if entry is not None else None)

    @property
    def namespace(self) -> str:
        return "default"  # what the hooks are told, whatever namespace the connection registers in (§4.9)

    async def admit(self, connection: Connection, message: Message) -> Message | None:
        if isinstance(message, InvokeFunction):
            return await self._call(connection, message)
        if isinstance(message, RegisterFunction):
            return await self._register_function(connection, message)
        if isinstance(message, UnregisterFunction):
            return UnregisterFunction(_engine_id(connection, message.id))
        if isinstance(message, RegisterTrigger):
            return await self._register_trigger(connection, message)
        if isinstance(message, RegisterTriggerType):
            return await self._register_trigger_type(connection, message)
        return message

    # --- calls --------------------------------------------------------------------------------------

    async def _call(self, connection: Connection, message: InvokeFunction) -> Message | None:
        function_id = message.function_id
        if function_id == "engine::functions::list" and self.session is not None:
            # Callable by every session, which sees in it only what it may call (§4.9).
            result = await self.engine.handle_invoke(connection, message)
            listed = result.result
            if isinstance(listed, dict) and isinstance(listed.get("functions"), list):
                listed["functions"] = [row for row in listed["functions"]
                                       if isinstance(row, dict) and self.may_call(str(row.get("function_id")))]
            await self._answer(connection, message, result=result)
            return None
        if not self.may_call(function_id):
            await self._answer(connection, message, error=ErrorBody(
                "FORBIDDEN", f"function '{function_id}' not allowed (add to rbac.expose_functions)"))
            return None
        middleware = self.port.middleware_function_id
        if middleware is None or function_id in self.engine.builtins:
            return message
        # The session middleware runs instead of the target, and normally calls it itself (§4.9).
        action = message.action
        wrapped = {
            "function_id": function_id,
            "payload": message.data,
            "action": msgspec.to_builtins(action) if action is not None else None,
            "context": self.session.context if self.session is not None else None,
            "namespace": message.namespace or self.namespace,
        }
        return InvokeFunction(
            middleware, wrapped, invocation_id=message.invocation_id,
            action=action if action is not None and action.type == "void" else None,
            metadata=message.metadata, traceparent=message.traceparent, baggage=message.baggage,
        )

    async def _answer(self, connection: Connection, message: InvokeFunction, *,
                      error: ErrorBody | None = None, result: InvocationResult | None = None) -> None:
        if message.invocation_id is None or (message.action is not None and message.action.type == "void"):
            if error is not None:
                log.warning("worker %s: %s", connection.name, error.message)
            return
        if result is None:
            result = InvocationResult(message.invocation_id, message.function_id, error=error)
        result.invocation_id = message.invocation_id
        await connection.send(result)

    # --- registrations ------------------------------------------------------------------------------

    async def _hook(self, function_id: str | None, data: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Run a registration hook: (allowed, the fields it maps)."""
        if function_id is None:
            return True, {}
        result = await _call_within(self.engine, function_id, data)
        if result.error is not None:
            return False, {"message": result.error.message}
        return True, result.result if isinstance(result.result, dict) else {}

    async def _register_function(self, connection: Connection, message: RegisterFunction) -> Message | None:
        session = self.session
        if session is not None and not session.allow_function_registration:
            await _refuse(connection, f"function registration is not allowed on this port ('{message.id}')")
            return None
        worker_id = message.id
        engine_id = f"{session.function_registration_prefix}::{worker_id}" \
            if session is not None and session.function_registration_prefix else worker_id
        allowed, mapped = await self._hook(self.rbac.on_function_registration_function_id if self.rbac else None, {
            "function_id": engine_id, "description": message.description, "metadata": message.metadata,
            "namespace": self.namespace, "context": session.context if session is not None else None,
        })
        if not allowed:
            await _refuse(connection, f"registration of function '{engine_id}' denied: {mapped['message']}")
            return None
        engine_id = str(mapped.get("function_id") or engine_id)
        if engine_id != worker_id:
            connection.aliases[engine_id] = worker_id
        return RegisterFunction(
            engine_id, mapped.get("description", message.description), message.request_format,
            message.response_format, mapped.get("metadata", message.metadata), message.invocation,
        )

    async def _register_trigger(self, connection: Connection, message: RegisterTrigger) -> Message | None:
        session = self.session
        function_id = _engine_id(connection, message.function_id)
        denied: str | None = None
        if session is not None and session.allowed_trigger_types is not None \
                and message.trigger_type not in session.allowed_trigger_types:
            denied = f"trigger type '{message.trigger_type}' not allowed on this port"
        elif not self._owns(connection, function_id) and not self.may_call(function_id):
            # A trigger calls its function on the session's behalf: `POST /x` -> `state::list` would read state.
            denied = f"function '{function_id}' not allowed (add to rbac.expose_functions)"
        mapped: dict[str, Any] = {}
        if denied is None:
            allowed, mapped = await self._hook(self.rbac.on_trigger_registration_function_id if self.rbac else None, {
                "trigger_id": message.id, "trigger_type": message.trigger_type, "function_id": function_id,
                "config": message.config, "metadata": message.metadata, "namespace": self.namespace,
                "context": session.context if session is not None else None,
            })
            if not allowed:
                denied = f"registration of trigger '{message.id}' denied: {mapped['message']}"
        if denied is not None:
            await connection.send(TriggerRegistrationResult(
                message.id, message.trigger_type, message.function_id, ErrorBody("FORBIDDEN", denied)))
            return None
        return RegisterTrigger(
            message.id, message.trigger_type, str(mapped.get("function_id") or function_id),
            mapped.get("config", message.config), mapped.get("metadata", message.metadata),
            message.namespace, message.trigger_namespace,
        )

    def _owns(self, connection: Connection, function_id: str) -> bool:
        entry = self.engine.functions.get(function_id)
        return entry is not None and connection in entry.replicas

    async def _register_trigger_type(self, connection: Connection, message: RegisterTriggerType) -> Message | None:
        session = self.session
        if session is not None and not session.allow_trigger_type_registration:
            await _refuse(connection, f"trigger type registration is not allowed on this port ('{message.id}')")
            return None
        allowed, mapped = await self._hook(
            self.rbac.on_trigger_type_registration_function_id if self.rbac else None,
            {"trigger_type_id": message.id, "description": message.description,
             "context": session.context if session is not None else None},
        )
        if not allowed:
            await _refuse(connection, f"registration of trigger type '{message.id}' denied: {mapped['message']}")
            return None
        return message


async def _call_within(engine: Engine, function_id: str, data: Any) -> InvocationResult:
    try:
        return await asyncio.wait_for(engine.invoke(function_id, data), CALL_TIMEOUT)
    except asyncio.TimeoutError:
        return InvocationResult(function_id=function_id, error=ErrorBody(
            "TIMEOUT", f"{function_id} did not answer within {CALL_TIMEOUT:g}s"))


def _engine_id(connection: Connection, worker_id: str) -> str:
    """The worker names its own functions by the ids it registered; the engine may know them renamed."""
    return next((engine_id for engine_id, own in connection.aliases.items() if own == worker_id), worker_id)


async def _refuse(connection: Connection, message: str) -> None:
    """A refused registration: one `error` frame (FORBIDDEN); the connection stays open (§4.9)."""
    log.warning("worker %s: %s", connection.name, message)
    await connection.send(ProtocolError(ErrorBody("FORBIDDEN", message)))


__all__ = [
    "AuthRefused", "ExposeMetadata", "RbacConfig", "Session", "SessionRules", "WorkerPortConfig", "authenticate",
]
