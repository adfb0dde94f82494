"""`motia run --workers N`: the steps run in N child processes of the embedded engine, supervised and stopped
with the app."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.conftest import MotiaProcess, eventually

STEPS = textwrap.dedent('''
    import os

    from motia import ApiRequest, FlowContext, api, on


    @api("GET", "/pid")
    async def pid(req: ApiRequest[None]) -> dict:
        return {"pid": os.getpid()}


    @api("POST", "/notes/:id", emits=["noted"])
    async def note(req: ApiRequest[dict], ctx: FlowContext) -> dict:
        note_id = req.path_params["id"]
        await ctx.state.set("notes", note_id, {"text": req.body["text"], "written_by": os.getpid()})
        await ctx.emit("noted", {"id": note_id})
        return {"id": note_id}


    @on("noted")
    async def seen(event: dict, ctx: FlowContext) -> None:
        note = await ctx.state.get("notes", event["id"])
        await ctx.state.set("seen", event["id"], {"text": note["text"], "handled_by": os.getpid()})


    @api("GET", "/seen/:id")
    async def read_seen(req: ApiRequest[None], ctx: FlowContext) -> dict:
        return await ctx.state.get("seen", req.path_params["id"]) or {}
''')


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "notes_step.py").write_text(STEPS)
    return tmp_path


def children(pid: int) -> set[int]:
    """The worker processes of `motia run` (pid): its direct children (Linux /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return fields[0] != "Z"


def serving_pids(app: MotiaProcess, requests: int = 20) -> set[int]:
    return {app.client.get("/pid").json()["pid"] for _ in range(requests)}


def test_requests_are_served_by_two_worker_processes_and_events_and_state_work(project: Path) -> None:
    app = MotiaProcess(project, "--memory", "--stream-port", "0", "--workers", "2")
    try:
        workers = children(app.proc.pid)
        assert len(workers) == 2
        # Concurrent requests: the engine sends each to the child with the fewest calls in flight.
        pids: set[int] = set()
        for _ in range(10):
            pids |= serving_pids(app)
            if len(pids) == 2:
                break
        assert pids == workers
        assert app.proc.pid not in pids
        assert app.client.post("/notes/n1", json={"text": "hello"}).status_code == 200
        seen = eventually(lambda: app.client.get("/seen/n1").json() or None)
        assert seen["text"] == "hello"
        assert seen["handled_by"] in workers
    finally:
        output = app.stop()
    assert app.proc.returncode == 0, output


def test_sigterm_stops_every_worker_process(project: Path) -> None:
    app = MotiaProcess(project, "--memory", "--stream-port", "0", "--workers", "2")
    workers = children(app.proc.pid)
    assert len(workers) == 2
    app.client.close()
    app.proc.send_signal(signal.SIGTERM)
    app.proc.wait(30)
    assert app.proc.returncode == 0
    eventually(lambda: not any(alive(pid) for pid in workers))


def test_a_killed_worker_process_is_replaced(project: Path) -> None:
    app = MotiaProcess(project, "--memory", "--stream-port", "0", "--workers", "2")
    try:
        workers = children(app.proc.pid)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        replaced = eventually(lambda: (children(app.proc.pid) - workers) or None, timeout=30)
        assert len(replaced) == 1
        app.wait_for_output(rf"worker process ({victim}) exited with -9; starting another")
        new = replaced.pop()
        # The newcomer registers and takes requests.
        eventually(lambda: new in serving_pids(app), timeout=30)
    finally:
        app.stop()


def test_worker_processes_leave_when_the_app_is_killed(project: Path) -> None:
    app = MotiaProcess(project, "--memory", "--stream-port", "0", "--workers", "2")
    workers = children(app.proc.pid)
    app.client.close()
    app.proc.kill()
    app.proc.wait(10)
    eventually(lambda: not any(alive(pid) for pid in workers), timeout=20)


def test_workers_below_one_is_an_error(project: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "motia.cli", "run", "--workers", "0"], cwd=project,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "--workers must be 1 or more, not 0" in result.stderr


def test_a_worker_process_that_cannot_start_is_a_clear_error(project: Path) -> None:
    # A step module that fails only where the workers import it (they get the engine's URL in III_URL).
    (project / "steps" / "fragile_step.py").write_text(
        "import os\n\nif os.environ.get('III_URL'):\n    raise RuntimeError('no licence key in the worker')\n")
    result = subprocess.run([sys.executable, "-m", "motia.cli", "run", "--workers", "2", "--port", "0",
                             "--stream-port", "0", "--memory"], cwd=project, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert "no licence key in the worker" in result.stderr  # the child's own error, above
    assert "before it registered its steps (its error is above)" in result.stderr
    assert "Traceback (most recent call last)" not in result.stderr.split("no licence key in the worker")[-1]


def test_workers_with_another_engine_is_an_error(project: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "motia.cli", "run", "--workers", "2", "--engine",
                             "ws://127.0.0.1:9"], cwd=project, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "with --engine, start more `motia run --engine` processes" in result.stderr


@pytest.mark.slow
def test_motia_dev_restarts_the_worker_processes_with_the_app(project: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dev = subprocess.Popen([sys.executable, "-m", "motia.cli", "dev", "--port", str(port), "--stream-port", "0",
                            "--memory", "--workers", "2"], cwd=project, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    later: tuple[int, set[int]] = (0, set())  # the app and workers running when dev is stopped
    try:
        def app_and_workers() -> tuple[int, set[int]] | None:
            apps = children(dev.pid)
            workers = children(next(iter(apps))) if len(apps) == 1 else set()
            if len(workers) != 2:
                return None
            try:
                answered = httpx.get(f"http://127.0.0.1:{port}/pid", timeout=2).json()["pid"]
            except (httpx.HTTPError, ValueError, KeyError):
                return None
            return (next(iter(apps)), workers) if answered in workers else None

        app, workers = eventually(app_and_workers, timeout=60)
        step = project / "steps" / "notes_step.py"
        step.write_text(step.read_text() + "\n# changed\n")
        restarted = eventually(lambda: (found := app_and_workers()) is not None and found[0] != app and found,
                               timeout=60)
        assert not restarted[1] & workers
        assert not any(alive(pid) for pid in {app, *workers})
        later = restarted
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(60)
    eventually(lambda: not any(alive(pid) for pid in {later[0], *later[1]}), timeout=20)
