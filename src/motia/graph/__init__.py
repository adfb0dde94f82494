"""The flow graph of an app (`motia graph`, `GET /__motia/graph`): the model, its text forms, a layout and a page.

`build_graph(registry)` makes the model (`model`); `to_mermaid`, `to_dot`, `to_json` (`text`) and `to_html`
(`page`, laid out by `layout`) render it. Imported only when a graph is asked for, never on a plain `motia run`.
"""

from .layout import AUTO_MAX_WIDTH, LABEL_CHAR_WIDTH, Box, Direction, Layout, layout, node_size
from .model import (
    NO_FLOW,
    STEP_KINDS,
    Edge,
    EdgeKind,
    FlowGraph,
    StepKind,
    StepNode,
    TopicNode,
    build_graph,
    step_id,
    topic_id,
)
from .page import page_data, to_html
from .text import KIND_COLORS, to_dot, to_json, to_mermaid

FORMATS = ("mermaid", "dot", "json", "html")


def render(graph: FlowGraph, fmt: str, title: str = "motia") -> str:
    """The graph in one of FORMATS (`title` names the HTML page)."""
    if fmt == "html":
        return to_html(graph, title)
    renderers = {"mermaid": to_mermaid, "dot": to_dot, "json": to_json}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return renderers[fmt](graph)

__all__ = [
    "AUTO_MAX_WIDTH",
    "FORMATS",
    "KIND_COLORS",
    "LABEL_CHAR_WIDTH",
    "NO_FLOW",
    "STEP_KINDS",
    "Box",
    "Direction",
    "Edge",
    "EdgeKind",
    "FlowGraph",
    "Layout",
    "StepKind",
    "StepNode",
    "TopicNode",
    "build_graph",
    "layout",
    "node_size",
    "page_data",
    "render",
    "step_id",
    "to_dot",
    "to_html",
    "to_json",
    "to_mermaid",
    "topic_id",
]
