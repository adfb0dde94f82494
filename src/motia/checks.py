"""Reading step sources: the start-up warnings (what loads but is probably a mistake: a step written in a file
discovery never imports, a declared emit no step consumes, a topic a handler emits without declaring it; each
names the file and line, and the closest topic names when a typo is likely), and what a handler writes (the state
groups and streams the flow graph joins to it).

All is read from the source (`ast`), never by running it: a skipped file is not imported, a handler not called.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import StepWarning, did_you_mean
from .model import QueueTrigger, Step
from .streams import Stream

# The decorators of the DSL (`motia.dsl`): a function under one of them is meant to be a step.
STEP_DECORATORS = frozenset({"api", "http", "get", "post", "put", "patch", "delete", "on", "event", "queue",
                             "cron", "on_state", "on_stream", "step", "multi_trigger_step"})
# What a handler calls to publish: `ctx.emit(...)`, `ctx.enqueue(...)`, `emit(...)`, `enqueue(...)`.
EMIT_CALLS = frozenset({"emit", "enqueue"})
# What writes state and stream items (the flow graph draws an edge from the step to the group or stream).
STATE_WRITES = frozenset({"set", "update", "delete", "clear"})
STREAM_WRITES = frozenset({"set", "update", "delete", "send"})


def skipped_step_files(files: Iterable[Path]) -> list[StepWarning]:
    """A warning for each file (not a step file, so never imported) that decorates a function as a step or
    defines `config` and `handler` (the old form)."""
    warnings = []
    for file in files:
        found = _steps_written_in(file)
        if found is None:
            continue
        line, what = found
        warnings.append(StepWarning(
            f"{what}, but this file is never loaded: step files are named *_step.py or *.step.py",
            f"{file}:{line}", f"rename it {file.with_name(file.stem + '_step.py')}"))
    return warnings


def _steps_written_in(file: Path) -> tuple[int, str] | None:
    """(line, description) of the first step a file writes, or None."""
    try:
        source = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if "motia" not in source:  # most helper modules: no need to parse them
        return None
    try:
        tree = ast.parse(source, str(file))
    except SyntaxError:
        return None
    imported, modules = _motia_imports(tree)
    decorated = [(node.decorator_list[0].lineno, node.name) for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and any(_is_step_decorator(d, imported, modules) for d in node.decorator_list)]
    if decorated:
        line, name = min(decorated)
        more = f" (and {len(decorated) - 1} more)" if len(decorated) > 1 else ""
        return line, f"{name}{more} is decorated as a step"
    names = {target.id: node.lineno for node in tree.body if isinstance(node, ast.Assign)
             for target in node.targets if isinstance(target, ast.Name)}
    handlers = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and node.name == "handler"]
    if "config" in names and handlers:
        return names["config"], "it defines a step's config and handler"
    return None


def _motia_imports(tree: ast.Module) -> tuple[set[str], set[str]]:
    """The DSL decorators a module imports from motia (by their local names), and its names for motia itself."""
    names: set[str] = set()
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "motia":
            names.update(alias.asname or alias.name for alias in node.names if alias.name in STEP_DECORATORS)
        elif isinstance(node, ast.Import):
            modules.update(alias.asname or alias.name for alias in node.names if alias.name == "motia")
    return names, modules


def _is_step_decorator(node: ast.expr, names: set[str], modules: set[str]) -> bool:
    """`@api(...)` imported from motia, or `@motia.api(...)`; not another library's `@router.get(...)`."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id in names
    return isinstance(node, ast.Attribute) and node.attr in STEP_DECORATORS \
        and isinstance(node.value, ast.Name) and node.value.id in modules


def topic_warnings(steps: Iterable[Step]) -> list[StepWarning]:
    """Declared emits no step consumes, and literal topics a handler emits without declaring them."""
    steps = list(steps)
    consumed = sorted({t.topic for step in steps for t in step.triggers if isinstance(t, QueueTrigger)})
    warnings = []
    for step in steps:
        for emit in step.emits:
            if emit.topic not in consumed:
                warnings.append(StepWarning(
                    f"step {step.name!r} declares it emits {emit.topic!r}, which no step consumes", step.location,
                    did_you_mean(emit.topic, consumed)
                    or f"subscribe a step to it (@on({emit.topic!r})), or remove it from emits"))
        declared = [e.topic for e in (*step.emits, *step.virtual_emits)]
        for topic, location in _literal_emits(step.handler):
            if topic not in declared:
                listed = f"emits={declared!r}" if declared else "it declares no emits"
                warnings.append(StepWarning(
                    f"step {step.name!r} emits {topic!r}, which it does not declare ({listed})", location,
                    did_you_mean(topic, declared) or did_you_mean(topic, consumed)
                    or f"declare it: emits=[..., {topic!r}]"))
    return warnings


def _literal_emits(handler: Any) -> list[tuple[str, str]]:
    """(topic, file:line) of each `emit("topic", ...)`/`emit({"topic": "..."})` in a handler's own source."""
    found = []
    for call, chain, location in _calls(handler):
        if chain[-1] in EMIT_CALLS and call.args:
            topic = _literal_topic(call.args[0])
            if topic is not None:
                found.append((topic, location))
    return found


def written(handler: Any) -> list[tuple[str, str]]:
    """What a handler's own source writes, in source order: ("state", group) for `ctx.state.set("group", ...)`
    (and `update`, `delete`, `clear`), ("stream", name) for `ctx.streams.name.set(...)`,
    `ctx.streams["name"].set(...)` or `.set(...)` on a module's `Stream` (and `update`, `delete`, `send`)."""
    found: list[tuple[str, str]] = []
    for call, chain, _ in _calls(handler):
        method = chain[-1]
        if method in STATE_WRITES and len(chain) >= 2 and chain[-2] == "state" and call.args:
            group = call.args[0]
            if isinstance(group, ast.Constant) and isinstance(group.value, str):
                found.append(("state", group.value))
        elif method in STREAM_WRITES and len(chain) >= 3 and chain[-3] == "streams":
            found.append(("stream", chain[-2]))
        elif method in STREAM_WRITES and len(chain) == 2:
            value = getattr(handler, "__globals__", {}).get(chain[0])
            if isinstance(value, Stream):
                found.append(("stream", value.name))
    return list(dict.fromkeys(found))


def _calls(handler: Any) -> list[tuple[ast.Call, list[str], str]]:
    """Each call in a handler's own source whose callee is a dotted name: (call, the name's parts, file:line)."""
    try:
        file = inspect.getsourcefile(handler)
        lines, first = inspect.getsourcelines(handler)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):  # built in, made at run time, or a lambda inside an expression
        return []
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            chain = _dotted(node.func)
            if chain:
                calls.append((node, chain, f"{file}:{first + node.lineno - 1}"))
    calls.sort(key=lambda call: (call[0].lineno, call[0].col_offset))
    return calls


def _dotted(node: ast.expr) -> list[str] | None:
    """`ctx.streams["todos"].set` -> ["ctx", "streams", "todos", "set"]; None for anything else."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and isinstance(node.slice.value, str):
            parts.append(node.slice.value)
            node = node.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return parts[::-1]
        else:
            return None


def _literal_topic(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value in ("topic", "type"):
                return _literal_topic(value)
    return None
