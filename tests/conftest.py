"""Shared fixtures: serve an app for real (uvicorn on an ephemeral loopback port) and talk HTTP to it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httptools  # noqa: F401 - see below
import httpx
import pytest

from motia import Registry
from motia.assembly import App, ServedApp
from motia.dsl import step_of

ROOT = Path(__file__).resolve().parent.parent

# httptools' compiled parser raises the error classes of the first import of `httptools.parser.errors`. Imported
# here, before any test, it is never dropped by a fixture that forgets the modules a test imported
# (tests/codegen's `isolated_imports`): a second import would define new classes, and uvicorn's `except
# httptools.HttpParserError` would no longer catch the parser's errors (a 400 or 431 becomes a dropped connection).


T = TypeVar("T")


class _Tries:
    """When polling stops: at the first truthy value, or with an AssertionError naming the last one."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout

    def done(self, value: Any) -> bool:
        if value:
            return True
        if time.monotonic() > self.deadline:
            raise AssertionError(f"not within {self.timeout}s; last value: {value!r}"[:2000])
        return False


def eventually(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """The first truthy `check()`, polled every `interval` seconds (for work a server does in the background);
    an AssertionError after `timeout` seconds. The test suite's one polling helper (with `eventually_async`)."""
    tries = _Tries(timeout)
    while not tries.done(value := check()):
        time.sleep(interval)
    return value


async def eventually_async(check: Callable[[], T | Awaitable[T]], timeout: float = 10.0,
                           interval: float = 0.005) -> T:
    """`eventually` for a test on the event loop: it sleeps without blocking the loop, and `check` may be async."""
    tries = _Tries(timeout)
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if tries.done(value):
            return value  # type: ignore[return-value]
        await asyncio.sleep(interval)


def registry_of(*handlers: Callable[..., Any]) -> Registry:
    """A registry of decorated handlers defined in a test."""
    steps = [step_of(h) for h in handlers]
    assert all(steps), "every handler must be decorated"
    return Registry(steps)  # type: ignore[arg-type]


@pytest.fixture
def serve() -> Iterator[Callable[..., httpx.Client]]:
    """`serve(registry_or_handlers..., **App options)` -> an httpx client bound to the served app."""
    running: list[tuple[ServedApp, httpx.Client]] = []

    def start(*handlers: Any, **options: Any) -> httpx.Client:
        registry = handlers[0] if len(handlers) == 1 and isinstance(handlers[0], Registry) else registry_of(*handlers)
        served = ServedApp(registry, **options).__enter__()
        client = httpx.Client(base_url=served.url, timeout=10)
        running.append((served, client))
        return client

    yield start
    for served, client in running:
        client.close()
        served.__exit__(None, None, None)


class ReadProcess:
    """A subprocess whose output (stdout and stderr) is read on a thread as it comes, so it never blocks on a
    full pipe: `lines` grows under `_changed`, notified for every line and once more when the output ends."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str], **popen: Any) -> None:
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, **popen)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()


class MotiaProcess:
    """`motia run` in a subprocess, on an ephemeral port read from its start-up log."""

    def __init__(self, cwd: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "motia.cli", "run", "--port", "0", *args],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        self.lines: list[str] = []
        self.url = self.wait_for_output(r"serving HTTP on (http://[^\s\"]+)")
        self.client = httpx.Client(base_url=self.url, timeout=10)

    @property
    def stream_url(self) -> str:
        """The stream WebSocket's URL, from the start-up log."""
        return self.wait_for_output(r"streams on (ws://[^;\s\"]+)")

    def wait_for_output(self, pattern: str) -> str:
        """The first group of `pattern` in the output so far, or in the lines that come next."""
        for line in self.lines:
            found = re.search(pattern, line)
            if found:
                return found.group(1)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            found = re.search(pattern, line)
            if found:
                return found.group(1)
        self.proc.kill()
        raise RuntimeError(f"motia run printed nothing matching {pattern!r}:\n" + "".join(self.lines)
                           + (self.proc.stdout.read() or ""))

    def stop(self) -> str:
        self.client.close()
        self.proc.terminate()
        # Read through the same text buffer `readline` used: `communicate(timeout=...)` reads the raw pipe and
        # would lose the lines already buffered there.
        assert self.proc.stdout is not None
        killer = threading.Timer(30, self.proc.kill)
        killer.start()
        try:
            self.lines.append(self.proc.stdout.read())
            self.proc.wait()
        finally:
            killer.cancel()
        return "".join(self.lines)


@pytest.fixture(scope="module")
def motia_run() -> Iterator[Callable[..., MotiaProcess]]:
    started: list[MotiaProcess] = []

    def start(cwd: Path, *args: str) -> MotiaProcess:
        process = MotiaProcess(cwd, *args)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.asynccontextmanager
async def running(*handlers: Any, **options: Any) -> AsyncIterator[App]:
    """An App started on the test's own event loop (so a ManualClock can be advanced from the test)."""
    registry = handlers[0] if len(handlers) == 1 and isinstance(handlers[0], Registry) else registry_of(*handlers)
    options.setdefault("port", 0)
    options.setdefault("stream_port", None)
    if "store" not in options and "data_dir" not in options:
        options["memory"] = True
    app = App(registry, **options)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def http(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=app.url, timeout=10)


# Property and schema fuzzing draw random examples; in CI they are derandomized so a run is repeatable
# (locally they keep exploring new inputs).
try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass
else:
    _hypothesis_settings.register_profile("ci", derandomize=True, database=None)
    if os.environ.get("CI"):
        _hypothesis_settings.load_profile("ci")
