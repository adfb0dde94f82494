"""examples/orders served by `motia run`: middleware, conditions, retries into a dead letter, a
multi-trigger step and a cron report; the dead letter handled with the `motia dlq` CLI."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT, eventually

EXAMPLE = ROOT / "examples" / "orders"
KEY = {"x-api-key": "secret"}


@pytest.fixture(scope="module")
def served(motia_run):
    return motia_run(EXAMPLE, "--memory", "--stream-port", "0")


@pytest.fixture(scope="module")
def app(served):
    return served.client


def place(app, **fields):
    order = {"customer": "ada", "item": "lamp", "quantity": 2, "unit_price": 30.0, **fields}
    return app.post("/orders", json=order, headers=KEY)


def test_orders_need_the_api_key(app):
    response = app.post("/orders", json={"customer": "ada", "item": "x", "quantity": 1, "unit_price": 1})
    assert (response.status_code, response.json()) == (401, {"error": "missing or wrong x-api-key"})


def test_an_order_is_paid_then_shipped_through_events(app):
    created = place(app)
    assert created.status_code == 201
    order = created.json()
    assert order["total"] == 60.0 and order["status"] == "placed"
    shipped = eventually(lambda: app.get(f"/orders/{order['id']}").json()["status"] == "shipped")
    assert shipped


def test_the_multi_trigger_step_also_ships_over_http(app):
    order = place(app, card="0000").json()  # payment never succeeds, so only HTTP can ship it
    response = app.post(f"/orders/{order['id']}/ship")
    assert response.json()["status"] == "shipped"
    assert app.post("/orders/nope/ship").status_code == 404


def test_declined_card_ends_in_the_dead_letters_and_can_be_redriven_with_the_cli(served, app):
    order = place(app, card="0000", customer="declined").json()

    def letters():
        result = subprocess.run([sys.executable, "-m", "motia.cli", "dlq", "list", "--url", served.url, "--json"],
                                capture_output=True, text=True, timeout=30)
        import json

        return [d for d in json.loads(result.stdout) if d["data"]["id"] == order["id"]]

    dead = eventually(letters)
    assert dead and dead[0]["attempts"] == 3 and "card declined" in dead[0]["error"]
    assert dead[0]["function_id"] == "steps::charge_payment::trigger::queue(order.placed)"
    result = subprocess.run([sys.executable, "-m", "motia.cli", "dlq", "redrive", "--url", served.url,
                             "--id", str(dead[0]["id"])], capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == "redriven: 1"
    # still declined: after three more attempts it is a dead letter again
    assert eventually(lambda: letters() and letters()[0]["attempts"] == 3)


def test_only_big_orders_raise_an_alert(app):
    small = place(app).json()
    big = place(app, quantity=100, unit_price=20.0).json()
    assert eventually(lambda: app.get(f"/orders/{big['id']}").json()["status"] == "shipped")
    assert eventually(lambda: app.get(f"/orders/{small['id']}").json()["status"] == "shipped")
    alerted = {alert["order"] for alert in app.get("/alerts").json()}
    assert big["id"] in alerted and small["id"] not in alerted


def test_cron_writes_a_report(app):
    place(app)
    report = eventually(lambda: app.get("/reports/latest").json()["orders"] > 0, timeout=12)
    assert report


def test_bad_body_is_a_400(app):
    response = app.post("/orders", json={"customer": "ada", "item": "x", "quantity": "two", "unit_price": 1},
                        headers=KEY)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "$.quantity: Expected int, got str"
