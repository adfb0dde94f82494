"""The typed client module: `Topic`, an `emit` whose payload type follows the topic, `streams.<name>` typed by
item, and `TypedContext` (a `FlowContext` whose `emit` and `streams` are typed the same way).

Types a step declares are imported from the step's module for type checkers only (`if TYPE_CHECKING:`), so
steps can import the client without an import cycle; JSON-Schema dicts become msgspec Structs in the module.
"""

from __future__ import annotations

import keyword
import re
import sys
import textwrap
from dataclasses import dataclass
from typing import Any

from motia.model import HttpTrigger
from motia.registry import Registry

from .models import Models, generate_models
from .pytypes import TypeWriter
from .topics import Topic, topics

# Names the module defines itself (an imported class with one of these names is imported under an alias).
_OWN_NAMES = {
    "TYPE_CHECKING", "Any", "Coroutine", "Event", "FlowContext", "Literal", "NoReturn", "NotRequired", "Stream",
    "Streams", "TOPICS", "Topic", "TypedContext", "TypedDict", "emit", "enqueue", "overload", "streams",
}


# What `emit` returns (motia's `Pending[None]`, a coroutine to type checkers).
_AWAITED = "Coroutine[Any, Any, None]"


@dataclass
class _TopicEntry:
    topic: Topic
    payload: str  # the payload type, as source
    event: str  # the name of its event TypedDict


@dataclass
class _StreamEntry:
    name: str
    item: str  # the item type, as source


def client_module(registry: Registry, *, source: str = "steps", module: str = "motia_client") -> str:
    """The source of the client module for `registry` (deterministic: sorted, no timestamps). `source` (the steps
    directory) and `module` (the module's import name) appear in its docstring."""
    catalogue = [t for t in topics(registry) if not t.virtual]
    streams = sorted(registry.streams.values(), key=lambda s: s.name)

    # 1. JSON-Schema dicts -> Structs, named after what they describe.
    wanted: dict[str, dict[str, Any]] = {}
    origins: dict[str, str] = {}
    dict_names: dict[int, str] = {}
    namer = _Namer()

    def want(schema: dict[str, Any], name: str, origin: str = "?") -> None:
        if id(schema) not in dict_names:
            for other_id, other_name in dict_names.items():
                if wanted.get(other_name) == schema:
                    dict_names[id(schema)] = dict_names[other_id]
                    return
            dict_names[id(schema)] = namer.unique(name)
            wanted[dict_names[id(schema)]] = schema
            origins[dict_names[id(schema)]] = origin

    for topic in catalogue:
        for subscriber in topic.subscribers:
            payload = subscriber.trigger.input if subscriber.trigger is not None else None
            if isinstance(payload, dict):
                want(payload, _camel(topic.name) + "Payload", subscriber.step.location)
    for stream in streams:
        if isinstance(stream.schema, dict) and stream.item_type is None:
            want(stream.schema, _title(stream.schema) or _camel(stream.name) + "Item", f"stream {stream.name!r}")
    for step in registry:
        for trigger in step.triggers:
            if isinstance(trigger, HttpTrigger):
                if isinstance(trigger.body, dict):
                    want(trigger.body, _title(trigger.body) or _camel(step.name) + "Body", step.location)
                for status, body in sorted(trigger.responses.items()):
                    if isinstance(body, dict):
                        want(body, _title(body) or f"{_camel(step.name)}Response{status}", step.location)
    models = generate_models(wanted, origins)

    def generated(value: Any) -> str:
        return models.names[dict_names[id(value)]]

    # 2. Every other type, imported from its module under TYPE_CHECKING.
    reserved = _OWN_NAMES | models.defined
    writer = TypeWriter(reserved=reserved)
    event_names = _Namer(reserved)
    entries: list[_TopicEntry] = []
    for topic in catalogue:
        rendered = [generated(p) if isinstance(p, dict) else writer.render(p) for p in topic.payloads]
        payload = " | ".join(dict.fromkeys(rendered)) if rendered else "Any"
        if "Any" in rendered:
            payload = "Any"
        entries.append(_TopicEntry(topic, payload, event_names.unique(_camel(topic.name) + "Event")))
    stream_entries = []
    for stream in streams:
        if stream.item_type is not None:
            item = writer.render(stream.item_type)
        elif isinstance(stream.schema, dict):
            item = generated(stream.schema)
        else:
            item = "Any"
        stream_entries.append(_StreamEntry(stream.name, item))

    return _Module(entries, stream_entries, models, writer, source, module).render()


