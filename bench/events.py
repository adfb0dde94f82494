"""Emit -> handler throughput and latency through the embedded engine (memory and SQLite stores).

    python bench/events.py [--events 20000]      # the table: standard and FIFO topics, 1 and 3 subscribers
    python bench/events.py --rss 1000000         # RSS while a million events go through one subscriber
    python bench/events.py --recording           # one subscriber, SQLite, with recording off and on

Throughput: emit N events as fast as 64 concurrent emitters (64 tasks, as 64 steps emitting) can and time
until the last handler ran. Latency: emit at half the measured rate for 2 s and record handler start minus
emit time. The FIFO rows spread the events over 100 message groups; the handler checks that every group
arrives in emit order. The "handler awaits" rows use a handler that suspends once (`await asyncio.sleep(0)`),
as a handler doing I/O does: its delivery cannot finish in the loop turn of the publish, so with SQLite every
message is written and deleted (a message delivered and acknowledged before its publish's commit never is).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import statistics
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from motia import QueueConfig, Registry, on
from motia.assembly import App
from motia.dsl import step_of
from motia.runtime.app import run

GROUPS = 100


def build(latencies: list[float], fanout: int, fifo: bool = False, suspend: bool = False) -> Registry:
    handlers = []
    config = QueueConfig(type="fifo" if fifo else "standard", concurrency=10)
    for n in range(fanout):
        handlers.append(on("bench", name=f"consumer_{n}", queue=config)(consumer(latencies, fifo, suspend)))
    return Registry([step_of(h) for h in handlers])


def consumer(latencies: list[float], fifo: bool, suspend: bool = False) -> Any:
    last: dict[str, int] = {}

    async def consume(data: dict) -> None:
        latencies.append(time.perf_counter() - data["t"])
        if suspend:
            await asyncio.sleep(0)
        if fifo:
            group, seq = data["g"], data["n"]
            if seq <= last.get(group, -1):
                raise AssertionError(f"group {group}: {seq} after {last[group]}")
            last[group] = seq

    return consume


async def measure(store: str, events: int, fanout: int, fifo: bool = False, record: bool = False,
                  suspend: bool = False) -> dict[str, float]:
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        options: dict[str, Any] = {"memory": True} if store == "memory" else {"data_dir": Path(tmp)}
        app = App(build(latencies, fanout, fifo, suspend), port=0, stream_port=None, record=record, **options)
        await app.start()
        try:
            emit = app.worker.emit
            emitters = 64
            sequence = iter(range(10**9))

            async def one() -> None:
                n = next(sequence)
                trace = f"{n + 1:032x}"  # a trace per event, as emits from as many requests
                if fifo:
                    group = str(n % GROUPS)
                    await emit("bench", {"t": time.perf_counter(), "g": group, "n": n}, trace_id=trace,
                               message_group_id=group)
                else:
                    await emit("bench", {"t": time.perf_counter()}, trace_id=trace)

            async def emitter(count: int) -> None:
                for _ in range(count):
                    await one()

            started, cpu = time.perf_counter(), time.process_time()
            shares = [events // emitters + (1 if n < events % emitters else 0) for n in range(emitters)]
            await asyncio.gather(*(emitter(share) for share in shares))
            await app.embedded.queues.wait_idle()
            elapsed = time.perf_counter() - started
            cpu_us = (time.process_time() - cpu) / events * 1e6
            rate = events / elapsed
            latencies.clear()
            paced = min(events, int(rate))  # 2 s at half the rate
            interval = 2.0 / paced
            next_at = time.perf_counter()
            for _ in range(paced):
                await one()
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await app.embedded.queues.wait_idle()
            failed = app.embedded.queues.failed
        finally:
            await app.stop()
    if failed:
        raise RuntimeError(f"{failed} deliveries failed (FIFO order broken?)")
    ordered = sorted(latencies)
    return {
        "events_per_s": rate,
        "cpu_us": cpu_us,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
    }


def rss_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


async def rss_run(total: int, batch: int = 10_000) -> dict[str, float]:
    """`total` events through one subscriber (memory store), `batch` at a time so that the backlog stays
    bounded: growth of RSS between the first 10% and the end is what the engine keeps per event."""
    app = App(build(deque(maxlen=1000), 1), port=0, stream_port=None, memory=True)  # type: ignore[arg-type]
    await app.start()
    emit = app.worker.emit
    trace = "0" * 31 + "1"
    samples: list[tuple[int, float]] = []
    started = time.perf_counter()
    try:
        done = 0
        while done < total:
            await asyncio.gather(*(emit("bench", {"t": time.perf_counter()}, trace_id=trace)
                                   for _ in range(batch)))
            await app.embedded.queues.wait_idle()
            done += batch
            if done % (total // 10) == 0:
                gc.collect()
                samples.append((done, rss_mib()))
        handled = app.embedded.queues.delivered
    finally:
        await app.stop()
    warm = samples[0][1]
    end = samples[-1][1]
    return {"events": total, "handled": handled, "seconds": time.perf_counter() - started, "rss_warm": warm,
            "rss_end": end, "rss_max": max(s[1] for s in samples), "growth": (end - warm) / warm * 100}


async def queue_handoff(events: int, emitters: int = 64, consumers: int = 10) -> float:
    """The ceiling: the same hand-off through a bare `asyncio.Queue` (64 producers, 10 consumers calling a
    handler that reads the payload), events per second."""
    queue: asyncio.Queue[dict[str, float]] = asyncio.Queue()
    handled: list[float] = []

    async def handler(data: dict[str, float]) -> None:
        if len(handled) < 10_000:
            handled.append(time.perf_counter() - data["t"])

    async def consume() -> None:
        while True:
            data = await queue.get()
            await handler(data)
            queue.task_done()

    async def produce(count: int) -> None:
        for _ in range(count):
            await queue.put({"t": time.perf_counter()})

    workers = [asyncio.ensure_future(consume()) for _ in range(consumers)]
    started = time.perf_counter()
    shares = [events // emitters + (1 if n < events % emitters else 0) for n in range(emitters)]
    await asyncio.gather(*(produce(share) for share in shares))
    await queue.join()
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.cancel()
    return events / elapsed


async def recording(events: int, rounds: int = 3) -> None:
    """One subscriber, standard topic, with recording off and on, alternated in one process, best of `rounds`:
    events/s, and the process's CPU time per event (steadier on a busy machine)."""
    print("| store | events/s off | events/s on | on / off | CPU/event off | CPU/event on | on / off |")
    print("|---|---|---|---|---|---|---|")
    for store in ("memory", "sqlite"):
        rate = {False: 0.0, True: 0.0}
        cpu = {False: float("inf"), True: float("inf")}
        for _ in range(rounds):
            for record in (False, True):
                result = await measure(store, events, 1, record=record)
                rate[record] = max(rate[record], result["events_per_s"])
                cpu[record] = min(cpu[record], result["cpu_us"])
        print(f"| {store} | {rate[False]:,.0f} | {rate[True]:,.0f} | {rate[True] / rate[False]:.2f} | "
              f"{cpu[False]:.0f} us | {cpu[True]:.0f} us | {cpu[True] / cpu[False]:.2f} |")


