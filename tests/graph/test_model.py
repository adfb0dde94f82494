"""The flow graph model: which nodes and edges a registry gives, as the Workbench flow view draws them."""

from __future__ import annotations

import textwrap

import pytest

from motia.discovery import discover
from motia.graph import NO_FLOW, Edge, FlowGraph, build_graph
from tests.conftest import ROOT, registry_of
from tests.graph.shop import HANDLERS

# Every example app (a directory of examples/ with a steps/ directory).
EXAMPLES = sorted(p.name for p in (ROOT / "examples").iterdir() if (p / "steps").is_dir())


def example(name: str) -> FlowGraph:
    return build_graph(discover(ROOT / "examples" / name))


def shop() -> FlowGraph:
    return build_graph(registry_of(*HANDLERS))


def edges(graph: FlowGraph) -> set[tuple[str, str, str]]:
    return {(e.source, e.kind, e.target) for e in graph.edges}


def edge(graph: FlowGraph, source: str, target: str) -> Edge:
    (found,) = [e for e in graph.edges if e.source == source and e.target == target]
    return found


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_step_and_every_topic_of_an_example_is_a_node(name):
    registry = discover(ROOT / "examples" / name)
    graph = build_graph(registry)
    assert [s.name for s in graph.steps] == [s.name for s in registry]
    topics = {e.topic for s in registry for e in [*s.emits, *s.virtual_emits]}
    topics |= {t.topic for s in registry for t in s.triggers if hasattr(t, "topic")}
    topics |= {t for s in registry for t in s.virtual_subscribes}
    assert {t.topic for t in graph.topics if t.kind == "topic"} == topics


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_edge_joins_a_step_and_a_topic_of_the_graph(name):
    graph = example(name)
    steps = {s.id for s in graph.steps}
    topics = {t.id for t in graph.topics}
    for e in graph.edges:
        if e.kind == "emit":
            assert e.source in steps and e.target in topics
        else:
            assert e.source in topics and e.target in steps


def test_emits_go_from_step_to_topic_and_subscriptions_from_topic_to_step():
    assert {e for e in edges(example("orders")) if "topic:" in e[0] + e[2]} == {
        ("step:place_order", "emit", "topic:order.placed"),
        ("topic:order.placed", "subscribe", "step:charge_payment"),
        ("topic:order.placed", "subscribe", "step:alert_big_order"),
        ("step:charge_payment", "emit", "topic:order.paid"),
        ("topic:order.paid", "subscribe", "step:ship_order"),
    }


def test_steps_are_typed_by_their_trigger_kinds():
    kinds = {s.name: s.kinds for s in shop().steps}
    assert kinds["checkout"] == ["api"]
    assert kinds["reserve_stock"] == ["event"]
    assert kinds["hourly"] == ["cron"]
    assert kinds["audit_orders"] == ["state"]
    assert kinds["a_step_with_a_rather_long_name_that_cannot_fit_in_its_box"] == ["stream"]
    assert kinds["ManualReview"] == ["noop"]


def test_a_multi_trigger_step_has_every_kind_its_triggers_give_in_order():
    (ship,) = [s for s in example("orders").steps if s.name == "ship_order"]
    assert ship.kinds == ["api", "event"]
    assert ship.kind == "api"


def test_api_nodes_show_method_and_path_and_cron_nodes_their_expression():
    details = {s.name: s.details for s in example("orders").steps}
    assert details["place_order"] == ["POST /orders"]
    assert details["ship_order"] == ["POST /orders/:id/ship"]
    assert details["order_report"] == ["cron */5 * * * * *"]
    assert details["charge_payment"] == []  # its topic edge says it


def test_state_and_stream_nodes_show_what_they_watch():
    details = {s.name: s.details for s in shop().steps}
    assert details["audit_orders"] == ["state orders"]
    assert details["a_step_with_a_rather_long_name_that_cannot_fit_in_its_box"] == ["stream carts/active"]


