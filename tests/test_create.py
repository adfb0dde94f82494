"""`motia create NAME`: a project that runs, draws and passes its own tests as generated."""

from __future__ import annotations

import os
import re
import shlex
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
    assert "in the virtualenv motia is installed in" in result.stdout


def test_the_project_has_one_step_of_each_kind(demo):
    # In a subprocess: its `steps.models` must not meet another project's `steps.models` in this process.
    result = motia("graph", "--format", "json", cwd=demo)
    assert result.returncode == 0, result.stderr
    graph = msgspec.json.decode(result.stdout, type=FlowGraph)
    assert sorted(kind for step in graph.steps for kind in step.kinds) == ["api", "cron", "event", "state", "stream"]
    assert {step.name: step.details for step in graph.steps}["create_todo"] == ["POST /todos"]
    # One connected flow: the topic, the stream and the state groups the steps write link them.
    assert sorted((e.source, e.target) for e in graph.edges) == [
        ("state:todos", "step:audit_todo"), ("step:count_todos", "state:stats"),
        ("step:create_todo", "state:todos"), ("step:create_todo", "topic:todo.created"),
        ("step:daily_summary", "state:reports"), ("step:publish_todo", "stream:todos"),
        ("stream:todos", "step:count_todos"), ("topic:todo.created", "step:publish_todo")]


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
def test_the_pyproject_depends_on_motia_py_and_names_no_path_of_this_machine(tmp_path, demo):
    local = tomllib.loads((demo / "pyproject.toml").read_text())
    assert local["project"]["name"] == "demo"
    assert local["project"]["dependencies"] == ["motia-py>=0.1"]
    assert set(local["project"]["optional-dependencies"]["test"]) == {"pytest>=8", "httpx>=0.27"}
    written = "".join(path.read_text() for path in demo.rglob("*") if path.is_file())
    assert ROOT.as_uri() not in written and f" {ROOT}" not in written and f"{ROOT}" not in written.replace("../", "")
    assert motia("create", "released", cwd=tmp_path).returncode == 0
    released = tomllib.loads((tmp_path / "released" / "pyproject.toml").read_text())
    assert released["project"]["dependencies"] == ["motia-py>=0.1"]


def install_line(project: Path) -> str:
    return next(line for line in (project / "README.md").read_text().splitlines() if line.startswith("pip install"))


def test_the_readme_installs_the_motia_checkout_by_a_relative_path(demo):
    relative = Path(os.path.relpath(ROOT, demo)).as_posix()
    assert install_line(demo) == f'pip install -e {relative} -e ".[test]"'


def test_the_motia_path_variable_stands_for_the_option(tmp_path):
    checkout = tmp_path / "libs" / "motia"
    checkout.mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", checkout / "pyproject.toml")
    result = subprocess.run([sys.executable, "-m", "motia.cli", "create", "app"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "MOTIA_PATH": str(checkout)})
    assert result.returncode == 0, result.stderr
    assert install_line(tmp_path / "app") == 'pip install -e ../libs/motia -e ".[test]"'
    assert 'cd app\n  pip install -e ../libs/motia -e ".[test]"\n  pytest' in result.stdout


def test_a_motia_path_that_is_not_a_checkout_is_refused(tmp_path):
    result = motia("create", "app", "--motia-path", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode == 1
    assert "no pyproject.toml there; give the root of a motia checkout" in result.stderr
    assert not (tmp_path / "app").exists()


FORGOTTEN_AWAIT = '''"""A step that forgets to await a coroutine: the type checkers must refuse it."""

from motia import FlowContext, on

from .models import Todo


async def archive(todo: Todo) -> None:
    """Pretend to archive it somewhere."""


@on("todo.created")
async def archive_todo(todo: Todo, ctx: FlowContext) -> None:
    archive(todo)
'''


FORGOTTEN_TYPED_EMIT = '''"""A step that forgets to await the typed client's emit: the type checkers must refuse it."""

from motia import on
from motia_client import TypedContext

from .models import Todo


@on("todo.created")
async def echo_todo(todo: Todo, ctx: TypedContext) -> None:
    ctx.emit("todo.created", todo)
'''


@pytest.mark.slow
def test_the_project_type_checks_with_mypy_and_pyright_but_a_forgotten_await_does_not(tmp_path):
    assert motia("create", "typed", "--motia-path", str(ROOT), cwd=tmp_path).returncode == 0
    project = tmp_path / "typed"
    # The typed client (`motia codegen client`, motia_client.py beside steps/) passes both checkers as generated.
    generated = motia("codegen", "client", cwd=project)
    assert generated.returncode == 0, generated.stderr
    (project / "steps" / "archive_todo_step.py").write_text(FORGOTTEN_AWAIT)
    (project / "steps" / "echo_todo_step.py").write_text(FORGOTTEN_TYPED_EMIT)
    # One run of each, side by side: the added step's line is the only error, so the generated files are clean.
    checkers = {
        "mypy": [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache"), "."],
        "pyright": [sys.executable, "-m", "pyright", "--pythonpath", sys.executable],
    }
    running = {name: subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True) for name, command in checkers.items()}
    output = {name: process.communicate(timeout=180)[0] for name, process in running.items()}
    assert running["mypy"].returncode == 1, output["mypy"]
    unused = 'Value of type "Coroutine[Any, Any, None]" must be used  [unused-coroutine]'
    assert sorted(re.findall(r"^(\S+): error: (.*)$", output["mypy"], re.M)) == [
        ("steps/archive_todo_step.py:14", unused), ("steps/echo_todo_step.py:11", unused)], output["mypy"]
    assert running["pyright"].returncode == 1, output["pyright"]
    unawaited = ("error: Result of async function call is not used; use \"await\" or assign result to variable "
                 "(reportUnusedCoroutine)")
    assert sorted(line.split(str(project) + "/", 1)[1] for line in output["pyright"].splitlines()
                  if " - error: " in line) == [f"steps/archive_todo_step.py:14:5 - {unawaited}",
                                               f"steps/echo_todo_step.py:11:5 - {unawaited}"], output["pyright"]


@pytest.mark.slow
def test_a_fresh_virtualenv_installs_and_tests_the_project_as_the_readme_says(tmp_path):
    """`motia create --motia-path` then the README's `pip install -e ".[test]"` and `pytest`, in a new virtualenv
    that has never seen motia (it builds motia-py from the checkout the project points at)."""
    assert motia("create", "fresh", "--motia-path", str(ROOT), cwd=tmp_path).returncode == 0
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=120)
    python = tmp_path / "venv" / "bin" / "python"
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    pip, *arguments = shlex.split(install_line(tmp_path / "fresh"))
    assert pip == "pip"
    install = subprocess.run([str(python), "-m", "pip", *arguments, "-q"], cwd=tmp_path / "fresh",
                             capture_output=True, text=True, timeout=400, env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    tests = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path / "fresh",
                           capture_output=True, text=True, timeout=180, env=env)
    assert tests.returncode == 0 and "5 passed" in tests.stdout, tests.stdout + tests.stderr


def test_the_readme_gives_the_commands_to_install_test_and_run(tmp_path):
    assert motia("create", "plain", cwd=tmp_path).returncode == 0
    readme = (tmp_path / "plain" / "README.md").read_text()
    assert readme.startswith("# plain\n")
    assert install_line(tmp_path / "plain") == 'pip install -e ".[test]"'
    assert "\npytest " in readme and "\nmotia run " in readme and "\nmypy . " in readme


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
