"""Hostile HTTP clients against `motia run` (not part of CI; the figures of RELIABILITY.md's rows on them).

    python bench/abuse.py [--readers 20] [--response-mib 13] [--write-timeout 10]

- Slow readers: `--readers` sockets each ask for a `--response-mib` MiB response and never read it, while a
  well-behaved client requests GET /ping in a loop. Samples the server's RSS until the write timeout has cut
  them off, and prints the peak, the value after and the well-behaved client's statuses.
- Request heads: the time the server takes to answer the largest head it accepts (64 KiB in 100 headers) next
  to a small one (that is how long the event loop is busy with it), and the answers to the heads of the
  issue (200,000 repeated headers; one 60 MB header).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import free_port, wait_http  # noqa: E402  (bench/run.py)

STEPS = '''
from motia import ApiResponse, get


@get("/ping")
async def ping() -> dict:
    return {"pong": True}


@get("/big")
async def big() -> ApiResponse:
    return ApiResponse(200, body=b"x" * (int(__import__("os").environ["RESPONSE_MIB"]) << 20),
                       headers={"content-type": "application/octet-stream"})
'''


def rss_mib(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def exchange(port: int, raw: bytes, timeout: float = 60) -> tuple[bytes, float]:
    """Send `raw` on a new connection; the status line of the answer and the seconds from the first byte sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sent = time.perf_counter()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while b"\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.split(b"\r\n", 1)[0], time.perf_counter() - sent


def slow_readers(port: int, pid: int, readers: int, write_timeout: float) -> None:
    statuses: Counter[str] = Counter()
    stop = threading.Event()

    def well_behaved() -> None:
        while not stop.is_set():
            try:
                status, _ = exchange(port, b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 10)
                statuses[status.decode(errors="replace")] += 1
            except OSError as exc:
                statuses[type(exc).__name__] += 1
            time.sleep(0.05)

    before = rss_mib(pid)
    sockets = []
    for _ in range(readers):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sockets.append(sock)
    thread = threading.Thread(target=well_behaved)
    thread.start()
    started = time.monotonic()
    samples = []
    while time.monotonic() - started < write_timeout + 5:
        samples.append((time.monotonic() - started, rss_mib(pid)))
        time.sleep(0.25)
    stop.set()
    thread.join()
    for sock in sockets:
        sock.close()
    peak_at, peak = max(samples, key=lambda s: s[1])
    print(f"slow readers: {readers} x {os.environ['RESPONSE_MIB']} MiB unread, --write-timeout {write_timeout}")
    print(f"  RSS {before:.1f} MiB before, peak {peak:.1f} MiB at {peak_at:.1f} s, "
          f"{samples[-1][1]:.1f} MiB at {samples[-1][0]:.1f} s")
    freed = next((t for t, rss in samples if t > peak_at and rss < before + (peak - before) / 4), None)
    print(f"  back within a quarter of the rise at {freed if freed is None else round(freed, 1)} s")
    print(f"  well-behaved client meanwhile: {dict(statuses)}")


def heads(port: int, pid: int) -> None:
    small = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    value = b"v" * 640  # 99 headers of ~650 bytes + Host: just under 64 KiB
    largest = (b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
               + b"".join(b"X-Dup: " + value + b"\r\n" for _ in range(98)) + b"\r\n")
    assert len(largest) < 64 * 1024, len(largest)
    for name, raw in (("small head", small), (f"largest accepted head ({len(largest)} bytes, 100 headers)", largest)):
        times = []
        for _ in range(200):
            status, seconds = exchange(port, raw)
            assert status.startswith(b"HTTP/1.1 200"), status
            times.append(seconds)
        print(f"{name}: median {statistics.median(times) * 1e3:.2f} ms, p99 "
              f"{sorted(times)[int(len(times) * 0.99)] * 1e3:.2f} ms to the answer")
    print(f"  in process, parsing it and merging its headers: {head_cost(largest) * 1e6:.0f} us "
          f"(a small head: {head_cost(small) * 1e6:.0f} us)")
    before = rss_mib(pid)
    for name, raw in (("200,000 X-Dup headers (3.8 MB)", b"GET /ping HTTP/1.1\r\nHost: t\r\n" + b"X-Dup: 0123456789\r\n"
                       * 200_000 + b"\r\n"),
                      ("one 60 MB header", b"GET /ping HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 60_000_000
                       + b"\r\n\r\n")):
        status, seconds = exchange(port, raw)
        print(f"{name}: {status.decode()} after {seconds * 1e3:.1f} ms; RSS {rss_mib(pid):.1f} MiB "
              f"(before {before:.1f})")


def head_cost(raw: bytes, rounds: int = 2000) -> float:
    """Seconds of CPU the event loop spends on one head: httptools parsing it (the callbacks uvicorn's protocol
    gets) and the engine merging its headers. Best of five runs."""
    import httptools

    from motia.engine.http import _merge_headers

    class Sink:
        def __init__(self) -> None:
            self.headers: list[tuple[bytes, bytes]] = []

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers.append((name.lower(), value))

    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(rounds):
            sink = Sink()
            httptools.HttpRequestParser(sink).feed_data(raw)
            _merge_headers(sink.headers)
        best = min(best, (time.process_time() - started) / rounds)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--response-mib", type=int, default=13)
    parser.add_argument("--write-timeout", type=float, default=10.0)
    args = parser.parse_args()
    os.environ["RESPONSE_MIB"] = str(args.response_mib)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "steps").mkdir()
        (Path(tmp) / "steps" / "abuse_step.py").write_text(STEPS)
        port = free_port()
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("motia")), "run", "--memory", "--port", str(port), "--stream-port", "0",
             "--write-timeout", str(args.write_timeout), "--log-level", "warning"],
            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_http(port)
            heads(port, process.pid)
            slow_readers(port, process.pid, args.readers, args.write_timeout)
        finally:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
