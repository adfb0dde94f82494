"""Several processes: one `motia engine`, workers started with `motia run --engine`, as a user runs them."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, ReadProcess

from .conftest import RawWorker

SEED = ROOT / "examples" / "seed"
pytestmark = pytest.mark.slow


class Process(ReadProcess):
    """A `motia` subprocess whose output is read continuously (so it never blocks on a full pipe)."""

    def __init__(self, cwd: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("III_URL", None)
        super().__init__([sys.executable, "-m", "motia.cli", *args], cwd=cwd, env=env)

    def wait_for(self, pattern: str, timeout: float = 30.0, after: int = 0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[after:]:
                    found = re.search(pattern, line)
                    if found:
                        return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no {pattern!r} in:\n" + "".join(self.lines))
                self._changed.wait(remaining)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(30)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        if process.proc.poll() is None:
            process.stop(signal.SIGKILL)


def start_engine(processes: list[Process]) -> tuple[Process, str, str]:
    engine = Process(ROOT, "engine", "--engine-port", "0", "--port", "0", "--stream-port", "0", "--memory")
    processes.append(engine)
    ws_url = engine.wait_for(r"worker port on (ws://\S+)").group(1)
    http_url = engine.wait_for(r"serving HTTP on (http://\S+)").group(1)
    return engine, ws_url, http_url


def start_worker(processes: list[Process], ws_url: str, project: Path = SEED) -> Process:
    worker = Process(project, "run", "--engine", ws_url)
    processes.append(worker)
    worker.wait_for(r"worker of the engine at")
    return worker


def python_workers(ws_url: str) -> int:
    observer = RawWorker(ws_url)
    try:
        return len(observer.call("engine::workers::list", {"runtime": "python"})["result"]["workers"])
    finally:
        observer.close()


class Load:
    """Closed-loop GET load from a few threads, recording (finished_at, status) per request."""

    def __init__(self, url: str, path: str, concurrency: int = 4) -> None:
        self.results: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(url, path), daemon=True) for _ in range(concurrency)]
        for thread in self._threads:
            thread.start()

    def _run(self, url: str, path: str) -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            deadline = time.monotonic() + 60  # bounded, whatever happens
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    status = client.get(path).status_code
                except httpx.HTTPError:
                    status = 0
                self.results.append((time.monotonic(), status))

    def failures(self, since: float = 0.0) -> list[tuple[float, int]]:
        return [(t, s) for t, s in list(self.results) if t >= since and s != 200]

    def count(self, since: float = 0.0) -> int:
        return sum(1 for t, _ in list(self.results) if t >= since)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def test_two_workers_share_the_seed_routes_and_survive_a_killed_replica(processes):
    engine, ws_url, http_url = start_engine(processes)
    first = start_worker(processes, ws_url)
    second = start_worker(processes, ws_url)
    assert python_workers(ws_url) == 2
    with httpx.Client(base_url=http_url, timeout=10) as client:
        assert client.get("/hello/Ada").json() == {"message": "Hello, Ada!", "trigger": "http"}

    load = Load(http_url, "/hello/Ada")
    try:
        time.sleep(0.5)
        # A graceful stop (SIGTERM) hands the traffic over: the engine stops routing to the worker first.
        assert first.stop(signal.SIGTERM) == 0
        time.sleep(0.5)
        replacement = start_worker(processes, ws_url)
        time.sleep(0.5)
        # A crash (SIGKILL) mid-load: calls running on it are retried on the replica (GET is safe).
        second.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        time.sleep(0.5)
        restarted = start_worker(processes, ws_url)
        reconnected_at = time.monotonic()
        time.sleep(0.5)
    finally:
        load.stop()
    assert load.count(reconnected_at) > 0 and load.count(killed_at) > load.count(reconnected_at)
    assert load.failures() == []
    assert python_workers(ws_url) == 2
    # Both workers of the end state served requests (each logs the requests it handles).
    for worker in (replacement, restarted):
        worker.wait_for(r"Saying hello to Ada", timeout=5)
    assert engine.proc.poll() is None
