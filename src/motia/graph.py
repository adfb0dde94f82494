"""The flow graph of an app: its steps, the topics between them and the edges a Workbench flow view draws.

`build_graph(registry)` makes the model; `to_mermaid`, `to_dot`, `to_json` and `to_html` render it. The
HTML page is self-contained (inline CSS and JS, no network): the layout is computed here, the page draws it.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import msgspec

from .model import CronTrigger, Emit, HttpTrigger, QueueTrigger, StateTrigger, Step, StreamTrigger, Trigger
from .registry import Registry

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


class TopicNode(msgspec.Struct, kw_only=True):
    """A topic, with the names of the steps that emit it and that subscribe to it (virtual ones included)."""

    id: str
    topic: str
    emitters: list[str] = []
    subscribers: list[str] = []


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

    def topic(name: str) -> TopicNode:
        node = topics.get(name)
        if node is None:
            node = topics[name] = TopicNode(id=topic_id(name), topic=name)
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
            if isinstance(trigger, QueueTrigger):
                node = topic(trigger.topic)
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


def _kind(trigger: Trigger) -> StepKind:
    if isinstance(trigger, HttpTrigger):
        return "api"
    if isinstance(trigger, QueueTrigger):
        return "event"
    if isinstance(trigger, CronTrigger):
        return "cron"
    if isinstance(trigger, StreamTrigger):
        return "stream"
    return "state"


def _kinds(triggers: list[Trigger]) -> list[StepKind]:
    kinds: list[StepKind] = []
    for trigger in triggers:
        kind = _kind(trigger)
        if kind not in kinds:
            kinds.append(kind)
    return kinds or ["noop"]


def _details(triggers: list[Trigger]) -> list[str]:
    lines = []
    for trigger in triggers:
        if isinstance(trigger, HttpTrigger):
            lines.append(f"{trigger.method} {trigger.path}")
        elif isinstance(trigger, CronTrigger):
            zone = "" if trigger.timezone == "UTC" else f" ({trigger.timezone})"
            lines.append(f"cron {trigger.expression}{zone}")
        elif isinstance(trigger, StateTrigger):
            where = ".".join(part for part in (trigger.scope, trigger.key) if part)
            lines.append(f"state {where}" if where else "state (any)")
        elif isinstance(trigger, StreamTrigger):
            where = "/".join(part for part in (trigger.stream_name, trigger.group_id, trigger.item_id) if part)
            lines.append(f"stream {where}")
        # Queue triggers need no line: the edge from their topic says it.
    return lines


# --- text renderers ---------------------------------------------------------------------------------

KIND_COLORS: dict[str, tuple[str, str]] = {
    # kind: (fill, stroke) - Workbench colours: API green, event blue, cron orange.
    "api": ("#dcfce7", "#16a34a"),
    "event": ("#dbeafe", "#2563eb"),
    "cron": ("#ffedd5", "#ea580c"),
    "state": ("#f3e8ff", "#9333ea"),
    "stream": ("#ccfbf1", "#0d9488"),
    "noop": ("#f1f5f9", "#64748b"),
    "topic": ("#fef9c3", "#a16207"),
}
VIRTUAL_COLOR = "#94a3b8"
CONDITIONAL_COLOR = "#d97706"


class _Ids:
    """Identifiers Mermaid accepts (`[A-Za-z0-9_]`), unique, derived from the node ids."""

    def __init__(self, graph: FlowGraph) -> None:
        self._ids: dict[str, str] = {}
        taken: set[str] = set()
        for node in graph.nodes():
            prefix = "step" if isinstance(node, StepNode) else "topic"
            raw = node.name if isinstance(node, StepNode) else node.topic
            base = prefix + "_" + "".join(c if c.isascii() and c.isalnum() else "_" for c in raw)
            candidate, n = base, 2
            while candidate in taken:
                candidate, n = f"{base}_{n}", n + 1
            taken.add(candidate)
            self._ids[node.id] = candidate

    def __getitem__(self, node_id: str) -> str:
        return self._ids[node_id]


def _mermaid_text(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("|", "#124;"))


def to_mermaid(graph: FlowGraph) -> str:
    """A Mermaid `flowchart LR`: one subgraph per flow (a step in several flows is drawn in its first),
    virtual edges dotted, conditional ones in amber."""
    ids = _Ids(graph)
    lines = ["flowchart LR"]
    for kind in (*STEP_KINDS, "topic"):
        fill, stroke = KIND_COLORS[kind]
        lines.append(f"  classDef {kind} fill:{fill},stroke:{stroke},color:#0f172a")

    def step_line(step: StepNode, indent: str) -> str:
        text = f"<b>{_mermaid_text(step.name)}</b>"
        kinds = " · ".join(k.upper() for k in step.kinds)
        text += f"<br/><small>{kinds}</small>"
        for detail in step.details:
            text += f"<br/>{_mermaid_text(detail)}"
        return f'{indent}{ids[step.id]}["{text}"]:::{step.kind}'

    placed: set[str] = set()
    for index, flow in enumerate(graph.flows):
        members = [s for s in graph.steps if s.flows and s.flows[0] == flow]
        if not members:
            continue
        lines.append(f'  subgraph flow_{index}["{_mermaid_text(flow)}"]')
        for step in members:
            lines.append(step_line(step, "    "))
            placed.add(step.id)
        lines.append("  end")
    for step in graph.steps:
        if step.id not in placed:
            lines.append(step_line(step, "  "))
    for topic in graph.topics:
        lines.append(f'  {ids[topic.id]}(["{_mermaid_text(topic.topic)}"]):::topic')
    styles = []
    for index, edge in enumerate(graph.edges):
        arrow = "-.->" if edge.virtual else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"  {ids[edge.source]} {arrow}{label} {ids[edge.target]}")
        if edge.conditional:
            styles.append(f"  linkStyle {index} stroke:{CONDITIONAL_COLOR},stroke-width:2px")
        elif edge.virtual:
            styles.append(f"  linkStyle {index} stroke:{VIRTUAL_COLOR}")
    return "\n".join(lines + styles) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(graph: FlowGraph) -> str:
    """A Graphviz digraph: clusters per flow, boxes for steps coloured by kind, ellipses for topics."""
    lines = [
        "digraph motia {",
        "  rankdir=LR;",
        '  graph [fontname="Helvetica", fontsize=12, nodesep=0.4, ranksep=0.9];',
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10, color="#475569"];',
    ]

    def step_line(step: StepNode, indent: str) -> str:
        fill, stroke = KIND_COLORS[step.kind]
        label = "\n".join([step.name, " · ".join(k.upper() for k in step.kinds), *step.details])
        return (f'{indent}"{_dot_text(step.id)}" [shape=box, style="rounded,filled", fillcolor="{fill}", '
                f'color="{stroke}", label="{_dot_text(label)}"];')

    placed: set[str] = set()
    for index, flow in enumerate(graph.flows):
        members = [s for s in graph.steps if s.flows and s.flows[0] == flow]
        if not members:
            continue
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f'    label="{_dot_text(flow)}"; style="rounded,dashed"; color="#94a3b8";')
        for step in members:
            lines.append(step_line(step, "    "))
            placed.add(step.id)
        lines.append("  }")
    for step in graph.steps:
        if step.id not in placed:
            lines.append(step_line(step, "  "))
    fill, stroke = KIND_COLORS["topic"]
    for topic in graph.topics:
        lines.append(f'  "{_dot_text(topic.id)}" [shape=ellipse, style=filled, fillcolor="{fill}", '
                     f'color="{stroke}", label="{_dot_text(topic.topic)}"];')
    for edge in graph.edges:
        attributes = []
        if edge.label:
            attributes.append(f'label="{_dot_text(edge.label)}"')
        if edge.virtual:
            attributes.append("style=dashed")
        if edge.conditional:
            attributes.append(f'color="{CONDITIONAL_COLOR}", penwidth=2')
        elif edge.virtual:
            attributes.append(f'color="{VIRTUAL_COLOR}"')
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f'  "{_dot_text(edge.source)}" -> "{_dot_text(edge.target)}"{suffix};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_json(graph: FlowGraph) -> str:
    return msgspec.json.format(msgspec.json.encode(graph)).decode() + "\n"


# --- layout -----------------------------------------------------------------------------------------

STEP_WIDTH = 200.0
TOPIC_WIDTH = 164.0
TOPIC_HEIGHT = 34.0
LAYER_GAP = {"LR": 80.0, "TB": 56.0}  # between layers
LABEL_CHAR_WIDTH = 6.5  # the page draws edge labels at 11px
LABEL_ROOM = 22.0  # clear of the nodes and the arrow head on both sides
NODE_GAP = 26.0  # between neighbours in a layer
DUMMY_SIZE = 10.0  # the lane a long edge takes through a layer it crosses
GRID_GAP = 24.0
# Left to right reads best while it fits a laptop screen; longer flows are laid out top to bottom.
AUTO_MAX_WIDTH = 1320.0

Direction = Literal["LR", "TB"]


def node_size(node: StepNode | TopicNode) -> tuple[float, float]:
    if isinstance(node, TopicNode):
        return TOPIC_WIDTH, TOPIC_HEIGHT
    return STEP_WIDTH, 46.0 + 17.0 * len(node.details)


class Box(msgspec.Struct, array_like=True):
    """A node's rectangle: top-left corner, width, height."""

    x: float
    y: float
    width: float
    height: float


