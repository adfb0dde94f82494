"""Durable subscriptions, frame by frame: a (topic, function id) subscription is remembered while no worker of
the function is connected, its messages wait for the next one, it is forgotten after the retention time, and a
topic nothing subscribes to is reported once. (tests/reliability/test_away_subscriber.py: the same with
`motia` processes, 1,000 emits and an engine restart.)"""

from __future__ import annotations

import logging
from typing import Any

from tests.protocol.conftest import Engine, RawWorker

TOPIC = "orders.placed"
FUNCTION = "billing::charge"


def subscribe(engine: Engine, topic: str = TOPIC, *, waiting: bool = False) -> RawWorker:
    """A worker subscribed to `topic`; with `waiting`, deliveries may follow at once, so no ping (`sync` would
    skip them)."""
    worker = engine.worker()
    worker.register(FUNCTION)
    worker.bind("durable:subscriber", FUNCTION, {"topic": topic, "queue_config": {"backoffDelayMs": 10}})
    if not waiting:
        worker.sync()
    return worker


def call(engine: Engine, function_id: str, data: Any = None) -> Any:
    caller = engine.worker()
    try:
        reply = caller.call(function_id, data)
    finally:
        caller.close()
    assert "error" not in reply or reply["error"] is None, reply
    return reply.get("result")


def publish(engine: Engine, topic: str, data: Any) -> None:
    call(engine, "iii::durable::publish", {"topic": topic, "data": data})


def subscribers(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    return {t["topic"]: t["subscribers"] for t in call(engine, "engine::queue::list_topics")["topics"]}


def receive(worker: RawWorker, count: int) -> list[Any]:
    """Answer `count` deliveries with success; their data, in arrival order."""
    received = []
    for _ in range(count):
        delivery = worker.expect("invokefunction", function_id=FUNCTION)
        worker.answer(delivery, None)
        received.append(delivery["data"])
    return received


def test_a_function_on_two_topics_has_each_subscriptions_own_counts(engine):
    subscribe(engine, TOPIC).close()
    subscribe(engine, "orders.refunded").close()
    for n in range(3):
        publish(engine, TOPIC, {"n": n})
    publish(engine, "orders.refunded", {"n": 9})
    listed = subscribers(engine)
    assert [(s["function_id"], s["pending"]) for s in listed[TOPIC]] == [(FUNCTION, 3)]
    assert [(s["function_id"], s["pending"]) for s in listed["orders.refunded"]] == [(FUNCTION, 1)]


def test_messages_published_while_the_subscriber_is_disconnected_wait_for_its_return(engine):
    subscribe(engine).close()
    for n in range(3):
        publish(engine, TOPIC, {"n": n})
    [away] = subscribers(engine)[TOPIC]
    assert (away["function_id"], away["pending"], away["connected"]) == (FUNCTION, 3, False)

    # A new connection and a new trigger id: the same (topic, function) subscription.
    back = subscribe(engine, waiting=True)
    assert sorted(m["n"] for m in receive(back, 3)) == [0, 1, 2]
    back.sync()
    [returned] = subscribers(engine)[TOPIC]
    assert (returned["pending"], returned["dead"], returned["connected"]) == (0, 0, True)
    back.close()


def test_a_subscriber_that_unregisters_on_its_way_out_is_away_too(engine):
    # What a worker stopped with SIGTERM sends before it closes (runtime/remote.py `_drain`).
    worker = engine.worker()
    worker.register(FUNCTION)
    trigger_id = worker.bind("durable:subscriber", FUNCTION, {"topic": TOPIC})
    worker.send({"type": "unregistertrigger", "id": trigger_id, "trigger_type": "durable:subscriber"})
    worker.send({"type": "unregisterfunction", "id": FUNCTION})
    worker.sync()
    publish(engine, TOPIC, {"n": 1})
    assert subscribers(engine)[TOPIC][0]["pending"] == 1
    assert receive(subscribe(engine, waiting=True), 1) == [{"n": 1}]


def test_a_subscription_away_longer_than_the_retention_is_forgotten_and_its_messages_dead_lettered(engine, caplog):
    subscribe(engine).close()
    publish(engine, TOPIC, {"n": 1})
    engine.app.embedded.queues.away_retention = 0  # the next publish finds it away for too long
    with caplog.at_level(logging.WARNING, logger="motia.engine"):
        publish(engine, TOPIC, {"n": 2})
    assert subscribers(engine) == {}
    [letter] = call(engine, "motia::dlq::list")
    assert (letter["data"], letter["function_id"]) == ({"n": 1}, FUNCTION)
    assert letter["error"] == "subscriber_gone: away for more than 0s"
    [record] = [r for r in caplog.records if "forgot the subscription" in r.getMessage()]
    assert f"forgot the subscription of {FUNCTION} to {TOPIC} (away for more than 0s)" in record.getMessage()
    assert "1 waiting messages are now dead letters" in record.getMessage()


def test_publishing_to_a_topic_nothing_subscribes_to_warns_once_naming_the_closest_topics(engine, caplog):
    subscribe(engine)
    with caplog.at_level(logging.WARNING, logger="motia.engine"):
        publish(engine, "orders.placd", {"n": 1})
        publish(engine, "orders.placd", {"n": 2})
        publish(engine, "unrelated", {})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "no function subscribes to topic 'orders.placd': the message is dropped; did you mean 'orders.placed'? "
        "(logged once per topic)",
        "no function subscribes to topic 'unrelated': the message is dropped (logged once per topic)",
    ]
    assert subscribers(engine)[TOPIC][0]["pending"] == 0  # nothing was stored for the subscriber of another topic
