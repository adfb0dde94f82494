"""The embedded iii engine: protocol core, HTTP trigger type and router (no dependency on the DSL)."""

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
