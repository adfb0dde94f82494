"""`motia graph` as a user runs it, and the page `motia run` serves at /__motia/graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from motia import api, on
from tests.conftest import ROOT

ORDERS = ROOT / "examples" / "orders"


def motia(*args: str, cwd: Path = ORDERS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "motia.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_graph_prints_mermaid_by_default():
    result = motia("graph")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("flowchart LR\n")
    assert "step_place_order --> topic_order_placed" in result.stdout


def test_graph_prints_dot_and_json_on_request():
    dot = motia("graph", "--format", "dot")
    assert dot.returncode == 0 and dot.stdout.startswith("digraph motia {")
    as_json = motia("graph", "-f", "json")
    assert as_json.returncode == 0 and '"topic": "order.placed"' in as_json.stdout


def test_graph_writes_the_html_page_to_a_file(tmp_path):
    target = tmp_path / "graph.html"
    result = motia("graph", "--format", "html", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert f"wrote {target} (8 steps, 2 topics, 3 state groups)" in result.stderr
    page = target.read_text()
    assert page.startswith("<!doctype html>") and "place_order" in page
    assert "<title>orders · flow graph</title>" in page  # named after the project directory


def test_graph_reads_another_steps_directory(tmp_path):
    result = motia("graph", "--dir", str(ROOT / "examples" / "seed" / "steps"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "step_GetUser -.-> topic_user_viewed" in result.stdout


def test_graph_refuses_an_unknown_format():
    result = motia("graph", "--format", "svg")
    assert result.returncode == 2
    assert "unknown format 'svg'; use one of mermaid, dot, json, html" in result.stderr


def test_graph_reports_a_broken_step_file_with_its_location(tmp_path):
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "bad_step.py").write_text("from motia import api\n\n@api('GET', '/x'\n")
    result = motia("graph", cwd=tmp_path)
    assert result.returncode == 1
    assert "bad_step.py" in result.stderr


# --- GET /__motia/graph ----------------------------------------------------------------------------


@api("POST", "/things", emits=["thing.made"], flows=["things"])
async def make_thing(req):
    return {}


@on("thing.made", flows=["things"])
async def count_thing(thing):
    pass


def test_the_running_app_serves_the_page(serve):
    client = serve(make_thing, count_thing)
    response = client.get("/__motia/graph")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert 'data-step="make_thing"' not in response.text  # drawn by the page's script, from its data
    assert '"name":"make_thing"' in response.text and '"topic":"thing.made"' in response.text


def test_the_running_app_serves_the_text_forms_too(serve):
    client = serve(make_thing, count_thing)
    mermaid = client.get("/__motia/graph", params={"format": "mermaid"})
    assert mermaid.status_code == 200 and "step_make_thing --> topic_thing_made" in mermaid.text
    dot = client.get("/__motia/graph", params={"format": "dot"})
    assert dot.headers["content-type"].startswith("text/vnd.graphviz") and dot.text.startswith("digraph")
    assert client.get("/__motia/graph", params={"format": "json"}).json()["steps"][0]["name"] == "make_thing"
    wrong = client.get("/__motia/graph", params={"format": "png"})
    assert wrong.status_code == 400 and "use one of html, mermaid, dot, json" in wrong.text


def test_the_page_is_not_served_where_the_operator_routes_are_not(serve):
    client = serve(make_thing, count_thing, admin=False)
    assert client.get("/__motia/graph").status_code == 404
