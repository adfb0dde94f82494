"""The runtime: runs steps as a worker of an engine (the bridge between the DSL and the engine). The app with the
embedded engine is assembled in `motia.assembly`."""

from .app import RemoteApp, run
from .remote import ReconnectPolicy, WebSocketTransport
from .transport import InProcessTransport, Transport
from .worker import Worker

__all__ = [
    "InProcessTransport",
    "ReconnectPolicy",
    "RemoteApp",
    "Transport",
    "WebSocketTransport",
    "Worker",
    "run",
]
