"""Mistakes caught at start-up, as a user meets them: `motia run`/`motia steps` in a project, the text asserted.

Errors stop start-up naming the step file (relative) and line, with a hint; warnings name the file and line too,
and the app still starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

MODELS = """
    import msgspec

    class Body(msgspec.Struct):
        name: str
"""


def motia(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "motia.cli", *args], cwd=root, capture_output=True, text=True,
                          timeout=60)


def run_once(root: Path) -> subprocess.CompletedProcess[str]:
    """`motia run` in a project whose steps do not load: it exits at once."""
    return motia(root, "run", "--port", "0", "--stream-port", "0", "--memory")


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The error output of a command that must have failed with exit status 1."""
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stderr


def warned(root: Path) -> str:
    """The warnings `motia steps` prints for a project that loads (exit status 0)."""
    result = motia(root, "steps")
    assert result.returncode == 0, result.stderr
    return result.stderr


def project(root: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip())
    return root


# --- errors -----------------------------------------------------------------------------------------------


def test_a_fastapi_style_path_parameter_stops_start_up_saying_use_colon(tmp_path):
    root = project(tmp_path, {"steps/users_step.py": """
        from motia import api

        @api("GET", "/users/{user_id}/orders")
        async def user_orders(req):
            return []
    """})
    assert refused(run_once(root)) == (
        "error: steps/users_step.py:3: step 'user_orders': the path /users/{user_id}/orders writes a parameter "
        "as {user_id}\n  hint: write path parameters with a colon: /users/:user_id/orders\n")


def test_a_handler_annotated_with_the_body_type_stops_start_up_naming_the_fix(tmp_path):
    root = project(tmp_path, {"steps/users_step.py": MODELS + """
    from motia import api

    @api("POST", "/users")
    async def create_user(req: Body):
        return {"name": req.name}
    """})
    assert refused(run_once(root)) == (
        "error: steps/users_step.py:8: step 'create_user': its request parameter 'req' is annotated Body, a body "
        "type; an HTTP handler receives an ApiRequest\n"
        "  hint: annotate it ApiRequest[Body] (from motia import ApiRequest) and read the body as req.body\n")


def test_start_up_errors_name_files_relative_to_the_project(tmp_path):
    root = project(tmp_path, {
        "steps/a_step.py": "from motia import get\n\n@get('/x')\nasync def first(req):\n    return {}\n",
        "steps/b_step.py": "from motia import get\n\n@get('/x')\nasync def second(req):\n    return {}\n",
    })
    stderr = refused(run_once(root))
    assert str(tmp_path) not in stderr
    assert stderr.startswith("error: steps/b_step.py:3: duplicate route GET /x (step 'second'); GET /x is "
                                    "already served by step 'first' at steps/a_step.py:3\n")


# --- warnings ---------------------------------------------------------------------------------------------


def test_decorated_functions_in_a_file_discovery_skips_are_a_warning_naming_the_rule(tmp_path):
    root = project(tmp_path, {
        "steps/health_step.py": "from motia import get\n\n@get('/health')\nasync def health(req):\n    return {}\n",
        "steps/orders.py": """
            from motia import api

            @api("GET", "/orders")
            async def list_orders(req):
                return []
        """,
        "steps/helpers.py": "def total(items):\n    return sum(items)\n",
        "steps/web.py": "from fastapi import APIRouter\nfrom motia import FlowContext\n\nrouter = APIRouter()\n\n\n"
                        "@router.get('/x')\nasync def x():\n    return {}\n",  # another library's decorator
    })
    result = motia(root, "steps")
    assert result.returncode == 0
    assert result.stdout.splitlines() == ["health  GET /health  steps/health_step.py:3"]
    assert result.stderr == (
        "warning: steps/orders.py:3: list_orders is decorated as a step, but this file is never loaded: step files "
        "are named *_step.py or *.step.py\n  hint: rename it steps/orders_step.py\n")


