"""The graph as one self-contained HTML page (inline CSS and JS from `assets/`, no network) drawing SVG.

The layout is computed here (`layout`), the page's script only draws it.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import msgspec

from .layout import layout
from .model import FlowGraph


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
    return resources.files(__package__).joinpath("assets").joinpath(name).read_text(encoding="utf-8")
