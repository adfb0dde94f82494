"""Soak (`nox -s soak`, not part of CI): mixed HTTP and event load at half the measured capacity, then a report.

    python bench/soak.py [--minutes 5] [--warm-up 30] [--connections 64] [--post-percent 25]

Serves bench/apps/soak with `motia run` on SQLite in a temporary directory (server on cpu0, wrk on cpu1),
measures the capacity of the mixed load (GET /items/:id and validated POST /work, each POST emitting an event
that a subscriber records in state and in a stream), then runs it paced at half that rate (bench/soak.lua)
while one stream client stays subscribed. Samples the server's RSS every few seconds from /proc. Passes with
zero errors, every emitted event handled, and RSS within 10% of its value after the warm-up.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
APP = HERE / "apps" / "soak"
LUA = HERE / "soak.lua"
PY = sys.executable
sys.path.insert(0, str(HERE))
from run import free_port, wait_http  # noqa: E402  (bench/run.py)

RSS_TOLERANCE = 0.10


def pinned(cpu: int, command: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu), *command]
    return command


def rss_kib(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) if match else 0


def get_json(url: str, timeout: float = 120) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def wrk(url: str, seconds: int, connections: int, rate: float, post_percent: int, run: str) -> dict[str, Any]:
    """One wrk run of the mixed load; `rate` 0 is as fast as it goes. The figures of bench/soak.lua's done()."""
    command = pinned(1, ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA),
                         url, "--", f"{rate:.1f}", str(post_percent), run])
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next((line for line in out.splitlines() if line.startswith("SOAK ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    result: dict[str, Any] = json.loads(line[5:])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return result


class StreamWatcher(threading.Thread):
    """One stream client subscribed to the soak stream for the whole run: counts the changes pushed to it."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.changes = 0
        self.closed: str | None = None
        self.ready = threading.Event()  # subscribed: the initial sync came
        self._done = threading.Event()

    def run(self) -> None:
        from websockets.sync.client import connect

        try:
            with connect(self.url, max_size=None) as ws:
                ws.send(json.dumps({"type": "join", "data": {"subscriptionId": "soak", "streamName": "soak",
                                                             "groupId": "recent"}}))
                while not self._done.is_set():
                    try:
                        frame = ws.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    if b'"sync"' in (frame if isinstance(frame, bytes) else frame.encode()):
                        self.ready.set()
                    else:
                        self.changes += 1
        except Exception as exc:  # reported: a stream client must stay connected for the whole run
            self.closed = f"{type(exc).__name__}: {exc}"
        finally:
            self.ready.set()

    def wait_for(self, changes: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.changes < changes and self.closed is None and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        self._done.set()
        self.join(5)


def wait_drained(base: str, timeout: float = 180) -> dict[str, Any]:
    """Poll until every emitted event has been delivered (or `timeout`); the last counters."""
    deadline = time.monotonic() + timeout
    while True:
        stats = get_json(f"{base}/soak/stats")
        if stats["deliveries"] >= stats["emitted"] or time.monotonic() > deadline:
            return stats
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--warm-up", type=float, default=30, help="seconds of the paced run before the RSS baseline")
    parser.add_argument("--capacity-seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--post-percent", type=int, default=25)
    parser.add_argument("--sample", type=float, default=5, help="seconds between RSS samples")
    parser.add_argument("--rate", type=float, default=0, help="requests/s for the paced run (default: half capacity)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")

    port, stream_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="motia-soak-") as data_dir:
        command = pinned(0, [PY, "-m", "motia.cli", "run", "--port", str(port), "--stream-port", str(stream_port),
                             "--data-dir", data_dir, "--log-level", "warning"])
        log_path = Path(data_dir) / "server.log"
        log_file = log_path.open("w")
        server = subprocess.Popen(command, cwd=APP, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_http(port)
            get_json(f"{base}/__motia/health")
            watcher = StreamWatcher(f"ws://127.0.0.1:{stream_port}")
            watcher.start()
            watcher.ready.wait(10)

            print(f"measuring capacity ({args.capacity_seconds} s after a 2 s warm-up) ...", file=sys.stderr)
            wrk(base, 2, args.connections, 0, args.post_percent, "warm")
            wait_drained(base)
            capacity = wrk(base, args.capacity_seconds, args.connections, 0, args.post_percent, "capacity")
            # Events are handled after their POST is answered: the capacity is what is answered *and* handled per
            # second, so the time the queue takes to drain after the run counts.
            drain_started = time.monotonic()
            wait_drained(base)
            capacity["drain_s"] = time.monotonic() - drain_started
            capacity["sustained"] = capacity["requests"] / (capacity["duration_us"] / 1e6 + capacity["drain_s"])
            rate = args.rate or capacity["sustained"] / 2
            seconds = round(args.minutes * 60)
            print(f"capacity {capacity['sustained']:,.0f} req/s; soaking at {rate:,.0f} req/s for {seconds} s ...",
                  file=sys.stderr)

            result: dict[str, Any] = {}
            runner = threading.Thread(target=lambda: result.update(
                wrk(base, seconds, args.connections, rate, args.post_percent, "soak")))
            started = time.monotonic()
            runner.start()
            samples: list[tuple[float, int]] = []
            backlogs: list[int] = []  # events emitted but not yet delivered, at each sample
            while runner.is_alive():
                samples.append((time.monotonic() - started, rss_kib(server.pid)))
                counters = get_json(f"{base}/soak/stats")
                backlogs.append(counters["emitted"] - counters["deliveries"])
                runner.join(args.sample)
            samples.append((time.monotonic() - started, rss_kib(server.pid)))
            if not result:
                raise RuntimeError("the paced wrk run failed")

            drained = wait_drained(base)
            stats = get_json(f"{base}/soak/stats?handled=1", timeout=300)
            watcher.wait_for(stats["deliveries"])
            watcher.stop()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                exit_code = server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                exit_code = server.wait()
        log_file.close()
        db_bytes = sum(f.stat().st_size for f in Path(data_dir).glob("motia.db*"))
        # --log-level warning: after the start-up banner, every line is a warning or an error.
        logged = [line for line in log_path.read_text().splitlines()
                  if re.search(r"\b(WARNING|ERROR|warning|error)\b", line)]

    after_warm_up = [rss for t, rss in samples if t >= args.warm_up] or [samples[-1][1]]
    baseline, peak, end = after_warm_up[0], max(after_warm_up), after_warm_up[-1]
    growth = (peak - baseline) / baseline
    lost = stats["emitted"] - stats["handled"]
    checks = {
        "zero errors": result["errors"] == 0,
        "every emitted event handled": lost == 0 and drained["deliveries"] >= drained["emitted"],
        f"RSS within {RSS_TOLERANCE:.0%} of its value after the warm-up": growth <= RSS_TOLERANCE,
        "every stream change reached the subscribed client": watcher.closed is None
        and watcher.changes == stats["deliveries"],
        "graceful exit (status 0)": exit_code == 0,
        "no warnings or errors logged": not logged,
    }
    passed = all(checks.values())
    mib = 1024
    every = max(1, round(30 / args.sample))
    timeline = " ".join(f"{rss / mib:.0f}" for t, rss in samples[::every])
    backlog_timeline = " ".join(f"{backlog:,}" for backlog in backlogs[::every])
    lines = [
        f"# Soak, {datetime.date.today().isoformat()}: {'PASS' if passed else 'FAIL'}",
        "",
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores; `motia run` on SQLite (server on cpu0, wrk on "
        f"cpu1); wrk -t1 -c{args.connections}; {args.post_percent}% POST /work (validated, emits an event), the "
        "rest GET /items/:id.",
        "",
        "| what | figure |",
        "|---|---|",
        f"| capacity of the mixed load: answered and handled | {capacity['sustained']:,.0f} req/s "
        f"({capacity['requests']:,} requests in {args.capacity_seconds} s unpaced, {capacity['rps']:,.0f} req/s "
        f"answered, p99 {capacity['p99_us'] / 1000:.1f} ms, {capacity['errors']} errors; events drained "
        f"{capacity['drain_s']:.1f} s later) |",
        f"| paced rate: target / achieved | {rate:,.0f} / {result['rps']:,.0f} req/s |",
        f"| duration | {result['duration_us'] / 1e6:,.0f} s |",
        f"| requests | {result['requests']:,} (p50 {result['p50_us'] / 1000:.2f} ms, p99 "
        f"{result['p99_us'] / 1000:.2f} ms, max {result['max_us'] / 1000:.0f} ms) |",
        f"| errors (non-2xx + socket errors) | {result['errors']} (non-2xx {result['status']}, connect "
        f"{result['connect']}, read {result['read']}, write {result['write']}, timeout {result['timeout']}) |",
        f"| events emitted / handled (whole run) | {stats['emitted']:,} / {stats['handled']:,} "
        f"({stats['deliveries'] - stats['handled']:,} redeliveries) |",
        f"| events waiting for their subscriber, every 30 s | {backlog_timeline} (at most {max(backlogs):,}) |",
        f"| stream changes pushed to the subscribed client (one per delivery) | {watcher.changes:,}"
        f"{'' if watcher.closed is None else f' (closed: {watcher.closed})'} |",
        f"| RSS after the {args.warm_up:.0f} s warm-up | {baseline / mib:.1f} MiB |",
        f"| RSS max / at the end | {peak / mib:.1f} / {end / mib:.1f} MiB |",
        f"| RSS growth (max vs after warm-up) | {growth:+.1%} |",
        f"| RSS every 30 s, MiB | {timeline} |",
        f"| data directory at the end | {db_bytes / mib / mib:.0f} MiB |",
        f"| exit status after SIGTERM | {exit_code} |",
        "",
        *[f"- {'PASS' if ok else 'FAIL'}: {name}" for name, ok in checks.items()],
        *(["", "Server log (first 20 warnings and errors):", "", "```", *logged[:20], "```"] if logged else []),
    ]
    text = "\n".join(lines)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / f"soak-{datetime.date.today().isoformat()}.md").write_text(text + "\n")
    print(text)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
