"""The generated client module: its declarations, and that it works at run time inside a running app."""

from __future__ import annotations

import ast
import importlib
import sys
from typing import Any, Literal, Optional, Union

import msgspec
import pytest
from motia_codegen.client import client_module
from motia_codegen.pytypes import TypeWriter

from tests.codegen.conftest import APP, EXAMPLES, example
from tests.conftest import running

AWAITED = "Coroutine[Any, Any, None]"  # what emit returns: a forgotten await is an unused coroutine


@pytest.fixture
def source(load: Any) -> str:
    return client_module(load(APP))


def test_topic_is_a_literal_of_every_real_topic(source):
    assert 'Topic = Literal["audit.logged", "pet.adopted", "todo.created", "todo.remind"]' in source
    assert "audit.archived" not in source.split("class TypedContext")[0].split("Topic = ")[1].split("\n")[0]


def test_emit_has_one_overload_per_topic_carrying_its_payload_type(source):
    assert f'@overload\ndef emit(topic: Literal["todo.created"], data: Todo, /) -> {AWAITED}: ...' in source
    assert f'@overload\ndef emit(topic: Literal["todo.remind"], data: Reminder, /) -> {AWAITED}: ...' in source
    assert f'@overload\ndef emit(topic: Literal["pet.adopted"], data: Cat | Dog, /) -> {AWAITED}: ...' in source
    assert f"@overload\ndef emit(event: Event, /) -> {AWAITED}: ..." in source


def test_each_topic_has_an_event_dict_with_an_optional_message_group(source):
    assert "class TodoCreatedEvent(TypedDict):" in source
    assert '    topic: Literal["todo.created"]\n    data: Todo\n    messageGroupId: NotRequired[str]' in source
    assert "Event = AuditLoggedEvent | PetAdoptedEvent | TodoCreatedEvent | TodoRemindEvent" in source


def test_step_types_are_imported_for_type_checkers_only(source):
    tree = ast.parse(source)
    checking = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    imported = {alias.name for node in checking.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert {"Todo", "Reminder", "Cat", "Dog"} <= imported
    runtime = [n for n in tree.body if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("steps")]
    assert runtime == []


def motia_imports(source: str) -> list[tuple[str, str]]:
    """(module, name) of every import of motia in a module, at any depth (`import motia.x` gives ("motia.x", ""))."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "motia":
            found += [(node.module or "", alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.split(".")[0] == "motia"]
    return found


@pytest.mark.parametrize("name", [APP.name, *EXAMPLES])
def test_the_module_imports_only_motias_public_names(load, name):
    """A generated module lives in a user's project: it may use only what `motia.__all__` promises."""
    import motia

    imports = motia_imports(client_module(load(APP if name == APP.name else example(name))))
    assert imports, "the module imports motia"
    private = [f"{module}.{symbol}" for module, symbol in imports if module != "motia" or symbol not in motia.__all__]
    assert private == [], f"generated code imports motia internals: {private}"


def test_json_schema_dicts_become_msgspec_structs(source):
    for name in ("AuditLoggedPayload", "AuditBody", "AuditResponse202", "NotesItem", "Actor"):
        assert f"class {name}(Struct):" in source
    assert "data: AuditLoggedPayload" in source


def test_streams_are_typed_by_item(source):
    assert "        notes: Stream[NotesItem]\n        todos: Stream[Todo]" in source
    assert 'def __getitem__(self, name: Literal["todos"]) -> Stream[Todo]: ...' in source


def test_typed_context_types_emit_and_streams(source):
    context = source.split("class TypedContext(FlowContext):")[1]
    assert "def streams(self) -> Streams: ...  # type: ignore[override]" in context
    assert f'def emit(self, topic: Literal["todo.created"], data: Todo, /) -> {AWAITED}: ...' in context
    assert f'def enqueue(self, topic: Literal["todo.created"], data: Todo, /) -> {AWAITED}: ...' in context


def test_the_module_is_deterministic(load):
    registry = load(APP)
    assert client_module(registry) == client_module(registry)
    assert "timestamp" not in client_module(registry)


def test_an_app_without_topics_or_streams_still_gets_a_usable_module(load):
    source = client_module(load(example("hello")))
    assert "Topic = NoReturn" in source
    compile(source, "motia_client.py", "exec")


@pytest.mark.anyio
async def test_the_module_emits_and_reads_typed_streams_in_a_running_app(app_copy, isolated_imports):
    from motia.discovery import discover

    registry = discover(app_copy)
    (app_copy / "motia_client.py").write_text(client_module(registry))
    client = importlib.import_module("motia_client")
    todo_type = sys.modules["steps.models"].Todo
    assert issubclass(client.TypedContext, sys.modules["motia"].FlowContext)
    payload = msgspec.json.decode(b'{"entry": "x", "level": "warn"}', type=client.AuditLoggedPayload)
    assert payload.level == "warn"
    async with running(registry) as app:
        await client.streams.todos.set("inbox", "t1", todo_type(id="t1", title="write tests"))
        assert await client.streams["todos"].get("inbox", "t1") == todo_type(id="t1", title="write tests")
        await client.emit("todo.remind", sys.modules["steps.models"].Reminder(todo_id="t1"))
        await client.emit({"topic": "audit.logged", "data": {"entry": "e"}})
        await app.embedded.queues.wait_idle()


def test_type_writer_imports_classes_and_aliases_clashing_names():
    writer = TypeWriter(reserved={"Todo"})
    rendered = writer.render(Optional[list[msgspec.Raw]])
    assert rendered == "list[Raw] | None"
    assert writer.render(Union[Literal["a", "b"], dict[str, int]]) == "Literal['a', 'b'] | dict[str, int]"
    local = type("Todo", (msgspec.Struct,), {"__module__": "msgspec.structs"})
    assert writer.render(local) == "structs_Todo"
    assert writer.import_lines() == ["from msgspec import Raw", "from msgspec.structs import Todo as structs_Todo"]


def test_type_writer_gives_any_for_classes_no_checker_can_import():
    class Local(msgspec.Struct):
        x: int

    assert TypeWriter().render(Local) == "Any"


def test_a_schema_the_model_generator_refuses_is_reported_with_where_it_is_declared(load, monkeypatch):
    from motia_codegen import models

    def refuse(schemas: dict[str, Any]) -> models.Models:
        raise ValueError("unsupported keyword")

    monkeypatch.setattr(models, "_generate", refuse)
    with pytest.raises(models.SchemaError) as raised:
        client_module(load(APP))
    message = str(raised.value)
    assert "AuditBody (" in message and "audit.step.py" in message and "unsupported keyword" in message
    assert "NotesItem (stream 'notes')" in message
