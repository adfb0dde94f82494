"""Emit -> handler across `motia run` processes sharing one Redis (`--store redis://...`), next to one
`motia run` on SQLite measured in the same run.

    python bench/redis_events.py [--events 20000] [--nodes 1,2] [--rounds 3]

Each node is a `motia run` process; each Redis setup has a redis-server of its own (AOF on, `appendfsync
everysec`) in a temp directory. Every setup (the SQLite node, then 1 and 2 Redis nodes) is started first and
the bursts go round them `--rounds` times, so that a machine whose speed drifts (a shared VM's stolen time
moves these figures by half from one minute to the next) slows every setup alike: each row is the median of
its rounds, and the ratio is taken between medians. Throughput: the nodes' steps emit `--events` events
(`POST /emit` of 20 events each, 32 requests at a time spread over the nodes on kept-alive connections: 32
handler runs emitting at once) and the time runs until every handler ran (the nodes count what they handled).
Latency (after the rounds): each node emits at its share of half the median rate for 2 s; handler start minus
emit time (`time.time()`, the nodes share the machine's clock).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from run import free_port, wait_http  # bench/run.py, next to this script

STEPS = textwrap.dedent('''
    import asyncio
    import time

    from motia import ApiRequest, FlowContext, api, on

    seen = {"count": 0, "latencies": []}


    @api("POST", "/emit")
    async def emit(req: ApiRequest[dict], ctx: FlowContext):
        """Emit `count` events (one after another, as one handler run does); or, with `rate`, at that many per
        second for `seconds`."""
        count, rate = req.body.get("count", 0), req.body.get("rate")
        if rate:
            interval, next_at = 1 / rate, time.perf_counter()
            for _ in range(int(rate * req.body["seconds"])):
                await ctx.emit("bench", {"t": time.time()})
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            return {"emitted": True}
        for _ in range(count):
            await ctx.emit("bench", {"t": time.time()})
        return {"emitted": count}


    @on("bench", queue={"concurrency": 10})
    async def consume(data: dict, ctx: FlowContext):
        seen["latencies"].append(time.time() - data["t"])
        seen["count"] += 1


    @api("POST", "/seen")
    async def report(req: ApiRequest[dict], ctx: FlowContext):
        """What this node handled so far (with the latencies when `latencies`); `reset` starts over."""
        body = {"count": seen["count"], "latencies": seen["latencies"] if req.body.get("latencies") else []}
        if req.body.get("reset"):
            seen["count"], seen["latencies"] = 0, []
        return body
''')


def post(port: int, path: str, body: dict[str, Any], timeout: float = 120) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                     {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--appendonly", "yes",
         "--appendfsync", "everysec", "--save", "", "--protected-mode", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def nodes(project: Path, count: int, *store: str) -> Iterator[list[int]]:
    """`count` `motia run` processes with the given store options; their HTTP ports."""
    ports = [free_port() for _ in range(count)]
    processes = [subprocess.Popen([sys.executable, "-m", "motia.cli", "run", "--port", str(port), "--stream-port", "0",
                                   "--log-level", "warning", *store], cwd=project, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True) for port in ports]
    try:
        for port in ports:
            wait_http(port)
        yield ports
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(30)


def handled(ports: list[int], reset: bool = False, latencies: bool = False) -> tuple[int, list[float]]:
    """The events the nodes handled (and their latencies: asked for only once, a list of thousands)."""
    count, found = 0, []
    for port in ports:
        seen = post(port, "/seen", {"reset": reset, "latencies": latencies})
        count += seen["count"]
        found += seen["latencies"]
    return count, found


async def emitter(port: int, sizes: list[int]) -> None:
    """`POST /emit` of each size in turn on one kept-alive connection. A raw HTTP/1.1 client on asyncio: the
    load generator shares the 2 cores with the Redis nodes, and urllib with a connection per request (and a
    thread per client) cost ~80 us of CPU per event, a third of a node's."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for size in sizes:
            body = b'{"count": %d}' % size
            writer.write(b"POST /emit HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                         b"content-length: %d\r\n\r\n%s" % (len(body), body))
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            if not head.startswith(b"HTTP/1.1 200") or length is None:
                raise RuntimeError(f"POST /emit answered {head!r}")
            await reader.readexactly(int(length.group(1)))
    finally:
        writer.close()


async def burst(ports: list[int], events: int) -> None:
    """`events` emits from 32 clients at once spread over the nodes, 20 a request."""
    batch, clients = 20, 32
    batches = [min(batch, events - start) for start in range(0, events, batch)]
    await asyncio.gather(*(emitter(ports[n % len(ports)], batches[n::clients]) for n in range(clients)))


def throughput(ports: list[int], events: int) -> float:
    handled(ports, reset=True)
    started = time.perf_counter()
    asyncio.run(burst(ports, events))
    while handled(ports)[0] < events:
        time.sleep(0.01)
    rate = events / (time.perf_counter() - started)
    handled(ports, reset=True)
    return rate


def latency(ports: list[int], rate: float) -> dict[str, float]:
    """p50 and p99 (ms) of handler start minus emit, emitting at half `rate` for 2 s."""
    share = rate / 2 / len(ports)
    pacers = [threading.Thread(target=post, args=(port, "/emit", {"rate": share, "seconds": 2})) for port in ports]
    for pacer in pacers:
        pacer.start()
    for pacer in pacers:
        pacer.join()
    expected = sum(int(share * 2) for _ in ports)
    deadline = time.monotonic() + 30
    while handled(ports)[0] < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    ordered = sorted(handled(ports, reset=True, latencies=True)[1])
    return {"p50_ms": statistics.median(ordered) * 1000,
            "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--nodes", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    if shutil.which("redis-server") is None:
        print("redis-server is not installed: no Redis rows")
        return
    counts = [int(n) for n in options.nodes.split(",")]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        project = Path(tmp) / "app"
        (project / "steps").mkdir(parents=True)
        (project / "steps" / "bench_step.py").write_text(STEPS)
        setups = {"SQLite": stack.enter_context(nodes(project, 1, "--data-dir", str(Path(tmp) / "data")))}
        for count in counts:
            directory = Path(tmp) / f"redis-{count}"
            directory.mkdir()
            url = stack.enter_context(redis_server(directory))
            setups[f"Redis {count}"] = stack.enter_context(nodes(project, count, "--store", url))
        for ports in setups.values():  # warm up: imports, connections, the handlers' first runs
            throughput(ports, 1000)
        rates: dict[str, list[float]] = {name: [] for name in setups}
        for _ in range(options.rounds):
            for name, ports in setups.items():
                rates[name].append(throughput(ports, options.events))
        medians = {name: statistics.median(found) for name, found in rates.items()}
        print("| store | nodes | events/s (emit→handled), median | vs SQLite | p50 at half rate | p99 at half rate |")
        print("|---|---|---|---|---|---|")
        for name, ports in setups.items():
            waits = latency(ports, medians[name])
            store, count = ("SQLite", 1) if name == "SQLite" else ("Redis", len(ports))
            print(f"| {store} | {count} | {medians[name]:,.0f} | {medians[name] / medians['SQLite']:.2f}x | "
                  f"{waits['p50_ms']:.2f} ms | {waits['p99_ms']:.2f} ms |", flush=True)
        print()
        print("Rounds (events/s): " + "; ".join(f"{name} " + ", ".join(f"{rate:,.0f}" for rate in found)
                                                for name, found in rates.items()) + ".")


if __name__ == "__main__":
    main()
