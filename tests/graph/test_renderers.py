"""Mermaid, Graphviz DOT, JSON and the HTML page, as text: what each says about steps, topics and edges."""

from __future__ import annotations

import json
import re

import msgspec

from motia import Emit, api, on
from motia.discovery import discover
from motia.graph import FlowGraph, build_graph, page_data, to_dot, to_html, to_json, to_mermaid
from tests.conftest import ROOT, registry_of
from tests.graph.shop import HANDLERS


def shop() -> FlowGraph:
    return build_graph(registry_of(*HANDLERS))


def orders() -> FlowGraph:
    return build_graph(discover(ROOT / "examples" / "orders"))


# --- Mermaid ---------------------------------------------------------------------------------------


def test_mermaid_is_a_left_to_right_flowchart_with_a_subgraph_per_flow():
    text = to_mermaid(shop())
    assert text.startswith("flowchart LR\n")
    assert '  subgraph flow_0["checkout"]' in text
    assert '  subgraph flow_2["reports"]' in text
    assert text.count("\n  end\n") == 3


def test_mermaid_draws_steps_as_boxes_classed_by_kind_and_topics_as_stadiums():
    text = to_mermaid(orders())
    assert '    step_place_order["<b>place_order</b><br/><small>API</small><br/>POST /orders"]:::api' in text
    assert ('    step_ship_order["<b>ship_order</b><br/><small>API · EVENT</small><br/>POST /orders/:id/ship"]'
            ":::api") in text
    assert '    step_order_report["<b>order_report</b><br/><small>CRON</small><br/>cron */5 * * * * *"]:::cron' in text
    assert '  topic_order_placed(["order.placed"]):::topic' in text
    for kind in ("api", "event", "cron", "state", "stream", "noop", "topic"):
        assert f"  classDef {kind} " in text


def test_mermaid_edges_solid_dotted_when_virtual_labelled_and_amber_when_conditional():
    text = to_mermaid(shop())
    lines = text.splitlines()
    edge_lines = [line.strip() for line in lines if "-->" in line or "-.->" in line]
    assert edge_lines[:2] == [
        'step_checkout -->|"valid cart"| topic_cart_checked_out',
        'step_checkout -->|"invalid"| topic_cart_rejected',
    ]
    assert "topic_cart_rejected -.-> step_ManualReview" in edge_lines
    assert "step_ManualReview -.-> topic_cart_checked_out" in edge_lines
    # linkStyle counts edges in declaration order: the second one is conditional.
    assert "  linkStyle 1 stroke:#d97706,stroke-width:2px" in lines
    virtual = edge_lines.index("topic_cart_rejected -.-> step_ManualReview")
    assert f"  linkStyle {virtual} stroke:#94a3b8" in lines


def test_mermaid_escapes_what_would_break_its_syntax():
    @api("GET", "/x", name='say "hi" <now>', emits=[Emit("a|b", label='"quoted"')])
    async def odd(req):
        pass

    text = to_mermaid(build_graph(registry_of(odd)))
    assert "say #quot;hi#quot; #lt;now#gt;" in text
    assert '-->|"#quot;quoted#quot;"|' in text
    assert '(["a#124;b"])' in text
    assert "step_say__hi___now_" in text  # ids keep to [A-Za-z0-9_]


def test_mermaid_ids_stay_unique_when_names_differ_only_in_punctuation():
    @on("a.b")
    async def first(data):
        pass

    @api("GET", "/y", emits=["a-b"])
    async def second(req):
        pass

    text = to_mermaid(build_graph(registry_of(first, second)))
    assert "topic_a_b([" in text and "topic_a_b_2([" in text


# --- DOT -------------------------------------------------------------------------------------------


def test_dot_is_a_digraph_with_clusters_per_flow_and_styled_edges():
    text = to_dot(shop())
    assert text.startswith("digraph motia {\n  rankdir=LR;\n")
    assert text.rstrip().endswith("}")
    assert "  subgraph cluster_0 {\n    label=\"checkout\";" in text
    assert ('    "step:checkout" [shape=box, style="rounded,filled", fillcolor="#dcfce7", color="#16a34a", '
            'label="checkout\\nAPI\\nPOST /checkout"];') in text
    assert '  "topic:report.due" [shape=ellipse' in text
    assert '  "step:checkout" -> "topic:cart.checked_out" [label="valid cart"];' in text
    assert '  "step:checkout" -> "topic:cart.rejected" [label="invalid", color="#d97706", penwidth=2];' in text
    assert '  "topic:cart.rejected" -> "step:ManualReview" [style=dashed, color="#94a3b8"];' in text
    assert '  "topic:cart.checked_out" -> "step:reserve_stock";' in text


def test_dot_braces_and_quotes_balance():
    text = to_dot(shop())
    assert text.count("{") == text.count("}")
    for line in text.splitlines():
        assert len(re.findall(r'(?<!\\)"', line)) % 2 == 0, line


# --- JSON ------------------------------------------------------------------------------------------


def test_json_round_trips_into_the_model():
    graph = shop()
    assert msgspec.json.decode(to_json(graph), type=FlowGraph) == graph


# --- HTML ------------------------------------------------------------------------------------------


def embedded_data(page: str) -> dict:
    found = re.search(r'<script id="graph-data" type="application/json">(.*?)</script>', page, re.S)
    assert found
    return json.loads(found.group(1))


def test_the_page_is_self_contained():
    page = to_html(orders(), "orders")
    assert page.startswith("<!doctype html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(http" not in page
    assert "default-src 'none'" in page  # the browser itself refuses any request the page might make
    assert "<style>" in page and "<script>" in page


def test_the_page_carries_the_graph_and_its_layout():
    data = embedded_data(to_html(shop(), "shop"))
    assert data == json.loads(json.dumps(page_data(shop(), "shop")))
    assert [s["name"] for s in data["sections"]] == ["checkout", "payments", "reports", "(no flow)", "whole app"]
    whole = data["sections"][-1]
    assert set(whole["boxes"]) == {s["id"] for s in data["steps"]} | {t["id"] for t in data["topics"]}
    assert sorted(index for index, _ in whole["routes"]) == list(range(len(data["edges"])))


def test_text_in_the_page_cannot_close_its_script_element():
    @api("GET", "/z", description="</script><script>alert(1)</script>")
    async def sneaky(req):
        pass

    page = to_html(build_graph(registry_of(sneaky)), "<b>title</b>")
    assert "</script><script>alert(1)" not in page
    assert "&lt;b&gt;title&lt;/b&gt;" in page
    assert embedded_data(page)["steps"][0]["description"] == "</script><script>alert(1)</script>"


def test_the_page_is_the_same_every_time():
    assert to_html(orders(), "orders") == to_html(orders(), "orders")
    assert to_mermaid(shop()) == to_mermaid(shop())
    assert to_dot(shop()) == to_dot(shop())
