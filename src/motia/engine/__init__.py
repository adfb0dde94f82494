"""The embedded iii engine: protocol core, HTTP trigger type and router (no dependency on the DSL)."""

from .engine import BuiltinError, Connection, Engine, LocalConnection, TriggerEntry
from .http import HttpModule
from .router import RouteConflict, Router

__all__ = [
    "BuiltinError",
    "Connection",
    "Engine",
    "HttpModule",
    "LocalConnection",
    "RouteConflict",
    "Router",
    "TriggerEntry",
]
