"""Crashes with real processes: `kill -9` of `motia run` in the middle of a burst of emits, and of an external
worker in the middle of a queue delivery.

The burst is 10,000 emits (about 4 s on 2 cores); `MOTIA_CRASH_EMITS=100000 pytest tests/reliability/test_crash.py`
runs a bigger one.
"""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from collections import deque
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import eventually
from tests.protocol.conftest import RawWorker
from tests.protocol.test_processes import start_engine, start_worker

T = TypeVar("T")
EMITS = int(os.environ.get("MOTIA_CRASH_EMITS", "10000"))
pytestmark = pytest.mark.slow


# --- kill -9 of `motia run` during a burst of emits ---------------------------------------------------------

BURST_STEPS = textwrap.dedent('''
    import asyncio
    import os

    from motia import ApiRequest, FlowContext, api, on


    @api("POST", "/burst")
    async def burst(req: ApiRequest[dict], ctx: FlowContext):
        # The response is sent only once every emit of the batch has returned (is stored).
        await asyncio.gather(*(ctx.emit("work", {"id": n}) for n in req.body["ids"]))
        return {"acked": len(req.body["ids"])}


    @on("work")
    async def handle(job: dict, ctx: FlowContext):
        await asyncio.sleep(0.002)  # slower than the emits: a backlog is pending when the process dies
        await ctx.state.update("handled", str(job["id"]), [
            {"type": "set", "path": "id", "value": job["id"]},
            {"type": "increment", "path": "times", "by": 1},
            {"type": "set", "path": "pid", "value": os.getpid()},
        ])


    @api("GET", "/handled")
    async def handled(req, ctx):
        return [[item["id"], item["times"], item["pid"]] for item in await ctx.state.get_group("handled")]
''')


