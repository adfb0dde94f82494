"""The command line as a user meets it: `--version`, shell completion, `--help` without annotation noise and in
whole sentences, and `motia dev` taking every `motia run` option and saying what it watches."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
import typer

from motia.cli import app, plain_help
from tests.conftest import ROOT, ReadProcess

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None  # type: ignore[assignment]


def motia(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "motia.cli", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def commands() -> list[list[str]]:
    """Every command and sub-command, as argument lists (`[]` for `motia` itself)."""
    found: list[list[str]] = []

    def walk(command, path: list[str]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_version_prints_the_installed_version():
    result = motia("--version")
    assert result.returncode == 0
    assert result.stdout == f"motia {tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['version']}\n"


def test_completion_is_offered_for_the_shells_and_completes_commands():
    # The script `--install-completion` writes for bash (`--show-completion` prints the same for the shell it
    # detects from its parent processes, which a test runner's process tree does not always reveal).
    script = motia(env={"_MOTIA_COMPLETE": "source_bash"})
    assert script.returncode == 0 and "_MOTIA_COMPLETE=complete_bash" in script.stdout
    completed = motia(env={"_MOTIA_COMPLETE": "complete_bash", "COMP_WORDS": "motia st", "COMP_CWORD": "1"})
    assert completed.returncode == 0
    assert completed.stdout.split() == ["steps", "state"]
    assert "--install-completion" in motia("--help").stdout


def test_every_help_is_free_of_type_annotations_and_cut_sentences():
    # One process for every `--help`: main() as the `motia` script runs it.
    script = textwrap.dedent("""
        import sys
        from motia.cli import main
        for line in sys.stdin:
            sys.argv = ["motia", *line.split(), "--help"]
            print("=====", line.strip(), flush=True)
            try:
                main()
            except SystemExit:
                pass
    """)
    names = [" ".join(path) for path in commands()]
    result = subprocess.run([sys.executable, "-c", script], input="\n".join(names) + "\n", capture_output=True,
                            text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    pages = dict(zip(names, result.stdout.split("===== ")[1:], strict=True))
    for name, page in pages.items():
        assert "Usage: motia" in page, name
        assert not re.search(r"<(bool|str|int|float|path|list\[[a-z]+\])>", page), (name, page)
        assert not re.search(r"\w\.\.\.", page), (name, page)  # no description cut short ("serve the ap...")


def test_every_option_help_is_a_sentence():
    command = typer.main.get_command(app)
    plain_help(command)
    unfinished = []
    for path in commands():
        target = command
        for name in path:
            target = target.commands[name]
        for param in target.params:
            text = (getattr(param, "help", None) or "").strip()
            if param.param_type_name == "option" and not (text[:1].isupper() and text.endswith((".", ".)", ")."))):
                unfinished.append(f"motia {' '.join(path)} {param.opts[0]}: {text!r}")
    assert unfinished == []


def test_dev_takes_every_run_option():
    command = typer.main.get_command(app)
    run = {param.name for param in command.commands["run"].params}
    dev = {param.name for param in command.commands["dev"].params}
    assert dev == run - {"watch"}
    assert {"log_level", "host", "data_dir", "log_format", "cors_origins", "docs"} <= dev


@pytest.mark.slow
def test_dev_with_run_options_says_what_it_watches_and_serves_with_them(tmp_path: Path):
    steps = tmp_path / "steps"
    steps.mkdir()
    (steps / "ping_step.py").write_text('from motia import get\n\n\n@get("/ping")\nasync def ping():\n'
                                        '    return {"pong": True}\n')
    process = ReadProcess(
        [sys.executable, "-m", "motia.cli", "dev", "--port", "0", "--stream-port", "0", "--host", "127.0.0.1",
         "--log-level", "debug", "--log-format", "json", "--data-dir", "state", "--cors-origin",
         "http://app.example", "--no-docs"],
        cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            found = re.search(r"serving HTTP on (http://[^\s\"]+)", "".join(process.lines))
            url = found.group(1) if found else None
            time.sleep(0.1)
        output = "".join(process.lines)
        assert url is not None, output
        assert output.splitlines()[0] == (
            "motia: watching . for changes to *.py, .env and .env.local (skipping .git, .motia, .mypy_cache, .nox, "
            ".pytest_cache, .ruff_cache, .venv, __pycache__, build, dist, node_modules, venv); the app restarts on "
            "each change")
        started = next(json.loads(line) for line in output.splitlines() if "serving HTTP on" in line)
        assert started["level"] in ("info", "INFO")  # --log-format json reached the app
        response = httpx.get(url + "/ping", headers={"origin": "http://app.example"})
        assert response.json() == {"pong": True}
        assert response.headers["access-control-allow-origin"] == "http://app.example"  # --cors-origin
        assert httpx.get(url + "/docs").status_code == 404  # --no-docs
        assert (tmp_path / "state" / "motia.db").exists()  # --data-dir
    finally:
        os.killpg(process.proc.pid, signal.SIGTERM)
        process.proc.wait(30)