class Layout(msgspec.Struct):
    direction: Direction
    width: float
    height: float
    boxes: dict[str, Box]
    # One polyline per edge of the graph (same order): where the edge leaves, bends and arrives.
    routes: list[list[tuple[float, float]]]


def layout(graph: FlowGraph, direction: Direction | Literal["auto"] = "auto", margin: float = 16.0) -> Layout:
    """A layered layout (Sugiyama-style: break cycles, layer by longest path, order layers by barycentres,
    place by least squares); steps without any edge go in a grid below. `auto` is left to right unless that
    is wider than AUTO_MAX_WIDTH, then top to bottom. Deterministic."""
    if direction == "auto":
        wide = _layout(graph, "LR", margin)
        return wide if wide.width <= AUTO_MAX_WIDTH else _layout(graph, "TB", margin)
    return _layout(graph, direction, margin)


def _layout(graph: FlowGraph, direction: Direction, margin: float) -> Layout:
    nodes = {n.id: n for n in graph.nodes()}
    order = list(nodes)
    connected = {e.source for e in graph.edges} | {e.target for e in graph.edges}
    linked = [n for n in order if n in connected]
    isolated = [n for n in order if n not in connected]

    def along(n: str) -> float:  # size along the layer axis
        width, height = node_size(nodes[n])
        return width if direction == "LR" else height

    dag = _acyclic([(e.source, e.target) for e in graph.edges], linked)
    layer = _layers(linked, dag)

    # Chains of dummy nodes for edges spanning several layers, so they get a lane of their own.
    layers: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for n in linked:
        layers[layer[n]].append(n)
    across = {n: node_size(nodes[n])[1 if direction == "LR" else 0] for n in linked}
    chains: list[list[str]] = []
    segments: list[tuple[str, str]] = []
    for index, (u, v, _) in enumerate(dag):
        chain = [u]
        for depth in range(layer[u] + 1, layer[v]):
            dummy = f"\x00{index}:{depth}"
            layers[depth].append(dummy)
            layer[dummy] = depth
            across[dummy] = DUMMY_SIZE
            chain.append(dummy)
        chain.append(v)
        chains.append(chain)
        segments.extend(itertools.pairwise(chain))
    preds: dict[str, list[str]] = {n: [] for layer_nodes in layers for n in layer_nodes}
    succs: dict[str, list[str]] = {n: [] for layer_nodes in layers for n in layer_nodes}
    for a, b in segments:
        succs[a].append(b)
        preds[b].append(a)

    layers = _order(layers, preds, succs)
    offsets = _place(layers, across, preds, succs)

    # Layer positions: each layer as deep as its largest node, gaps wide enough for the labels drawn in them.
    depths = [max((along(n) for n in col if n in nodes), default=0.0) for col in layers]
    gaps = [LAYER_GAP[direction]] * len(layers)
    if direction == "LR":
        for index, chain in enumerate(chains):
            label = graph.edges[index].label
            if label:  # the page puts it on the middle segment of the edge as drawn
                drawn = chain[::-1] if dag[index][2] else chain
                middle = (len(drawn) - 1) // 2
                where = min(layer[drawn[middle]], layer[drawn[middle + 1]])
                gaps[where] = max(gaps[where], LABEL_CHAR_WIDTH * len(label) + 2 * LABEL_ROOM)
    starts: list[float] = []
    position = margin
    for thickness, gap in zip(depths, gaps, strict=True):
        starts.append(position)
        position += thickness + gap

    low = min((offsets[n] - across[n] / 2 for n in offsets), default=0.0)
    boxes: dict[str, Box] = {}
    centers: dict[str, tuple[float, float]] = {}
    for index, col in enumerate(layers):
        for n in col:
            main, cross = starts[index] + depths[index] / 2, offsets[n] - low + margin
            centers[n] = (main, cross) if direction == "LR" else (cross, main)
            if n in nodes:
                w, h = node_size(nodes[n])
                cx, cy = centers[n]
                boxes[n] = Box(_r(cx - w / 2), _r(cy - h / 2), w, h)
    right = max([b.x + b.width for b in boxes.values()] + [x for x, _ in centers.values()], default=margin)
    bottom = max([b.y + b.height for b in boxes.values()] + [y for _, y in centers.values()], default=0.0)

    # The grid of steps nothing links to a topic: rows as wide as the graph above (at least a few columns).
    if isolated:
        fits = int((right - margin + GRID_GAP) // (STEP_WIDTH + GRID_GAP)) if boxes else 0
        columns = max(fits, min(len(isolated), 4))
        y = bottom + (2 * GRID_GAP if boxes else margin)
        row_height = 0.0
        for index, n in enumerate(isolated):
            if index and index % columns == 0:
                y += row_height + GRID_GAP
                row_height = 0.0
            w, h = node_size(nodes[n])
            gx = margin + (index % columns) * (STEP_WIDTH + GRID_GAP) + (STEP_WIDTH - w) / 2
            boxes[n] = Box(_r(gx), _r(y), w, h)
            row_height = max(row_height, h)
            right = max(right, gx + w)
        bottom = y + row_height

    routes = [_route(chains[i], reversed_, direction, boxes, centers) for i, (_, _, reversed_) in enumerate(dag)]
    return Layout(direction=direction, width=_r(right + margin), height=_r(bottom + margin), boxes=boxes,
                  routes=routes)


def _r(value: float) -> float:
    return round(value, 1)


def _acyclic(edges: list[tuple[str, str]], nodes: list[str]) -> list[tuple[str, str, bool]]:
    """The edges with those closing a cycle (found by a depth-first walk in node order) turned around."""
    out: dict[str, list[str]] = {n: [] for n in nodes}
    for u, v in edges:
        out[u].append(v)
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()
    for root in nodes:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(out[child])))
    return [(v, u, True) if (u, v) in back else (u, v, False) for u, v in edges]


