"""Emitting and queues, end to end: HTTP step -> emit -> engine queue -> @on handlers."""

from __future__ import annotations

import asyncio
import logging
import random

import msgspec
import pytest

from motia import ApiRequest, FlowContext, HandlerConfig, QueueConfig, api, emit, enqueue, on, step
from motia.engine.clock import ManualClock
from tests.conftest import http, running

pytestmark = pytest.mark.anyio


class Order(msgspec.Struct):
    id: str
    total: float


@api("POST", "/orders")
async def place_order(req: ApiRequest[Order], ctx: FlowContext):
    await ctx.emit("order.placed", req.body)
    return {"trace_id": ctx.trace_id}


async def test_every_subscribed_step_gets_each_message_once():
    seen: list[tuple[str, str]] = []

    @on("order.placed")
    async def bill(order: Order):
        seen.append(("bill", order.id))

    @on("order.placed")
    async def ship(order: Order):
        seen.append(("ship", order.id))

    async with running(place_order, bill, ship) as app, http(app) as client:
        for n in range(3):
            assert (await client.post("/orders", json={"id": f"o{n}", "total": 1})).status_code == 200
        await app.embedded.queues.wait_idle()
    assert sorted(seen) == sorted([(name, f"o{n}") for name in ("bill", "ship") for n in range(3)])


