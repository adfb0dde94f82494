"""Fixtures for the iii protocol over real sockets: the embedded engine with its worker port, raw WebSocket
workers that speak frames by hand, and a background event loop for runtime objects under test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from motia import Registry
from motia.assembly import ServedApp

T = TypeVar("T")
MAX_SIZE = 64 * 1024 * 1024


class Engine:
    """The embedded engine (no steps) serving HTTP and its worker port on ephemeral ports."""

    def __init__(self, served: ServedApp) -> None:
        self.served = served
        self.app = served.app
        assert self.app.worker_server is not None
        self.ws_url = self.app.worker_server.url
        self.http = httpx.Client(base_url=served.url, timeout=10)

    def worker(self, path: str = "/", **options: Any) -> RawWorker:
        options.setdefault("hello", path == "/")
        return RawWorker(self.ws_url + path, **options)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the engine's event loop (to look at its state between frames)."""
        assert self.served._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.served._loop).result(10)


@contextlib.contextmanager
def serve_engine(**options: Any) -> Iterator[Engine]:
    """The embedded engine with `App` options (e.g. `engine_options=EngineOptions(...)`)."""
    served = ServedApp(Registry(), engine_port=0, **options).__enter__()
    running = Engine(served)
    try:
        yield running
    finally:
        running.http.close()
        served.__exit__(None, None, None)


class CallFailed(Exception):
    """Raised by a `RawWorker.serve` handler: the call is answered with this error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@pytest.fixture
def engine() -> Iterator[Engine]:
    with serve_engine() as running:
        yield running


class RawWorker:
    """A worker written by hand: JSON frames over a plain `websockets` client, nothing hidden."""

    def __init__(self, url: str, *, hello: bool = True, announce: bool = True, **options: Any) -> None:
        """`announce`: send `engine::workers::register` first, as every SDK does after connecting; without it the
        engine holds the worker's registrations for the namespace grace time (§1.3)."""
        options.setdefault("max_size", MAX_SIZE)
        options.setdefault("compression", None)
        options.setdefault("open_timeout", 5)
        self.ws: ClientConnection = connect(url, **options).__enter__()
        self.hello = self.recv() if hello else {}
        self.worker_id: str = self.hello.get("worker_id", "")
        self.reattach_token: str = self.hello.get("reattach_token", "")
        if hello and announce:
            self.announce()

    def announce(self, **metadata: Any) -> None:
        """The worker's metadata, fire-and-forget (§2.11); `namespace=` puts its registrations there."""
        self.send({"type": "invokefunction", "function_id": "engine::workers::register",
                   "action": {"type": "void"}, "data": {"runtime": "raw", **metadata}})

    def send(self, frame: dict[str, Any] | str | bytes) -> None:
        self.ws.send(json.dumps(frame) if isinstance(frame, dict) else frame)

    def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        return json.loads(self.ws.recv(timeout))  # type: ignore[no-any-return]

    def expect(self, kind: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """The next frame of type `kind` (with the given fields), skipping others."""
        while True:
            frame = self.recv(timeout)
            if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    def sync(self) -> None:
        """Ping and wait for the pong: every frame sent before has been handled by the engine."""
        self.send({"type": "ping"})
        self.expect("pong")

    def register(self, function_id: str, **fields: Any) -> None:
        self.send({"type": "registerfunction", "id": function_id, **fields})

    def bind(self, trigger_type: str, function_id: str, config: Any, trigger_id: str | None = None) -> str:
        trigger_id = trigger_id or str(uuid.uuid4())
        self.send({"type": "registertrigger", "id": trigger_id, "trigger_type": trigger_type,
                   "function_id": function_id, "config": config})
        return trigger_id

    def watch(self, trigger_type: str, function_id: str) -> None:
        """Host `function_id` and bind it to `trigger_type` (config `{}`); returns once the engine has both."""
        self.register(function_id)
        self.bind(trigger_type, function_id, {})
        self.sync()

    def call(self, function_id: str, data: Any = None, **extra: Any) -> dict[str, Any]:
        """Invoke through the engine and wait for the result frame."""
        invocation_id = self.start_call(function_id, data, **extra)
        return self.expect("invocationresult", invocation_id=invocation_id)

    def start_call(self, function_id: str, data: Any = None, **extra: Any) -> str:
        invocation_id = str(uuid.uuid4())
        self.send({"type": "invokefunction", "function_id": function_id, "data": data,
                   "invocation_id": invocation_id, **extra})
        return invocation_id

    def answer(self, invocation: dict[str, Any], result: Any = None, error: Any = None) -> None:
        frame: dict[str, Any] = {"type": "invocationresult", "invocation_id": invocation["invocation_id"],
                                 "function_id": invocation["function_id"], "result": result}
        if error is not None:
            frame["error"] = error
        self.send(frame)

    def serve(self, handler: Callable[[dict[str, Any]], Any]) -> threading.Thread:
        """Answer every invocation with `handler(frame)` from a thread, until the connection closes; a handler
        that raises `CallFailed` answers with that error."""

        def loop() -> None:
            try:
                while True:
                    frame = json.loads(self.ws.recv())
                    if frame.get("type") == "invokefunction":
                        try:
                            self.answer(frame, handler(frame))
                        except CallFailed as failed:
                            self.answer(frame, error={"code": failed.code, "message": failed.message})
            except Exception:
                return

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.ws.close()


class LoopThread:
    """An asyncio event loop in a thread, to run runtime objects (transports, workers) under test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 30) -> T:
        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    running = LoopThread()
    yield running
    running.stop()
