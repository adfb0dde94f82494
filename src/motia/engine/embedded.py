"""The embedded engine assembled: core + HTTP, queues, cron, state, streams and pub/sub over one store, and its
health and operator routes (the composition root, `motia.assembly`, serves them with the app's pages)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from .. import errors
from ..protocol import HttpRequestData, HttpResponseData, Route
from .clock import Clock
from .cors import CorsPolicy
from .cron import CronModule
from .engine import Engine
from .http import DEFAULT_MAX_BODY_SIZE, HttpModule
from .introspection import install as install_engine_functions
from .operator_guard import OperatorGuard
from .options import EngineOptions
from .pubsub import PubSubModule
from .queues import QueueModule, Queues, QueueSettings
from .state import LocalState, StateModule
from .store import Store
from .streams import LocalStreams, StreamLimits, StreamModule
from .tasks import Tasks

if TYPE_CHECKING:
    from .redis import RedisStore

log = logging.getLogger("motia.engine")


class EmbeddedEngine:
    def __init__(
        self,
        store: Store | RedisStore,
        *,
        clock: Clock | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        admin: bool = True,
        cors: CorsPolicy | None = None,
        stream_auth_function: str | None = None,
        queue_settings: dict[str, QueueSettings] | None = None,
        options: EngineOptions | None = None,
        stream_limits: StreamLimits | None = None,
        operator_hosts: Iterable[str] = (),
        on_publish: Callable[[Any], None] | None = None,
    ) -> None:
        """`admin` serves the operator routes (`/__motia/dlq`, `/emit`, `/state`) the CLI talks to; `options`
        are the protocol-side settings of iii's config.yaml (HTTP middleware, HTTP functions, namespaces).
        The operator routes answer to a loopback `Host` or one of `operator_hosts` (`operator_guard.py`).
        A `RedisStore` shares state, streams, queues, cron ticks and pub/sub with every node on the same Redis.
        `on_publish` is called with the data of every event published, before it is (the test harness's record)."""
        self.store = store
        self.admin = admin
        self.clock = clock or Clock()
        self.tasks = Tasks()
        options = options or EngineOptions()
        self.core = Engine(options)
        install_engine_functions(self.core)  # the engine's own `engine::*` functions (§2.11, §4.6)
        self.http = HttpModule(self.core, max_body_size=max_body_size, cors=cors, middleware=options.http_middleware,
                               middleware_timeout=options.http_middleware_timeout_ms / 1000,
                               operator_guard=OperatorGuard(operator_hosts))
        self.queues: Queues
        if isinstance(store, Store):
            self.queues = QueueModule(self.core, store, self.tasks, self.clock)
            self.state = StateModule(self.core, LocalState(store), self.tasks)
            self.streams = StreamModule(self.core, LocalStreams(store), self.tasks, self.clock, stream_limits)
        else:
            self.queues = store.queue_module(self.core, self.tasks, self.clock)
            self.state = StateModule(self.core, store.state, self.tasks)
            self.streams = StreamModule(self.core, store.streams, self.tasks, self.clock, stream_limits)
        self.queues.queue_settings.update(queue_settings or {})
        if stream_auth_function is not None:
            self.streams.auth_function = stream_auth_function
        self.cron = CronModule(self.core, self.tasks, self.clock)
        self.pubsub = PubSubModule(self.core, self.tasks)
        if not isinstance(store, Store):
            store.share(self.streams, self.pubsub, self.cron)
        if on_publish is not None:
            self._observe_publishes(on_publish)

    def _observe_publishes(self, observer: Callable[[Any], None]) -> None:
        publish = self.queues.publish

        async def observed(data: Any) -> Any:
            observer(data)
            return await publish(data)

        for name in ("iii::durable::publish", "enqueue"):  # the built-ins the queue module installed
            self.core.add_builtin(name, observed)

    async def start(self, *, stream_host: str = "127.0.0.1", stream_port: int | None = 3112) -> None:
        if not isinstance(self.store, Store):
            await self.store.start(self.tasks)
        if stream_port is not None:
            await self.streams.serve(stream_host, stream_port)
        self.cron.start()

    def busy(self) -> bool:
        """Work that will finish on its own: deliveries ready or running, triggers being fired, cron runs."""
        return (
            self.queues.busy(count_waiting=False)
            or self.state.busy()
            or self.streams.busy()
            or any(job.running for job in self.cron.jobs.values())
        )

    async def wait_idle(self, settle_turns: int = 3) -> None:
        """Return once nothing is running or about to run (timers waiting on the clock do not count)."""
        quiet = 0
        while quiet < settle_turns:
            await asyncio.sleep(0 if quiet else 0.001)
            quiet = 0 if self.busy() else quiet + 1

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop scheduling, let in-flight deliveries finish (up to `drain_timeout`), flush and close."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_timeout
        self.cron.stop()
        await self.queues.stop(drain_timeout)
        try:
            # Cron runs and state/stream trigger handlers already started get the rest of the drain time.
            await asyncio.wait_for(self.wait_idle(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            log.warning("handlers still running after %ss of draining are cancelled", drain_timeout)
        await self.streams.close()
        await self.tasks.close()
        await self.core.close()
        try:
            await self.store.flush()
        finally:
            if isinstance(self.store, Store):
                self.store.close()
            else:
                await self.store.aclose()

    # --- health, and the admin routes used by the CLI (`motia dlq ...`) ----------------------------

    def operator_routes(self) -> list[Route]:
        """`/__motia/health`, and the operator routes when `admin` is on."""
        routes = {
            ("GET", "/__motia/health"): self._health,
        }
        if self.admin:
            routes.update({
                ("GET", "/__motia/dlq"): self._dlq_list,
                ("POST", "/__motia/dlq/redrive"): self._dlq_redrive,
                ("POST", "/__motia/emit"): self._emit,
                ("GET", "/__motia/state"): self._state_groups,
                ("GET", "/__motia/state/:scope"): self._state_list,
                ("GET", "/__motia/state/:scope/:key"): self._state_get,
                ("PUT", "/__motia/state/:scope/:key"): self._state_set,
                ("DELETE", "/__motia/state/:scope/:key"): self._state_delete,
            })
        return [Route("admin", method, path, handler) for (method, path), handler in routes.items()]

    async def _health(self, request: HttpRequestData) -> HttpResponseData:
        return _json({"status": "ok", "functions": len(self.core.functions)})

    async def _dlq_list(self, request: HttpRequestData) -> HttpResponseData:
        filters = {k: v for k, v in request.query_params.items() if k in ("topic", "function_id")}
        return _json(await self.queues.dlq_list(filters))

    async def _dlq_redrive(self, request: HttpRequestData) -> HttpResponseData:
        body = _body(request, {})
        if not isinstance(body, dict):
            return _invalid("expected a JSON object")
        return _json(await self.queues.dlq_redrive(body))

    async def _emit(self, request: HttpRequestData) -> HttpResponseData:
        body = _body(request)
        if not isinstance(body, dict) or not isinstance(body.get("topic"), str) or not body["topic"]:
            return _invalid('expected {"topic": "...", "data": ...}')
        await self.queues.publish(body)
        reply = {"emitted": body["topic"]}
        warning = self.queues.unheard(body["topic"])
        if warning is not None:  # `motia emit` tells the operator, who may have mistyped the topic
            reply["warning"] = warning
        return _json(reply, 202)

    async def _state_groups(self, request: HttpRequestData) -> HttpResponseData:
        return _json(await self.state.list_groups({}))

    async def _state_list(self, request: HttpRequestData) -> HttpResponseData:
        scope = request.path_params["scope"]
        return _json({key: msgspec.Raw(value) for key, value in await self.state.items(scope)})

    async def _state_get(self, request: HttpRequestData) -> HttpResponseData:
        value = await self.state.get(dict(request.path_params))
        if value is None:
            return _error(404, errors.NOT_FOUND, "no such key")
        return _json(value)

    async def _state_set(self, request: HttpRequestData) -> HttpResponseData:
        value = _body(request)
        if value is _INVALID:
            return _invalid("the body must be the JSON value to store")
        await self.state.set({**request.path_params, "value": value})
        return _json(value)

    async def _state_delete(self, request: HttpRequestData) -> HttpResponseData:
        old = await self.state.delete(dict(request.path_params))
        return _json({"deleted": old is not None})


_INVALID: Any = object()


def _body(request: HttpRequestData, empty: Any = _INVALID) -> Any:
    if not request.raw_body:
        return empty
    try:
        return msgspec.json.decode(request.raw_body)
    except msgspec.DecodeError:
        return _INVALID


def _invalid(message: str) -> HttpResponseData:
    return _error(400, errors.INVALID_JSON, message)


def _error(status: int, code: str, message: str) -> HttpResponseData:
    return HttpResponseData(status, None, msgspec.Raw(errors.error_body(code, message)))


def _json(value: Any, status: int = 200) -> HttpResponseData:
    return HttpResponseData(status, None, msgspec.Raw(msgspec.json.encode(value)))

