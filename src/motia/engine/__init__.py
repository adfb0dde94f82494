"""The embedded iii engine: the protocol core (`engine`), its trigger types (http, queues, cron, state, streams,
pub/sub), the stores and the worker port; `embedded.EmbeddedEngine` assembles them. It depends on the protocol
types, errors and small utilities only, never on the DSL, the legacy forms or the runtime (docs/architecture.md)."""

from .engine import BuiltinError, Connection, Engine, LocalConnection, TriggerEntry
from .http import HttpModule
from .router import RouteConflict, Router
from .ws import WebSocketConnection, WorkerServer

__all__ = [
    "BuiltinError",
    "Connection",
    "Engine",
    "HttpModule",
    "LocalConnection",
    "RouteConflict",
    "Router",
    "TriggerEntry",
    "WebSocketConnection",
    "WorkerServer",
]
