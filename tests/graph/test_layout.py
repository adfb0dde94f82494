"""The layered layout the HTML page draws: nothing overlaps, edges run forward, long flows go top to bottom."""

from __future__ import annotations

import itertools

import pytest

from motia.discovery import discover
from motia.graph import AUTO_MAX_WIDTH, LABEL_CHAR_WIDTH, Box, FlowGraph, build_graph, layout
from tests.conftest import ROOT, registry_of
from tests.graph.shop import HANDLERS
from tests.graph.test_model import EXAMPLES


def shop() -> FlowGraph:
    return build_graph(registry_of(*HANDLERS))


def graphs() -> list[tuple[str, FlowGraph]]:
    """Every section of the examples and of the shop, and the shop as a whole."""
    found = [("shop", shop())]
    for name in EXAMPLES:
        found.append((name, build_graph(discover(ROOT / "examples" / name))))
    return found + [(f"{name}/{section}", sub) for name, graph in found for section, sub in graph.sections()]


ALL = graphs()


def overlap(a: Box, b: Box) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


@pytest.mark.parametrize(("name", "graph"), ALL, ids=[name for name, _ in ALL])
@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_every_node_gets_a_box_and_no_two_boxes_overlap(name, graph, direction):
    placed = layout(graph, direction)
    assert set(placed.boxes) == {n.id for n in graph.nodes()}
    for (a, box_a), (b, box_b) in itertools.combinations(placed.boxes.items(), 2):
        assert not overlap(box_a, box_b), (a, b)
    for box in placed.boxes.values():
        assert box.x >= 0 and box.x + box.width <= placed.width
        assert box.y >= 0 and box.y + box.height <= placed.height


@pytest.mark.parametrize(("name", "graph"), ALL, ids=[name for name, _ in ALL])
def test_every_edge_runs_from_its_source_to_its_target_inside_the_drawing(name, graph):
    placed = layout(graph, "LR")
    assert len(placed.routes) == len(graph.edges)
    for edge, route in zip(graph.edges, placed.routes, strict=True):
        source, target = placed.boxes[edge.source], placed.boxes[edge.target]
        (sx, sy), (tx, ty) = route[0], route[-1]
        assert sx in (source.x, source.x + source.width) and sy == pytest.approx(source.y + source.height / 2, abs=0.1)
        assert tx in (target.x, target.x + target.width) and ty == pytest.approx(target.y + target.height / 2, abs=0.1)
        for x, y in route:
            assert 0 <= x <= placed.width and 0 <= y <= placed.height


def test_edges_run_left_to_right_except_the_one_closing_a_cycle():
    graph = shop()
    placed = layout(graph, "LR")
    backwards = []
    for edge, route in zip(graph.edges, placed.routes, strict=True):
        xs = [x for x, _ in route]
        if xs != sorted(xs):
            backwards.append((edge.source, edge.target))
    # payment.requested -> charge -> payment.failed -> retry_payment -> payment.requested is a cycle:
    # exactly one of its edges has to run backwards.
    assert len(backwards) == 1
    assert backwards[0] in {("step:retry_payment", "topic:payment.requested"),
                            ("topic:payment.requested", "step:charge")}


def test_top_to_bottom_edges_leave_from_the_bottom_and_enter_from_the_top():
    graph = build_graph(discover(ROOT / "examples" / "orders"))
    placed = layout(graph, "TB")
    for edge, route in zip(graph.edges, placed.routes, strict=True):
        source, target = placed.boxes[edge.source], placed.boxes[edge.target]
        assert route[0] == (pytest.approx(source.x + source.width / 2, abs=0.1), source.y + source.height)
        assert route[-1] == (pytest.approx(target.x + target.width / 2, abs=0.1), target.y)


def test_a_flow_that_fits_the_screen_reads_left_to_right_and_a_long_one_top_to_bottom():
    seed = build_graph(discover(ROOT / "examples" / "seed"))
    assert layout(seed).direction == "LR"
    assert layout(seed).width <= AUTO_MAX_WIDTH
    checkout = dict(shop().sections())["checkout"]
    assert layout(checkout, "LR").width > AUTO_MAX_WIDTH
    assert layout(checkout).direction == "TB"


def test_steps_without_edges_sit_in_a_grid_below_the_flow():
    graph = build_graph(discover(ROOT / "examples" / "orders"))
    placed = layout(graph)
    linked = {e.source for e in graph.edges} | {e.target for e in graph.edges}
    flow_bottom = max(b.y + b.height for n, b in placed.boxes.items() if n in linked)
    loose = [b for n, b in placed.boxes.items() if n not in linked]
    assert len(loose) == 3  # get_order, list_alerts, latest_report (order_report writes the reports state group)
    assert all(b.y > flow_bottom for b in loose)
    assert len({b.y for b in loose}) == 1  # one row: the flow above is wide enough


def test_a_labelled_edge_gets_a_gap_wide_enough_for_its_label():
    graph = dict(shop().sections())["reports"]
    placed = layout(graph, "LR")
    topic, step = placed.boxes["topic:report.due"], placed.boxes["step:build_report"]
    assert step.x - (topic.x + topic.width) >= LABEL_CHAR_WIDTH * len("if is_business_hours")


def test_the_layout_is_the_same_every_time():
    assert layout(shop()) == layout(shop())
    assert layout(shop(), "TB") == layout(shop(), "TB")


def test_an_empty_graph_has_an_empty_layout():
    placed = layout(FlowGraph(steps=[], topics=[], edges=[], flows=[]))
    assert placed.boxes == {} and placed.routes == []