class Burst:
    """Emits ids 0..total-1 through `POST /burst`, `batch` ids a request, from a few threads. An id is
    acknowledged once the response of its batch is back; a batch whose request was sent but not answered
    is in doubt (it may or may not have been stored); one that never reached the server stays unsent."""

    def __init__(self, total: int, batch: int = 50) -> None:
        self.unsent = deque(list(range(start, min(start + batch, total))) for start in range(0, total, batch))
        self.acknowledged: list[int] = []
        self.in_doubt: list[int] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, url: str, concurrency: int = 4) -> None:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._send, args=(url,), daemon=True) for _ in range(concurrency)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def finished(self) -> bool:
        return not any(thread.is_alive() for thread in self._threads)

    def _send(self, url: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while not self._stop.is_set():
                try:
                    ids = self.unsent.popleft()
                except IndexError:
                    return
                try:
                    response = client.post("/burst", json={"ids": ids})
                except httpx.ConnectError:
                    self.unsent.appendleft(ids)  # the server is gone: this batch was never sent
                    return
                except httpx.HTTPError:
                    self.in_doubt.extend(ids)
                    continue
                (self.acknowledged if response.status_code == 200 else self.in_doubt).extend(ids)


def test_every_acknowledged_emit_of_a_burst_is_handled_after_kill_9(tmp_path, motia_run, record_property):
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "burst_step.py").write_text(BURST_STEPS)
    started = time.monotonic()
    burst = Burst(EMITS)
    first = motia_run(tmp_path, "--stream-port", "0")
    burst.start(first.url)
    eventually(lambda: len(burst.acknowledged) >= EMITS // 2, timeout=30 + EMITS / 100, interval=0.01)
    first.proc.kill()  # SIGKILL mid-burst: batches in flight, handlers running and pending, no flush
    first.proc.wait(10)
    burst.stop()
    acknowledged_before_kill, in_doubt = set(burst.acknowledged), set(burst.in_doubt)
    assert in_doubt, "the kill must interrupt requests in flight for this test to mean anything"

    second = motia_run(tmp_path, "--stream-port", "0")
    burst.start(second.url)  # the rest of the burst, to the restarted process

    deadline = time.monotonic() + 60 + EMITS / 50
    while True:  # until every acknowledged id is handled, or the deadline; then look at what is there
        handled = {n: (times, pid) for n, times, pid in second.client.get("/handled", timeout=30).json()}
        if (burst.finished() and handled.keys() >= set(burst.acknowledged)) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    took = time.monotonic() - started
    second.stop()

    acknowledged = set(burst.acknowledged)
    assert set(burst.in_doubt) == in_doubt, "requests failed after the restart"
    assert not burst.unsent
    missing = acknowledged - handled.keys()
    assert not missing, f"{len(missing)} acknowledged emits were lost"
    carried = sum(1 for n in acknowledged_before_kill if handled[n][1] == second.proc.pid)
    assert carried, "no handler was pending at the kill"
    duplicated = {n: times for n, (times, _) in handled.items() if times > 1}
    figures = {
        "emits": EMITS, "acknowledged": len(acknowledged), "acknowledged_before_kill": len(acknowledged_before_kill),
        "in_doubt": len(in_doubt), "in_doubt_handled": len(in_doubt & handled.keys()), "handled": len(handled),
        "handled_after_restart_of_those_before_kill": carried, "duplicated": len(duplicated),
        "extra_deliveries": sum(times - 1 for times in duplicated.values()), "seconds": round(took, 1),
    }
    for name, value in figures.items():
        record_property(name, value)
    print("kill -9 during a burst:", ", ".join(f"{name}={value}" for name, value in figures.items()))
    # At-least-once: a message whose handler finished just before the kill but whose ack was not yet
    # committed runs again; that can only be one of the deliveries in flight (concurrency 10 per function).
    assert len(duplicated) <= 10, f"duplicates beyond the deliveries in flight: {figures}"


# --- kill -9 of an external worker mid-invocation -----------------------------------------------------------

WORKER_STEPS = textwrap.dedent('''
    import asyncio
    import os

    from motia import ApiRequest, FlowContext, api, on


    @api("POST", "/jobs")
    async def submit(req: ApiRequest[dict], ctx: FlowContext):
        await ctx.emit("job", req.body)
        return {"queued": True}


    # A visibility timeout far beyond the test's deadline: a redelivery in time is due to the lost connection.
    @on("job", queue={"visibility_timeout": 600, "backoff_delay_ms": 100}, timeout=600)
    async def work(job: dict, ctx: FlowContext):
        first = not await ctx.state.get_group("started")
        await ctx.state.set("started", str(os.getpid()), {"pid": os.getpid()})
        if first:
            await asyncio.sleep(600)  # the first delivery hangs until its worker is killed
        await ctx.state.set("done", job["id"], {"pid": os.getpid()})


    @api("GET", "/job")
    async def progress(req, ctx):
        started = [item["pid"] for item in await ctx.state.get_group("started")]
        return {"started": started, "done": await ctx.state.get_group("done")}
''')


def test_a_queue_message_whose_worker_is_killed_mid_invocation_is_completed_by_the_other(tmp_path, processes):
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "job_step.py").write_text(WORKER_STEPS)
    _engine, ws_url, http_url = start_engine(processes)
    workers = [start_worker(processes, ws_url, tmp_path) for _ in range(2)]
    with httpx.Client(base_url=http_url, timeout=10) as client:
        assert client.post("/jobs", json={"id": "j1"}).status_code == 200
        started: list[Any] = eventually(lambda: client.get("/job").json()["started"], timeout=30)
        [busy] = [w for w in workers if w.proc.pid in started]
        [other] = [w for w in workers if w is not busy]
        busy.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        progress = eventually(lambda: (p := client.get("/job").json())["done"] and p, timeout=30)
        took = time.monotonic() - killed_at
    print(f"redelivered to the other worker and completed {took:.2f}s after the kill")
    assert progress["done"] == [{"pid": other.proc.pid}]
    assert sorted(progress["started"]) == sorted([busy.proc.pid, other.proc.pid])  # once on each worker
    assert took < 15  # the visibility timeout is 600 s: the lost connection failed the delivery at once
    assert queue_counts(ws_url) == {"job": [(0, 0)]}  # acknowledged, not dead-lettered


def queue_counts(ws_url: str) -> dict[str, list[tuple[int, int]]]:
    """topic -> (pending, dead) per subscribing function, as the engine reports them."""
    observer = RawWorker(ws_url)
    try:
        topics = observer.call("engine::queue::list_topics")["result"]["topics"]
    finally:
        observer.close()
    return {t["topic"]: [(s["pending"], s["dead"]) for s in t["subscribers"]] for t in topics}


def test_a_queue_message_whose_only_worker_is_killed_mid_invocation_waits_for_the_next_worker(tmp_path, processes):
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "job_step.py").write_text(WORKER_STEPS)
    _engine, ws_url, http_url = start_engine(processes)
    killed = start_worker(processes, ws_url, tmp_path)
    with httpx.Client(base_url=http_url, timeout=10) as client:
        assert client.post("/jobs", json={"id": "j1"}).status_code == 200
        eventually(lambda: client.get("/job").json()["started"], timeout=30)
        killed.stop(signal.SIGKILL)
        # Longer than its 3 retries' back-off (0.1 + 0.2 + 0.4 s): with no worker the message must wait for
        # one, not use up its retries and land in the dead letters.
        time.sleep(1.5)
        replacement = start_worker(processes, ws_url, tmp_path)
        progress = eventually(lambda: (p := client.get("/job").json())["done"] and p, timeout=30)
    assert progress["done"] == [{"pid": replacement.proc.pid}]
    assert sorted(progress["started"]) == sorted([killed.proc.pid, replacement.proc.pid])
    assert queue_counts(ws_url) == {"job": [(0, 0)]}
