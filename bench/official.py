"""The official Motia Python runtime next to ours, each as the worker of one `motia engine` (HTTP, GET route).

    .venv/bin/python bench/official.py [--seconds 10] [--venv bench/.venv-official]

- official: `motia run` of motia==1.0.4rc1 on iii-sdk==0.9.0 (the pair that imports and connects, see
  docs/protocol.md §6.3), in a venv of its own made on first use, serving bench/official/steps/hello_step.py;
  it finds the engine through `III_URL`.
- ours: `motia run --engine ws://...` in bench/apps/motia_hello.

Both answer GET /hello/:name with {"message": "Hello, <name>!"}. Each row gets a fresh engine. The engine and
the worker share cpu0 (the same two processes in both rows), wrk runs on cpu1, with bench/run.py's wrk().
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from run import free_port, server, stop_group, wait_http, wrk  # noqa: E402  (bench/run.py)

PY = sys.executable
PINS = {"motia": "1.0.4rc1", "iii-sdk": "0.9.0"}
OFFICIAL = "official Motia runtime (motia 1.0.4rc1, iii-sdk 0.9.0)"
OURS = "our runtime (`motia run --engine`)"
EXPECTED = {"message": "Hello, world!"}


def official_python(venv: Path) -> Path:
    """The venv's interpreter, with exactly the pinned versions installed (made or fixed when needed)."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([PY, "-m", "venv", str(venv)], check=True)
    probe = "import importlib.metadata as m, json; print(json.dumps({n: m.version(n) for n in ('motia', 'iii-sdk')}))"
    installed = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    if installed.returncode != 0 or json.loads(installed.stdout) != PINS:
        # motia itself requires iii-sdk unpinned, which resolves to a release it cannot import: pin both.
        subprocess.run([python, "-m", "pip", "install", "-q", *(f"{name}=={v}" for name, v in PINS.items())],
                       check=True)
    return python


@contextlib.contextmanager
def worker(command: list[str], cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process on cpu0 (next to the engine); its stderr is kept to explain a failed start."""
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(["taskset", "-c", "0", *command], cwd=cwd, env={**os.environ, **env},
                                   stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        try:
            yield process
        except RuntimeError as exc:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace")[-1500:]
            raise RuntimeError(f"{exc}\n{tail}") from None
        finally:
            stop_group(process)


def wait_route(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until the worker's route answers 200 with the expected JSON (404 while it is not registered yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                raw = response.read()
        except OSError:  # not listening yet, or 404 (urllib's HTTPError) until the route is registered
            time.sleep(0.1)
            continue
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = raw
        if answer != EXPECTED:
            raise RuntimeError(f"{url} answered {raw!r}, expected {EXPECTED!r}")
        return
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


def measure(worker_command: list[str], cwd: Path, seconds: int) -> dict[str, float]:
    """A fresh engine on cpu0, the worker next to it once its route answers, then wrk."""
    port, engine_port = free_port(), free_port()
    engine_url = f"ws://127.0.0.1:{engine_port}"
    engine = [PY, "-m", "motia.cli", "engine", "--port", str(port), "--engine-port", str(engine_port), "--memory",
              "--stream-port", "0", "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}/hello/world"
    with server(engine, port, ROOT):
        wait_http(engine_port)
        command = [part.replace("{engine_url}", engine_url) for part in worker_command]
        with worker(command, cwd, {"III_URL": engine_url}) as process:
            wait_route(url, process)
            return wrk(url, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--venv", type=Path, default=HERE / ".venv-official",
                        help="venv for the official runtime (made, or completed, with the pinned versions)")
    args = parser.parse_args()
    rows: dict[str, tuple[list[str], Path]] = {}
    try:
        official = official_python(args.venv.resolve())
        rows[OFFICIAL] = ([str(official), "-m", "motia.cli", "run"], HERE / "official")
    except (subprocess.CalledProcessError, OSError, ValueError) as exc:
        print(f"{OFFICIAL}: no venv: {exc}", file=sys.stderr)
    rows[OURS] = ([PY, "-m", "motia.cli", "run", "--engine", "{engine_url}", "--log-level", "warning"],
                  HERE / "apps" / "motia_hello")
    results: dict[str, dict[str, float]] = {}
    for name, (command, cwd) in rows.items():
        try:
            results[name] = measure(command, cwd, args.seconds)
        except (RuntimeError, subprocess.CalledProcessError, FileNotFoundError) as exc:
            print(f"{name}: {exc}", file=sys.stderr)
    ours = results.get(OURS)
    lines = [f"wrk -t1 -c64, 3 s warm-up + {args.seconds} s, GET /hello/world; a fresh `motia engine` per row; "
             "the engine and the worker share cpu0, wrk on cpu1.", "",
             "| worker (engine: motia engine) | req/s | p50 | p99 | non-2xx | vs our worker |",
             "|---|---|---|---|---|---|"]
    for name in (OFFICIAL, OURS):
        figures = results.get(name)
        if figures is None:
            lines.append(f"| {name} | failed | - | - | - | - |")
            continue
        ratio = f"{figures['rps'] / ours['rps']:.2f}x" if ours else "-"
        lines.append(f"| {name} | {figures['rps']:,.0f} | {figures['p50']:.2f} ms | {figures['p99']:.2f} ms | "
                     f"{figures['errors']:.0f} | {ratio} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
