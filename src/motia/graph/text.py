"""The graph as text: Mermaid (`to_mermaid`), Graphviz (`to_dot`) and JSON (`to_json`)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from .model import STEP_KINDS, FlowGraph, StepNode

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
            prefix = "step" if isinstance(node, StepNode) else node.kind
            raw = node.name if isinstance(node, StepNode) else node.topic
            base = prefix + "_" + "".join(c if c.isascii() and c.isalnum() else "_" for c in raw)
            candidate, n = base, 2
            while candidate in taken:
                candidate, n = f"{base}_{n}", n + 1
            taken.add(candidate)
            self._ids[node.id] = candidate

    def __getitem__(self, node_id: str) -> str:
        return self._ids[node_id]


def _steps_by_flow(
    graph: FlowGraph, step_line: Callable[[StepNode, str], str], opening: Callable[[int, str], list[str]],
    closing: str,
) -> list[str]:
    """One block per flow (`opening(index, flow)` ... `closing`) holding the steps whose first flow it is, then the
    steps in no flow."""
    lines: list[str] = []
    placed: set[str] = set()
    for index, flow in enumerate(graph.flows):
        members = [s for s in graph.steps if s.flows and s.flows[0] == flow]
        if not members:
            continue
        lines += opening(index, flow)
        for step in members:
            lines.append(step_line(step, "    "))
            placed.add(step.id)
        lines.append(closing)
    lines += [step_line(step, "  ") for step in graph.steps if step.id not in placed]
    return lines


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

    lines += _steps_by_flow(graph, step_line, lambda index, flow: [
        f'  subgraph flow_{index}["{_mermaid_text(flow)}"]'], "  end")
    for topic in graph.topics:  # topics are stadiums; streams and state groups, cylinders in their kind's colour
        shape = '(["{}"])' if topic.kind == "topic" else '[("{}")]'
        lines.append(f"  {ids[topic.id]}{shape.format(_mermaid_text(topic.label))}:::{topic.kind}")
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
    """A Graphviz digraph: clusters per flow, boxes for steps coloured by kind, ellipses for topics, cylinders for
    streams and state groups."""
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

    lines += _steps_by_flow(graph, step_line, lambda index, flow: [
        f"  subgraph cluster_{index} {{", f'    label="{_dot_text(flow)}"; style="rounded,dashed"; color="#94a3b8";'],
        "  }")
    for topic in graph.topics:
        fill, stroke = KIND_COLORS[topic.kind]
        shape = "ellipse" if topic.kind == "topic" else "cylinder"
        lines.append(f'  "{_dot_text(topic.id)}" [shape={shape}, style=filled, fillcolor="{fill}", '
                     f'color="{stroke}", label="{_dot_text(topic.label)}"];')
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