async def main(events: int) -> None:
    ceiling = await queue_handoff(events)
    print("| topic | store | subscribers | events/s (emit→handled) | p50 at half rate | p99 at half rate | "
          "vs asyncio.Queue | SQLite vs memory |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| asyncio.Queue hand-off (the ceiling) | - | 1 | {ceiling:,.0f} | - | - | 1.00x | - |")
    memory: dict[tuple[bool, int], float] = {}
    for fifo in (False, True):
        for store in ("memory", "sqlite"):
            for fanout in (1, 3):
                result = await measure(store, events, fanout, fifo)
                rate = result["events_per_s"]
                if store == "memory":
                    memory[fifo, fanout] = rate
                versus = f"{rate / memory[fifo, fanout]:.2f}x" if store == "sqlite" else "-"
                print(f"| {'FIFO, 100 groups' if fifo else 'standard'}, concurrency 10 | {store} | {fanout} | "
                      f"{rate:,.0f} | {result['p50_ms']:.2f} ms | {result['p99_ms']:.2f} ms | "
                      f"{rate / ceiling:.3f}x | {versus} |")
    suspended = 0.0
    for store in ("memory", "sqlite"):
        result = await measure(store, events, 1, suspend=True)
        rate = result["events_per_s"]
        suspended = suspended or rate
        versus = f"{rate / suspended:.2f}x" if store == "sqlite" else "-"
        print(f"| standard, concurrency 10, handler awaits once | {store} | 1 | {rate:,.0f} | "
              f"{result['p50_ms']:.2f} ms | {result['p99_ms']:.2f} ms | {rate / ceiling:.3f}x | {versus} |")


def print_rss(result: dict[str, float]) -> None:
    print("| events | handled | time | RSS after 10% | RSS at the end | max | growth |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {result['events']:,.0f} | {result['handled']:,.0f} | {result['seconds']:.1f} s | "
          f"{result['rss_warm']:.1f} MiB | {result['rss_end']:.1f} MiB | {result['rss_max']:.1f} MiB | "
          f"{result['growth']:+.1f}% |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rss", type=int, default=0, help="run this many events and report RSS instead")
    parser.add_argument("--recording", action="store_true", help="compare recording off and on instead")
    options = parser.parse_args()
    if options.recording:
        run(recording(options.events))
    elif options.rss:
        async def rss() -> None:
            print_rss(await rss_run(options.rss))

        run(rss())
    else:
        run(main(options.events))
