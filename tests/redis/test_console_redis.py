"""The console's state, stream and queue views on the Redis store (`store=redis://...`): a real redis-server, the
console test app served with the console on, real HTTP requests; the same JSON as on SQLite (tests/console)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from motia import ApiRequest, FlowContext, QueueConfig, Registry, api, on
from motia.assembly import ServedApp
from motia.dsl import step_of
from tests.conftest import eventually
from tests.console import shop
from tests.console.conftest import redrive_then_discard, served_console, subscription
from tests.redis.conftest import RedisServer

LATER = 600.0  # seconds the `later.*` messages wait: long enough to stay pending through a test


@api("POST", "/later/:group", emits=["later.standard", "later.fifo", "later.slow"])
async def schedule_later(req: ApiRequest[dict], ctx: FlowContext) -> dict:
    await ctx.emit("later.standard", req.body)
    await ctx.emit("later.slow", req.body)
    await ctx.emit({"topic": "later.fifo", "data": req.body, "messageGroupId": req.path_params["group"]})
    return req.body


@on("later.standard", queue=QueueConfig(delay_seconds=LATER))
async def later_standard(data: dict, ctx: FlowContext) -> None:
    return None


@on("later.fifo", queue=QueueConfig(type="fifo", delay_seconds=LATER))
async def later_fifo(data: dict, ctx: FlowContext) -> None:
    return None


# Holds the delivery of `later.slow` until the test lets it finish (a sync handler: it runs in a worker thread).
SLOW_MAY_FINISH = threading.Event()


@on("later.slow")
def later_slow(data: dict, ctx: FlowContext) -> None:
    SLOW_MAY_FINISH.wait(30)


def registry() -> Registry:
    extra = [step_of(h) for h in (schedule_later, later_standard, later_fifo, later_slow)]
    base = shop.registry()
    return Registry([*base, *[step for step in extra if step is not None]], list(base.streams.values()))


@pytest.fixture
def console(redis_server: RedisServer) -> Iterator[httpx.Client]:
    with served_console(redis_url=redis_server.url) as client:
        yield client


def test_state_groups_keys_and_values_are_read_from_redis(console):
    assert console.put("/__motia/api/state/inventory/apples", json={"count": 3}).json() == {"count": 3}
    assert console.put("/__motia/api/state/inventory/pears", json=[1, 2]).status_code == 200
    assert "inventory" in console.get("/__motia/api/state").json()
    assert console.get("/__motia/api/state/inventory").json() == {"apples": {"count": 3}, "pears": [1, 2]}
    # The edit went through state::set: the state trigger ran and wrote to Redis as well.
    audit = eventually(lambda: console.get("/__motia/api/state/audit").json().get("apples"))
    assert audit == {"event": "state:created", "new": {"count": 3}}
    assert console.delete("/__motia/api/state/inventory/apples",
                          headers={"content-type": "application/json"}).json() == {"deleted": True}
    assert console.get("/__motia/api/state/inventory").json() == {"pears": [1, 2]}
    assert console.get("/__motia/api/state/nothing-here").json() == {}


def test_streams_list_their_groups_from_redis(console):
    assert console.post("/orders/south", json={"item": "kettle", "quantity": 2}).status_code == 201
    rows = eventually(lambda: [r for r in console.get("/__motia/api/streams").json() if r["groups"]])
    assert rows == [{"name": "orders", "groups": ["packed"]}]


def test_dead_letters_on_redis_show_their_errors_and_are_redriven_or_discarded(console):
    assert console.post("/orders/north", json={"item": "broken", "quantity": 1}).status_code == 201
    eventually(lambda: subscription(console, "order.placed")["dead"] == 1)
    row = subscription(console, "order.placed")
    assert row["step"] == "pack_order" and row["connected"] is True and row["pending"] == 0
    assert row["in_flight"] == 0
    query = {"topic": "order.placed", "function_id": row["function_id"]}
    [dead] = console.get("/__motia/api/queues/messages", params=query).json()["dead"]
    assert dead["data"] == {"id": "north-broken", "item": "broken", "quantity": 1}
    assert dead["attempts"] == 2 and "cannot pack a broken item" in dead["error"]
    assert dead["failed_at"] >= dead["enqueued_at"] > 0
    assert [e["attempt"] for e in dead["errors"]] == [1, 2]

    redrive_then_discard(console, query, dead)


def test_pending_messages_on_redis_standard_and_fifo(redis_server: RedisServer):
    with ServedApp(registry(), console=True, redis_url=redis_server.url) as served, \
            httpx.Client(base_url=served.url, timeout=10) as console:
        before = time.time()
        assert console.post("/later/g1", json={"n": 1}).status_code == 200
        for topic in ("later.standard", "later.fifo"):
            row = eventually(lambda topic=topic: (r := subscription(console, topic))["pending"] == 1 and r)
            assert row["dead"] == 0 and row["connected"] is True
            messages = console.get("/__motia/api/queues/messages",
                                   params={"topic": topic, "function_id": row["function_id"]}).json()
            [pending] = messages["pending"]
            assert messages["dead"] == []
            assert pending["data"] == {"n": 1} and pending["attempts"] == 0 and pending["errors"] == []
            assert pending["topic"] == topic and pending["function_id"] == row["function_id"]
            assert pending["available_at"] >= before + LATER - 5
        # A delivery running: still in the subscription's stream (acknowledged when it ends), and in flight.
        try:
            row = eventually(lambda: (r := subscription(console, "later.slow"))["in_flight"] == 1 and r)
            assert row["pending"] == 1
            query = {"topic": "later.slow", "function_id": row["function_id"]}
            [running] = console.get("/__motia/api/queues/messages", params=query).json()["pending"]
            assert running["data"] == {"n": 1} and before <= running["available_at"] == running["enqueued_at"]
        finally:
            SLOW_MAY_FINISH.set()
        eventually(lambda: subscription(console, "later.slow")["in_flight"] == 0)
        assert console.get("/__motia/api/queues/messages", params=query).json() == {"pending": [], "dead": []}
        # A subscription nobody has: nothing, not an error.
        empty = console.get("/__motia/api/queues/messages", params={"topic": "later.fifo", "function_id": "nope"})
        assert empty.json() == {"pending": [], "dead": []}