def test_streams_and_state_groups_are_nodes_between_the_steps_that_write_and_watch_them(tmp_path):
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "todos_step.py").write_text(textwrap.dedent("""
        from motia import Stream, api, on_state, on_stream

        todos = Stream("todos")


        @api("POST", "/todos")
        async def create_todo(req, ctx):
            await ctx.state.set("todos", "t1", req.body)
            await todos.set("inbox", "t1", req.body)
            await ctx.streams["audit"].set("all", "t1", {})
            return {}


        @on_stream("todos")
        async def count_todos(event, ctx):
            await ctx.state.update("counters", "todos", [])


        @on_state(scope="todos")
        async def audit_todo(change, ctx):
            pass
    """))
    graph = build_graph(discover(tmp_path))
    assert [(t.id, t.kind, t.topic) for t in graph.topics] == [
        ("state:todos", "state", "todos"), ("stream:todos", "stream", "todos"), ("stream:audit", "stream", "audit"),
        ("state:counters", "state", "counters")]
    assert edges(graph) == {
        ("step:create_todo", "emit", "state:todos"), ("step:create_todo", "emit", "stream:todos"),
        ("step:create_todo", "emit", "stream:audit"), ("stream:todos", "subscribe", "step:count_todos"),
        ("step:count_todos", "emit", "state:counters"), ("state:todos", "subscribe", "step:audit_todo")}


def test_emit_labels_and_the_conditional_flag_are_kept_on_the_edge():
    graph = shop()
    valid = edge(graph, "step:checkout", "topic:cart.checked_out")
    invalid = edge(graph, "step:checkout", "topic:cart.rejected")
    assert (valid.label, valid.conditional) == ("valid cart", False)
    assert (invalid.label, invalid.conditional) == ("invalid", True)


def test_virtual_emits_and_subscribes_are_virtual_edges():
    graph = shop()
    assert edge(graph, "topic:cart.rejected", "step:ManualReview").virtual
    assert edge(graph, "step:ManualReview", "topic:cart.checked_out").virtual
    assert not edge(graph, "step:checkout", "topic:cart.checked_out").virtual
    seed = example("seed")
    viewed = edge(seed, "step:GetUser", "topic:user.viewed")
    assert (viewed.kind, viewed.virtual) == ("emit", True)


def test_a_subscription_with_a_condition_is_a_conditional_edge_named_after_it():
    business = edge(shop(), "topic:report.due", "step:build_report")
    assert business.conditional and business.label == "if is_business_hours"
    big = edge(example("orders"), "topic:order.placed", "step:alert_big_order")
    assert big.conditional and big.label is None  # a lambda has no name worth showing


def test_topics_know_who_emits_and_who_subscribes():
    topics = {t.topic: t for t in shop().topics}
    assert topics["payment.requested"].emitters == ["reserve_stock", "retry_payment"]
    assert topics["payment.requested"].subscribers == ["charge"]
    assert topics["cart.rejected"].subscribers == ["notify_customer", "ManualReview"]
    assert topics["order.changed"].subscribers == []


def test_flows_are_listed_in_order_of_first_appearance():
    assert shop().flows == ["checkout", "payments", "reports"]
    assert example("seed").flows == ["users", "hello"]  # create_user.step.py is the first file


def test_sections_group_steps_by_flow_and_end_with_the_steps_in_none():
    sections = shop().sections()
    assert [name for name, _ in sections] == ["checkout", "payments", "reports", NO_FLOW]
    by_name = dict(sections)
    assert [s.name for s in by_name["reports"].steps] == ["hourly", "build_report"]
    assert [t.topic for t in by_name["reports"].topics] == ["report.due"]
    assert {s.name for s in by_name[NO_FLOW].steps} == {
        "audit_orders", "a_step_with_a_rather_long_name_that_cannot_fit_in_its_box"}


def test_a_step_in_two_flows_is_drawn_in_both():
    by_name = dict(shop().sections())
    assert "charge" in [s.name for s in by_name["checkout"].steps]
    assert "charge" in [s.name for s in by_name["payments"].steps]


def test_without_any_flow_there_is_one_section_of_everything():
    from motia import api

    @api("GET", "/a")
    async def a(req):
        pass

    graph = build_graph(registry_of(a))
    assert [(name, sub) for name, sub in graph.sections()] == [("all steps", graph)]


def test_the_same_steps_give_the_same_graph():
    assert example("orders") == example("orders")
    assert shop() == shop()


def test_locations_are_relative_to_the_project_root_when_one_is_given():
    root = ROOT / "examples" / "orders"
    registry = discover(root)
    (place,) = [s for s in build_graph(registry, root=root).steps if s.name == "place_order"]
    assert place.location is not None and place.location.startswith("steps/orders_step.py:")
    (absolute,) = [s for s in build_graph(registry).steps if s.name == "place_order"]
    assert absolute.location == str(registry.get("place_order").source)  # type: ignore[union-attr]
