"""`motia create NAME`: a project that runs, draws and passes its own tests as generated."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from motia.graph import FlowGraph
from tests.conftest import ROOT, MotiaProcess

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None  # type: ignore[assignment]


def motia(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "motia.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """`motia create demo --motia-path <this checkout>`, once for the module."""
    where = tmp_path_factory.mktemp("create")
    result = motia("create", "demo", "--motia-path", str(ROOT), cwd=where)
    assert result.returncode == 0, result.stderr
    return where / "demo"


def test_create_writes_a_project_and_says_what_to_do_next(demo):
    for name in ("pyproject.toml", "README.md", ".gitignore", "tests/test_app.py", "steps/models.py",
                 "steps/todos_stream.py"):
        assert (demo / name).is_file(), name
    result = motia("create", "other", cwd=demo.parent)
    assert result.returncode == 0
    assert "created other/pyproject.toml" in result.stdout
    assert 'cd other\n  pip install -e ".[test]"\n  pytest\n  motia run' in result.stdout


def test_the_project_has_one_step_of_each_kind(demo):
    # In a subprocess: its `steps.models` must not meet another project's `steps.models` in this process.
    result = motia("graph", "--format", "json", cwd=demo)
    assert result.returncode == 0, result.stderr
    graph = msgspec.json.decode(result.stdout, type=FlowGraph)
    assert sorted(kind for step in graph.steps for kind in step.kinds) == ["api", "cron", "event", "state", "stream"]
    assert {step.name: step.details for step in graph.steps}["create_todo"] == ["POST /todos"]
    assert [(e.source, e.target) for e in graph.edges] == [
        ("step:create_todo", "topic:todo.created"), ("topic:todo.created", "step:publish_todo")]


def test_the_generated_tests_pass_out_of_the_box(demo):
    # The user runs `pip install -e ".[test]" && pytest`; here motia is already importable, so just pytest.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=demo,
                            capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout


@pytest.mark.slow
def test_the_generated_app_serves_its_routes(demo):
    app = MotiaProcess(demo, "--memory", "--stream-port", "0")
    try:
        created = app.client.post("/todos", json={"title": "from a test"})
        assert created.status_code == 201 and created.json()["title"] == "from a test"
        assert app.client.post("/todos", json={}).status_code == 400
        assert "create_todo" in app.client.get("/__motia/graph").text
    finally:
        app.stop()


@pytest.mark.skipif(shutil.which("ruff") is None and not (ROOT / ".venv").exists(), reason="ruff not installed")
def test_the_generated_code_is_lint_clean(demo):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,F,W,I,B,UP,SIM,RUF",
         "--line-length", "120", "--target-version", "py310", "--no-cache", "."],
        cwd=demo, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_the_pyproject_depends_on_motia_py(tmp_path, demo):
    local = tomllib.loads((demo / "pyproject.toml").read_text())
    assert local["project"]["name"] == "demo"
    assert local["project"]["dependencies"] == [f"motia-py @ {ROOT.resolve().as_uri()}"]
    assert local["tool"]["hatch"]["metadata"]["allow-direct-references"] is True
    assert set(local["project"]["optional-dependencies"]["test"]) == {"pytest>=8", "httpx>=0.27"}
    assert motia("create", "released", cwd=tmp_path).returncode == 0
    released = tomllib.loads((tmp_path / "released" / "pyproject.toml").read_text())
    assert released["project"]["dependencies"] == ["motia-py>=0.1"]
    assert "metadata" not in released["tool"]["hatch"]


def test_the_readme_gives_the_commands_to_install_test_and_run(demo):
    readme = (demo / "README.md").read_text()
    assert readme.startswith("# demo\n")
    assert 'cd demo\npip install -e ".[test]"' in readme
    assert "\npytest " in readme and "\nmotia run " in readme


def test_create_refuses_a_directory_that_is_not_empty(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    result = motia("create", "taken", cwd=tmp_path)
    assert result.returncode == 1
    assert "already exists and is not an empty directory" in result.stderr
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["notes.txt"]


def test_create_fills_an_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    assert motia("create", "empty", cwd=tmp_path).returncode == 0
    assert (tmp_path / "empty" / "steps" / "create_todo_step.py").is_file()


def test_create_refuses_a_name_that_is_not_a_project_name(tmp_path):
    result = motia("create", "-bad name-", cwd=tmp_path)
    assert result.returncode != 0
    result = motia("create", "bad name", cwd=tmp_path)
    assert result.returncode == 1
    assert "'bad name' is not a valid project name" in result.stderr
    assert not (tmp_path / "bad name").exists()
