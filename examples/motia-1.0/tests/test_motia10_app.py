"""examples/motia-1.0: an official motia 1.0 project, unchanged, on this runtime.

Most tests run the app in memory (motia.testing, a clock moved by hand for the crons); the first one serves
the project with a real `motia run` subprocess, as its users start it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from motia.discovery import discover
from motia.testing import TestApp

ROOT = Path(__file__).resolve().parent.parent
STEPS = ROOT / "steps"


def motia_run(cwd: Path) -> tuple[subprocess.Popen[str], str]:
    """`motia run --port 0` in `cwd`; returns the process and the URL it printed."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for key in ("GREETING_PREFIX", "APP_NAME", "SECRET_KEY"):  # the project's .env must provide them
        env.pop(key, None)
    proc = subprocess.Popen([sys.executable, "-m", "motia.cli", "run", "--port", "0"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"serving HTTP on (http://[^\s\"]+)", line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise AssertionError("motia run did not start:\n" + "".join(lines))


@pytest.mark.slow
def test_motia_run_serves_every_step_file_unchanged_with_the_project_env():
    step_files = sorted(STEPS.rglob("*_step.py"))
    assert len(step_files) >= 25
    assert len(discover(ROOT)) == len(step_files)  # every file defines exactly one step
    proc, url = motia_run(ROOT)
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            hello = client.get("/hello/ada").json()
            assert hello["message"] == "Howdy, ada!"
            assert re.fullmatch(r"[0-9a-f]{32}", hello["trace_id"])
            assert client.get("/dotenv-check").json() == {
                "app_name": "motia-1.0-example", "has_secret": True, "prefix": "Howdy"}
            assert client.get("/ping").json() == {"pong": True, "step": "Ping"}
            created = client.post("/todos", json={"title": "ship it"})
            assert created.status_code == 201
            assert client.get(f"/todos/{created.json()['id']}").json()["title"] == "ship it"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


pytestmark = pytest.mark.anyio


async def test_todos_sync_handlers_write_the_stream_and_enqueue_without_await():
    async with TestApp.from_dir(STEPS) as app:
        created = await app.http.post("/todos", json={"title": "write docs"})
        assert created.status_code == 201
        todo = created.json()
        assert (await app.http.get(f"/todos/{todo['id']}")).json() == todo
        assert app.emitted("todo.created") == [{**todo, "priority": "normal"}]
        done = await app.http.put(f"/todos/{todo['id']}/done")
        assert done.json()["done"] is True
        assert [t["title"] for t in (await app.http.get("/todos", params={"done": "true"})).json()] == ["write docs"]
        assert (await app.http.get("/todos/nope")).status_code == 404


async def test_delete_with_a_json_body_keeps_the_reason():
    async with TestApp.from_dir(STEPS) as app:
        todo = (await app.http.post("/todos", json={"title": "old"})).json()
        deleted = await app.http.request("DELETE", f"/todos/{todo['id']}", json={"reason": "duplicate"})
        assert deleted.json() == {"deleted": True, "reason": "duplicate"}
        assert (await app.http.get(f"/todos/{todo['id']}/deletion")).json() == {"reason": "duplicate"}
        assert (await app.http.get(f"/todos/{todo['id']}")).status_code == 404


async def test_queue_condition_escalates_only_high_priority_todos():
    async with TestApp.from_dir(STEPS) as app:
        urgent = (await app.http.post("/todos", json={"title": "fire", "priority": "high"})).json()
        await app.http.post("/todos", json={"title": "later"})
        await app.wait_idle()
        assert (await app.http.get("/urgent")).json() == [{"id": urgent["id"], "title": "fire"}]
        assert await app.state.get("escalated", urgent["id"]) == {"title": "fire"}
        # The audit step (a JSON-Schema input and a queue config in camelCase) saw both.
        assert len(await app.state.get_group("audit")) == 2


async def test_stream_trigger_with_a_condition_counts_created_todos_only():
    async with TestApp.from_dir(STEPS) as app:
        todo = (await app.http.post("/todos", json={"title": "a"})).json()
        await app.http.put(f"/todos/{todo['id']}/done")  # an update: filtered out by the condition
        await app.http.post("/todos", json={"title": "b"})
        await app.wait_idle()
        assert await app.state.get("counters", "todos_created") == 2


async def test_http_condition_false_is_422_and_orders_flow_through_queue_state_and_stream():
    async with TestApp.from_dir(STEPS) as app:
        refused = await app.http.post("/orders", json={"items": []})
        assert refused.status_code == 422
        placed = await app.http.post("/orders", json={"items": ["lamp"]})
        assert placed.status_code == 202
        order = placed.json()
        assert app.published[-1].message_group_id == order["id"]
        await app.wait_idle()
        assert (await app.http.get(f"/orders/{order['id']}")).json() == order
        # A state trigger (condition: the orders scope) mirrored the change into a stream.
        events = (await app.http.get("/order-events")).json()
        assert events == [{"id": order["id"], "value": order}]


async def test_multi_trigger_step_with_ctx_match_serves_http_queue_and_cron():
    async with TestApp.from_dir(STEPS) as app:
        cancelled = await app.http.post("/orders/o1/cancel")
        assert cancelled.json() == {"id": "o1", "status": "cancelled"}
        await app.emit("order.cancel", {"id": "o2"})
        await app.wait_idle()
        assert await app.state.get("orders", "o2") == {"id": "o2", "status": "cancelled"}
        await app.clock.advance(300)
        await app.wait_idle()
        assert await app.state.get("sweeps", "cancel") == {"trigger": "0 */5 * * * *"}


async def test_multi_trigger_step_builders_both_styles():
    async with TestApp.from_dir(STEPS) as app:
        made = await app.http.post("/reminders/r1")
        assert (made.status_code, made.json()) == (201, {"id": "r1", "via": "http"})
        await app.emit("reminder.requested", {"id": "r2"})
        await app.emit("notify", {"id": "n1", "text": "hi"})
        await app.wait_idle()  # before moving the clock: an hour would also expire deliveries in flight
        await app.clock.advance(3600)
        await app.wait_idle()
        assert await app.state.get("reminders", "r2") == {"via": "queue", "topic": "reminder.requested"}
        assert await app.state.get("reminders", "cron") == {"via": "cron"}
        assert (await app.http.get("/notify")).json() == {"kind": "http"}
        assert await app.state.get("notifications", "n1") == {"id": "n1", "text": "hi"}


async def test_step_definitions_are_discovered():
    async with TestApp.from_dir(STEPS) as app:
        assert (await app.http.get("/ping")).json() == {"pong": True, "step": "Ping"}
        assert (await app.http.post("/echo", json={"a": 1})).json() == {"echo": {"a": 1}}


async def test_middleware_short_circuits_or_sets_ctx_attributes():
    async with TestApp.from_dir(STEPS) as app:
        assert (await app.http.get("/secure")).status_code == 401
        ok = await app.http.get("/secure", headers={"Authorization": "Bearer letmein"})
        assert ok.json() == {"user": "admin"}


async def test_sync_counter_enqueues_and_a_queue_condition_keeps_even_values():
    async with TestApp.from_dir(STEPS) as app:
        for expected in (1, 2, 3):
            assert (await app.http.post("/counter/clicks")).json() == {"name": "clicks", "value": expected}
        await app.wait_idle()
        assert (await app.http.get("/counter/clicks")).json() == {"value": 3, "even": 2}


async def test_query_params_and_a_dict_trigger_in_camel_case():
    async with TestApp.from_dir(STEPS) as app:
        found = await app.http.get("/search", params=[("q", "lamp"), ("tag", "a"), ("tag", "b")])
        assert found.json() == {"q": "lamp", "tag": ["a", "b"]}
        assert (await app.http.get("/health")).json() == {"ok": True}


async def test_trigger_info_is_filled_for_http_and_queue():
    async with TestApp.from_dir(STEPS) as app:
        probe = (await app.http.post("/probe", json={"x": 1})).json()
        assert probe == {"type": "http", "index": 0, "path": "/probe", "method": "POST", "topic": None,
                         "data": {"x": 1}}
        await app.emit("probe", {"y": 2})
        await app.wait_idle()
        assert await app.state.get("probe", "last") == {"type": "queue", "index": 1, "path": None, "method": None,
                                                        "topic": "probe", "data": {"y": 2}}


async def test_a_sync_handler_may_return_ctx_match():
    async with TestApp.from_dir(STEPS) as app:
        await app.emit("sync.match", {"n": 1})
        await app.wait_idle()
        assert (await app.http.get("/sync-match/7")).json() == {"id": "7", "stored": {"n": 1}}


async def test_module_logger_tags_lines_with_the_running_step():
    async with TestApp.from_dir(STEPS) as app:
        await app.http.get("/hello/bob")
        record = next(r for r in app.logs if r.getMessage() == "greeting")
        assert record.step == "Hello"  # type: ignore[attr-defined]
        assert record.fields == {"name": "bob"}  # type: ignore[attr-defined]