def _layers(nodes: list[str], dag: list[tuple[str, str, bool]]) -> dict[str, int]:
    """Longest path from the sources, then each source pulled right next to its first successor."""
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for u, v, _ in dag:
        succs[u].append(v)
        preds[v].append(u)
    indegree = {n: len(preds[n]) for n in nodes}
    ready = [n for n in nodes if indegree[n] == 0]
    layer: dict[str, int] = {}
    while ready:
        n = ready.pop(0)
        layer[n] = max((layer[p] + 1 for p in preds[n]), default=0)
        for s in succs[n]:
            indegree[s] -= 1
            if indegree[s] == 0:
                ready.append(s)
    for n in nodes:
        if not preds[n] and succs[n]:
            layer[n] = min(layer[s] for s in succs[n]) - 1
    return layer


def _crossings(layers: list[list[str]], succs: dict[str, list[str]]) -> int:
    total = 0
    for upper, lower in itertools.pairwise(layers):
        position = {n: i for i, n in enumerate(lower)}
        pairs = [(i, position[s]) for i, n in enumerate(upper) for s in succs[n] if s in position]
        total += sum(1 for a, (i1, j1) in enumerate(pairs) for i2, j2 in pairs[a + 1:] if (i1 - i2) * (j1 - j2) < 0)
    return total


