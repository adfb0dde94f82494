"""Running an app: the embedded engine, its HTTP server and the worker, in one event loop.

`App.serve()` is what `motia run` calls; `App.start()`/`stop()` let tests and tools drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from ..console import CONSOLE_PATH, serve_console, unavailable_reason
from ..engine.channels import Channels
from ..engine.clock import Clock
from ..engine.cors import CorsPolicy
from ..engine.embedded import EmbeddedEngine
from ..engine.http import DEFAULT_MAX_BODY_SIZE, HttpLimits
from ..engine.options import EngineOptions
from ..engine.queues import QueueSettings
from ..engine.rbac import WorkerPortConfig
from ..engine.redis import RedisStore
from ..engine.store import MemoryStore, SqliteStore, Store
from ..engine.streams import StreamLimits
from ..engine.ws import WorkerServer
from ..recording import Recorder, RecordingConfig
from ..registry import Registry
from .access_log import AccessLog
from .docs_pages import docs_paths, serve_docs
from .graph_page import GRAPH_PATH, serve_graph
from .recording_pages import PAGES as RECORDING_PAGES
from .recording_pages import serve_recording
from .remote import ReconnectPolicy, WebSocketTransport
from .transport import InProcessTransport
from .worker import OPENAPI_PATH, Worker
from .workers import WorkerPool, parent_watch

log = logging.getLogger("motia")


class ListenError(OSError):
    """A port the app cannot listen on. `role` says which ("HTTP", "the stream WebSocket", "the worker port"),
    so that the command line can name the flag that moves it."""

    def __init__(self, role: str, host: str, port: int, cause: OSError) -> None:
        reason = ("another program uses that port (another motia run?)" if cause.errno == errno.EADDRINUSE
                  else (cause.strerror or str(cause)).lower())
        super().__init__(cause.errno, f"cannot listen on {host}:{port} for {role}: {reason}")
        self.role = role
        self.in_use = cause.errno == errno.EADDRINUSE

    def __str__(self) -> str:
        return str(self.strerror)


class _Server(uvicorn.Server):
    # The app owns SIGINT/SIGTERM (graceful shutdown, exit 0); uvicorn must not re-raise them.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class App:
    """An app served by the embedded engine."""

    def __init__(
        self,
        registry: Registry,
        *,
        host: str = "127.0.0.1",
        port: int = 3111,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        default_timeout: float | None = 30.0,
        data_dir: str | Path = ".motia",
        memory: bool = False,
        store: Store | RedisStore | None = None,
        redis_url: str | None = None,
        clock: Clock | None = None,
        stream_host: str | None = None,
        stream_port: int | None = 3112,
        drain_timeout: float = 10.0,
        engine_host: str = "127.0.0.1",
        engine_port: int | None = None,
        worker_ports: Sequence[WorkerPortConfig] = (),
        admin: bool | None = None,
        cors_origins: Sequence[str] = (),
        cors_methods: Sequence[str] = (),
        limits: HttpLimits | None = None,
        stream_auth_function: str | None = None,
        queue_settings: dict[str, QueueSettings] | None = None,
        engine_options: EngineOptions | None = None,
        stream_limits: StreamLimits | None = None,
        operator_hosts: Sequence[str] = (),
        docs: bool | None = None,
        record: bool = False,
        recording: RecordingConfig | None = None,
        console: bool = False,
        console_token: str | None = None,
        access_log: bool = False,
        workers: WorkerPool | None = None,
    ) -> None:
        """`console` serves the console at /__motia/ (loopback `host` only, unless a `console_token` is given)."""
        self.registry = registry
        self.access_log = access_log
        # `--workers N`: the steps run in these child processes, not in this one (see runtime/workers.py).
        self.workers = workers
        self.pool_server: WorkerServer | None = None
        self.limits = limits or HttpLimits()
        # The worker ports (external workers, `motia run --engine`): `worker_ports` (config.yaml's
        # `iii-worker-manager` entries), else one on engine_host:engine_port; none: in-process worker only.
        if not worker_ports and engine_port is not None:
            worker_ports = [WorkerPortConfig(host=engine_host, port=engine_port)]
        self.worker_ports = list(worker_ports)
        self.engine_host = self.worker_ports[0].host if self.worker_ports else engine_host
        self.engine_port = self.worker_ports[0].port if self.worker_ports else None
        self.worker_servers: list[WorkerServer] = []
        self.host = host
        self.port = port
        self.stream_host = stream_host or host
        self.stream_port = stream_port
        self.drain_timeout = drain_timeout
        if store is None and redis_url is not None:
            store = RedisStore(redis_url)  # `--store redis://...`: shared with every node on that Redis
        elif store is None:
            store = MemoryStore() if memory else SqliteStore(Path(data_dir) / "motia.db")
        self.store = store
        # The operator routes under /__motia/ change state and queues: only on a loopback interface unless asked.
        admin = host in ("127.0.0.1", "localhost", "::1") if admin is None else admin
        cors = None
        if cors_origins:
            cors = CorsPolicy(cors_origins, methods=cors_methods) if cors_methods else CorsPolicy(cors_origins)
        self.embedded = EmbeddedEngine(store, clock=clock, max_body_size=max_body_size, admin=admin, cors=cors,
                                       stream_auth_function=stream_auth_function, queue_settings=queue_settings,
                                       options=engine_options, stream_limits=stream_limits,
                                       operator_hosts=operator_hosts)
        self.engine = self.embedded.core
        self.http = self.embedded.http
        # What the banner lists: the pages this app serves, by name.
        self.pages: dict[str, str] = {"openapi": OPENAPI_PATH}
        if admin:  # the flow graph page names step files: served where the operator routes are
            serve_graph(self.engine, registry)
            self.pages["graph"] = GRAPH_PATH
        # The API docs pages: on where the operator routes are unless asked (`--docs`/`--no-docs`); not for
        # `motia engine` alone, whose own registry is empty (its workers' topics are not known here).
        engine_alone = engine_port is not None and not len(registry) and not registry.streams
        docs = admin and not engine_alone if docs is None else docs
        if docs:
            serve_docs(self.engine, registry)
            self.pages.update(docs_paths())
        access = None  # the console's checks (its token, Origin), which the recording's routes take on too
        if console:
            reason = unavailable_reason(host, console_token)
            if reason is not None:
                raise ValueError(reason)
            access = serve_console(self.embedded, registry, token=console_token)
            self.pages["console"] = CONSOLE_PATH
        self.worker = Worker(registry, default_timeout=default_timeout)
        # Recording (`--record`): every trace and log line for the console, kept beside the store's file.
        self.recorder: Recorder | None = None
        if record:
            history = store.path.parent / "recording.db" if isinstance(store, SqliteStore) else None
            self.recorder = Recorder(recording, history)
            self.worker.recorder = self.recorder
            self.recorder.owner = self.worker
            if admin or access is not None:  # its pages and APIs are the console's traces and logs
                serve_recording(self.engine, self.recorder, lambda: self.url,
                                access.guard if access is not None else None)
                self.pages.update(RECORDING_PAGES)
        self.transport: InProcessTransport | None = None
        self._server: _Server | None = None
        self._server_task: asyncio.Task[None] | None = None

    async def start_engine(self) -> None:
        """Register the steps with the engine and start it (stream and worker ports, cron), without HTTP."""
        if self.recorder is not None:
            await self.recorder.start()
        if (len(self.registry) or self.registry.streams or self.engine_port is None) and self.workers is None:
            # `motia engine` has no steps of its own: an in-process worker would only add an empty OpenAPI
            # document, a replica of the one its workers serve.
            self.transport = InProcessTransport(self.engine, self.worker)
            await self.worker.attach(self.transport)
        if self.engine_port is None and self.workers is None:
            # No other worker can ever connect: a remembered subscription the steps did not make again is that
            # of a removed or renamed step, and would otherwise collect a copy of every message until retention.
            self.embedded.queues.forget_away()
        try:
            await self.embedded.start(stream_host=self.stream_host, stream_port=self.stream_port)
        except OSError as exc:  # binding the stream port is the only system call there
            raise ListenError("the stream WebSocket", self.stream_host, self.stream_port or 0, exc) from None
        self.stream_port = self.embedded.streams.port
        channels = Channels()  # one set for every port: a channel made on one may be read on another
        for settings in self.worker_ports:
            server = WorkerServer(self.engine, settings=settings, channels=channels)
            self.worker_servers.append(server)
            try:
                await server.start()
            except OSError as exc:
                raise ListenError("the worker port", settings.host, settings.port, exc) from None
            log.info("worker port on %s%s", server.url, _guards(settings))
        if self.worker_servers:
            self.engine_port = self.worker_servers[0].port
        if self.workers is not None:
            await self._start_workers(channels)

    async def _start_workers(self, channels: Channels) -> None:
        """The private worker port of `--workers`, then the children; returns once each registered its steps."""
        assert self.workers is not None
        token = secrets.token_urlsafe(32)
        self.pool_server = WorkerServer(self.engine, settings=WorkerPortConfig(host="127.0.0.1", port=0,
                                                                               auth_token=token), channels=channels)
        await self.pool_server.start()
        connections = self.engine.connections

        def registered(pid: int) -> bool:
            # `engine::workers::register` comes after a worker's registrations, on the same ordered connection.
            return any(c.metadata.get("pid") == pid and not c.closed for c in connections.values())

        await self.workers.start(self.pool_server.url, token, registered)
        if self.engine_port is None:
            # As for the in-process worker: a remembered subscription no child made again is a removed step's.
            self.embedded.queues.forget_away()

    @property
    def worker_server(self) -> WorkerServer | None:
        """The first worker port (the only one unless config.yaml lists several)."""
        return self.worker_servers[0] if self.worker_servers else None

    async def start(self) -> None:
        """Start the engine and serve HTTP; returns once the port is bound."""
        await self.start_engine()
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        protocol = _http_protocol(self.limits)
        config = uvicorn.Config(
            # The access log wraps the engine's app only when on: when off, no request passes through it.
            AccessLog(self.http) if self.access_log else self.http,
            http=protocol,
            timeout_keep_alive=self.limits.keep_alive_timeout,  # type: ignore[arg-type]
            # The httptools protocol caps connections itself (503 in the error envelope); h11 leaves it to uvicorn.
            limit_concurrency=self.limits.max_connections if protocol == "h11" else None,
            ws="none",
            lifespan="off",
            access_log=False,
            log_level="warning",
            server_header=False,
            date_header=True,
            timeout_graceful_shutdown=max(1, round(self.drain_timeout)),
        )
        self._server = _Server(config)
        self._server_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._server_task.done():
                self._server_task.result()
                raise RuntimeError("the HTTP server stopped during start-up")
            await asyncio.sleep(0.005)
        log.info("%d steps loaded; serving HTTP on %s", len(self.registry), self.url)
        if self.stream_port is not None:
            log.info("streams on ws://%s:%s; data in %s", self.stream_host, self.stream_port, _describe(self.store))

    async def stop(self) -> None:
        """Stop taking requests and deliveries, let in-flight handlers finish (up to `drain_timeout`),
        flush the store, disconnect the worker."""
        if self._server is not None:
            self._server.should_exit = True
        if self.recorder is not None:
            self.recorder.end_tails()  # an open live tail would hold the server's shutdown until its drain timeout
        if self._server_task is not None:
            await self._server_task
            self._server_task = None
        if self.workers is not None:
            await self.workers.stop()  # each finishes its running handlers; the engine still takes their calls
        if self.pool_server is not None:
            await self.pool_server.close()
            self.pool_server = None
        for server in self.worker_servers:
            await server.close()
        self.worker_servers = []
        await self.embedded.stop(self.drain_timeout)
        if self.transport is not None:
            await self.transport.close()
            self.transport = None
        self.worker.detach()
        if self.recorder is not None:
            await self.recorder.stop()

    async def serve(self, on_started: Callable[[], None] | None = None) -> None:
        """Serve until SIGINT or SIGTERM, then shut down gracefully."""
        stop = asyncio.Event()
        with stop_on_signals(stop):
            try:
                await self.start()
                if on_started is not None:
                    on_started()
                assert self._server_task is not None
                waiter = asyncio.create_task(stop.wait())
                await asyncio.wait({waiter, self._server_task}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                log.info("shutting down")
            finally:
                await self.stop()

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def store_path(self) -> Path | None:
        """The SQLite file of the store; None when it is kept in memory."""
        return self.store.path if isinstance(self.store, SqliteStore) else None

    @property
    def store_description(self) -> str:
        """Where the data is, for the banner: the SQLite file, "memory", or the Redis URL (without password)."""
        return str(self.store_path) if self.store_path is not None else (
            self.store.describe() if isinstance(self.store, RedisStore) else "memory")


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

    async def serve(self) -> None:
        """Work until SIGINT or SIGTERM (or until the engine refuses this worker), then leave gracefully."""
        stop = asyncio.Event()
        with stop_on_signals(stop), parent_watch(stop):
            try:
                waiter = asyncio.create_task(stop.wait())
                starting = asyncio.create_task(self.start())
                await asyncio.wait({waiter, starting}, return_when=asyncio.FIRST_COMPLETED)
                if starting.done():
                    starting.result()
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


def _guards(settings: WorkerPortConfig) -> str:
    guards = [name for name, on in (("token", settings.auth_token), ("rbac", settings.rbac),
                                    ("middleware", settings.middleware_function_id)) if on]
    return f" ({', '.join(guards)})" if guards else ""


def _describe(store: Store | RedisStore) -> str:
    if isinstance(store, RedisStore):
        return store.describe()
    return str(store.path) if isinstance(store, SqliteStore) else "memory (--memory: nothing is kept)"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ListenError("HTTP", host, port, exc) from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _http_protocol(limits: HttpLimits) -> Any:
    import importlib.util

    if importlib.util.find_spec("httptools") is None:  # PyPy: uvicorn's h11 protocol, without read deadlines
        return "h11"
    from ..engine.http_server import protocol_class

    return protocol_class(limits)


def run(coro: Any) -> Any:
    """Run a coroutine on uvloop when it is installed, else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


class ServedApp:
    """An App running on its own event loop in a background thread (tests, notebooks)."""

    def __init__(self, registry: Registry, **options: Any) -> None:
        options.setdefault("port", 0)
        options.setdefault("stream_port", 0)
        if "store" not in options and "data_dir" not in options:
            options.setdefault("memory", True)
        self.app = App(registry, **options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def __enter__(self) -> ServedApp:
        self._thread = threading.Thread(target=self._run, name="motia-app", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.app.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self.app.stop())
        loop.close()

    def __exit__(self, *exc_info: Any) -> None:
        if self._loop is not None and self._thread is not None and self._error is None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    @property
    def url(self) -> str:
        return self.app.url