def emitter_and_consumer(declared: str, emitted: str, consumed: str) -> dict[str, str]:
    """A step file: `create` declares one topic and emits another, `consume` subscribes to a third."""
    return {"steps/flow_step.py": f"""
        from motia import api, on

        @api("POST", "/things", emits=[{declared!r}])
        async def create(req, ctx):
            await ctx.emit({emitted!r}, {{"id": 1}})
            return {{"ok": True}}

        @on({consumed!r})
        async def consume(data, ctx):
            pass
    """}


def test_a_declared_emit_no_step_consumes_is_a_warning_with_the_closest_topics(tmp_path):
    root = project(tmp_path, emitter_and_consumer("order.placd", "order.placd", "order.placed"))
    assert warned(root) == (
        "warning: steps/flow_step.py:3: step 'create' declares it emits 'order.placd', which no step consumes\n"
        "  hint: did you mean 'order.placed'?\n")


def test_emitting_a_topic_the_step_does_not_declare_is_a_warning_naming_the_line(tmp_path):
    root = project(tmp_path, emitter_and_consumer("user.created", "user.craeted", "user.created"))
    assert warned(root) == (
        "warning: steps/flow_step.py:5: step 'create' emits 'user.craeted', which it does not declare "
        "(emits=['user.created'])\n  hint: did you mean 'user.created'?\n")


def test_a_project_with_only_src_is_served(tmp_path, motia_run):
    root = project(tmp_path, {
        "src/billing/invoices_step.py": "from motia import get\n\n@get('/invoices')\nasync def invoices(req):\n"
                                        "    return ['i1']\n",
    })
    listed = motia(root, "steps")
    assert (listed.returncode, listed.stdout) == (0, "invoices  GET /invoices  src/billing/invoices_step.py:3\n")
    served = motia_run(root, "--memory", "--stream-port", "0")
    assert served.client.get("/invoices").json() == ["i1"]


def test_no_steps_and_no_src_directory_is_explained(tmp_path):
    assert refused(run_once(tmp_path)) == (
        "error: no steps/ or src/ directory here to find step files in\n"
        "  hint: run motia from your project's root, or name the steps directory with --dir\n")


def test_motia_run_logs_the_warnings_starts_anyway_and_warns_once_per_unknown_topic(tmp_path, motia_run):
    root = project(tmp_path, emitter_and_consumer("user.created", "user.craeted", "user.created"))
    served = motia_run(root, "--memory", "--stream-port", "0")
    assert served.client.post("/things", json={}).json() == {"ok": True}
    assert served.client.post("/things", json={}).json() == {"ok": True}
    served.wait_for_output(r"(no function subscribes)")
    output = served.stop()
    assert "WARNING [motia] steps/flow_step.py:5: step 'create' emits 'user.craeted', which it does not " \
           "declare (emits=['user.created'])\n  hint: did you mean 'user.created'?" in output
    unheard = [line for line in output.splitlines() if "no function subscribes" in line]
    assert len(unheard) == 1 and unheard[0].endswith(
        "no function subscribes to topic 'user.craeted': the message is dropped; did you mean 'user.created'? "
        "(logged once per topic)")


def test_a_topic_computed_at_run_time_and_not_declared_is_a_warning_once_per_step_and_topic(tmp_path, motia_run):
    root = project(tmp_path, {"steps/flow_step.py": """
        from motia import api, on

        @api("POST", "/things/:kind", emits=["user.created"])
        async def create(req, ctx):
            await ctx.emit(f"user.{req.path_params['kind']}", {"id": 1})
            return {"ok": True}

        @on("user.created")
        async def consume(data, ctx):
            pass
    """})
    served = motia_run(root, "--memory", "--stream-port", "0", "--log-format", "json")
    for kind in ("created", "craeted", "craeted"):
        assert served.client.post(f"/things/{kind}", json={}).json() == {"ok": True}
    served.wait_for_output(r"(no function subscribes)")
    records = [json.loads(line) for line in served.stop().splitlines() if line.startswith("{")]
    [warned] = [r for r in records if "which it does not declare" in r["message"]]
    assert warned["message"] == ("step create emitted 'user.craeted', which it does not declare "
                                 "(emits=['user.created']); did you mean 'user.created'? (logged once per step and "
                                 "topic)")
    assert (warned["level"], warned["step"], len(warned["trace_id"])) == ("warning", "create", 32)