def _order(
    layers: list[list[str]], preds: dict[str, list[str]], succs: dict[str, list[str]], sweeps: int = 8
) -> list[list[str]]:
    """Reorder each layer by the mean position of its neighbours, sweeping both ways; keep the best."""
    best = [list(col) for col in layers]
    best_crossings = _crossings(best, succs)
    current = [list(col) for col in layers]
    for sweep in range(sweeps):
        downward = sweep % 2 == 0
        indices = range(1, len(current)) if downward else range(len(current) - 2, -1, -1)
        for depth in indices:
            neighbour_layer = current[depth - 1] if downward else current[depth + 1]
            position = {n: i for i, n in enumerate(neighbour_layer)}
            col = current[depth]
            neighbours = preds if downward else succs
            keys = []
            for i, n in enumerate(col):
                linked = [position[m] for m in neighbours[n] if m in position]
                keys.append((sum(linked) / len(linked) if linked else float(i), i))
            current[depth] = [col[i] for _, i in sorted(keys)]
        crossings = _crossings(current, succs)
        if crossings < best_crossings:
            best, best_crossings = [list(col) for col in current], crossings
    return best


def _place(
    layers: list[list[str]], sizes: dict[str, float], preds: dict[str, list[str]], succs: dict[str, list[str]]
) -> dict[str, float]:
    """Centres across the layers: each node as close as possible to the mean of its neighbours, in layer order,
    never closer to the next one than NODE_GAP (least squares under those constraints, solved exactly)."""
    centres: dict[str, float] = {}
    for col in layers:
        y = 0.0
        for n in col:
            centres[n] = y + sizes[n] / 2
            y += sizes[n] + NODE_GAP
    for sweep in range(6):
        downward = sweep % 2 == 0
        indices = range(1, len(layers)) if downward else range(len(layers) - 2, -1, -1)
        for depth in indices:
            col = layers[depth]
            wanted = []
            for n in col:
                linked = [centres[m] for m in (preds[n] if downward else succs[n])]
                wanted.append(sum(linked) / len(linked) if linked else centres[n])
            for n, y in zip(col, _fit(wanted, [sizes[n] for n in col]), strict=True):
                centres[n] = y
    return centres