async def test_typed_handler_gets_its_struct_and_the_emitters_trace_id():
    got = []

    @on("order.placed")
    async def record(order: Order, ctx: FlowContext):
        got.append((order, ctx.trace_id, ctx.trigger.type == "event", ctx.trigger.topic))

    async with running(place_order, record) as app, http(app) as client:
        traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        response = await client.post("/orders", json={"id": "o1", "total": 2.5}, headers={"traceparent": traceparent})
        await app.embedded.queues.wait_idle()
    assert response.json()["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert got == [(Order("o1", 2.5), "0af7651916cd43dd8448eb211c80319c", True, "order.placed")]


async def test_trace_id_flows_through_a_chain_of_events():
    traces = []

    @on("order.placed", emits=["order.billed"])
    async def bill(order: Order, ctx):
        traces.append(ctx.trace_id)
        await ctx.enqueue({"topic": "order.billed", "data": {"id": order.id}})

    @on("order.billed")
    async def notify(data: dict, ctx):
        traces.append(ctx.trace_id)

    async with running(place_order, bill, notify) as app, http(app) as client:
        trace_id = (await client.post("/orders", json={"id": "o1", "total": 1})).json()["trace_id"]
        await app.embedded.queues.wait_idle()
    assert traces == [trace_id, trace_id]


async def test_module_level_emit_and_enqueue_accept_structs_dicts_and_groups():
    got = []

    @api("POST", "/go")
    async def go():
        await emit("t", Order("a", 1))
        await enqueue({"topic": "t", "data": {"id": "b", "total": 2}, "messageGroupId": "g"})
        await emit({"type": "t", "data": {"id": "c", "total": 3}})  # the 0.x event shape

    @on("t")
    async def handle(order: Order):
        got.append(order.id)

    async with running(go, handle) as app, http(app) as client:
        await client.post("/go")
        await app.embedded.queues.wait_idle()
    assert sorted(got) == ["a", "b", "c"]


async def test_sync_handler_emits_without_await():
    got = []

    @api("POST", "/sync")
    def sync_step(req, ctx):
        ctx.emit("t", {"n": 1})
        emit("t", {"n": 2})
        return {"ok": True}

    @on("t")
    def handle(data):
        got.append(data["n"])

    async with running(sync_step, handle) as app, http(app) as client:
        assert (await client.post("/sync")).json() == {"ok": True}
        await app.embedded.queues.wait_idle()
    assert sorted(got) == [1, 2]


async def test_exponential_backoff_between_retries():
    clock = ManualClock()
    attempts: list[float] = []

    @on("work", queue=QueueConfig(max_retries=3, backoff_type="exponential", backoff_delay_ms=1000))
    async def flaky(data):
        attempts.append(clock.now())
        if len(attempts) < 4:
            raise RuntimeError("not yet")

    async with running(flaky, clock=clock) as app:
        await app.worker.emit("work", {}, trace_id="0" * 31 + "1")
        for _ in range(8):
            await clock.advance(1)
        await app.embedded.queues.wait_idle()
    assert [round(t - attempts[0], 3) for t in attempts] == [0, 1, 3, 7]


async def test_fixed_backoff_between_retries():
    clock = ManualClock()
    attempts: list[float] = []

    @on("work", queue=QueueConfig(max_retries=2, backoff_type="fixed", backoff_delay_ms=500))
    async def flaky(data):
        attempts.append(clock.now())
        raise RuntimeError("never")

    async with running(flaky, clock=clock) as app:
        await app.worker.emit("work", {}, trace_id="1" * 32)
        for _ in range(6):
            await clock.advance(0.25)
        await app.embedded.queues.wait_idle()
    assert [round(t - attempts[0], 3) for t in attempts] == [0, 0.5, 1.0]


async def test_after_the_last_retry_a_message_is_dead_lettered_and_can_be_redriven():
    clock = ManualClock()
    healthy = False
    handled = []

    @on("pay", queue=QueueConfig(max_retries=1, backoff_delay_ms=100))
    async def charge(data: dict):
        if not healthy:
            raise RuntimeError("card processor down")
        handled.append(data["id"])

    async with running(charge, clock=clock) as app, http(app) as client:
        await app.worker.emit("pay", {"id": "p1"}, trace_id="2" * 32)
        await clock.advance(1)
        await app.embedded.queues.wait_idle()
        dead = (await client.get("/__motia/dlq")).json()
        assert len(dead) == 1
        assert dead[0]["topic"] == "pay" and dead[0]["data"] == {"id": "p1"} and dead[0]["attempts"] == 2
        assert "card processor down" in dead[0]["error"]
        healthy = True
        redriven = await client.post("/__motia/dlq/redrive", json={"ids": [dead[0]["id"]]})
        assert redriven.json() == {"redriven": 1}
        await app.embedded.queues.wait_idle()
        assert (await client.get("/__motia/dlq")).json() == []
    assert handled == ["p1"]


async def test_payload_that_does_not_decode_is_dead_lettered_at_once_with_the_error_logged_under_its_trace(caplog):
    clock = ManualClock()
    calls = []

    @on("order.placed", queue=QueueConfig(max_retries=3))
    async def record(order: Order):
        calls.append(order)

    with caplog.at_level(logging.ERROR):
        async with running(record, clock=clock) as app, http(app) as client:
            await app.worker.emit("order.placed", {"id": "o1", "total": "lots"}, trace_id="3" * 32)
            await app.embedded.queues.wait_idle()  # no retry waits for the clock
            dead = (await client.get("/__motia/dlq")).json()
    assert calls == []
    assert dead[0]["attempts"] == 1
    assert "Expected `float`, got `str` - at `$.total`" in dead[0]["error"]
    [logged] = [r for r in caplog.records if "does not match its type" in r.getMessage()]
    # Its trace id is the handler's would-be one (the emit's here; tests/test_error_texts.py asserts it end to end).
    assert "$.total" in logged.getMessage() and len(logged.trace_id) == 32  # type: ignore[attr-defined]


async def test_false_condition_skips_the_message_without_retrying():
    calls = []

    @on("order.placed", condition=lambda order, ctx: order.total > 100)
    async def vip(order: Order):
        calls.append(order.id)

    async with running(vip) as app:
        await app.worker.emit("order.placed", Order("small", 1), trace_id="4" * 32)
        await app.worker.emit("order.placed", Order("big", 500), trace_id="4" * 32)
        await app.embedded.queues.wait_idle()
        assert app.embedded.queues.failed == 0
    assert calls == ["big"]


async def test_fifo_keeps_order_per_group_under_concurrency():
    order: dict[str, list[int]] = {}
    running_now = 0
    most_at_once = 0

    @on("ledger", queue=QueueConfig(type="fifo", concurrency=10))
    async def apply(entry: dict):
        nonlocal running_now, most_at_once
        running_now += 1
        most_at_once = max(most_at_once, running_now)
        await asyncio.sleep(random.random() / 200)
        order.setdefault(entry["account"], []).append(entry["n"])
        running_now -= 1

    async with running(apply) as app:
        sent: dict[str, list[int]] = {}
        for n in range(200):
            account = f"acct-{n % 7}"
            sent.setdefault(account, []).append(n)
            await app.worker.emit("ledger", {"account": account, "n": n}, trace_id="5" * 32,
                                  message_group_id=account)
        await app.embedded.queues.wait_idle()
    assert order == sent
    assert 1 < most_at_once <= 7  # groups run in parallel, one message per group at a time


async def test_a_failing_fifo_message_blocks_only_its_group():
    clock = ManualClock()
    seen = []
    failures = {"a": 1}

    @on("jobs", queue=QueueConfig(type="fifo", max_retries=2, backoff_delay_ms=1000))
    async def work(job: dict):
        if failures.get(job["id"], 0) > 0:
            failures[job["id"]] -= 1
            raise RuntimeError("try again")
        seen.append(job["id"])

    async with running(work, clock=clock) as app:
        for job, group in (("a", "g1"), ("b", "g1"), ("c", "g2")):
            await app.worker.emit("jobs", {"id": job}, trace_id="6" * 32, message_group_id=group)
        await asyncio.sleep(0.05)
        assert seen == ["c"]  # b waits behind a's retry, c's group is free
        await clock.advance(1)
        await app.embedded.queues.wait_idle()
    assert seen == ["c", "a", "b"]


async def test_delay_seconds_holds_a_message_back():
    clock = ManualClock()
    seen = []

    @on("later", queue=QueueConfig(delay_seconds=60))
    async def handle(data):
        seen.append(clock.now())

    async with running(handle, clock=clock) as app:
        start = clock.now()
        await app.worker.emit("later", {}, trace_id="7" * 32)
        await clock.advance(59)
        assert seen == []
        await clock.advance(1)
        await app.embedded.queues.wait_idle()
    assert seen == [start + 60]


async def test_handler_timeout_cancels_and_retries():
    attempts = []

    @on("slow", queue=QueueConfig(max_retries=1, backoff_delay_ms=0))
    @step(handler_config=HandlerConfig(timeout=0.1))
    async def slow(data):
        attempts.append(len(attempts))
        if len(attempts) == 1:
            await asyncio.sleep(10)

    async with running(slow) as app:
        await app.worker.emit("slow", {}, trace_id="8" * 32)
        await asyncio.wait_for(app.embedded.queues.wait_idle(), 5)
        assert app.embedded.queues.failed == 1
    assert attempts == [0, 1]


async def test_visibility_timeout_redelivers_a_message_whose_handler_does_not_answer():
    clock = ManualClock()
    attempts = []
    release = asyncio.Event()

    @on("stuck", queue=QueueConfig(visibility_timeout=30, backoff_delay_ms=0))
    async def stuck(data):
        attempts.append(clock.now())
        if len(attempts) == 1:
            await release.wait()

    async with running(stuck, clock=clock) as app:
        await app.worker.emit("stuck", {}, trace_id="9" * 32)
        await clock.advance(29)
        assert len(attempts) == 1
        await clock.advance(2)
        await app.embedded.queues.wait_idle()
    assert len(attempts) == 2 and attempts[1] - attempts[0] >= 30


async def test_emit_to_a_topic_nobody_subscribes_to_succeeds():
    @api("POST", "/shout")
    async def shout(req, ctx):
        await ctx.emit("nobody.listens", {"x": 1})
        return {"ok": True}

    async with running(shout) as app, http(app) as client:
        assert (await client.post("/shout")).json() == {"ok": True}


async def test_enqueue_action_stores_the_call_and_delivers_it_later_with_retries():
    from motia.protocol import Action, InvokeFunction

    clock = ManualClock()
    got = []

    @on("orders.audit")
    async def audit(order: Order):
        got.append(order.id)
        if order.id == "bad":
            raise RuntimeError("refused")

    async with running(audit, clock=clock) as app:
        function_id = next(iter(app.worker.functions))
        for order_id in ("o1", "bad"):
            result = await app.engine.handle_invoke(None, InvokeFunction(
                function_id, {"id": order_id, "total": 1.0}, invocation_id="9f1c2f6e-3d5b-4c1a-8f0e-0a1b2c3d4e5f",
                action=Action("enqueue", "audit-queue"),
            ))
            assert result.error is None and len(result.result["messageReceiptId"]) == 36
        await app.embedded.wait_idle()
        for _ in range(6):  # default settings: 3 retries with exponential back-off from 1 s
            await clock.advance(4)
            await app.embedded.wait_idle()
        dead = await app.embedded.queues.dlq_list({"topic": "audit-queue"})
    assert got.count("o1") == 1 and got.count("bad") == 4
    assert [msgspec.json.decode(d["data"])["id"] for d in dead] == ["bad"]


async def test_stopping_with_a_backlog_waits_for_deliveries_in_flight_only(tmp_path, caplog):
    """Ready messages nobody has taken stay stored; stop does not wait the drain time for them."""
    handled: list[int] = []
    started = asyncio.Event()

    @on("work", queue=QueueConfig(concurrency=1))
    async def slow(job: dict):
        started.set()
        await asyncio.sleep(0.05)
        handled.append(job["n"])

    caplog.set_level(logging.WARNING, logger="motia.engine")
    async with running(slow, data_dir=tmp_path, drain_timeout=30) as app:
        for n in range(20):
            await app.worker.emit("work", {"n": n}, trace_id="0" * 31 + "1")
        await started.wait()
    assert 1 <= len(handled) < 20  # the one in flight finished; the rest were not waited for
    assert not [r for r in caplog.records if "still running" in r.getMessage()]
    async with running(slow, data_dir=tmp_path) as app:  # the rest were kept
        await app.embedded.queues.wait_idle()
    assert sorted(handled) == list(range(20))


async def test_the_subscription_of_a_step_that_is_gone_is_forgotten_at_the_next_start(tmp_path, caplog):
    """`motia run` has no other worker: a remembered subscription its steps do not make again is dropped at
    start-up, and the messages that waited for it become dead letters."""
    handled: list[dict] = []

    @on("work", queue=QueueConfig(delay_seconds=900))
    async def renamed(job: dict):
        handled.append(job)

    @on("work")
    async def kept(job: dict):
        handled.append(job)

    async with running(renamed, kept, data_dir=tmp_path) as app:
        await app.worker.emit("work", {"n": 1}, trace_id="0" * 31 + "1")
        await app.embedded.wait_idle()  # `kept` handles it; `renamed` would in 15 minutes
    caplog.set_level(logging.WARNING, logger="motia.engine")
    async with running(kept, data_dir=tmp_path) as app:
        await app.worker.emit("work", {"n": 2}, trace_id="0" * 31 + "1")
        await app.embedded.wait_idle()
        [topic] = (await app.embedded.queues.list_topics({}))["topics"]
        [letter] = await app.embedded.queues.dlq_list({})
    assert handled == [{"n": 1}, {"n": 2}]
    assert [s["function_id"] for s in topic["subscribers"]] == [next(iter(app.worker.functions))]
    assert "renamed" in letter["function_id"] and letter["error"] == "subscriber_gone: its step is gone"
    assert msgspec.json.decode(letter["data"]) == {"n": 1}
    assert any("forgot the subscription" in r.getMessage() for r in caplog.records)
