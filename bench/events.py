"""Emit -> handler throughput and latency through the embedded engine (memory and SQLite stores).

    python bench/events.py [--events 20000]

Throughput: emit N events as fast as the emitter can (concurrently, 64 in flight) and time until the
last handler ran. Latency: emit at half the measured rate and record handler-start minus emit time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from motia import QueueConfig, Registry, on
from motia.dsl import step_of
from motia.runtime.app import App, run


def build(latencies: list[float], fanout: int) -> Registry:
    handlers = []
    for n in range(fanout):
        @on("bench", name=f"consumer_{n}", queue=QueueConfig(concurrency=10))
        async def consume(data: dict) -> None:
            latencies.append(time.perf_counter() - data["t"])

        handlers.append(consume)
    return Registry([step_of(h) for h in handlers])


async def measure(store: str, events: int, fanout: int) -> dict[str, float]:
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        options = {"memory": True} if store == "memory" else {"data_dir": Path(tmp)}
        app = App(build(latencies, fanout), port=0, stream_port=None, **options)
        await app.start()
        try:
            emit = app.worker.emit
            trace = "0" * 31 + "1"
            semaphore = asyncio.Semaphore(64)

            async def one() -> None:
                async with semaphore:
                    await emit("bench", {"t": time.perf_counter()}, trace_id=trace)

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(events)))
            await app.embedded.queues.wait_idle()
            elapsed = time.perf_counter() - started
            rate = events / elapsed
            latencies.clear()
            paced = min(events, int(rate))  # one second's worth at half the rate: 2 s of load
            interval = 2.0 / paced
            next_at = time.perf_counter()
            for _ in range(paced):
                await emit("bench", {"t": time.perf_counter()}, trace_id=trace)
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await app.embedded.queues.wait_idle()
        finally:
            await app.stop()
    ordered = sorted(latencies)
    return {
        "events_per_s": rate,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
    }


async def main(events: int) -> None:
    print("| store | subscribers | events/s (emit→handled) | p50 at half rate | p99 at half rate |")
    print("|---|---|---|---|---|")
    for store in ("memory", "sqlite"):
        for fanout in (1, 3):
            result = await measure(store, events, fanout)
            print(f"| {store} | {fanout} | {result['events_per_s']:,.0f} | {result['p50_ms']:.2f} ms | "
                  f"{result['p99_ms']:.2f} ms |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    run(main(parser.parse_args().events))
