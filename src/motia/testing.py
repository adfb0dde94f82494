"""A test harness for your own pytest suites: the whole app in memory, no ports, a clock you move.

    import pytest
    from motia.testing import TestApp

    @pytest.mark.anyio
    async def test_order_flow():
        async with TestApp.from_dir("steps") as app:
            response = await app.http.post("/orders", json={"item": "lamp", "total": 30})
            assert response.status_code == 201
            await app.wait_idle()                       # every queue drained, retries included
            assert app.emitted("order.placed")[0]["item"] == "lamp"
            assert await app.state.get("orders", response.json()["id"])
            await app.clock.advance(3600)               # fire the hourly cron, due retries and delays
            assert "report written" in app.log_messages()

`app.http` is an `httpx.AsyncClient` wired straight to the app (install `httpx`, or `motia-py[test]`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec

from .assembly import App
from .discovery import discover, registry_from_modules
from .engine.clock import Clock, ManualClock
from .engine.store import MemoryStore
from .registry import Registry
from .state import StateManager

__all__ = ["ManualClock", "PublishedEvent", "TestApp"]


class PublishedEvent(msgspec.Struct):
    topic: str
    data: Any
    message_group_id: str | None = None


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class TestApp:
    """An app run in this event loop: embedded engine, memory store, manual clock, no sockets."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        registry: Registry,
        *,
        clock: Clock | None = None,
        default_timeout: float | None = 30.0,
        serve_streams: bool = False,
    ) -> None:
        self.registry = registry
        self.clock: Any = clock if clock is not None else ManualClock()
        self._app = App(registry, memory=True, clock=self.clock, port=0, default_timeout=default_timeout,
                        stream_port=0 if serve_streams else None, on_publish=self._published)
        self.published: list[PublishedEvent] = []
        self._capture = _Capture()
        self._http: Any = None
        self._started = False
        self._level = logging.NOTSET

    @classmethod
    def from_dir(cls, steps_dir: str | Path, *, root: str | Path | None = None, **options: Any) -> TestApp:
        """The app of a steps directory (discovered like `motia run --dir`)."""
        steps = Path(steps_dir).resolve()
        return cls(discover(Path(root) if root is not None else steps.parent, steps), **options)

    @classmethod
    def from_modules(cls, modules: Iterable[ModuleType], **options: Any) -> TestApp:
        """The app of already-imported step modules."""
        return cls(registry_from_modules(modules), **options)

    # --- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> TestApp:
        logger = logging.getLogger("motia")
        self._level = logger.level
        if logger.getEffectiveLevel() > logging.DEBUG:
            logger.setLevel(logging.DEBUG)  # capture everything; restored on stop
        logger.addHandler(self._capture)
        await self._app.start_engine()
        self._started = True
        return self

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._started:
            await self._app.stop()
            self._started = False
        logger = logging.getLogger("motia")
        logger.removeHandler(self._capture)
        logger.setLevel(self._level)

    async def __aenter__(self) -> TestApp:
        return await self.start()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.stop()

    def _published(self, data: Any) -> None:
        """The engine's `on_publish` hook: every event a step (or `emit`) publishes, as it is published."""
        if isinstance(data, dict) and isinstance(data.get("topic"), str):
            payload = msgspec.json.decode(msgspec.json.encode(data.get("data")))
            group = data.get("messageGroupId")
            self.published.append(PublishedEvent(data["topic"], payload, None if group is None else str(group)))

    # --- talking to the app -------------------------------------------------------------------------

    @property
    def http(self) -> Any:
        """An `httpx.AsyncClient` for the app's routes (in memory, through the real engine)."""
        if self._http is None:
            try:
                import httpx
            except ImportError:  # pragma: no cover - depends on the environment
                raise RuntimeError("motia.testing's app.http needs httpx: pip install httpx") from None
            transport = httpx.ASGITransport(app=self._app.http)
            # A loopback Host, as a local client sends: the operator routes (/__motia/...) answer only to those.
            self._http = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
        return self._http

    async def emit(self, topic: str, data: Any = None, *, message_group_id: str | None = None) -> None:
        """Publish an event as a step would (recorded in `published` too)."""
        await self._app.worker.emit(topic, data, trace_id="0" * 31 + "1", message_group_id=message_group_id)

    async def wait_idle(self) -> None:
        """Return when no message is ready, in flight or due: run the clock forward to reach due retries
        and delays with `await app.clock.advance(...)`."""
        await self._app.embedded.wait_idle()

    @property
    def state(self) -> StateManager:
        return StateManager(self._app.worker)

    def stream(self, name: str) -> Any:
        return self._app.worker.stream(name)

    def emitted(self, topic: str | None = None) -> list[Any]:
        """The data of every event published so far (of one topic, or all), in order."""
        return [event.data for event in self.published if topic is None or event.topic == topic]

    @property
    def dead_letters(self) -> list[dict[str, Any]]:
        store = self._app.store
        assert isinstance(store, MemoryStore)  # the harness keeps everything in memory
        return [
            {"id": m.id, "topic": m.topic, "function_id": m.function_id, "attempts": m.attempts, "error": m.error,
             "data": msgspec.json.decode(m.payload)}
            for m in store.queue_dead_letters()
        ]

    async def redrive(self, ids: list[int] | None = None, *, topic: str | None = None) -> int:
        """Put dead letters (all, these ids, or one topic's) back on their queue; returns how many."""
        request: dict[str, Any] = {}
        if ids is not None:
            request["ids"] = list(ids)
        if topic is not None:
            request["topic"] = topic
        result = await self._app.embedded.queues.dlq_redrive(request)
        return int(result["redriven"])

    @property
    def logs(self) -> list[logging.LogRecord]:
        return list(self._capture.records)

    def log_messages(self, level: int = logging.DEBUG) -> list[str]:
        return [r.getMessage() for r in self._capture.records if r.levelno >= level]

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self._app.stream_port}"
