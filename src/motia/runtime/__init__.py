"""The runtime: runs steps as a worker of an engine (the bridge between the DSL and the engine)."""

from .app import App, RemoteApp, ServedApp, run
from .remote import ReconnectPolicy, WebSocketTransport
from .transport import InProcessTransport, Transport
from .worker import Worker

__all__ = [
    "App",
    "InProcessTransport",
    "ReconnectPolicy",
    "RemoteApp",
    "ServedApp",
    "Transport",
    "WebSocketTransport",
    "Worker",
    "run",
]
