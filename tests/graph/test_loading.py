"""The graph package is loaded when a graph is asked for, not on every app start."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT

SCRIPT = textwrap.dedent("""
    import sys

    import httpx

    from motia import Registry, api
    from motia.dsl import step_of
    from motia.assembly import ServedApp

    @api("GET", "/hello")
    async def hello(req):
        return {"hello": "world"}

    with ServedApp(Registry([step_of(hello)]), stream_port=None) as served:
        assert httpx.get(served.url + "/hello").status_code == 200
        print("after a request:", "motia.graph" in sys.modules)
        assert httpx.get(served.url + "/__motia/graph", params={"format": "mermaid"}).status_code == 200
        print("after the graph:", "motia.graph" in sys.modules)
""")


def test_a_served_app_imports_the_graph_package_on_the_first_graph_request_only():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["after a request: False", "after the graph: True"]
