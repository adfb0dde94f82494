"""The orders example's own tests, written the way a user tests a motia app: with motia.testing."""

from pathlib import Path

import pytest

from motia.testing import TestApp

STEPS = Path(__file__).resolve().parent.parent / "steps"
KEY = {"x-api-key": "secret"}
ORDER = {"customer": "ada", "item": "lamp", "quantity": 2, "unit_price": 30.0}

pytestmark = pytest.mark.anyio


async def test_a_paid_order_is_shipped():
    async with TestApp.from_dir(STEPS) as app:
        created = await app.http.post("/orders", json=ORDER, headers=KEY)
        assert created.status_code == 201
        await app.wait_idle()
        order = (await app.http.get(f"/orders/{created.json()['id']}")).json()
        assert order["status"] == "shipped"
        assert [event["id"] for event in app.emitted("order.paid")] == [order["id"]]


async def test_a_declined_card_is_retried_with_backoff_then_dead_lettered():
    async with TestApp.from_dir(STEPS) as app:
        await app.http.post("/orders", json={**ORDER, "card": "0000"}, headers=KEY)
        await app.wait_idle()
        assert app.dead_letters == []  # first attempt failed; retries wait for the clock
        await app.clock.advance(0.1)  # first retry after 100 ms
        await app.wait_idle()
        assert app.dead_letters == []
        await app.clock.advance(0.2)  # second retry after 200 ms more: the last one
        await app.wait_idle()
        (letter,) = app.dead_letters
        assert letter["attempts"] == 3 and "card declined" in letter["error"]
        assert app.emitted("order.paid") == []


async def test_the_report_cron_counts_orders_by_status():
    async with TestApp.from_dir(STEPS) as app:
        await app.http.post("/orders", json=ORDER, headers=KEY)
        await app.wait_idle()
        await app.clock.advance(5)
        await app.wait_idle()
        assert await app.state.get("reports", "latest") == {"orders": 1, "by_status": {"shipped": 1}}


async def test_big_orders_raise_an_alert():
    async with TestApp.from_dir(STEPS) as app:
        big = await app.http.post("/orders", json={**ORDER, "quantity": 100}, headers=KEY)
        await app.http.post("/orders", json=ORDER, headers=KEY)
        await app.wait_idle()
        alerts = await app.state.get_group("alerts")
        assert [alert["order"] for alert in alerts] == [big.json()["id"]]


async def test_the_step_logs_who_placed_the_order():
    async with TestApp.from_dir(STEPS) as app:
        await app.http.post("/orders", json=ORDER, headers=KEY)
        placed = [r for r in app.logs if r.getMessage() == "order placed"]
        assert placed and placed[0].fields["caller"] == "api-key"


async def test_a_redriven_dead_letter_is_delivered_again():
    async with TestApp.from_dir(STEPS) as app:
        await app.http.post("/orders", json={**ORDER, "card": "0000"}, headers=KEY)
        await app.wait_idle()
        await app.clock.advance(1)
        await app.wait_idle()
        assert len(app.dead_letters) == 1
        assert await app.redrive(topic="order.placed") == 1
        await app.wait_idle()
        await app.clock.advance(1)
        await app.wait_idle()
        (letter,) = app.dead_letters  # still declined: dead again after three more attempts
        assert letter["attempts"] == 3
