"""The embedded engine assembled: core + HTTP, queues, cron, state, streams and pub/sub over one store."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from ..protocol import HttpRequestData, HttpResponseData, new_id
from .clock import Clock
from .cron import CronModule
from .engine import Engine, TriggerEntry
from .http import DEFAULT_MAX_BODY_SIZE, HttpModule
from .pubsub import PubSubModule
from .queues import QueueModule
from .state import StateModule
from .store import Store
from .streams import StreamModule
from .tasks import Tasks

log = logging.getLogger("motia.engine")


class EmbeddedEngine:
    def __init__(self, store: Store, *, clock: Clock | None = None, max_body_size: int = DEFAULT_MAX_BODY_SIZE) -> None:
        self.store = store
        self.clock = clock or Clock()
        self.tasks = Tasks()
        self.core = Engine()
        self.http = HttpModule(self.core, max_body_size=max_body_size)
        self.queues = QueueModule(self.core, store, self.tasks, self.clock)
        self.state = StateModule(self.core, store, self.tasks)
        self.streams = StreamModule(self.core, store, self.tasks, self.clock)
        self.cron = CronModule(self.core, self.tasks, self.clock)
        self.pubsub = PubSubModule(self.core, self.tasks)
        self._admin_routes()

    async def start(self, *, stream_host: str = "127.0.0.1", stream_port: int | None = 3112) -> None:
        if stream_port is not None:
            await self.streams.serve(stream_host, stream_port)
        self.cron.start()

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop scheduling, let in-flight deliveries finish (up to `drain_timeout`), flush and close."""
        self.cron.stop()
        await self.queues.stop(drain_timeout)
        await self.streams.close()
        await self.tasks.drain(min(drain_timeout, 1.0))
        await self.tasks.close()
        try:
            await self.store.flush()
        finally:
            self.store.close()

    # --- admin routes used by the CLI (`motia dlq ...`) ---------------------------------------------

    def _admin_routes(self) -> None:
        routes = {
            ("GET", "/__motia/health"): self._health,
            ("GET", "/__motia/dlq"): self._dlq_list,
            ("POST", "/__motia/dlq/redrive"): self._dlq_redrive,
        }
        for (method, path), handler in routes.items():
            function_id = f"motia::admin::{method.lower()}({path})"
            self.core.add_builtin(function_id, handler)
            self.core.register_trigger(
                TriggerEntry(new_id(), "http", function_id, {"api_path": path, "http_method": method}, None, None)
            )

    async def _health(self, request: HttpRequestData) -> HttpResponseData:
        return _json({"status": "ok", "functions": len(self.core.functions)})

    async def _dlq_list(self, request: HttpRequestData) -> HttpResponseData:
        filters = {k: v for k, v in request.query_params.items() if k in ("topic", "function_id")}
        return _json(await self.queues.dlq_list(filters))

    async def _dlq_redrive(self, request: HttpRequestData) -> HttpResponseData:
        try:
            body = msgspec.json.decode(request.raw_body) if request.raw_body else {}
        except msgspec.DecodeError:
            body = None
        if not isinstance(body, dict):
            return _json({"error": {"code": "INVALID_JSON", "message": "expected a JSON object"}}, 400)
        return _json(await self.queues.dlq_redrive(body))


def _json(value: Any, status: int = 200) -> HttpResponseData:
    return HttpResponseData(status, None, msgspec.Raw(msgspec.json.encode(value)))

