"""Remote worker over one WebSocket connection vs a raw `websockets` echo of the same frames, in the same run.

    .venv/bin/python bench/ws_compare.py [--seconds 3] [--window 64]

The engine (this process) calls a worker in a second process, over the iii protocol:
- `motia step`: the `hello` step of bench/apps/motia_hello (GET /hello/:name) through WebSocketTransport and
  the Worker, with the payload an HTTP request produces (what `motia engine` does per request);
- `raw echo`: a bare `websockets` server in the same worker process that answers each frame with the same
  result frame, without parsing anything (the transport's floor).
Sequential: one call at a time, round-trip time. Pipelined: `--window` calls in flight, calls per second, and
the CPU time both processes spent per call (steadier than the rate on a shared machine). The pipelined cells
alternate `--rounds` times (motia, raw, motia, raw, ...); each row shows its best round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = HERE / "apps" / "motia_hello"


# --- the worker process ------------------------------------------------------------------------------------


async def worker_main(engine_url: str) -> None:
    import websockets

    from motia.discovery import discover
    from motia.runtime.remote import WebSocketTransport
    from motia.runtime.worker import Worker

    result_frame = _frames()[1]

    async def echo(ws: websockets.ServerConnection) -> None:
        async for _ in ws:
            await ws.send(result_frame, text=True)

    async with websockets.serve(echo, "127.0.0.1", 0, compression=None, max_size=2**26) as server:
        transport = WebSocketTransport(engine_url, Worker(discover(STEPS, None)), name="bench-worker")
        await transport.start(timeout=10)
        print(f"raw-echo ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().create_future()  # until killed


def _frames() -> tuple[bytes, bytes]:
    """The invokefunction the engine sends for GET /hello/world, and the worker's invocationresult."""
    from motia.protocol import InvocationResult, InvokeFunction, encode_message, new_id, wire_http_request

    invocation_id = new_id()
    body, response = ({"channel_id": new_id(), "access_key": new_id(), "direction": d} for d in ("read", "write"))
    payload = wire_http_request(_request(), body, response)
    call = InvokeFunction("steps::hello::trigger::http(GET /hello/:name)", payload, invocation_id=invocation_id)
    result = InvocationResult(invocation_id, result={"status_code": 200, "body": {"message": "Hello, world!"}})
    return encode_message(call), encode_message(result)


def _request():  # type: ignore[no-untyped-def]
    from motia.protocol import HttpRequestData, HttpTriggerInfo

    headers = {"host": "127.0.0.1:3111", "user-agent": "bench", "accept": "*/*"}
    return HttpRequestData("GET", "/hello/:name", {"name": "world"}, {}, headers, None,
                           HttpTriggerInfo("http", "/hello/:name", "GET"), b"")


# --- the engine process -----------------------------------------------------------------------------------


async def sequential(call, seconds: float) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def pipelined(call, seconds: float, window: int, worker_pid: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Calls per second, and CPU microseconds per call of this process and the worker's together."""
    done = 0
    deadline = time.perf_counter() + seconds
    cpu = time.process_time() + cpu_seconds(worker_pid)

    async def lane() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(window)))
    rate = done / (time.perf_counter() - start)
    return rate, (time.process_time() + cpu_seconds(worker_pid) - cpu) / max(done, 1) * 1e6


def report(name: str, samples: list[float], rate: float, cpu_us: float, base: tuple[float, float]) -> None:
    samples.sort()
    p50 = statistics.median(samples) * 1e6
    p99 = samples[int(len(samples) * 0.99)] * 1e6
    print(f"| {name:<12} | {p50:8.0f} µs | {p99:8.0f} µs | {1 / statistics.mean(samples):10.0f} | {rate:12.0f} | "
          f"{cpu_us:6.0f} µs | {rate / base[0]:.2f}x | {base[1] / cpu_us:.2f}x |")


async def engine_main(seconds: float, window: int, rounds: int) -> None:
    import websockets

    from motia.engine.engine import Engine
    from motia.engine.introspection import install
    from motia.engine.ws import WorkerServer

    engine = Engine()
    install(engine)
    server = WorkerServer(engine, port=0)
    await server.start()
    worker = subprocess.Popen([sys.executable, __file__, "--worker", server.url], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        raw_url = (await asyncio.to_thread(worker.stdout.readline)).split()[1]
        function_id = "steps::hello::trigger::http(GET /hello/:name)"
        request = _request()

        async def motia_call() -> None:
            result = await engine.invoke(function_id, request)
            assert result.error is None, result.error

        call_frame = _frames()[0]
        async with websockets.connect(raw_url, compression=None, max_size=2**26) as raw:
            lock = asyncio.Lock()

            async def raw_sequential() -> None:
                await raw.send(call_frame, text=True)
                await raw.recv()

            # Pipelined raw echo: replies come back in order, so each lane sends under a lock and a reader
            # hands replies to the waiting lanes first-in first-out.
            waiters: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()

            async def reader() -> None:
                async for _ in raw:
                    waiters.get_nowait().set_result(None)

            async def raw_pipelined() -> None:
                future = asyncio.get_running_loop().create_future()
                async with lock:
                    waiters.put_nowait(future)
                    await raw.send(call_frame, text=True)
                await future

            for _ in range(2000):  # warm-up
                await motia_call()
                await raw_sequential()
            print(f"frames: call {len(call_frame)} B, result {len(_frames()[1])} B; {seconds:.0f} s per cell, "
                  f"window {window}, best of {rounds} alternating pipelined rounds, "
                  f"loop {type(asyncio.get_running_loop()).__module__}")
            print("| path         | seq p50     | seq p99     | seq call/s | piped call/s | CPU/call (both processes) "
                  "| piped vs raw | CPU: raw / motia |")
            print("|---|---|---|---|---|---|---|---|")
            motia_seq = await sequential(motia_call, seconds)
            raw_seq = await sequential(raw_sequential, seconds)
            reading = asyncio.create_task(reader())
            motia, raw_best = (0.0, float("inf")), (0.0, float("inf"))
            for _ in range(rounds):
                rate, cpu = await pipelined(motia_call, seconds, window, worker.pid)
                motia = (max(motia[0], rate), min(motia[1], cpu))
                rate, cpu = await pipelined(raw_pipelined, seconds, window, worker.pid)
                raw_best = (max(raw_best[0], rate), min(raw_best[1], cpu))
            reading.cancel()
            report("motia step", motia_seq, *motia, raw_best)
            report("raw echo", raw_seq, *raw_best, raw_best)
    finally:
        worker.kill()
        worker.wait()
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from motia.runtime.app import run

    if args.worker:
        run(worker_main(args.worker))
    else:
        run(engine_main(args.seconds, args.window, args.rounds))


if __name__ == "__main__":
    main()
