"""The composition root: the one module that assembles an app with the embedded engine from every layer: the
store, the engine, its servers (HTTP, with the access log when asked; stream WebSocket; worker ports), the
in-process worker or the worker pool, the recorder, and the app's own routes (health, operator routes, graph,
docs, console, recording), each a `protocol.Route` registered as OpenAPI's is.

`motia run`, `motia dev`, `motia engine` and `TestApp` build an `App` here. `App.serve()` is what the command
calls; `App.start()`/`stop()` let tests and tools drive it; `ServedApp` runs one in a background thread. The
console and the recording are imported only when they are on.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from .engine.channels import Channels
from .engine.clock import Clock
from .engine.cors import CorsPolicy
from .engine.embedded import EmbeddedEngine
from .engine.http import DEFAULT_MAX_BODY_SIZE, HttpLimits
from .engine.options import EngineOptions
from .engine.queues import QueueSettings
from .engine.rbac import WorkerPortConfig
from .engine.redis import RedisStore
from .engine.store import MemoryStore, SqliteStore, Store
from .engine.streams import StreamLimits
from .engine.ws import WorkerServer
from .protocol import Route
from .registry import Registry
from .runtime.access_log import AccessLog
from .runtime.app import stop_on_signals
from .runtime.docs_pages import docs_paths, docs_routes
from .runtime.graph_page import GRAPH_PATH, graph_routes
from .runtime.transport import InProcessTransport
from .runtime.worker import OPENAPI_PATH, Worker
from .runtime.workers import WorkerPool

if TYPE_CHECKING:
    from .recording import Recorder, RecordingConfig

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
        on_publish: Callable[[Any], None] | None = None,
    ) -> None:
        """`console` serves the console at /__motia/ (loopback `host` only, unless a `console_token` is given);
        `on_publish` sees every event published (the data of each `iii::durable::publish`), as `TestApp` does."""
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
        self.store = store if store is not None else _store(data_dir, memory, redis_url)
        # The operator routes under /__motia/ change state and queues: only on a loopback interface unless asked.
        admin = host in ("127.0.0.1", "localhost", "::1") if admin is None else admin
        cors = None
        if cors_origins:
            cors = CorsPolicy(cors_origins, methods=cors_methods) if cors_methods else CorsPolicy(cors_origins)
        self.embedded = EmbeddedEngine(self.store, clock=clock, max_body_size=max_body_size, admin=admin, cors=cors,
                                       stream_auth_function=stream_auth_function, queue_settings=queue_settings,
                                       options=engine_options, stream_limits=stream_limits,
                                       operator_hosts=operator_hosts, on_publish=on_publish)
        self.engine = self.embedded.core
        self.http = self.embedded.http
        self.worker = Worker(registry, default_timeout=default_timeout)
        # Recording (`--record`): every trace and log line for the console, kept beside the store's file.
        self.recorder: Recorder | None = None
        if record:
            from .recording import Recorder  # only when on

            history = self.store.path.parent / "recording.db" if isinstance(self.store, SqliteStore) else None
            self.recorder = Recorder(recording, history)
            self.worker.recorder = self.recorder
            self.recorder.owner = self.worker
        # What the banner lists: the pages this app serves, by name.
        self.pages: dict[str, str] = {"openapi": OPENAPI_PATH}
        # The API docs pages: on where the operator routes are unless asked (`--docs`/`--no-docs`); not for
        # `motia engine` alone, whose own registry is empty (its workers' topics are not known here).
        engine_alone = engine_port is not None and not len(registry) and not registry.streams
        docs = admin and not engine_alone if docs is None else docs
        for route in self._operator_routes(admin, docs, console, console_token):
            self.engine.add_route(route)
        self.transport: InProcessTransport | None = None
        self._server: _Server | None = None
        self._server_task: asyncio.Task[None] | None = None

    def _operator_routes(self, admin: bool, docs: bool, console: bool, console_token: str | None) -> list[Route]:
        """Every route of the app's own but OpenAPI (the worker's): health and the operator routes, the graph,
        docs, console and recording pages; each page is listed in `pages` for the banner."""
        routes = self.embedded.operator_routes()
        if admin:  # the flow graph page names step files: served where the operator routes are
            routes += graph_routes(self.registry)
            self.pages["graph"] = GRAPH_PATH
        if docs:
            routes += docs_routes(self.registry)
            self.pages.update(docs_paths())
        guard = None  # the console's checks (its token, Origin), which the recording's routes take on too
        if console:
            from .console import CONSOLE_PATH, console_routes, unavailable_reason  # only when on

            reason = unavailable_reason(self.host, console_token)
            if reason is not None:
                raise ValueError(reason)
            served, access = console_routes(self.embedded, self.registry, token=console_token)
            routes += served
            guard = access.guard
            self.pages["console"] = CONSOLE_PATH
        if self.recorder is not None and (admin or console):  # its pages and APIs are the console's traces and logs
            from .runtime.recording_pages import PAGES, recording_routes

            routes += recording_routes(self.recorder, lambda: self.url, self._enqueue, guard)
            self.pages.update(PAGES)
        return routes

    async def _enqueue(self, topic: str, function_id: str, data: Any, traceparent: str) -> str:
        """The engine's `enqueue` action, for a rerun of a queue delivery."""
        if self.engine.enqueue is None:
            raise RuntimeError("this engine has no queue provider")
        return await self.engine.enqueue(topic, function_id, data, traceparent)

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


def _store(data_dir: str | Path, memory: bool, redis_url: str | None) -> Store | RedisStore:
    if redis_url is not None:
        return RedisStore(redis_url)  # `--store redis://...`: shared with every node on that Redis
    return MemoryStore() if memory else SqliteStore(Path(data_dir) / "motia.db")


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
    from .engine.http_server import protocol_class

    return protocol_class(limits)


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
