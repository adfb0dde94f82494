"""mypy on code that uses a generated client: correct code passes, and each misuse is reported where it is.

One mypy run (`--strict`) over the generated module and sample files; each test reads its file's errors.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from tests.codegen.conftest import APP, codegen

SAMPLES = {
    "correct.py": """
        from motia import ApiRequest, FlowContext, api, on

        from motia_client import AuditLoggedPayload, TypedContext, emit, streams
        from steps.models import Cat, NewTodo, Reminder, Todo


        @api("POST", "/typed")
        async def create(req: ApiRequest[NewTodo], ctx: TypedContext) -> Todo:
            todo = Todo(id="1", title=req.body.title)
            await ctx.emit("todo.created", todo)
            await ctx.emit({"topic": "todo.remind", "data": Reminder(todo_id=todo.id), "messageGroupId": "g"})
            await ctx.enqueue("pet.adopted", Cat())
            await ctx.emit("audit.logged", AuditLoggedPayload(entry="created"))
            await ctx.streams.todos.set("inbox", todo.id, todo)
            await ctx.streams["todos"].set("inbox", todo.id, todo)
            ctx.logger.info("created", todo_id=todo.id)
            return todo


        @on("todo.created")
        async def index(todo: Todo, ctx: TypedContext) -> None:
            await emit("todo.remind", Reminder(todo_id=todo.id))
            await streams.todos.set("inbox", todo.id, todo)


        async def untyped_context_is_unchanged(ctx: FlowContext) -> None:
            await ctx.emit("any.topic", {"anything": 1})
        """,
    "wrong_payload.py": """
        from motia_client import TypedContext
        from steps.models import Reminder


        async def handler(ctx: TypedContext) -> None:
            await ctx.emit("todo.created", Reminder(todo_id="1"))
        """,
    "unknown_topic.py": """
        from motia_client import TypedContext
        from steps.models import Todo


        async def handler(ctx: TypedContext) -> None:
            await ctx.emit("todo.deleted", Todo(id="1", title="x"))
        """,
    "wrong_stream_item.py": """
        from motia_client import TypedContext
        from steps.models import Reminder


        async def handler(ctx: TypedContext) -> None:
            await ctx.streams.todos.set("inbox", "1", Reminder(todo_id="1"))
        """,
    "unknown_stream.py": """
        from motia_client import TypedContext


        async def handler(ctx: TypedContext) -> None:
            await ctx.streams.todoz.get("inbox", "1")
        """,
    "forgotten_await.py": """
        from motia_client import TypedContext, emit
        from steps.models import Reminder, Todo


        async def handler(ctx: TypedContext) -> None:
            ctx.emit("todo.created", Todo(id="1", title="x"))
            emit("todo.remind", Reminder(todo_id="1"))
        """,
    "wrong_event_dict.py": """
        from motia_client import emit


        async def handler() -> None:
            await emit({"topic": "todo.created", "data": 42})
        """,
}


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[str]]]:
    """file name -> mypy's error lines for it."""
    import shutil

    project = tmp_path_factory.mktemp("typed") / "app"
    shutil.copytree(APP, project, ignore=shutil.ignore_patterns("__pycache__", ".mypy_cache"))
    generated = codegen("client", cwd=project)
    assert generated.returncode == 0, generated.stderr
    for name, source in SAMPLES.items():
        (project / name).write_text(textwrap.dedent(source).lstrip())
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--explicit-package-bases", "--no-color-output",
         "--cache-dir", str(project / ".mypy_cache"), "motia_client.py", *SAMPLES],
        cwd=project, capture_output=True, text=True, timeout=300,
    )
    errors: dict[str, list[str]] = {name: [] for name in [*SAMPLES, "motia_client.py"]}
    for line in result.stdout.splitlines():
        file, _, rest = line.partition(":")
        if file in errors and ": error: " in line:
            errors[file].append(rest)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    yield errors


def test_the_generated_module_passes_strict_mypy(mypy_errors):
    assert mypy_errors["motia_client.py"] == []


def test_correct_code_using_the_client_passes(mypy_errors):
    assert mypy_errors["correct.py"] == []


def test_a_wrong_payload_type_for_a_topic_is_an_error(mypy_errors):
    (error,) = mypy_errors["wrong_payload.py"]
    assert 'No overload variant of "emit" of "TypedContext" matches argument types "str", "Reminder"' in error


def test_an_unknown_topic_is_an_error(mypy_errors):
    (error,) = mypy_errors["unknown_topic.py"]
    assert 'No overload variant of "emit" of "TypedContext" matches argument types "str", "Todo"' in error


def test_a_wrong_stream_item_type_is_an_error(mypy_errors):
    (error,) = mypy_errors["wrong_stream_item.py"]
    assert 'Argument 3 to "set" of "Stream" has incompatible type "Reminder"; expected "Todo"' in error


def test_an_unknown_stream_is_an_error(mypy_errors):
    (error,) = mypy_errors["unknown_stream.py"]
    assert '"Streams" has no attribute "todoz"' in error


def test_a_wrong_payload_in_an_event_dict_is_an_error(mypy_errors):
    (error,) = mypy_errors["wrong_event_dict.py"]
    assert 'No overload variant of "emit" matches argument type "dict[str, object]"' in error


def test_a_forgotten_await_on_the_typed_emit_is_an_error(mypy_errors):
    assert [error.split(": error: ")[1] for error in mypy_errors["forgotten_await.py"]] == [
        'Value of type "Coroutine[Any, Any, None]" must be used  [unused-coroutine]',
    ] * 2
    assert [error.split(":")[0] for error in mypy_errors["forgotten_await.py"]] == ["6", "7"]
