"""The composition root (`motia.assembly`): the console and the recording are loaded only when they are on, and
every route of the app's own (health, operator routes, pages) is served whichever part of the app it comes from."""

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

    on = sys.argv[1] == "on"
    with ServedApp(Registry([step_of(hello)]), stream_port=None, console=on, record=on) as served:
        paths = ["/hello", "/__motia/health", "/openapi.json", "/__motia/graph", "/docs", "/__motia/",
                 "/__motia/api/traces"]
        print(*[httpx.get(served.url + path).status_code for path in paths])
        print(sorted(name for name in ("motia.console", "motia.recording") if name in sys.modules))
""")


def run(mode: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_an_app_without_console_or_recording_never_imports_them():
    assert run("off") == ["200 200 200 200 200 404 404", "[]"]


def test_an_app_with_console_and_recording_serves_their_routes_beside_the_others():
    assert run("on") == ["200 200 200 200 200 200 200", "['motia.console', 'motia.recording']"]
