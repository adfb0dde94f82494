"""An app whose steps run as a worker of an engine in another process (`motia run --engine URL`), and what every
app's process needs: graceful stop on signals, the event loop.

The app with the embedded engine is assembled by the composition root, `motia.assembly`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..registry import Registry
from .remote import ReconnectPolicy, WebSocketTransport
from .worker import Worker
from .workers import parent_watch

log = logging.getLogger("motia")


class RemoteApp:
    """An app whose steps run as a worker of an engine in another process: `motia run --engine URL`.

    No embedded engine, no HTTP server: the engine at `engine_url` (`motia engine` or a real iii engine)
    serves the routes and calls this worker. Any number of these may serve the same steps (replicas).
    """

    def __init__(
        self,
        registry: Registry,
        engine_url: str,
        *,
        default_timeout: float | None = 30.0,
        drain_timeout: float = 10.0,
        reconnect: ReconnectPolicy | None = None,
        name: str | None = None,
        token: str | None = None,
    ) -> None:
        self.registry = registry
        self.worker = Worker(registry, default_timeout=default_timeout)
        self.transport = WebSocketTransport(
            engine_url, self.worker, drain_timeout=drain_timeout, reconnect=reconnect, name=name, token=token
        )

    async def start(self, timeout: float | None = None) -> None:
        """Connect and register the steps (retrying until the engine is up, or `timeout` seconds)."""
        await self.transport.start(timeout)
        log.info("%d steps loaded; worker of the engine at %s", len(self.registry), self.transport.url)

    async def stop(self) -> None:
        """Leave gracefully: the engine routes new calls elsewhere, running handlers finish, then close."""
        await self.transport.close()
        self.worker.detach()

    async def serve(self, on_started: Callable[[], None] | None = None) -> None:
        """Work until SIGINT or SIGTERM (or until the engine refuses this worker), then leave gracefully;
        `on_started` is called once the worker is registered."""
        stop = asyncio.Event()
        with stop_on_signals(stop), parent_watch(stop):
            try:
                waiter = asyncio.create_task(stop.wait())
                starting = asyncio.create_task(self.start())
                await asyncio.wait({waiter, starting}, return_when=asyncio.FIRST_COMPLETED)
                if starting.done():
                    starting.result()
                    if on_started is not None:
                        on_started()
                    assert self.transport.stopped is not None
                    await asyncio.wait({waiter, self.transport.stopped}, return_when=asyncio.FIRST_COMPLETED)
                    if self.transport.stopped.done():
                        self.transport.stopped.result()
                else:
                    starting.cancel()
                waiter.cancel()
                log.info("shutting down")
            finally:
                await self.stop()


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Set `stop` on SIGINT/SIGTERM while inside (main thread only: signals cannot be caught elsewhere)."""
    loop = asyncio.get_running_loop()
    installed = []
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)



def run(coro: Any) -> Any:
    """Run a coroutine on uvloop when it is installed, else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
