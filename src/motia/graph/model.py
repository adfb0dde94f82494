"""The flow graph of an app: its steps, the topics, streams and state groups between them, and the edges a
Workbench flow view draws.

`build_graph(registry)` makes the model the renderers (`text`, `page`) and the layout read.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, cast

import msgspec

from ..checks import written
from ..model import Emit, Step, Trigger
from ..registry import Registry

StepKind = Literal["api", "event", "cron", "state", "stream", "noop"]
EdgeKind = Literal["emit", "subscribe"]

STEP_KINDS: tuple[StepKind, ...] = ("api", "event", "cron", "state", "stream", "noop")
NO_FLOW = "(no flow)"


class StepNode(msgspec.Struct, kw_only=True):
    """A step; `kinds` follows its triggers (a multi-trigger step has several), `noop` when it has none."""

    id: str
    name: str
    kinds: list[StepKind]
    # One line per trigger worth showing: "POST /orders", "cron 0 9 * * *", "state orders", "stream todos".
    details: list[str]
    flows: list[str]
    description: str | None = None
    location: str | None = None

    @property
    def kind(self) -> StepKind:
        return self.kinds[0]


NodeKind = Literal["topic", "stream", "state"]


class TopicNode(msgspec.Struct, kw_only=True):
    """What links steps: a topic (`kind` "topic"), a stream or a state group, with the names of the steps that
    emit to or write it and of those it triggers (virtual ones included). `topic` is its name."""

    id: str
    topic: str
    emitters: list[str] = []
    subscribers: list[str] = []
    kind: NodeKind = "topic"

    @property
    def label(self) -> str:
        """The name as drawn: `order.placed`, `stream todos`, `state orders`."""
        return self.topic if self.kind == "topic" else f"{self.kind} {self.topic}"


class Edge(msgspec.Struct, kw_only=True, omit_defaults=True):
    """`emit`: step -> topic; `subscribe`: topic -> step. `virtual` edges are drawn dashed (diagram only),
    `conditional` ones in their own style (an emit that is not always taken, a subscription with a condition)."""

    source: str
    target: str
    kind: EdgeKind
    label: str | None = None
    virtual: bool = False
    conditional: bool = False


class FlowGraph(msgspec.Struct, kw_only=True):
    steps: list[StepNode]
    topics: list[TopicNode]
    edges: list[Edge]
    # Flow names in order of first appearance.
    flows: list[str]

    def node(self, node_id: str) -> StepNode | TopicNode:
        for node in self.nodes():
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def nodes(self) -> list[StepNode | TopicNode]:
        return [*self.steps, *self.topics]

    def subgraph(self, flow: str | None) -> FlowGraph:
        """The steps of one flow (None: the steps in no flow), the topics they touch and the edges between."""
        steps = [s for s in self.steps if (flow in s.flows if flow is not None else not s.flows)]
        step_ids = {s.id for s in steps}
        edges = [e for e in self.edges if e.source in step_ids or e.target in step_ids]
        topic_ids = {e.source for e in edges} | {e.target for e in edges}
        topics = [t for t in self.topics if t.id in topic_ids]
        return FlowGraph(steps=steps, topics=topics, edges=edges, flows=[flow] if flow is not None else [])

    def sections(self) -> list[tuple[str, FlowGraph]]:
        """One subgraph per flow, then the steps in no flow; the whole graph when no step names a flow."""
        if not self.flows:
            return [("all steps", self)]
        sections = [(flow, self.subgraph(flow)) for flow in self.flows]
        rest = self.subgraph(None)
        if rest.steps:
            sections.append((NO_FLOW, rest))
        return sections


def step_id(name: str) -> str:
    return f"step:{name}"


def topic_id(topic: str) -> str:
    return f"topic:{topic}"


def build_graph(registry: Registry | Iterable[Step], root: Path | str | None = None) -> FlowGraph:
    """The flow graph of every step: registration order for steps, first-mention order for topics.

    With `root`, step locations under it are written relative to it (`steps/orders_step.py:12`).
    """
    steps: list[StepNode] = []
    topics: dict[str, TopicNode] = {}
    edges: list[Edge] = []
    seen_edges: set[tuple[str, str, str, bool]] = set()
    flows: list[str] = []

    def topic(name: str, kind: NodeKind = "topic") -> TopicNode:
        node_id = topic_id(name) if kind == "topic" else f"{kind}:{name}"
        node = topics.get(node_id)
        if node is None:
            node = topics[node_id] = TopicNode(id=node_id, topic=name, kind=kind)
        return node

    def add(edge: Edge) -> None:
        key = (edge.source, edge.target, edge.kind, edge.virtual)
        if key not in seen_edges:
            seen_edges.add(key)
            edges.append(edge)

    for step in registry:
        node_id = step_id(step.name)
        steps.append(StepNode(
            id=node_id, name=step.name, kinds=_kinds(step.triggers), details=_details(step.triggers),
            flows=list(step.flows), description=step.description,
            location=_location(step, root),
        ))
        flows.extend(f for f in step.flows if f not in flows)
        for trigger in step.triggers:
            source = trigger.feeds_from
            if source is not None:
                node = topic(*source)
                _append_once(node.subscribers, step.name)
                add(Edge(source=node.id, target=node_id, kind="subscribe",
                         conditional=trigger.condition is not None, label=_condition_label(trigger.condition)))
        for name in step.virtual_subscribes:
            node = topic(name)
            _append_once(node.subscribers, step.name)
            add(Edge(source=node.id, target=node_id, kind="subscribe", virtual=True))
        for emits, virtual in ((step.emits, False), (step.virtual_emits, True)):
            for emit in emits:
                node = topic(emit.topic)
                _append_once(node.emitters, step.name)
                add(_emit_edge(node_id, node.id, emit, virtual))
        for kind, name in written(step.handler):
            node = topic(name, kind)  # type: ignore[arg-type]
            _append_once(node.emitters, step.name)
            add(Edge(source=node_id, target=node.id, kind="emit"))
    return FlowGraph(steps=steps, topics=list(topics.values()), edges=edges, flows=flows)



def _location(step: Step, root: Path | str | None) -> str | None:
    if step.source is None:
        return None
    if root is not None:
        try:
            return f"{Path(step.source.file).resolve().relative_to(Path(root).resolve())}:{step.source.line}"
        except ValueError:
            pass
    return str(step.source)


def _emit_edge(source: str, target: str, emit: Emit, virtual: bool) -> Edge:
    return Edge(source=source, target=target, kind="emit", label=emit.label, virtual=virtual,
                conditional=emit.conditional)


def _append_once(names: list[str], name: str) -> None:
    if name not in names:
        names.append(name)


def _condition_label(condition: Any) -> str | None:
    name = getattr(condition, "__name__", None)
    if condition is None or not name or name.startswith("<"):
        return None
    return f"if {name}"


def _kinds(triggers: list[Trigger]) -> list[StepKind]:
    kinds: list[StepKind] = []
    for trigger in triggers:
        kind = cast(StepKind, trigger.seed_name)
        if kind not in kinds:
            kinds.append(kind)
    return kinds or ["noop"]


def _details(triggers: list[Trigger]) -> list[str]:
    return [detail for detail in (trigger.detail() for trigger in triggers) if detail is not None]
