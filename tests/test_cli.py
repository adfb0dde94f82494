"""The `motia` command line, run as a user runs it (subprocesses)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import ROOT, MotiaProcess

ROOT_STEP = "from motia import get\n@get('/')\nasync def root():\n    return {'up': True}\n"


def motia(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "motia.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return tmp_path


def test_help_lists_the_commands():
    result = motia("--help")
    assert result.returncode == 0
    assert "run" in result.stdout and "steps" in result.stdout


def test_steps_lists_triggers_with_file_and_line():
    result = motia("steps", cwd=ROOT / "examples" / "hello")
    assert result.returncode == 0, result.stderr
    assert "create_user        POST /users  steps/users_step.py:27" in result.stdout
    assert "hello              GET /hello/:name  steps/hello_step.py:19" in result.stdout


def test_steps_json():
    result = motia("steps", "--json", cwd=ROOT / "examples" / "seed")
    rows = json.loads(result.stdout)
    by_name = {row["name"]: row for row in rows}
    assert by_name["CreateUser"]["triggers"] == [{"type": "http", "method": "POST", "path": "/users"}]
    assert by_name["CreateUser"]["emits"] == ["user.created"]
    assert by_name["GetUser"]["file"] == "steps/get_user_step.py"


def test_broken_step_file_stops_start_up_with_file_and_line(tmp_path):
    root = project(tmp_path, {
        "steps/ok_step.py": """
            from motia import get
            @get("/ok")
            async def ok():
                return {}
        """,
        "steps/broken_step.py": """
            from motia import get

            def oops(:
                pass
        """,
    })
    result = motia("run", "--port", "0", "--stream-port", "0", "--memory", cwd=root)
    assert result.returncode == 1
    assert "steps/broken_step.py:4: syntax error" in result.stderr


def test_exception_while_importing_a_step_names_the_line(tmp_path):
    root = project(tmp_path, {
        "steps/bad_step.py": """
            import os

            VALUE = os.environ["SURELY_NOT_SET_ANYWHERE"]
        """,
    })
    result = motia("run", "--port", "0", "--stream-port", "0", "--memory", cwd=root)
    assert result.returncode == 1
    assert "steps/bad_step.py:4: cannot import step file: KeyError" in result.stderr


def test_duplicate_routes_stop_start_up_naming_both_steps(tmp_path):
    root = project(tmp_path, {
        "steps/a_step.py": """
            from motia import get
            @get("/users/:id")
            async def first(req):
                return {}
        """,
        "steps/b_step.py": """
            from motia import get


            @get("/users/:user_id")
            async def second(req):
                return {}
        """,
    })
    result = motia("run", "--port", "0", "--stream-port", "0", "--memory", cwd=root)
    assert result.returncode == 1
    assert "b_step.py:5: duplicate route GET /users/:user_id (step 'second')" in result.stderr
    assert "step 'first' at " in result.stderr and "a_step.py:3" in result.stderr


def test_missing_steps_directory_is_explained(tmp_path):
    result = motia("run", "--dir", "nowhere", cwd=tmp_path)
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "--dir" in result.stderr


def test_port_in_use_is_a_clear_error(tmp_path):
    root = project(tmp_path, {"steps/a_step.py": ROOT_STEP})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = motia("run", "--port", str(port), "--stream-port", "0", "--memory", cwd=root)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_sigterm_shuts_down_cleanly_with_exit_code_zero(tmp_path):
    root = project(tmp_path, {"steps/a_step.py": ROOT_STEP})
    process = MotiaProcess(root)
    assert process.client.get("/").json() == {"up": True}
    process.client.close()
    process.proc.send_signal(signal.SIGTERM)
    assert process.proc.wait(timeout=30) == 0


def test_env_files_fill_the_environment_without_overriding_it(tmp_path):
    import os

    root = project(tmp_path, {
        "steps/env_step.py": """
            import os

            from motia import get


            @get("/env")
            async def env():
                return {k: os.environ.get(k) for k in ("FROM_ENV", "FROM_LOCAL", "REAL")}
        """,
        ".env": "FROM_ENV=env\nFROM_LOCAL=env\nREAL=from-file\nSECRET_TOKEN=hunter2\n",
        ".env.local": "FROM_LOCAL=local\n",
    })
    os.environ["REAL"] = "from-environment"
    try:
        process = MotiaProcess(root, "--stream-port", "0", "--memory")
        assert process.client.get("/env").json() == {"FROM_ENV": "env", "FROM_LOCAL": "local",
                                                     "REAL": "from-environment"}
        output = process.stop()
    finally:
        del os.environ["REAL"]
    assert "hunter2" not in output  # values from .env are never logged


def test_json_log_format_writes_one_object_per_line(tmp_path):
    import json as json_module

    root = project(tmp_path, {"steps/a_step.py": ROOT_STEP})
    process = MotiaProcess(root, "--stream-port", "0", "--memory", "--log-format", "json")
    process.client.get("/")
    output = process.stop()
    records = [json_module.loads(line) for line in output.splitlines() if line.startswith("{")]
    started = [r for r in records if r["message"] == "started"]
    assert started and started[0]["fields"]["routes"] == [{"method": "GET", "path": "/", "step": "root"}]
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)


def test_config_and_engine_together_are_refused(tmp_path):
    (tmp_path / "config.yaml").write_text("workers: []\n")
    result = motia("run", "--engine", "ws://127.0.0.1:1", "--config", "config.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "--config configures the embedded engine" in result.stderr


def test_a_missing_config_file_is_a_clear_error(tmp_path):
    result = motia("engine", "--config", "nowhere.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot read nowhere.yaml" in result.stderr


def test_a_serving_app_keeps_what_start_up_made_out_of_the_garbage_collectors_walks(tmp_path):
    """Once `motia run` serves, the modules, classes, steps and engine it built are frozen (`gc.freeze`): the
    collections a busy server makes do not walk them each time. A request's own garbage is still collected."""
    root = project(tmp_path, {"steps/gc_step.py": """
        import gc

        from motia import get


        @get("/gc")
        async def collected():
            loop = []
            loop.append(loop)  # cyclic garbage made while serving
            del loop
            return {"frozen": gc.get_freeze_count(), "collected": gc.collect()}
    """})
    process = MotiaProcess(root, "--stream-port", "0", "--memory")
    reply = process.client.get("/gc").json()
    process.stop()
    assert reply["frozen"] > 10_000  # what start-up made (the engine, uvicorn, msgspec types, the step)
    assert reply["collected"] >= 1  # the request's cycle was not frozen with them
