"""The runtime's connection to an engine: one small interface, one implementation per transport.

`InProcessTransport` hands protocol message objects to the embedded engine without serialising them;
the WebSocket transport to an external iii engine implements the same interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..engine.engine import Engine, LocalConnection, WorkerEndpoint
from ..protocol import InvocationResult, InvokeFunction, Message


class Transport(ABC):
    @abstractmethod
    async def send(self, message: Message) -> None:
        """Send a worker -> engine message that expects no reply (registrations, void calls)."""

    @abstractmethod
    async def invoke(self, message: InvokeFunction) -> InvocationResult:
        """Call an engine or worker function and wait for its result."""

    @abstractmethod
    async def close(self) -> None:
        """Release the connection; the engine forgets what this worker registered."""


class InProcessTransport(Transport):
    def __init__(self, engine: Engine, worker: WorkerEndpoint) -> None:
        self.engine = engine
        self.connection: LocalConnection = engine.connect(worker)

    async def send(self, message: Message) -> None:
        await self.engine.receive(self.connection, message)

    async def invoke(self, message: InvokeFunction) -> InvocationResult:
        return await self.engine.handle_invoke(self.connection, message)

    async def close(self) -> None:
        await self.engine.disconnect(self.connection)
