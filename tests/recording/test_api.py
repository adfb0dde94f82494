"""Recording, read through its operator routes on a served app: a request's trace across handlers, emits, queue
deliveries (with retries) and state calls; log lines and their filters; the live tail over a real SSE
connection; rerun."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from motia import api
from tests.conftest import eventually_async, http, running
from tests.recording.shop import shop

pytestmark = pytest.mark.anyio


async def _trace(client: httpx.AsyncClient, trace_id: str, spans: int) -> dict[str, Any]:
    async def complete() -> dict[str, Any] | None:
        found = await client.get(f"/__motia/api/traces/{trace_id}")
        return found.json() if found.status_code == 200 and len(found.json()["spans"]) >= spans else None

    return await eventually_async(complete)


async def test_a_request_its_emit_and_a_retried_delivery_are_one_trace_with_their_logs():
    place, bill, attempts = shop()
    async with running(place, bill, record=True) as app, http(app) as client:
        trace_id = (await client.post("/orders", json={"id": "o1"})).json()["trace_id"]
        found = await _trace(client, trace_id, 5)
        await app.embedded.queues.wait_idle()

    spans = {(s["kind"], s.get("attempt")): s for s in found["spans"]}
    request, state, emit = spans[("http", None)], spans[("call", None)], spans[("emit", None)]
    first, retry = spans[("queue", 1)], spans[("queue", 2)]
    assert request["name"] == "POST /orders" and request["step"] == "place" and request["status"] == "ok"
    assert request["attributes"]["status_code"] == 200 and "parent_id" not in request
    assert state["function_id"] == "state::set" and state["parent_id"] == request["span_id"]
    assert emit["name"] == "emit order.placed" and emit["parent_id"] == request["span_id"]
    # Both deliveries hang under the emit: the first failed with the handler's error, the retry succeeded.
    assert first["parent_id"] == retry["parent_id"] == emit["span_id"]
    assert first["status"] == "error" and "card processor down" in first["error"]
    assert retry["status"] == "ok" and retry["step"] == "bill"
    assert all(s["duration_ms"] >= 0 and s["start"] > 0 for s in found["spans"])
    assert found["trace"]["steps"] == ["place", "bill"] and found["trace"]["status"] == "error"
    messages = [(line["step"], line["message"]) for line in found["logs"]]
    assert ("place", "placing order") in messages and ("bill", "billed") in messages
    assert ("bill", "handler failed") in messages  # the failed attempt's error line, with its traceback
    assert attempts == ["o1", "o1"]


async def test_the_traces_list_is_newest_first_and_filters_by_step():
    place, bill, _ = shop()

    @api("GET", "/ping")
    async def ping() -> dict:
        return {"ok": True}

    async with running(place, bill, ping, record=True) as app, http(app) as client:
        await client.get("/ping")
        ordered = (await client.post("/orders", json={"id": "o2"})).json()["trace_id"]
        await _trace(client, ordered, 5)
        listed = (await client.get("/__motia/api/traces")).json()["traces"]
        billed = (await client.get("/__motia/api/traces", params={"step": "bill"})).json()["traces"]
        bad = await client.get("/__motia/api/traces", params={"limit": "none"})
    assert [row["name"] for row in listed] == ["POST /orders", "GET /ping"]
    assert [row["trace_id"] for row in billed] == [ordered]
    assert bad.status_code == 400 and "limit" in bad.json()["error"]["message"]


async def test_an_unknown_trace_is_a_404():
    place, bill, _ = shop()
    async with running(place, bill, record=True) as app, http(app) as client:
        missing = await client.get("/__motia/api/traces/" + "0" * 31 + "7")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


async def test_log_lines_filter_by_step_level_trace_and_text():
    place, bill, _ = shop()
    async with running(place, bill, record=True) as app, http(app) as client:
        trace_id = (await client.post("/orders", json={"id": "o3"})).json()["trace_id"]
        await _trace(client, trace_id, 5)

        async def logs(**params: str) -> list[tuple[str, str]]:
            answer = await client.get("/__motia/api/logs", params=params)
            assert answer.status_code == 200, answer.text
            return [(line.get("step"), line["message"]) for line in answer.json()["logs"]]

        assert await logs(step="place") == [("place", "placing order")]
        assert await logs(level="warning", step="bill") == [("bill", "handler failed"), ("bill", "billed")]
        # motia's own lines are recorded too: the queue's retry, between the two
        assert next(m for s, m in await logs(level="warning") if s is None).startswith("delivery 1 of message")
        assert ("place", "placing order") in await logs(trace_id=trace_id)
        assert await logs(trace_id="f" * 32) == []
        assert await logs(q="BILLED") == [("bill", "billed")]
        assert await logs(q="o3", step="place") == [("place", "placing order")]  # a field's value matches too
        refused = await client.get("/__motia/api/logs", params={"level": "loud"})
    assert refused.status_code == 400 and "unknown level" in refused.json()["error"]["message"]


async def test_the_live_tail_pushes_matching_lines_as_they_are_logged():
    place, bill, _ = shop()
    async with (running(place, bill, record=True) as app, http(app) as client,
                client.stream("GET", "/__motia/api/logs/tail", params={"step": "bill"}) as tail):
        assert tail.headers["content-type"] == "text/event-stream"
        lines = tail.aiter_lines()
        assert await lines.__anext__() == ": tail"  # subscribed: what is logged from now on is pushed
        await client.post("/orders", json={"id": "o4"})
        events: list[str] = []
        while len([e for e in events if e.startswith("data:")]) < 2:
            events.append(await asyncio.wait_for(lines.__anext__(), 10))
    data = [e for e in events if e.startswith("data:")]
    assert '"message":"handler failed"' in data[0] and '"message":"billed"' in data[1]
    assert all('"step":"bill"' in line for line in data)  # the `place` line was not sent
    assert any(e.startswith("id: ") for e in events) and "event: log" in events


async def test_rerun_resends_a_recorded_request_as_a_new_trace_linked_to_the_original():
    place, bill, attempts = shop()
    async with running(place, bill, record=True) as app, http(app) as client:
        original = (await client.post("/orders", json={"id": "o5"}, headers={"x-tenant": "t1"})).json()["trace_id"]
        await _trace(client, original, 5)
        answer = await client.post("/__motia/api/rerun", json={"trace_id": original})
        assert answer.status_code == 200, answer.text
        rerun = answer.json()
        assert rerun["rerun_of"] == original and rerun["trace_id"] != original and rerun["status_code"] == 200
        again = await _trace(client, rerun["trace_id"], 4)
        first = await client.get(f"/__motia/api/traces/{original}")
        listed = (await client.get("/__motia/api/traces")).json()["traces"]
    request = next(s for s in again["spans"] if s["kind"] == "http")
    assert request["rerun_of"] == original and request["request"]["body"] == '{"id":"o5"}'
    assert request["request"]["headers"]["x-tenant"] == "t1"
    assert first.json()["reruns"] == [rerun["trace_id"]]
    assert next(row for row in listed if row["trace_id"] == rerun["trace_id"])["rerun_of"] == original
    assert attempts.count("o5") == 3  # the original's two attempts, then the rerun's emit delivered once


async def test_rerun_resends_a_queue_message_to_its_function_only():
    place, bill, attempts = shop()
    async with running(place, bill, record=True) as app, http(app) as client:
        original = (await client.post("/orders", json={"id": "o6"})).json()["trace_id"]
        found = await _trace(client, original, 5)
        delivery = next(s for s in found["spans"] if s["kind"] == "queue" and s["status"] == "ok")
        answer = (await client.post("/__motia/api/rerun", json={"trace_id": original,
                                                               "span_id": delivery["span_id"]})).json()
        again = await _trace(client, answer["trace_id"], 1)
        bad = await client.post("/__motia/api/rerun", json={"trace": original})
        unknown = await client.post("/__motia/api/rerun", json={"trace_id": "9" * 32})
    assert answer["kind"] == "queue" and answer["rerun_of"] == original
    assert [(s["kind"], s["step"], s["rerun_of"]) for s in again["spans"]] == [("queue", "bill", original)]
    assert attempts == ["o6", "o6", "o6"]
    assert bad.status_code == 400 and unknown.status_code == 404


async def test_without_recording_the_routes_are_absent_and_nothing_is_kept():
    place, bill, _ = shop()
    async with running(place, bill) as app, http(app) as client:
        await client.post("/orders", json={"id": "o7"})
        assert (await client.get("/__motia/api/traces")).status_code == 404
    assert app.recorder is None and app.worker.recorder is None


async def test_the_routes_refuse_a_foreign_host_like_every_operator_route():
    place, bill, _ = shop()
    async with running(place, bill, record=True) as app, http(app) as client:
        refused = await client.get("/__motia/api/traces", headers={"host": "evil.example"})
        form = await client.post("/__motia/api/rerun", content=b"trace_id=x",
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    assert form.status_code == 415
