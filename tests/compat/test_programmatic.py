"""`Motia`, `get_instance`, `init_iii`, `setup_step_endpoint`, `generate_step_id`: official motia 1.0's
programmatic API, run on this runtime."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import motia
from motia import ApiResponse, Motia, StreamConfig
from motia.errors import StepError
from motia.testing import TestApp

pytestmark = pytest.mark.anyio


async def echo(request: Any, ctx: Any) -> ApiResponse[Any]:
    return ApiResponse(status=200, body={"step": ctx.step, "body": request.body})


async def test_add_step_takes_a_definition_or_a_config_and_handler_and_the_app_serves_them():
    app = Motia()
    app.add_step(motia.step({"name": "Def", "triggers": [motia.http("POST", "/def")]}, echo), "steps/def_step.py")
    app.add_step({"name": "Pair", "triggers": [motia.http("POST", "/pair")]}, "steps/pair_step.py", echo)
    with pytest.raises(ValueError, match="handler is required"):
        app.add_step({"name": "None", "triggers": []}, "steps/none_step.py")
    with pytest.raises(StepError) as error:
        app.add_step({"name": "Bad", "triggers": [{"type": "webhook"}]}, "steps/bad_step.py", echo)
    assert error.value.location == "steps/bad_step.py:1"
    async with TestApp(app.registry) as served:
        assert (await served.http.post("/def", json=1)).json() == {"step": "Def", "body": 1}
        assert (await served.http.post("/pair", json=2)).json() == {"step": "Pair", "body": 2}


async def test_add_stream_declares_a_stream_with_its_hooks():
    app = Motia()
    joined: list[str] = []
    todos = app.add_stream(StreamConfig(name="todos", schema={"type": "object"},
                                        on_join=lambda sub, ctx, auth: joined.append(sub.group_id)),
                           "steps/todos_stream.py")
    assert (todos.name, app.registry.streams["todos"] is todos, app.streams["todos"] is todos) == ("todos", True, True)
    app.set_authenticate(lambda request, ctx: True)
    assert app.registry.stream_auth is not None


def test_get_instance_is_the_process_motia_and_init_iii_makes_a_fresh_one():
    first = motia.get_instance()
    assert motia.get_instance() is first and isinstance(first, Motia)
    fresh = motia.init_iii()
    assert fresh is motia.get_instance() and fresh is not first and fresh.otel_config is None


def test_generate_step_id_is_official_motias_uuid5_of_the_path():
    # The id official motia (and its JS twin) gives steps/hello_step.py: tools link to steps by it.
    assert motia.generate_step_id("steps/hello_step.py") == "e993e42c-cd09-5661-a1ae-7b5a7d386c90"
    assert motia.generate_step_id("steps/a_step.py") != motia.generate_step_id("steps/b_step.py")


async def test_step_endpoint_serves_step_sources_to_loopback_clients_only(tmp_path: Path):
    steps = tmp_path / "steps"
    steps.mkdir()
    (steps / "hello_step.py").write_text("config = {}\n")
    app = Motia()
    app.add_step({"name": "Echo", "triggers": [motia.http("POST", "/echo")]}, "steps/echo_step.py", echo)
    files = motia.setup_step_endpoint(app, root=tmp_path)
    step_id = motia.generate_step_id("steps/hello_step.py")
    assert files == {step_id: str((steps / "hello_step.py").resolve())}
    async with TestApp(app.registry) as served:
        found = await served.http.get(f"/__motia/step/{step_id}")
        assert found.json() == {"id": step_id, "content": "config = {}\n", "features": []}
        assert (await served.http.get("/__motia/step/unknown")).status_code == 404
        remote = httpx.ASGITransport(app=served._app.http, client=("203.0.113.9", 40000))
        # A loopback Host (the operator routes' own check passes), from a client address that is not loopback.
        async with httpx.AsyncClient(transport=remote, base_url="http://127.0.0.1") as outsider:
            refused = await outsider.get(f"/__motia/step/{step_id}")
        assert refused.status_code == 403
        assert refused.json() == {"error": "the step endpoint answers loopback clients only"}


def test_init_iii_with_an_otel_config_installs_a_tracer_provider():
    script = (
        "from opentelemetry import trace\n"
        "import motia\n"
        "app = motia.init_iii({'service_name': 'shop'})\n"
        "assert app.otel_config == {'service_name': 'shop'} and motia.tracing.enabled()\n"
        "assert trace.get_tracer_provider().resource.attributes['service.name'] == 'shop'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
