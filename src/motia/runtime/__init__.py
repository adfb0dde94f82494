"""The runtime: runs steps as a worker of an engine (the bridge between the DSL and the engine)."""

from .app import App, ServedApp, run
from .transport import InProcessTransport, Transport
from .worker import Worker

__all__ = ["App", "InProcessTransport", "ServedApp", "Transport", "Worker", "run"]