class _Module:
    def __init__(self, topics: list[_TopicEntry], streams: list[_StreamEntry], models: Models, writer: TypeWriter,
                 source: str, module: str) -> None:
        self.topics = topics
        self.streams = streams
        self.models = models
        self.writer = writer
        self.source = source
        self.module = module

    def render(self) -> str:
        body = [
            self._models(),
            self._topics(),
            self._emit(),
            self._streams(),
            self._context(),
        ]
        head = [self._docstring(), self._imports(), self._all()]
        return "\n\n".join(part.rstrip("\n") for part in head) + "\n\n\n" + "\n\n\n".join(
            part.rstrip("\n") for part in body if part.strip()) + "\n"

    def _docstring(self) -> str:
        example_topic = self.topics[0] if self.topics else None
        lines = [
            "# Generated by `motia codegen client`; do not edit (run it again after changing a step).",
            f'"""Typed topics, emit and streams of the steps in {self.source}/.',
            "",
            "Annotate a handler's context with `TypedContext` to type `ctx.emit(...)` and `ctx.streams.<name>`:",
            "",
            f"    from {self.module} import TypedContext",
            "",
        ]
        if example_topic is not None:
            lines += [
                "    async def handler(input, ctx: TypedContext) -> None:",
                f"        await ctx.emit({_q(example_topic.topic.name)}, ...)  # the payload type follows the topic",
            ]
        else:
            lines += ["    async def handler(input, ctx: TypedContext) -> None: ..."]
        lines += ['"""']
        return "\n".join(lines)

    def _imports(self) -> str:
        typing_names = {"TYPE_CHECKING", "Any"} | self.writer.typing_names
        typing_names |= {"TypedDict"} if self.topics else {"NoReturn"}
        if self.topics or self.streams:
            typing_names.add("Literal")
        if self.topics or len(self.streams) > 1:
            typing_names.add("overload")
        modules: dict[str, set[str]] = {}
        for module, names in self.models.imports.items():
            if module == "typing":
                typing_names |= names
            else:
                modules.setdefault(module, set()).update(names)
        stdlib = {m: n for m, n in modules.items() if m.split(".")[0] in sys.stdlib_module_names}
        third = {m: n for m, n in modules.items() if m not in stdlib}
        third.setdefault("motia", set()).update({"FlowContext", "Stream"})
        lines = ["from __future__ import annotations", ""]
        std_lines = [_from("typing", typing_names), *(_from(m, n) for m, n in stdlib.items())]
        # `Coroutine`: what `emit` returns, so a call without `await` is an unused coroutine to mypy and pyright.
        std_lines.append(_from("collections.abc", self.writer.abc_names | {"Coroutine"}))
        lines += sorted(std_lines, key=_import_key)
        lines.append("")
        third_lines = [_from(m, n) for m, n in third.items()]
        # Only motia's public names (its `__all__`): a generated module outlives the motia release it was made with.
        third_lines += ["from motia import emit as _emit", "from motia import get_stream as _get_stream"]
        lines += sorted(third_lines, key=_import_key)
        # Types for checkers only, in isort's sections: stdlib, third-party (installed), the project's own.
        sections: list[list[str]] = [[], [], []]
        for line in self.writer.import_lines():
            sections[_section(line.split()[1])].append(line)
        if self.topics:
            sections[1].append("from typing_extensions import NotRequired")
        if any(sections):
            lines += ["", "if TYPE_CHECKING:"]
            blocks = ["\n".join(f"    {line}" for line in sorted(section, key=_import_key))
                      for section in sections if section]
            lines.append("\n\n".join(blocks))
        return "\n".join(lines)

    def _all(self) -> str:
        names = {"TOPICS", "Streams", "Topic", "TypedContext", "emit", "enqueue", "streams"}
        if self.topics:
            names |= {"Event", *(t.event for t in self.topics)}
        names |= self.models.defined
        return "__all__ = [\n" + "".join(f"    {_q(name)},\n" for name in sorted(names, key=_name_key)) + "]"

    def _models(self) -> str:
        if not self.models.source:
            return ""
        return "# Structs generated from the JSON Schemas of legacy steps and streams (datamodel-code-generator).\n" \
            + self.models.source

    def _topics(self) -> str:
        if not self.topics:
            return "\n".join([
                "Topic = NoReturn",
                '"""No step emits or subscribes to a topic."""',
                "",
                "TOPICS: tuple[str, ...] = ()",
            ])
        names = ", ".join(_q(t.topic.name) for t in self.topics)
        lines = [
            f"Topic = Literal[{names}]",
            '"""Every topic a step emits or subscribes to."""',
            "",
            f"TOPICS: tuple[Topic, ...] = ({names}{',' if len(self.topics) == 1 else ''})",
        ]
        for entry in self.topics:
            lines += ["", "", f"class {entry.event}(TypedDict):"]
            topic = _q(entry.topic.name)
            lines.append(f'    """The event form of {topic}: `emit({{"topic": {topic}, "data": ...}})`.')
            lines.append("")
            lines += textwrap.wrap(_describe(entry.topic), width=116, initial_indent="    ", subsequent_indent="    ")
            lines.append('    """')
            lines.append("")
            lines.append(f"    topic: Literal[{_q(entry.topic.name)}]")
            lines.append(f"    data: {entry.payload}")
            lines.append("    messageGroupId: NotRequired[str]")
        events = " | ".join(t.event for t in self.topics)
        lines += ["", "", f"Event = {events}"]
        return "\n".join(lines)

    def _overloads(self, name: str, *, method: bool, indent: str) -> list[str]:
        """The overloads of `emit` (one per topic, and the event-dict form) and the implementation's head."""
        self_ = "self, " if method else ""
        lines: list[str] = []
        if not self.topics:
            lines.append(f"{indent}def {name}({self_}topic_or_event: NoReturn, data: Any = None, /) -> {_AWAITED}:")
            return lines
        for entry in self.topics:
            lines.append(f"{indent}@overload")
            lines.append(f"{indent}def {name}({self_}topic: Literal[{_q(entry.topic.name)}], "
                         f"data: {entry.payload}, /) -> {_AWAITED}: ...")
        lines.append(f"{indent}@overload")
        lines.append(f"{indent}def {name}({self_}event: Event, /) -> {_AWAITED}: ...")
        lines.append(f"{indent}def {name}({self_}topic_or_event: Topic | Event, data: Any = None, /) -> Any:")
        return lines

    def _emit(self) -> str:
        lines = self._overloads("emit", method=False, indent="")
        lines.append('    """`motia.emit`, typed: the payload type follows the topic."""')
        lines.append("    return _emit(topic_or_event, data)")
        lines += ["", "", "enqueue = emit"]
        return "\n".join(lines)

    def _streams(self) -> str:
        lines = ["class Streams:"]
        if self.streams:
            lines.append('    """Every stream of the app, typed by item: `streams.<name>` or `streams["<name>"]`."""')
        else:
            lines.append('    """Every stream of the app (it declares none)."""')
        lines.append("")
        if self.streams:
            lines.append("    if TYPE_CHECKING:")
        for stream in self.streams:
            if _is_attribute(stream.name):
                lines.append(f"        {stream.name}: Stream[{stream.item}]")
        if self.streams:
            if any(_is_attribute(s.name) for s in self.streams):
                lines.append("")
            if len(self.streams) == 1:
                stream = self.streams[0]
                lines.append(f"        def __getitem__(self, name: Literal[{_q(stream.name)}]) -> "
                             f"Stream[{stream.item}]: ...")
            else:
                for stream in self.streams:
                    lines.append("        @overload")
                    lines.append(f"        def __getitem__(self, name: Literal[{_q(stream.name)}]) -> "
                                 f"Stream[{stream.item}]: ...")
                lines.append("        def __getitem__(self, name: str) -> Stream[Any]: ...")
        lines += [
            "    else:" if self.streams else "    if not TYPE_CHECKING:",
            "        def __getattr__(self, name: str) -> Stream[Any]:",
            '            if name.startswith("_"):',
            "                raise AttributeError(name)",
            "            return _get_stream(name)",
            "",
            "        def __getitem__(self, name: str) -> Stream[Any]:",
            "            return _get_stream(name)",
            "",
            "",
            "streams = Streams()",
            '"""The streams of the running app (`streams.<name>`), typed by item."""',
        ]
        return "\n".join(lines)

    def _context(self) -> str:
        lines = [
            "class TypedContext(FlowContext):",
            '    """`FlowContext` with the app\'s topics and streams typed: annotate a handler\'s `ctx` with it.',
            "",
            "    Only a type: handlers still receive a `FlowContext` (this class adds nothing at run time).",
            '    """',
            "",
            "    if TYPE_CHECKING:",
            "        @property",
            "        def streams(self) -> Streams: ...  # type: ignore[override]",
        ]
        for name in ("emit", "enqueue"):
            overloads = self._overloads(name, method=True, indent="        ")
            overloads[-1] += " ..."
            # mypy reports the (deliberately narrower) override on the first line of the definition, pyright on the
            # implementation's (a `type: ignore` comment silences pyright too when that is the same line).
            overloads[0] += "  # type: ignore[override]"
            if len(overloads) > 1:
                overloads[-1] += "  # pyright: ignore[reportIncompatibleMethodOverride]"
            lines += ["", *overloads]
        return "\n".join(lines)


