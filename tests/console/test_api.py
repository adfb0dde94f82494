"""The console's JSON APIs against a served app: what each returns, and that its writes take the paths a
handler's calls take (a state edit fires the state trigger, a redrive is delivered again, "run now" runs)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import eventually
from tests.console.conftest import redrive_then_discard, served_console, subscription
from tests.console.shop import STOCKTAKE_MAY_FINISH


@pytest.fixture(scope="module")
def console() -> Iterator[httpx.Client]:
    with served_console() as client:
        yield client


def test_flows_describe_each_step_with_its_source_triggers_and_schemas(console):
    data = console.get("/__motia/api/flows").json()
    assert {step["name"] for step in data["graph"]["steps"]} == set(data["steps"])
    place = data["steps"]["place_order"]
    assert place["file"].endswith("shop.py") and place["line"] > 1
    assert place["description"] == "Takes an order for one shop."
    [trigger] = place["triggers"]
    assert trigger["kind"] == "http" and trigger["summary"] == "POST /orders/:shop"
    assert set(trigger["schema"]["$defs"]["NewOrder"]["properties"]) == {"item", "quantity", "gift"}
    assert place["emits"] == ["order.placed"]
    [queue] = data["steps"]["pack_order"]["triggers"]
    assert queue["kind"] == "queue" and queue["summary"] == "order.placed" and "Order" in queue["schema"]["$ref"]
    [watch] = data["steps"]["audit_inventory"]["triggers"]
    assert watch == {"kind": "state", "summary": "inventory", "function_id": watch["function_id"]}
    [yearly] = data["steps"]["yearly_report"]["triggers"]
    assert yearly == {"kind": "cron", "summary": "0 0 1 1 * (UTC)", "function_id": yearly["function_id"]}


def test_a_state_edit_goes_through_the_state_functions_and_fires_the_state_trigger(console):
    response = console.put("/__motia/api/state/inventory/apples", json={"count": 3})
    assert response.status_code == 200 and response.json() == {"count": 3}
    assert "inventory" in console.get("/__motia/api/state").json()
    assert console.get("/__motia/api/state/inventory").json()["apples"] == {"count": 3}
    audit = eventually(lambda: console.get("/__motia/api/state/audit").json().get("apples"))
    assert audit == {"event": "state:created", "new": {"count": 3}}
    deleted = console.delete("/__motia/api/state/inventory/apples", headers={"content-type": "application/json"})
    assert deleted.json() == {"deleted": True}
    eventually(lambda: console.get("/__motia/api/state/audit").json()["apples"]["event"] == "state:deleted")


def test_a_state_edit_that_is_not_json_is_refused(console):
    response = console.put("/__motia/api/state/inventory/pears", content=b"{nope",
                           headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_JSON"
    assert console.put("/__motia/api/state/inventory/pears", content=b"3").status_code == 415


def test_dead_letters_show_payload_and_error_history_and_are_redriven_or_discarded(console):
    assert console.post("/orders/north", json={"item": "broken", "quantity": 1}).status_code == 201
    eventually(lambda: subscription(console, "order.placed")["dead"] == 1)
    row = subscription(console, "order.placed")
    assert row["step"] == "pack_order" and row["connected"] is True
    query = {"topic": "order.placed", "function_id": row["function_id"]}
    [dead] = console.get("/__motia/api/queues/messages", params=query).json()["dead"]
    assert dead["data"] == {"id": "north-broken", "item": "broken", "quantity": 1}
    assert dead["attempts"] == 2
    assert [e["attempt"] for e in dead["errors"]] == [1, 2]
    assert all("cannot pack a broken item" in e["error"] for e in dead["errors"])
    redrive_then_discard(console, query, dead)


def test_queue_requests_without_a_subscription_are_refused(console):
    response = console.get("/__motia/api/queues/messages", params={"topic": "order.placed"})
    assert response.status_code == 400 and "function_id" in response.json()["error"]["message"]
    response = console.post("/__motia/api/queues/redrive", json={"topic": "order.placed", "ids": "all"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"


def cron_job(console: httpx.Client, step: str) -> dict:
    return next(job for job in console.get("/__motia/api/cron").json() if job["step"] == step)


def test_run_now_runs_a_cron_job_and_records_the_run(console):
    job = cron_job(console, "yearly_report")
    assert job["step"] == "yearly_report" and job["expression"] == "0 0 1 1 *" and job["next_fire"] > 0
    started = console.post("/__motia/api/cron/run", json={"function_id": job["function_id"],
                                                          "expression": job["expression"]})
    assert started.status_code == 202
    eventually(lambda: console.get("/__motia/api/state/reports").json().get("yearly") == {"done": True})
    runs = eventually(lambda: [r for r in cron_job(console, "yearly_report")["runs"] if r["outcome"] != "running"])
    assert runs[-1]["outcome"] == "ok" and runs[-1]["manual"] is True and runs[-1]["duration_ms"] >= 0


def test_run_now_while_a_run_is_going_is_a_409(console):
    job = cron_job(console, "stocktake")
    choice = {"function_id": job["function_id"], "expression": job["expression"]}
    assert console.post("/__motia/api/cron/run", json=choice).status_code == 202
    try:
        assert cron_job(console, "stocktake")["runs"][-1]["outcome"] == "running"
        refused = console.post("/__motia/api/cron/run", json=choice)
        assert refused.status_code == 409 and "still going" in refused.json()["error"]["message"]
    finally:
        STOCKTAKE_MAY_FINISH.set()
    eventually(lambda: cron_job(console, "stocktake")["runs"][-1]["outcome"] == "ok")


def test_run_now_of_an_unknown_job_is_a_404(console):
    response = console.post("/__motia/api/cron/run", json={"function_id": "nope", "expression": "* * * * *"})
    assert response.status_code == 404 and "nope" in response.json()["error"]["message"]


def test_streams_list_their_groups(console):
    console.post("/orders/south", json={"item": "kettle", "quantity": 2})
    rows = eventually(lambda: [r for r in console.get("/__motia/api/streams").json() if r["groups"]])
    assert rows == [{"name": "orders", "groups": ["packed"]}]
    about = console.get("/__motia/api/console").json()
    assert about["stream_port"] > 0
