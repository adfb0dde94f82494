"""The recording outlives a restart of `motia run --record` (kept in recording.db beside motia.db for
`--record-window`); with `--memory` nothing is written; bad recording options are clear errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import eventually

STEPS = textwrap.dedent('''
    from motia import ApiRequest, FlowContext, api, on


    @api("POST", "/orders")
    async def place(req: ApiRequest[dict], ctx: FlowContext) -> dict:
        ctx.logger.info("placing order", order=req.body["id"])
        await ctx.emit("order.placed", req.body)
        return {"trace_id": ctx.trace_id}


    @on("order.placed")
    async def bill(data: dict, ctx: FlowContext) -> None:
        ctx.logger.info("billed", order=data["id"])
''')


def _project(tmp_path: Path) -> Path:
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "orders_step.py").write_text(STEPS)
    return tmp_path


def test_recorded_traces_and_logs_survive_a_restart(tmp_path, motia_run):
    project = _project(tmp_path)
    first = motia_run(project, "--record", "--stream-port", "0")
    assert first.wait_for_output(r"traces\s+(http://\S+)").endswith("/__motia/recording/traces")  # in the banner
    trace_id = first.client.post("/orders", json={"id": "o1"}).json()["trace_id"]
    eventually(lambda: len(first.client.get(f"/__motia/api/traces/{trace_id}").json().get("spans", [])) == 3)
    first.stop()
    assert (project / ".motia" / "recording.db").exists()

    second = motia_run(project, "--record", "--stream-port", "0")
    kept = second.client.get(f"/__motia/api/traces/{trace_id}").json()
    assert sorted(span["kind"] for span in kept["spans"]) == ["emit", "http", "queue"]
    assert [line["message"] for line in kept["logs"]] == ["placing order", "billed"]
    # The restarted app numbers its lines after the kept ones: the live tail's `after` stays meaningful.
    second.client.post("/orders", json={"id": "o2"})
    lines = eventually(lambda: [line for line in second.client.get("/__motia/api/logs").json()["logs"]
                                if line.get("fields", {}).get("order") == "o2"])
    assert lines[0]["seq"] > max(line["seq"] for line in kept["logs"])
    rerun = second.client.post("/__motia/api/rerun", json={"trace_id": trace_id})
    assert rerun.status_code == 200 and rerun.json()["status_code"] == 200  # the kept request can be re-sent
    second.stop()


def test_with_memory_the_recording_is_not_written(tmp_path, motia_run):
    project = _project(tmp_path)
    app = motia_run(project, "--record", "--memory", "--stream-port", "0")
    trace_id = app.client.post("/orders", json={"id": "o1"}).json()["trace_id"]
    eventually(lambda: app.client.get(f"/__motia/api/traces/{trace_id}").status_code == 200)
    app.stop()
    assert not (project / ".motia").exists()


def test_motia_run_records_only_when_asked(tmp_path, motia_run):
    app = motia_run(_project(tmp_path), "--stream-port", "0")
    assert app.client.get("/__motia/api/traces").status_code == 404
    app.stop()


def test_a_bad_recording_option_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "motia.cli", "run", "--record", "--record-traces", "0"],
                            cwd=_project(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "max_traces must be 1 or more, not 0" in result.stderr and "--record-traces" in result.stderr
