"""The benchmark runner (`nox -s bench`): every figure next to its baseline, measured in the same run.

Writes a dated Markdown table to bench/results/ and prints it. Machines here are noisy: compare the ratios,
not the absolute numbers. HTTP runs pin the server to cpu0 and wrk to cpu1 (3 s warm-up, then --seconds).

    python bench/run.py [--seconds 10]
        [--only http,workers,logging,official,events,recording,redis,calls,ws,startup,codegen]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def server(command: list[str], port: int, cwd: Path = HERE,
           log_file: Path | None = None, cpus: str = "0") -> Iterator[subprocess.Popen[bytes]]:
    """The server pinned to `cpus` (cpu0); its stderr (where motia logs) goes to `log_file`, or nowhere."""
    with contextlib.ExitStack() as stack:
        stderr = stack.enter_context(log_file.open("wb")) if log_file is not None else subprocess.DEVNULL
        process = subprocess.Popen(["taskset", "-c", cpus, *command], cwd=cwd, stdout=subprocess.DEVNULL,
                                   stderr=stderr, start_new_session=True)
        try:
            wait_http(port)
            yield process
        finally:
            stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group a benchmark started; SIGKILL it if it is not gone in 15 s."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live children (`--workers`) (Linux)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            if stat.parent.name == str(pid) or fields[1] == str(pid):
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: int, lua: Path | None = None, server_pid: int | None = None) -> dict[str, float]:
    """req/s, p50/p99 (ms), non-2xx and, given the server's pid, its CPU time per request (us): on a loaded
    machine req/s swings with the neighbours, CPU per request much less."""
    args = ["taskset", "-c", "1", "wrk", "-t1", "-c64", "--latency"]
    if lua is not None:
        args += ["-s", str(lua)]
    subprocess.run([*args, "-d3s", url], capture_output=True, check=True)
    cpu_before = cpu_seconds(server_pid) if server_pid is not None else 0.0
    out = subprocess.run([*args, f"-d{seconds}s", url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(server_pid) - cpu_before if server_pid is not None else float("nan")

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)", out, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": latency("50%"), "p99": latency("99%"), "errors": int(errors.group(1)) if errors else 0,
            "cpu_us": cpu / max(requests, 1) * 1e6}


GET = ("GET /hello/:name", "/hello/world", None)
POST = ("POST /users", "/users", HERE / "post.lua")


def uvicorn(app: str) -> Callable[[int, Path], tuple[list[str], Path]]:
    return lambda port, _tmp: ([PY, "-m", "uvicorn", app, "--port", str(port), "--http", "httptools", "--loop",
                                "uvloop", "--no-access-log", "--log-level", "warning"], HERE)


def motia_run(project: Path, *options: str) -> Callable[[int, Path], tuple[list[str], Path]]:
    return lambda port, tmp: ([PY, "-m", "motia.cli", "run", "--port", str(port), "--stream-port", "0",
                               "--data-dir", str(tmp / "data"), *options], project)


# name -> (command for a port and a scratch directory, the routes measured, whether its log goes to a file)
HTTP_APPS = {
    "raw ASGI (uvicorn, httptools+uvloop): the ceiling": (uvicorn("apps.raw_asgi:app"), (GET, POST), False),
    "motia run, typed steps, no log line": (
        motia_run(HERE / "apps" / "motia_hello", "--memory", "--log-level", "warning"), (GET, POST), False),
    "motia run, examples/seed's hello step (one INFO line per request, logged to a file)": (
        motia_run(ROOT / "examples" / "seed", "--memory", "--log-level", "info"), (GET,), True),
    "motia run, examples/seed's hello step, --log-level warning (the line is filtered out)": (
        motia_run(ROOT / "examples" / "seed", "--memory", "--log-level", "warning"), (GET,), False),
    "motia run, realistic flow: POST -> state -> emit -> @on -> stream (SQLite, INFO logged to a file)": (
        motia_run(HERE / "apps" / "motia_flow", "--log-level", "info"), (POST,), True),
    "FastAPI (uvicorn, httptools+uvloop)": (uvicorn("apps.fastapi_app:app"), (GET, POST), False),
    "Litestar (uvicorn, httptools+uvloop)": (uvicorn("apps.litestar_app:app"), (GET, POST), False),
}


def http_section(seconds: int) -> list[str]:
    if shutil.which("wrk") is None:
        return ["## HTTP", "", "skipped: wrk is not installed (`apt-get install wrk`)", ""]
    results: dict[str, dict[str, dict[str, float]]] = {}
    logged: dict[str, int] = {}  # lines in the log file of the apps that log
    for name, (build, routes, logs_to_file) in HTTP_APPS.items():
        port = free_port()
        with tempfile.TemporaryDirectory() as tmp:
            command, cwd = build(port, Path(tmp))
            log_file = Path(tmp) / "server.log" if logs_to_file else None
            try:
                with server(command, port, cwd, log_file) as process:
                    results[name] = {label: wrk(f"http://127.0.0.1:{port}{path}", seconds, lua, process.pid)
                                     for label, path, lua in routes}
            except (RuntimeError, subprocess.CalledProcessError, FileNotFoundError) as exc:
                results[name] = {}
                print(f"{name}: {exc}", file=sys.stderr)
            if log_file is not None:
                with log_file.open("rb") as written:
                    logged[name] = sum(1 for _ in written)
    lines = ["## HTTP", "", f"wrk -t1 -c64, 3 s warm-up + {seconds} s, server on cpu0, wrk on cpu1. The rows that log "
             "write motia's stderr to a file (log lines written during warm-up and run in brackets). CPU/req: the "
             "server's CPU time per request, steadier than req/s when the machine is busy.", "",
             "| app | route | req/s | p50 | p99 | non-2xx | CPU/req | vs raw ASGI | vs FastAPI | vs Litestar |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    raw = results.get(next(iter(HTTP_APPS)), {})
    fastapi = results.get("FastAPI (uvicorn, httptools+uvloop)", {})
    litestar = results.get("Litestar (uvicorn, httptools+uvloop)", {})
    for name, routes in results.items():
        label = f"{name} [{logged[name]:,} lines]" if name in logged else name
        for route, figures in routes.items():
            def ratio(base: dict[str, dict[str, float]], route: str = route,
                      figures: dict[str, float] = figures) -> str:
                return f"{figures['rps'] / base[route]['rps']:.2f}x" if route in base else "-"

            lines.append(f"| {label} | {route} | {figures['rps']:,.0f} | {figures['p50']:.2f} ms | "
                         f"{figures['p99']:.2f} ms | {figures['errors']:.0f} | {figures['cpu_us']:.0f} us | "
                         f"{ratio(raw)} | {ratio(fastapi)} | {ratio(litestar)} |")
    lines.append("")
    return lines


def workers_section(seconds: int) -> list[str]:
    """A CPU-bound step (~5 ms of pure Python per request) with `--workers 2` next to `--workers 1`."""
    if shutil.which("wrk") is None:
        return ["## Worker processes", "", "skipped: wrk is not installed (`apt-get install wrk`)", ""]
    rows = []
    base = None
    for workers in (1, 2):
        port = free_port()
        with tempfile.TemporaryDirectory() as tmp:
            command, cwd = motia_run(HERE / "apps" / "motia_cpu", "--memory", "--log-level", "warning",
                                     "--workers", str(workers))(port, Path(tmp))
            with server(command, port, cwd, cpus="0,1") as process:
                figures = wrk(f"http://127.0.0.1:{port}/work/x", seconds, None, process.pid)
        base = base or figures["rps"]
        rows.append(f"| `--workers {workers}` | {figures['rps']:,.0f} | {figures['p50']:.2f} ms | "
                    f"{figures['p99']:.2f} ms | {figures['errors']:.0f} | {figures['cpu_us'] / 1000:.2f} ms | "
                    f"{figures['rps'] / base:.2f}x |")
    return ["## Worker processes", "", f"`GET /work/:name`, a step that computes for ~5 ms (pure Python) per request "
            f"(bench/apps/motia_cpu); the app may use both cores, wrk on cpu1 (-c64, 3 s warm-up + {seconds} s). "
            "CPU/req counts the app and its worker processes. Target: `--workers 2` >= 1.7x `--workers 1`.", "",
            "| motia run | req/s | p50 | p99 | non-2xx | CPU/req | vs --workers 1 |", "|---|---|---|---|---|---|---|",
            *rows, ""]


def events_section() -> list[str]:
    lines = subprocess_section(
        "Events", [PY, "bench/events.py", "--events", "20000"],
        "In-process emit -> handler through the embedded engine: 64 concurrent emitters; latency is handler start "
        "minus emit, at half the measured rate. The ceiling: the same hand-off through a bare asyncio.Queue (64 "
        "producers, 10 consumers), same run. Targets: one subscriber >= 0.12x the asyncio.Queue rate (memory), "
        "SQLite >= 0.5x memory; p99 < 5 ms at half rate.")
    rss = subprocess_section(
        "Memory after a million events", [PY, "bench/events.py", "--rss", "1000000"],
        "One subscriber, memory store, emitted 10,000 at a time; RSS after gc at every 10%. Growth from the "
        "first 10% to the end is what the engine keeps per event (bound: 10%).")
    return lines + rss


def recording_section(seconds: int, rounds: int = 2) -> list[str]:
    """What recording every trace and log line (`--record`) costs: the HTTP hello row and the events row, with
    recording off and on, alternated in the same run (goal: at most 10% fewer requests or events per second)."""
    lines = ["## Recording (`--record`)", "", "examples/seed's hello step (one INFO line per request, to a file; "
             "SQLite store, so the history is written too) with recording off and on, alternated, best of "
             f"{rounds} (wrk as above); then the events benchmark's one-subscriber rows (best of 3). Goal: on / off "
             ">= 0.90.", ""]
    if shutil.which("wrk") is not None:
        best: dict[bool, dict[str, float]] = {}
        for _ in range(rounds):
            for record in (False, True):
                port = free_port()
                with tempfile.TemporaryDirectory() as tmp:
                    command, cwd = motia_run(ROOT / "examples" / "seed", "--log-level", "info",
                                             "--record" if record else "--no-record")(port, Path(tmp))
                    with server(command, port, cwd, Path(tmp) / "server.log") as process:
                        figures = wrk(f"http://127.0.0.1:{port}{GET[1]}", seconds, None, process.pid)
                if record not in best or figures["rps"] > best[record]["rps"]:
                    best[record] = figures
        off, on = best[False], best[True]
        lines += ["| route | req/s off | req/s on | on / off | CPU/req off | CPU/req on | on / off |",
                  "|---|---|---|---|---|---|---|",
                  f"| {GET[0]} | {off['rps']:,.0f} | {on['rps']:,.0f} | {on['rps'] / off['rps']:.2f} | "
                  f"{off['cpu_us']:.0f} us | {on['cpu_us']:.0f} us | {on['cpu_us'] / off['cpu_us']:.2f} |", ""]
    else:
        lines += ["HTTP skipped: wrk is not installed", ""]
    events = subprocess_section("", [PY, "bench/events.py", "--recording", "--events", "20000"], "")
    return lines + [line for line in events if line.startswith("|")] + [""]


def subprocess_section(title: str, command: list[str], note: str, *, verbatim: bool = False) -> list[str]:
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        return [f"## {title}", "", f"failed: {out.stderr[-500:]}", ""]
    if verbatim:
        return [f"## {title}", "", note, "", "```", out.stdout.strip(), "```", ""]
    table = [line for line in out.stdout.splitlines() if line.startswith("|")]
    notes = [line for line in out.stdout.splitlines() if line.startswith("Rounds ")]  # redis_events.py's rounds
    return [f"## {title}", "", note, "", *table, "", *notes, *([""] if notes else [])]


def startup_section() -> list[str]:
    def best(command: list[str], repeat: int = 5) -> float:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        return min(times)

    help_time = best([PY, "-m", "motia.cli", "--help"])
    sys.path.insert(0, str(HERE))
    import codegen as codegen_bench  # bench/codegen.py

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        codegen_bench.write_project(project, 100)
        port = free_port()
        started = time.perf_counter()
        process = subprocess.Popen([PY, "-m", "motia.cli", "run", "--port", str(port), "--stream-port", "0",
                                    "--memory", "--log-level", "warning"], cwd=project, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            import urllib.request

            while True:
                with contextlib.suppress(OSError), \
                        urllib.request.urlopen(f"http://127.0.0.1:{port}/__motia/health", timeout=1) as response:
                    if response.status == 200:
                        break
                time.sleep(0.01)
            first_200 = time.perf_counter() - started
            rss_kib = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{process.pid}/status").read_text()).group(1))  # type: ignore[union-attr]
        finally:
            process.terminate()
            process.wait(15)
    return ["## Start-up and memory", "", "| what | figure | target |", "|---|---|---|",
            f"| `motia --help` (best of 5) | {help_time:.2f} s | < 0.3 s |",
            f"| `motia run` with 100 generated steps until the first 200 | {first_200:.2f} s | < 1.5 s |",
            f"| RSS of that app, idle | {rss_kib / 1024:.0f} MiB | |", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--only",
                        default="http,workers,logging,official,events,recording,redis,calls,ws,startup,codegen")
    parser.add_argument("--out", type=Path, default=None,
                        help="the report's file (default: results/<date>.md for a whole run, "
                             "results/<date>-<parts>.md with --only, so a partial rerun keeps the day's full report)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    today = datetime.date.today().isoformat()
    lines = [f"# Benchmarks, {today}", "", f"Python {sys.version.split()[0]}, {os.cpu_count()} cores. "
             "Every ratio compares figures taken in this same run.", ""]
    if "http" in parts:
        lines += http_section(args.seconds)
    if "workers" in parts:
        lines += workers_section(args.seconds)
    if "logging" in parts:
        lines += subprocess_section(
            "Logging", [PY, "bench/log_cost.py"],
            "CPU time of one step log line (`ctx.logger.info(f\"Greeting {n}\")`) to a file, best of 5 rounds of "
            "50,000. Target: <= 5 us on the calling thread (the event loop's).")
    if "official" in parts:
        lines += subprocess_section(
            "Official Motia runtime", [PY, "bench/official.py", "--seconds", str(args.seconds)],
            "`GET /hello/:name` served by the official runtime (motia 1.0.4rc1 + iii-sdk 0.9.0, own venv) and by "
            "ours, each a worker of `motia engine` (engine and worker on cpu0, wrk on cpu1).")
    if "events" in parts:
        lines += events_section()
    if "recording" in parts:
        lines += recording_section(args.seconds)
    if "redis" in parts:
        lines += subprocess_section(
            "Events across nodes on Redis", [PY, "bench/redis_events.py", "--events", "20000", "--rounds", "3"],
            "`motia run` processes sharing one redis-server (`--store redis://...`, AOF everysec) next to one `motia "
            "run` on SQLite, all on this machine: events/s from 32 concurrent handler runs emitting to an `@on` "
            "step (concurrency 10) until all are handled, the setups measured in turn three times (medians); "
            "latency (handler start minus emit) at half that rate. "
            "Targets: 2 Redis nodes >= 1.00x the SQLite node, p99 < 5 ms at half load.")
    if "calls" in parts:
        lines += subprocess_section("Sync-style calls", [PY, "bench/calls.py"],
                                    "CPU per call a handler makes (awaited or not), best of 5 requests of 5,000 "
                                    "calls each.")
    if "ws" in parts:
        lines += subprocess_section("Engine protocol", [PY, "bench/ws_compare.py", "--seconds", "4"],
                                    "A remote worker over one WebSocket next to a raw websockets echo of the same "
                                    "frames.")
    if "startup" in parts:
        lines += startup_section()
    if "codegen" in parts:
        lines += subprocess_section("Codegen", [PY, "bench/codegen.py", "--repeat", "3"],
                                    "Fresh `motia codegen ...` processes, best of 3.", verbatim=True)
    text = "\n".join(lines)
    out = args.out
    if out is None:
        whole = parts >= set(parser.get_default("only").split(","))
        out = HERE / "results" / (f"{today}.md" if whole else f"{today}-{'-'.join(sorted(parts))}.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
