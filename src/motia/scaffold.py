"""`motia create NAME`: a new project with one step of each kind and a test suite that passes as generated."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from .errors import MotiaError

# PEP 508 distribution names: letters, digits and `._-` inside.
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
DISTRIBUTION = "motia-py"
# Run in the virtualenv motia is installed in, where pip finds motia-py (it is not on PyPI).
INSTALL = 'pip install -e ".[test]"'


class ScaffoldError(MotiaError):
    """The project cannot be created where asked (bad name, directory in the way)."""


def create_project(target: Path | str, *, motia_path: Path | str | None = None) -> list[Path]:
    """Write a new project into `target` (created; it may exist only if empty) and return the files written.

    `motia_path` names a local checkout of motia: the README's install line installs it (editable) by its path
    relative to the project, so the two directories can move together. pyproject.toml always depends on
    `motia-py>=0.1`, which that install (or any other) satisfies: nothing of this machine is written.
    """
    target = Path(target)
    name = target.resolve().name
    if not _NAME.match(name):
        raise ScaffoldError(
            f"{name!r} is not a valid project name: use letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not an empty directory; pick another name")
    if motia_path is not None and not (Path(motia_path) / "pyproject.toml").is_file():
        raise ScaffoldError(f"--motia-path {motia_path}: no pyproject.toml there; give the root of a motia checkout")
    files = project_files(name, install=install_command(target, motia_path))
    written = []
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def project_files(name: str, *, install: str = INSTALL) -> dict[str, str]:
    """The generated files, by path relative to the project root; `install` is the README's install line."""
    files = {
        "pyproject.toml": _PYPROJECT.replace("__DEPENDENCY__", f"{DISTRIBUTION}>=0.1"),
        "README.md": _README.replace("__INSTALL__", install),
        ".gitignore": _GITIGNORE,
        "steps/models.py": _MODELS,
        "steps/todos_stream.py": _STREAM,
        "steps/create_todo_step.py": _API_STEP,
        "steps/publish_todo_step.py": _EVENT_STEP,
        "steps/count_todos_step.py": _STREAM_STEP,
        "steps/audit_todo_step.py": _STATE_STEP,
        "steps/daily_summary_step.py": _CRON_STEP,
        "tests/test_app.py": _TESTS,
    }
    return {path: text.replace("__NAME__", name) for path, text in files.items()}


def install_command(target: Path | str, motia_path: Path | str | None = None) -> str:
    """How to install the project at `target` with its tests: with a motia checkout, that checkout too (editable),
    by its path relative to the project."""
    if motia_path is None:
        return INSTALL
    relative = Path(os.path.relpath(Path(motia_path).resolve(), Path(target).resolve())).as_posix()
    return f"pip install -e {shlex.quote(relative)} -e \".[test]\""


_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "__NAME__"
version = "0.1.0"
description = "An event-driven Python backend made of motia steps."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["__DEPENDENCY__"]

[project.optional-dependencies]
test = ["pytest>=8", "httpx>=0.27"]

# An app, not a library: installing it installs its dependencies; `motia run` finds the steps.
[tool.hatch.build.targets.wheel]
bypass-selection = true

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra"

# `mypy .` and `pyright` pass as generated. steps/ and tests/ have no __init__.py: mypy needs
# explicit_package_bases to name their modules `steps.models`, `tests.test_app`.
[tool.mypy]
strict = true
explicit_package_bases = true
# A forgotten `await` is an error: an unused coroutine (on by default) or any other unused awaitable.
enable_error_code = ["unused-awaitable"]

[tool.pyright]
typeCheckingMode = "standard"
reportUnusedCoroutine = "error"
"""

_README = """\
# __NAME__

A motia app: typed Python steps served by `motia run`.

```bash
cd __NAME__
# this app with pytest and httpx, in the virtualenv motia is installed in (or a new one, with a motia checkout)
__INSTALL__
pytest        # the app's tests, in memory: no ports, a clock the tests move
motia run     # serves http://127.0.0.1:3111 (`motia dev` restarts on every edit)
mypy .        # type checks (pyright too): a forgotten `await` is an error
```

Then:

```bash
curl -X POST http://127.0.0.1:3111/todos -H 'content-type: application/json' -d '{"title": "try motia"}'
open http://127.0.0.1:3111/__motia/graph    # the flow graph (or: motia graph --format html -o graph.html)
```

## The steps

| file | kind | what it does |
|---|---|---|
| `steps/create_todo_step.py` | API | `POST /todos`, typed and validated body; stores the todo, emits `todo.created` |
| `steps/publish_todo_step.py` | event | on `todo.created`, puts the todo on the `todos` stream (live for clients) |
| `steps/count_todos_step.py` | stream | on every new item of the `todos` stream, increments a counter in state |
| `steps/audit_todo_step.py` | state | on every change in the `todos` state group, logs it |
| `steps/daily_summary_step.py` | cron | every day at 09:00 UTC, writes how many todos are open |