def _fit(wanted: list[float], sizes: list[float]) -> list[float]:
    """Positions in the given order, each at least half-sizes plus NODE_GAP below the previous one,
    minimising the squared distance to `wanted` (pool-adjacent-violators on the shifted targets)."""
    offsets = [0.0]
    for previous, height in itertools.pairwise(sizes):
        offsets.append(offsets[-1] + previous / 2 + NODE_GAP + height / 2)
    blocks: list[list[float]] = []  # [mean, count]
    for target, offset in zip(wanted, offsets, strict=True):
        blocks.append([target - offset, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            blocks[-1][0] = (blocks[-1][0] * blocks[-1][1] + mean * count) / (blocks[-1][1] + count)
            blocks[-1][1] += count
    shifted = [mean for mean, count in blocks for _ in range(int(count))]
    return [value + offset for value, offset in zip(shifted, offsets, strict=True)]


def _route(
    chain: list[str], reversed_: bool, direction: Direction, boxes: dict[str, Box],
    centers: dict[str, tuple[float, float]],
) -> list[tuple[float, float]]:
    """From the source's outgoing side (right, or bottom top to bottom) to the target's incoming side, through
    the chain's dummies. An edge that closes a cycle runs backwards, out of the incoming side."""
    if reversed_:
        chain = chain[::-1]
    first, last = boxes[chain[0]], boxes[chain[-1]]
    start, end = _side(first, direction, not reversed_), _side(last, direction, reversed_)
    middle = [centers[n] for n in chain[1:-1]]
    return [(_r(x), _r(y)) for x, y in [start, *middle, end]]


def _side(box: Box, direction: Direction, outgoing: bool) -> tuple[float, float]:
    if direction == "LR":
        return (box.x + box.width if outgoing else box.x), box.y + box.height / 2
    return box.x + box.width / 2, (box.y + box.height if outgoing else box.y)


# --- the HTML page ----------------------------------------------------------------------------------


def page_data(graph: FlowGraph, title: str) -> dict[str, Any]:
    """What the page's script draws: the model, and one laid-out section per flow plus the whole app."""
    sections = []
    for index, (name, sub) in enumerate(graph.sections()):
        sections.append(_section(f"flow-{index}", name, "flow", graph, sub))
    if len(sections) > 1:
        sections.append(_section("all", "whole app", "all", graph, graph))
    return {
        "title": title,
        "steps": [msgspec.to_builtins(s) for s in graph.steps],
        "topics": [msgspec.to_builtins(t) for t in graph.topics],
        "edges": [msgspec.to_builtins(e) for e in graph.edges],
        "flows": graph.flows,
        "sections": sections,
    }


def _section(section_id: str, name: str, kind: str, graph: FlowGraph, sub: FlowGraph) -> dict[str, Any]:
    placed = layout(sub)
    edge_index = {id(edge): i for i, edge in enumerate(graph.edges)}
    return {
        "id": section_id,
        "name": name,
        "kind": kind,
        "direction": placed.direction,
        "width": placed.width,
        "height": placed.height,
        "boxes": {node_id: msgspec.to_builtins(box) for node_id, box in placed.boxes.items()},
        "routes": [[edge_index[id(edge)], route] for edge, route in zip(sub.edges, placed.routes, strict=True)],
    }


def to_html(graph: FlowGraph, title: str = "motia") -> str:
    """A single self-contained page (inline CSS and JS, no network) drawing the graph as SVG."""
    data = msgspec.json.encode(page_data(graph, title)).decode()
    # Inside <script>, "</" could end the element early; JSON allows the escaped slash.
    data = data.replace("</", "<\\/")
    values = {
        "TITLE": title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        "CSS": _asset("page.css"),
        "JS": _asset("page.js"),
        "DATA": data,
    }
    # One pass, so a placeholder-like text inside a value is never substituted again.
    return re.sub(r"__(TITLE|CSS|JS|DATA)__", lambda m: values[m.group(1)], _asset("page.html"))


@functools.cache
def _asset(name: str) -> str:
    return resources.files("motia").joinpath("graph_assets").joinpath(name).read_text(encoding="utf-8")