class _Namer:
    def __init__(self, taken: set[str] | None = None) -> None:
        self.taken = set(taken or ())

    def unique(self, name: str) -> str:
        candidate, n = name, 2
        while candidate in self.taken:
            candidate, n = f"{name}{n}", n + 1
        self.taken.add(candidate)
        return candidate


def _camel(name: str) -> str:
    """`order.placed` -> `OrderPlaced`, `get_user` -> `GetUser`, `CreateUser` stays."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    camel = "".join(p[0].upper() + p[1:] for p in parts) or "Unnamed"
    return f"T{camel}" if camel[0].isdigit() else camel


def _title(schema: dict[str, Any]) -> str | None:
    title = schema.get("title")
    if isinstance(title, str):
        camel = _camel(title)
        return camel if camel.isidentifier() else None
    return None


def _q(text: str) -> str:
    """A string literal in double quotes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _from(module: str, names: set[str]) -> str:
    if module == "":
        return "import " + ", ".join(sorted(names))
    plain = sorted(n for n in names if " as " not in n)
    return f"from {module} import {', '.join(sorted(plain, key=_name_key))}"


def _name_key(name: str) -> tuple[int, str]:
    # isort's order: CONSTANTS, then Classes, then functions/variables.
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


def _import_key(line: str) -> tuple[int, str, str]:
    module = line.split()[1]
    return (0 if line.startswith("import ") else 1, module.lower(), line)


def _section(module: str) -> int:
    """0: the standard library, 1: an installed package, 2: the project's own modules."""
    top = module.split(".")[0]
    if top in sys.stdlib_module_names:
        return 0
    file = getattr(sys.modules.get(module) or sys.modules.get(top), "__file__", None) or ""
    return 1 if "site-packages" in file or "dist-packages" in file else 2


def _is_attribute(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")


def _attribute_or_item(name: str) -> str:
    return f"streams.{name}" if _is_attribute(name) else f"streams[{_q(name)}]"


def _describe(topic: Topic) -> str:
    publishers = sorted({p.step.name for p in topic.publishers if not p.virtual})
    subscribers = sorted({s.step.name for s in topic.subscribers if not s.virtual})
    parts = []
    if publishers:
        parts.append("emitted by " + ", ".join(publishers))
    if subscribers:
        parts.append("consumed by " + ", ".join(subscribers))
    text = "; ".join(parts) + "." if parts else "declared, not used."
    return text[0].upper() + text[1:]