`steps/models.py` holds the types they share and `steps/todos_stream.py` declares the stream. Any
`*_step.py` file under `steps/` is a step file; `motia steps` lists them, `motia graph` draws how they connect.
"""

_GITIGNORE = """\
.motia/
__pycache__/
*.egg-info/
.venv/
.pytest_cache/
"""

_MODELS = '''\
"""The types the todo steps share."""

import msgspec


class NewTodo(msgspec.Struct):
    title: str


class Todo(msgspec.Struct):
    id: str
    title: str
    done: bool = False
'''

_STREAM = '''\
"""The `todos` stream: clients subscribed to a group get every change live (ws://127.0.0.1:3112)."""

from motia import Stream

from .models import Todo

todos = Stream[Todo]("todos")
'''

_API_STEP = '''\
"""POST /todos: the body is decoded and validated into NewTodo before the handler runs."""

import uuid

from motia import ApiRequest, FlowContext, api

from .models import NewTodo, Todo


@api("POST", "/todos", status=201, emits=["todo.created"], flows=["todos"])
async def create_todo(req: ApiRequest[NewTodo], ctx: FlowContext) -> Todo:
    """Create a todo, keep it in state and tell the rest of the app."""
    todo = Todo(id=uuid.uuid4().hex[:8], title=req.body.title)
    await ctx.state.set("todos", todo.id, todo)
    await ctx.emit("todo.created", todo)
    return todo
'''

_EVENT_STEP = '''\
"""An event step: runs for every `todo.created`, with the payload decoded into a Todo."""

from motia import FlowContext, on

from .models import Todo
from .todos_stream import todos


@on("todo.created", flows=["todos"])
async def publish_todo(todo: Todo, ctx: FlowContext) -> None:
    """Put the new todo on the stream, where subscribed clients see it at once."""
    await todos.set("inbox", todo.id, todo)
'''

_STREAM_STEP = '''\
"""A stream step: runs when an item of the `todos` stream is created, updated or deleted."""

from motia import FlowContext, StreamTriggerInput, on_stream


@on_stream("todos", flows=["todos"])
async def count_todos(change: StreamTriggerInput, ctx: FlowContext) -> None:
    """Count the todos that reached the stream (an atomic increment, safe under concurrency)."""
    if change.event.type == "create":
        await ctx.state.update("stats", "todos", [{"type": "increment", "path": "published", "by": 1}])
'''

_STATE_STEP = '''\
"""A state step: runs on every change in the `todos` state group."""

from motia import FlowContext, StateTriggerInput, on_state


@on_state(scope="todos", flows=["todos"])
async def audit_todo(change: StateTriggerInput, ctx: FlowContext) -> None:
    """Log what changed."""
    ctx.logger.info("todo changed", todo_id=change.item_id, change=change.event_type)
'''

_CRON_STEP = '''\
"""A cron step: every day at 09:00 UTC (5 fields, minute first; 6 fields put seconds first)."""

from motia import FlowContext, cron

from .models import Todo


@cron("0 9 * * *", flows=["todos"])
async def daily_summary(ctx: FlowContext) -> None:
    """Write how many todos are still open."""
    todos = await ctx.state.get_group("todos", type=Todo)
    await ctx.state.set("reports", "daily", {"open": sum(1 for todo in todos if not todo.done)})
'''

_TESTS = '''\
"""The app's tests: the whole app in memory with motia.testing (no ports, a clock the tests move)."""

from pathlib import Path

import pytest
from motia.testing import TestApp

STEPS = Path(__file__).resolve().parent.parent / "steps"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_creating_a_todo_returns_it() -> None:
    async with TestApp.from_dir(STEPS) as app:
        response = await app.http.post("/todos", json={"title": "write tests"})
        assert response.status_code == 201
        assert response.json()["title"] == "write tests"


async def test_a_todo_without_a_title_is_refused() -> None:
    async with TestApp.from_dir(STEPS) as app:
        response = await app.http.post("/todos", json={"name": "no title"})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_a_new_todo_reaches_the_stream_and_is_counted() -> None:
    async with TestApp.from_dir(STEPS) as app:
        todo = (await app.http.post("/todos", json={"title": "ship it"})).json()
        await app.wait_idle()  # the event, the stream write and the stream trigger have all run
        assert app.emitted("todo.created") == [todo]
        published = await app.stream("todos").get("inbox", todo["id"])  # a Todo: the stream is typed
        assert published.title == "ship it"
        assert await app.state.get("stats", "todos") == {"published": 1}


async def test_every_change_to_a_todo_is_audited() -> None:
    async with TestApp.from_dir(STEPS) as app:
        await app.http.post("/todos", json={"title": "audit me"})
        await app.wait_idle()
        assert "todo changed" in app.log_messages()


async def test_the_daily_summary_counts_open_todos() -> None:
    async with TestApp.from_dir(STEPS) as app:
        await app.http.post("/todos", json={"title": "one"})
        await app.http.post("/todos", json={"title": "two"})
        await app.wait_idle()
        await app.clock.advance(24 * 60 * 60)  # a day later, 09:00 UTC has come once
        await app.wait_idle()
        assert await app.state.get("reports", "daily") == {"open": 2}
'''
