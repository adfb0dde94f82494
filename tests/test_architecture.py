"""The import rules of docs/architecture.md, read from the source with `ast` (imports inside functions and
`TYPE_CHECKING` blocks count too): the engine never imports the authoring layer or the runtime, the authoring
layer never imports the engine or the runtime, the runtime is the only bridge, the spine imports only the spine,
and no modules import each other in a ring, inside the engine or outside it."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from motia.model import TRIGGER_KINDS
from tests.conftest import ROOT

SRC = ROOT / "src"

# The spine: wire types and small utilities every layer may use; they import nothing outside the spine.
SPINE = {"motia.protocol", "motia.frames", "motia.errors", "motia._deadlines", "motia.crontab", "motia.json_depth",
         "motia._backoff"}
# What the embedded engine may import besides itself.
ENGINE_MAY_IMPORT = SPINE
# The composition root: the one module that assembles an app from the engine, the runtime and the operator pages.
ROOT_MODULE = "motia.assembly"
# Entry points: the only modules outside the runtime that may import the engine or the runtime (with the root).
ENTRY_POINTS = {"motia.cli", "motia.testing", ROOT_MODULE}
# The operator pages the root serves when asked: the console, and the runtime's page modules.
PAGES = {"motia.console", "motia.runtime.graph_page", "motia.runtime.docs_pages", "motia.runtime.recording_pages"}
# Operator packages the runtime serves (the console): like the runtime, they read the engine.
OPERATOR = {"motia.console"}
# Loaded on demand: imported only inside functions, never at a module's top level outside their own package.
ON_DEMAND = {"motia.graph", "motia_codegen", "motia.console"}
# What a handler reaches at run time (the running app's services); the step model and the registry describe
# steps without them.
HANDLER_SIDE = {"motia.context", "motia.state", "motia.streams", "motia.events", "motia._current", "motia._pending",
                "motia.log", "motia._log_writer", "motia.tracing", "motia.stream_client"}


class Import:
    def __init__(self, importer: str, target: str, line: int, top_level: bool) -> None:
        self.importer, self.target, self.line, self.top_level = importer, target, line, top_level

    def __repr__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.target}"


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(src: Path) -> list[Import]:
    """Every import of a `motia` or `motia_codegen` module by a module of `src/motia`, resolved to a module
    (`from . import _current` is motia._current; `from .model import Step` is motia.model)."""
    modules = {module_name(path, src) for path in (src / "motia").rglob("*.py")}
    found: list[Import] = []
    for path in sorted((src / "motia").rglob("*.py")):
        importer = module_name(path, src)
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
        in_functions = {id(inner) for function in functions for inner in ast.walk(function)
                        if isinstance(inner, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                for alias in node.names:  # `from package import submodule` names the submodule
                    targets.append(f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module)
            for target in dict.fromkeys(targets):
                if target.split(".")[0] in ("motia", "motia_codegen"):
                    found.append(Import(importer, target, node.lineno, id(node) not in in_functions))  # type: ignore[attr-defined]
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def cycles(found: list[Import], among: Callable[[str], bool]) -> list[Import]:
    """The imports that close a cycle between the modules `among` accepts (lazy imports count: a cycle hidden
    inside a function is still one): each import whose target reaches its importer again."""
    graph: dict[str, set[str]] = {}
    for i in found:
        if among(i.importer) and among(i.target):
            graph.setdefault(i.importer, set()).add(i.target)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = {start}, [start]
        while todo:
            for target in graph.get(todo.pop(), ()):
                if target == goal:
                    return True
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return False

    return [i for i in found if i.target in graph.get(i.importer, ()) and reaches(i.target, i.importer)]


@functools.cache
def violations(src: Path) -> dict[str, list[Import]]:
    """Each rule of docs/architecture.md, with the imports that break it."""
    found = imports(src)
    engine_or_runtime = ("motia.engine", "motia.runtime")
    return {
        "the spine imports nothing outside the spine":
            [i for i in found if i.importer in SPINE and i.target not in SPINE],
        "the engine imports only itself and the spine (never the runtime, the DSL, the legacy forms or the model)":
            [i for i in found if within(i.importer, "motia.engine") and not within(i.target, "motia.engine")
             and i.target not in ENGINE_MAY_IMPORT],
        "only the runtime, the operator packages and the entry points import the engine":
            [i for i in found if within(i.target, "motia.engine") and not within(i.importer, "motia.engine")
             and not within(i.importer, "motia.runtime") and i.importer not in ENTRY_POINTS
             and not any(within(i.importer, p) for p in OPERATOR)],
        "only the entry points import the runtime":
            [i for i in found if within(i.target, "motia.runtime") and not within(i.importer, "motia.runtime")
             and i.importer not in ENTRY_POINTS],
        "the graph package reads the step model, never the engine or the runtime":
            [i for i in found if within(i.importer, "motia.graph")
             and any(within(i.target, p) for p in engine_or_runtime)],
        "on-demand packages are imported inside functions only":
            [i for i in found if i.top_level and any(within(i.target, p) for p in ON_DEMAND)
             and not any(within(i.importer, p) for p in ON_DEMAND)],
        "the runtime reaches the engine only through its in-process transport (the rest speaks protocol types)":
            [i for i in found if within(i.importer, "motia.runtime") and i.importer != "motia.runtime.transport"
             and within(i.target, "motia.engine")],
        "only the composition root and the entry points import the operator pages":
            [i for i in found if any(within(i.target, p) for p in PAGES) and i.importer not in ENTRY_POINTS
             and not any(within(i.importer, p) for p in PAGES)],
        "the step model imports only the spine":
            [i for i in found if i.importer == "motia.model" and i.target not in SPINE],
        "the registry and the step model never import the handler-side services":
            [i for i in found if i.importer in ("motia.model", "motia.registry") and i.target in HANDLER_SIDE],
        "the decorators and the legacy forms never import each other (both compile to the model)":
            [i for i in found if {i.importer, i.target} == {"motia.dsl", "motia.legacy"}],
        "no import cycle outside the engine":
            cycles(found, lambda module: not within(module, "motia.engine")),
        "no import cycle inside the engine (its modules plug into `engine`; `embedded` wires them)":
            cycles(found, lambda module: within(module, "motia.engine")),
    }


@pytest.mark.parametrize("rule", list(violations(SRC)))
def test_the_source_keeps_the_rule(rule):
    broken = violations(SRC)[rule]
    assert broken == [], f"{rule} (docs/architecture.md): {broken}"


def test_the_rules_see_imports_at_any_depth_and_in_relative_form(tmp_path):
    """The checker itself: a tree that breaks each rule once is reported once per rule."""
    files = {
        "motia/__init__.py": "",
        "motia/errors.py": "from .model import Step\n",
        "motia/protocol.py": "from . import errors\n",  # spine to spine: allowed
        "motia/model.py": "from .context import TriggerType\nclass Step: ...\n",
        "motia/dsl.py": "def f():\n    from .engine import engine\n",
        "motia/engine/__init__.py": "",
        "motia/engine/engine.py":
            "if TYPE_CHECKING:\n    from ..runtime import app\ndef f():\n    from . import introspection\n",
        "motia/engine/introspection.py": "from .engine import Engine\n",
        "motia/engine/rbac.py": "if TYPE_CHECKING:\n    from .ws import Connection\n",
        "motia/engine/ws.py": "from .rbac import SessionRules\nfrom .engine import Engine\n",  # no cycle via engine
        "motia/runtime/__init__.py": "",
        "motia/runtime/app.py": "from ..graph import render\n",
        "motia/graph/__init__.py": "def render(): ...\n",
        "motia/graph/model.py": "from motia.engine.engine import x\n",
        "motia/registry.py": "from . import runtime\nfrom .streams import Stream\n",
        "motia/streams.py": "def f():\n    from .legacy import normalize_keys\n",  # a cycle hidden in a function
        "motia/legacy.py": "from .dsl import on\nfrom .triggers import http\n",
        "motia/triggers.py": "from .streams import Stream\n",
        "motia/runtime/worker.py": "from ..engine.engine import Engine\n",
        "motia/runtime/transport.py": "from ..engine.engine import Engine\n",  # the in-process transport: allowed
        "motia/console/__init__.py": "",
        "motia/banner.py": "def f():\n    from .console import serve\n",
        "motia/assembly.py": "from .runtime import app\ndef f():\n    from . import console\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = {rule: [repr(i) for i in broken] for rule, broken in violations(tmp_path).items()}
    assert list(found.values()) == [
        ["motia.errors:1 imports motia.model"],
        ["motia.engine.engine:2 imports motia.runtime.app"],
        ["motia.dsl:2 imports motia.engine.engine", "motia.graph.model:1 imports motia.engine.engine"],
        ["motia.engine.engine:2 imports motia.runtime.app", "motia.registry:1 imports motia.runtime"],
        ["motia.graph.model:1 imports motia.engine.engine"],
        ["motia.runtime.app:1 imports motia.graph"],
        ["motia.runtime.worker:1 imports motia.engine.engine"],
        ["motia.banner:2 imports motia.console"],
        ["motia.model:1 imports motia.context"],
        ["motia.model:1 imports motia.context", "motia.registry:2 imports motia.streams"],
        ["motia.legacy:1 imports motia.dsl"],
        ["motia.legacy:2 imports motia.triggers", "motia.streams:2 imports motia.legacy",
         "motia.triggers:1 imports motia.streams"],
        ["motia.engine.engine:4 imports motia.engine.introspection",
         "motia.engine.introspection:1 imports motia.engine.engine",
         "motia.engine.rbac:2 imports motia.engine.ws", "motia.engine.ws:1 imports motia.engine.rbac"],
    ]


def test_the_architecture_note_places_every_module_and_package():
    note = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    names = {path.stem for path in (SRC / "motia").rglob("*.py") if path.stem != "__init__"}
    names |= {path.parent.name for path in (SRC / "motia").rglob("*/__init__.py")}
    missing = sorted(name for name in names if f"`{name}" not in note)
    assert missing == [], f"docs/architecture.md does not place {missing}"


# --- protocol references -----------------------------------------------------------------------------------

SECTION = re.compile(r"§(\d+(?:\.\d+)?)(?:-§?(\d+(?:\.\d+)?))?")


def test_protocol_references_cite_sections_of_docs_protocol():
    """A `§N.N` in the code, tests, benchmarks or docs is a section of docs/protocol.md, the only protocol document
    they may name."""
    protocol = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", protocol, flags=re.MULTILINE))
    elsewhere = "-".join(["iii", "protocol.md"]), "/".join(["shared", "reference"])  # not this file's own text
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py"),
             *(ROOT / "codegen").rglob("*.py"), *(ROOT / "docs").glob("*.md"), ROOT / "README.md"]
    unknown, outside = [], []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.relative_to(ROOT)}:{number}"
            cited = [n for pair in SECTION.findall(line) for n in pair if n]
            unknown += [f"{where} §{n}" for n in cited if n not in sections]
            outside += [where for name in elsewhere if name in line]
    assert unknown == [], f"sections docs/protocol.md does not have: {unknown}"
    assert outside == [], f"protocol references to a document outside the repository: {outside}"


# --- private attributes ------------------------------------------------------------------------------------


def private_writes(src: Path) -> list[str]:
    """Every `obj._name = ...` (or `+=`) on an object other than `self`/`cls` whose module never writes
    `self._name` itself: a module writing the private attributes of another's objects, which should ask the
    owner through a method instead. (A class may still build an instance of itself: `made._fields = ...`.)"""
    found = []
    for path in sorted((src / "motia").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = [target for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                   for target in (node.targets if isinstance(node, ast.Assign) else [node.target])]
        written = [t for t in targets if isinstance(t, ast.Attribute) and t.attr.startswith("_")
                   and not t.attr.startswith("__")]
        owned = {t.attr for t in written if isinstance(t.value, ast.Name) and t.value.id in ("self", "cls")}
        found += [f"{module_name(path, src)}:{t.lineno} writes {ast.unparse(t)}" for t in written
                  if not (isinstance(t.value, ast.Name) and t.value.id in ("self", "cls")) and t.attr not in owned]
    return found


def test_no_module_writes_the_private_attributes_of_another():
    assert private_writes(SRC) == []


def test_the_private_write_check_sees_a_write_from_another_module(tmp_path):
    files = {
        "motia/context.py": "class Context:\n    def __init__(self):\n        self._closed = False\n"
                            "    @classmethod\n    def made(cls):\n        made = cls()\n        made._closed = True\n",
        "motia/runtime/invoke.py": "def stop(context):\n    context._closed = True\n    context.done = True\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert private_writes(tmp_path) == ["motia.runtime.invoke:2 writes context._closed"]


# --- trigger kinds answer for themselves -------------------------------------------------------------------

KIND_NAMES = {kind.__name__ for kind in TRIGGER_KINDS}


def _kind_names(tree: ast.Module) -> dict[str, str]:
    """The names a module gives the trigger kinds (theirs, and the aliases it imports them under) -> the kind."""
    aliases = {alias.asname: alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               for alias in node.names if alias.name in KIND_NAMES and alias.asname}
    return {name: name for name in KIND_NAMES} | aliases


def _kinds_tested(test: ast.expr, names: dict[str, str]) -> set[tuple[str, str]]:
    """(subject, kind) for each `isinstance(subject, Kind)` in a condition (each kind of a tuple counts)."""
    found = set()
    for node in ast.walk(test):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance"
                and len(node.args) == 2):
            classes = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            for cls in classes:
                name = cls.id if isinstance(cls, ast.Name) else cls.attr if isinstance(cls, ast.Attribute) else ""
                if name in names:
                    found.add((ast.unparse(node.args[0]), names[name]))
    return found


def _chain(node: ast.If | ast.IfExp) -> list[ast.If | ast.IfExp]:
    """An `if` and its `elif`s (or a conditional expression and the ones in its `else`)."""
    links: list[ast.If | ast.IfExp] = [node]
    while True:
        last = links[-1]
        if isinstance(last, ast.If) and len(last.orelse) == 1 and isinstance(last.orelse[0], ast.If):
            links.append(last.orelse[0])
        elif isinstance(last, ast.IfExp) and isinstance(last.orelse, ast.IfExp):
            links.append(last.orelse)
        else:
            return links


def kind_dispatch(*roots: Path) -> list[str]:
    """Every place outside `motia.model` that branches on the kind of a trigger: an if/elif chain, a run of
    `if`s in one block, or a chain of conditional expressions whose branches test one subject against two or
    more trigger kinds with `isinstance`. (One test that only filters, "the HTTP triggers", is not a dispatch.)"""
    found = []
    for src in roots:
        for path in sorted(src.rglob("*.py")):
            module = module_name(path, src)
            if module == "motia.model":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = _kind_names(tree)
            nodes = list(ast.walk(tree))
            continued = {id(link) for node in nodes if isinstance(node, (ast.If, ast.IfExp))
                         for link in _chain(node)[1:]}
            groups: list[list[ast.If | ast.IfExp]] = []  # the branches of one decision
            for node in nodes:
                for field in ("body", "orelse", "finalbody"):
                    block = getattr(node, field, None)
                    if isinstance(block, list):
                        groups.append([link for stmt in block if isinstance(stmt, ast.If) and id(stmt) not in continued
                                       for link in _chain(stmt)])
                if isinstance(node, ast.IfExp) and id(node) not in continued:
                    groups.append(_chain(node))
            for branches in groups:
                by_subject: dict[str, list[set[str]]] = {}
                for branch in branches:
                    tested_here: dict[str, set[str]] = {}
                    for subject, kind in _kinds_tested(branch.test, names):
                        tested_here.setdefault(subject, set()).add(kind)
                    for subject, kinds in tested_here.items():
                        by_subject.setdefault(subject, []).append(kinds)
                for subject, tested in by_subject.items():
                    every = set().union(*tested)
                    if len(tested) > 1 and len(every) > 1:
                        found.append(f"{module}:{branches[0].lineno} branches on {subject} being "
                                     f"{', '.join(sorted(every))}")
    return sorted(set(found))


def test_no_module_but_the_model_branches_on_the_kind_of_a_trigger():
    """Issue 17: behaviour that differs per trigger kind is a method of the kind (docs/architecture.md, "A new
    trigger kind"), so that a new kind is one class and not an edit of every reader."""
    assert kind_dispatch(SRC, ROOT / "codegen" / "src") == []


def test_the_kind_dispatch_check_sees_chains_runs_and_aliases(tmp_path):
    files = {
        "motia/model.py":  # the kinds' own module may
            "def f(t):\n    if isinstance(t, HttpTrigger): ...\n    elif isinstance(t, CronTrigger): ...\n",
        "motia/registry.py":  # an if/elif chain, besides a filter and a two-kind filter
            "def f(t, ts):\n    if isinstance(t, HttpTrigger) and t.method == 'GET': ...\n"
            "    elif x: ...\n    elif isinstance(t, QueueTrigger): ...\n"
            "    if any(isinstance(u, HttpTrigger) for u in ts): ...\n"
            "def g(t):\n    if isinstance(t, (HttpTrigger, QueueTrigger)): ...\n",
        "motia/console/api.py":  # a run of ifs that return
            "def f(t):\n    if isinstance(t, model.HttpTrigger):\n        return 1\n"
            "    if isinstance(t, model.StreamTrigger):\n        return 2\n    return 3\n",
        "motia/legacy.py":  # an alias, in a conditional expression
            "from .model import QueueTrigger as _Q\ndef f(t):\n"
            "    return 1 if isinstance(t, _Q) else 2 if isinstance(t, CronTrigger) else 3\n",
        "motia/openapi.py":  # two subjects, one kind each: filters
            "def f(a, b):\n    if isinstance(a, HttpTrigger): ...\n    if isinstance(b, QueueTrigger): ...\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert kind_dispatch(tmp_path) == [
        "motia.console.api:2 branches on t being HttpTrigger, StreamTrigger",
        "motia.legacy:3 branches on t being CronTrigger, QueueTrigger",
        "motia.registry:2 branches on t being HttpTrigger, QueueTrigger",
    ]
