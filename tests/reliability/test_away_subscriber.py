"""A subscriber's queue outlives its worker: emits acknowledged while the subscribing worker is away (SIGKILL,
SIGTERM), and while the engine restarts on its SQLite store, are all handled once a worker with that
subscription returns. Real processes: `motia engine` and two `motia run --engine` workers, one emitting and one
subscribed.
"""

from __future__ import annotations

import signal
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from tests.protocol.test_processes import Process, start_engine

from ..conftest import eventually
from .test_crash import queue_counts

pytestmark = pytest.mark.slow
EMITS = 1000
TOPIC = "job.done"

PRODUCER_STEPS = textwrap.dedent('''
    import asyncio

    from motia import ApiRequest, FlowContext, api


    @api("POST", "/jobs")
    async def submit(req: ApiRequest[dict], ctx: FlowContext):
        # Answered once every emit of the batch has returned, that is, is stored.
        await asyncio.gather(*(ctx.emit("job.done", {"id": n}) for n in req.body["ids"]))
        return {"acked": len(req.body["ids"])}
''')

CONSUMER_STEPS = textwrap.dedent('''
    import os

    from motia import FlowContext, on


    @on("job.done")
    async def record(job: dict, ctx: FlowContext):
        await ctx.state.set("handled", str(job["id"]), {"pid": os.getpid()})
''')


def project(root: Path, name: str, steps: str) -> Path:
    (root / name / "steps").mkdir(parents=True)
    (root / name / "steps" / f"{name}_step.py").write_text(steps)
    return root / name


def start_workers(processes: list[Process], ws_url: str, *projects: Path) -> list[Process]:
    """`motia run --engine` in each project, started side by side (start-up is most of these tests' time)."""
    workers = [Process(project, "run", "--engine", ws_url) for project in projects]
    processes.extend(workers)
    for worker in workers:
        worker.wait_for(r"worker of the engine at")
    return workers


def emit(http_url: str, ids: range) -> int:
    """POST the ids in batches of 100 through the producer; the number of emits acknowledged."""
    acked = 0
    with httpx.Client(base_url=http_url, timeout=30) as client:
        for start in range(ids.start, ids.stop, 100):
            response = client.post("/jobs", json={"ids": list(range(start, min(start + 100, ids.stop)))})
            assert response.status_code == 200, response.text
            acked += response.json()["acked"]
    return acked


def handled(http_url: str) -> dict[str, dict[str, int]]:
    """What the consumer recorded, read through the engine's operator routes."""
    return httpx.get(f"{http_url}/__motia/state/handled", timeout=10).json()  # type: ignore[no-any-return]


def subscribed(ws_url: str) -> bool:
    return TOPIC in queue_counts(ws_url)


@pytest.mark.parametrize("departure", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_emits_acknowledged_while_the_subscriber_is_away_are_all_handled_when_it_returns(
    tmp_path, processes, departure
):
    producer = project(tmp_path, "producer", PRODUCER_STEPS)
    consumer = project(tmp_path, "consumer", CONSUMER_STEPS)
    _engine, ws_url, http_url = start_engine(processes)
    _producer, away = start_workers(processes, ws_url, producer, consumer)
    eventually(lambda: subscribed(ws_url), timeout=30)
    away.stop(departure)

    assert emit(http_url, range(EMITS)) == EMITS
    assert queue_counts(ws_url) == {TOPIC: [(EMITS, 0)]}  # kept for the subscriber that is away
    assert handled(http_url) == {}

    [back] = start_workers(processes, ws_url, consumer)
    returned = time.monotonic()
    done = eventually(lambda: len(h := handled(http_url)) == EMITS and h, timeout=60)
    print(f"away ({departure.name}): {EMITS} acknowledged, {len(done)} handled "
          f"{time.monotonic() - returned:.1f}s after the worker registered again")
    assert sorted(int(key) for key in done) == list(range(EMITS))  # 0 lost
    assert {entry["pid"] for entry in done.values()} == {back.proc.pid}
    eventually(lambda: queue_counts(ws_url) == {TOPIC: [(0, 0)]}, timeout=10)  # acknowledged, none dead-lettered


def start_sqlite_engine(processes: list[Process], data_dir: Path) -> tuple[Process, str, str]:
    engine = Process(data_dir.parent, "engine", "--engine-port", "0", "--port", "0", "--stream-port", "0",
                     "--data-dir", str(data_dir))
    processes.append(engine)
    ws_url = engine.wait_for(r"worker port on (ws://\S+)").group(1)
    http_url = engine.wait_for(r"serving HTTP on (http://\S+)").group(1)
    return engine, ws_url, http_url


def test_emits_acknowledged_while_the_subscriber_is_away_survive_an_engine_restart(tmp_path, processes):
    """Half the emits before the engine is killed, half after it restarts (the subscription itself must have
    been remembered in the store): the returning subscriber gets all of them."""
    producer = project(tmp_path, "producer", PRODUCER_STEPS)
    consumer = project(tmp_path, "consumer", CONSUMER_STEPS)
    data_dir = tmp_path / "data"
    engine, ws_url, http_url = start_sqlite_engine(processes, data_dir)
    first_producer, away = start_workers(processes, ws_url, producer, consumer)
    eventually(lambda: subscribed(ws_url), timeout=30)
    away.stop(signal.SIGKILL)
    assert emit(http_url, range(EMITS // 2)) == EMITS // 2

    engine.stop(signal.SIGKILL)
    first_producer.stop(signal.SIGKILL)
    _engine, ws_url, http_url = start_sqlite_engine(processes, data_dir)
    start_workers(processes, ws_url, producer)
    assert emit(http_url, range(EMITS // 2, EMITS)) == EMITS // 2
    assert queue_counts(ws_url) == {TOPIC: [(EMITS, 0)]}

    start_workers(processes, ws_url, consumer)
    returned = time.monotonic()
    done = eventually(lambda: len(h := handled(http_url)) == EMITS and h, timeout=60)
    print(f"away across an engine kill -9: {EMITS} acknowledged, {len(done)} handled "
          f"{time.monotonic() - returned:.1f}s after the worker registered again")
    assert sorted(int(key) for key in done) == list(range(EMITS))
    eventually(lambda: queue_counts(ws_url) == {TOPIC: [(0, 0)]}, timeout=10)
