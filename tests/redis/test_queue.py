"""The durable queue on Redis Streams, across engine nodes sharing one real redis-server: fan-out per
function, competing nodes, retries to dead letters and back, FIFO per message group across nodes,
delaySeconds, reclaim of what a dead consumer left pending, a Redis restart and a Redis outage, more
subscriptions than a node's pool has connections."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from motia.engine.engine import BuiltinError
from motia.engine.redis.connection import MAX_CONNECTIONS
from motia.engine.redis.queues import GROUP, Keys
from tests.conftest import eventually_async
from tests.redis.conftest import RedisServer
from tests.redis.queue_nodes import Node

pytestmark = pytest.mark.anyio


@pytest.fixture
async def nodes(redis_server: RedisServer) -> AsyncIterator[Callable[[int], list[Node]]]:
    made: list[Node] = []

    def make(count: int) -> list[Node]:
        fresh = [Node(redis_server.url, f"node{len(made) + n}") for n in range(count)]
        made.extend(fresh)
        return fresh

    yield make
    for node in made:
        await node.close()


async def test_each_subscribed_function_gets_every_message_once_whichever_node_delivers(nodes):
    seen: Counter[tuple[str, int]] = Counter()
    by_node: Counter[str] = Counter()

    def recorder(function: str, node: str) -> Any:
        async def handle(data: Any) -> None:
            await asyncio.sleep(0.005)  # long enough for the other node to take the next one
            seen[function, data["n"]] += 1
            by_node[node] += 1
        return handle

    one, two = nodes(2)
    for node in (one, two):
        node.subscribe("billing", "orders", recorder("billing", node.name), concurrency=1)
        node.subscribe("shipping", "orders", recorder("shipping", node.name), concurrency=1)
    for n in range(40):
        await (one if n % 2 else two).publish("orders", {"n": n})
    await eventually_async(lambda: sum(seen.values()) == 80)
    await one.queues.wait_idle()
    assert seen == {(function, n): 1 for function in ("billing", "shipping") for n in range(40)}
    assert by_node[one.name] > 0 and by_node[two.name] > 0  # the nodes competed for the messages


async def test_a_failing_message_is_retried_then_dead_lettered_and_any_node_redrives_it(nodes):
    attempts: Counter[int] = Counter()
    healthy = False

    async def charge(data: Any) -> None:
        attempts[data["n"]] += 1
        if not healthy:
            raise BuiltinError("card_declined", f"order {data['n']}")

    one, two = nodes(2)
    one.subscribe("charge", "orders", charge, maxRetries=2, backoffDelayMs=10)
    await one.publish("orders", {"n": 7})
    await eventually_async(lambda: attempts[7] == 3)
    await one.queues.wait_idle()

    [letter] = await two.call("motia::dlq::list")  # the dead letters live in Redis: every node sees them
    assert (letter["function_id"], letter["topic"], letter["data"], letter["attempts"]) == ("charge", "orders",
                                                                                            {"n": 7}, 3)
    assert letter["error"] == "card_declined: order 7"
    assert (await two.call("engine::queue::list_topics"))["topics"] == [
        {"topic": "orders", "subscribers": [{"function_id": "charge", "pending": 0, "dead": 1, "connected": True}]}
    ]

    healthy = True
    assert await two.call("motia::dlq::redrive", {"ids": [letter["id"]]}) == {"redriven": 1}
    await eventually_async(lambda: attempts[7] == 4)
    await one.queues.wait_idle()
    assert await one.call("motia::dlq::list") == []


async def test_dead_letters_can_be_discarded_by_id(nodes):
    async def refuse(data: Any) -> None:
        raise BuiltinError("nope", "never")

    [one] = nodes(1)
    one.subscribe("refuse", "orders", refuse, maxRetries=0)
    await one.publish("orders", {"n": 1})
    await eventually_async(lambda: one.queues.failed == 1)
    await one.queues.wait_idle()
    [letter] = await one.call("motia::dlq::list")
    assert await one.call("motia::dlq::discard", {"id": letter["id"]}) == {"discarded": True}
    assert await one.call("motia::dlq::discard", {"id": letter["id"]}) == {"discarded": False}
    assert await one.call("motia::dlq::list") == []


async def test_fifo_delivers_one_message_per_group_at_a_time_in_publish_order_across_nodes(nodes):
    order: dict[str, list[int]] = {}
    running: Counter[str] = Counter()
    overlap: list[str] = []

    async def handle(data: Any) -> None:
        group = data["group"]
        running[group] += 1
        if running[group] > 1:
            overlap.append(group)
        await asyncio.sleep(random.random() * 0.004)
        order.setdefault(group, []).append(data["n"])
        running[group] -= 1

    one, two = nodes(2)
    for node in (one, two):
        node.subscribe("ledger", "payments", handle, type="fifo", concurrency=5)
    groups = ["alice", "bob", "carol"]
    for n in range(30):
        for group in groups:
            await (one if n % 2 else two).publish("payments", {"group": group, "n": n}, group=group)
    await eventually_async(lambda: sum(len(v) for v in order.values()) == 90)
    assert order == {group: list(range(30)) for group in groups}
    assert overlap == []


async def test_a_failing_fifo_message_blocks_its_group_until_it_succeeds(nodes):
    order: list[int] = []
    failures = 2

    async def handle(data: Any) -> None:
        nonlocal failures
        if data["n"] == 0 and failures:
            failures -= 1
            raise BuiltinError("later", "try again")
        order.append(data["n"])

    one, two = nodes(2)
    for node in (one, two):
        node.subscribe("ledger", "payments", handle, type="fifo", backoffDelayMs=20)
    for n in range(5):
        await one.publish("payments", {"n": n}, group="g")
    await eventually_async(lambda: len(order) == 5)
    assert order == [0, 1, 2, 3, 4]


async def test_delay_seconds_holds_a_message_back_at_least_that_long(nodes):
    handled: list[float] = []

    async def handle(data: Any) -> None:
        handled.append(time.time() - data["sent"])

    [one] = nodes(1)
    one.subscribe("later", "reminders", handle, delaySeconds=0.3)
    await one.publish("reminders", {"sent": time.time()})
    await eventually_async(lambda: len(handled) == 1)
    assert handled[0] >= 0.3


async def test_a_message_left_pending_by_a_dead_consumer_is_reclaimed_after_the_visibility_timeout(
        nodes, redis_server: RedisServer):
    handled: list[Any] = []

    async def handle(data: Any) -> None:
        handled.append(data)

    [one] = nodes(1)
    one.subscribe("audit", "orders", handle, visibilityTimeout=0.5)
    await one.queues.wait_idle()
    await one.unsubscribe("audit")  # this node stops reading; a consumer that will die takes the next message
    await one.publish("orders", {"n": 1})
    dying = aioredis.Redis.from_url(redis_server.url)
    keys = Keys("orders", "audit")
    [[_, [_taken]]] = await dying.xreadgroup(GROUP, "dies-mid-delivery", {keys.stream: ">"}, count=1)
    await dying.aclose()  # gone without acknowledging

    one.subscribe("audit", "orders", handle, visibilityTimeout=0.5)
    await eventually_async(lambda: handled == [{"n": 1}])
    await one.queues.wait_idle()
    assert handled == [{"n": 1}]


async def test_messages_wait_in_redis_while_no_node_holds_the_subscription(nodes):
    handled: list[int] = []

    async def handle(data: Any) -> None:
        handled.append(data["n"])

    one, two = nodes(2)
    one.subscribe("mail", "signups", handle)
    await one.queues.wait_idle()
    await one.unsubscribe("mail")
    for n in range(3):
        await two.publish("signups", {"n": n})  # two never subscribed: the subscription is in Redis
    [away] = (await two.call("engine::queue::list_topics"))["topics"][0]["subscribers"]
    assert (away["function_id"], away["pending"], away["connected"]) == ("mail", 3, False)
    two.subscribe("mail", "signups", handle)
    await eventually_async(lambda: sorted(handled) == [0, 1, 2])


async def test_nothing_acknowledged_is_lost_across_a_redis_restart(nodes, redis_server: RedisServer):
    handled: Counter[int] = Counter()

    async def handle(data: Any) -> None:
        await asyncio.sleep(0.001)
        handled[data["n"]] += 1

    one, two = nodes(2)
    for node in (one, two):
        node.subscribe("count", "ticks", handle, visibilityTimeout=1, backoffDelayMs=50)
    acknowledged = []
    for n in range(300):
        if n == 100:
            await asyncio.to_thread(redis_server.restart)
        try:
            await (one if n % 2 else two).publish("ticks", {"n": n})
        except RuntimeError as exc:  # while Redis is away (it is back at once here)
            assert "STORE_UNAVAILABLE" in str(exc)
            continue
        acknowledged.append(n)
    assert len(acknowledged) >= 250
    await eventually_async(lambda: set(acknowledged) <= set(handled), timeout=20)


async def delivering(nodes: Callable[[int], list[Node]]) -> tuple[Node, list[int]]:
    """A node whose `mail` function has handled `{"n": 1}` on `signups`, and the list of what it handled."""
    handled: list[int] = []

    async def handle(data: Any) -> None:
        handled.append(data["n"])

    [one] = nodes(1)
    one.subscribe("mail", "signups", handle)
    await one.publish("signups", {"n": 1})
    await eventually_async(lambda: handled == [1])
    return one, handled


async def test_publishing_while_redis_is_down_fails_with_an_error_naming_redis_and_delivery_resumes_after(
        nodes, redis_server: RedisServer):
    one, handled = await delivering(nodes)
    redis_server.stop(kill=True)
    refused = await one.engine.core.invoke("iii::durable::publish", {"topic": "signups", "data": {"n": 2}})
    assert refused.error is not None and refused.error.code == "STORE_UNAVAILABLE"  # HTTP answers it with a 503
    assert refused.error.message.startswith(f"Redis at {redis_server.url} does not answer")
    await asyncio.to_thread(redis_server.start)
    await one.publish("signups", {"n": 3})
    # A refused publish is like a write whose reply was lost: it may have been applied. Here the node had
    # already handed the message to its own worker when the publish went out (redis/queues.py, `Local`).
    await eventually_async(lambda: handled in ([1, 3], [1, 2, 3]))


async def test_publishing_to_a_topic_nobody_subscribes_to_is_reported(nodes):
    [one] = nodes(1)
    await one.publish("nowhere", {"n": 1})
    assert one.queues.unheard("nowhere") == "no function subscribes to topic 'nowhere': the message is dropped"


async def test_a_subscription_away_longer_than_the_retention_is_forgotten_and_its_messages_dead_lettered(nodes):
    async def handle(data: Any) -> None:
        pass

    one, two = nodes(2)
    one.subscribe("mail", "signups", handle)
    await one.queues.wait_idle()
    await one.unsubscribe("mail")
    await two.publish("signups", {"n": 1})
    two.queues.away_retention = 0  # the next publish finds it away for too long
    await two.publish("signups", {"n": 2})
    [letter] = await one.call("motia::dlq::list")
    assert (letter["data"], letter["function_id"]) == ({"n": 1}, "mail")
    assert letter["error"] == "subscriber_gone: away for more than 0s"
    assert (await one.call("engine::queue::list_topics"))["topics"] == []


async def test_the_enqueue_action_delivers_to_one_function_through_a_named_queue(nodes):
    handled: list[Any] = []

    async def handle(data: Any) -> None:
        handled.append(data)

    [one] = nodes(1)
    one.engine.core.add_builtin("resize", handle)
    receipt = await one.queues.enqueue("images", "resize", {"id": 3}, None)
    assert receipt.isdigit()
    await eventually_async(lambda: len(handled) == 1)
    assert [msgspec.json.decode(raw) for raw in handled] == [{"id": 3}]
    assert (await one.call("engine::queue::list_topics"))["topics"] == []  # not a topic subscription


async def test_more_subscriptions_than_the_pool_has_connections_all_read_at_once_and_state_writes_go_through(
        nodes, redis_server: RedisServer):
    handled: set[int] = set()

    async def handle(data: Any) -> None:
        handled.add(data["n"])

    [one] = nodes(1)
    count = MAX_CONNECTIONS + 16
    for n in range(count):
        one.subscribe(f"reader{n}", f"topic{n}", handle)
    observer = aioredis.Redis.from_url(redis_server.url)
    try:
        async def all_reading() -> bool:  # as many connections whose last command is a (blocking) XREADGROUP
            return sum(client["cmd"] == "xreadgroup" for client in await observer.client_list()) >= count

        # Each subscription blocks in a read of its own, at the same time: not possible within the pool.
        await eventually_async(all_reading, timeout=20, interval=0.05)
        await asyncio.gather(*(one.call("state::set", {"scope": "s", "key": f"k{n}", "value": n})
                               for n in range(100)))
        assert await one.call("state::get", {"scope": "s", "key": "k99"}) == 99
        await asyncio.gather(*(one.publish(f"topic{n}", {"n": n}) for n in range(count)))
        await eventually_async(lambda: handled == set(range(count)), timeout=20)
    finally:
        await observer.aclose()


async def test_an_emit_after_redis_restarted_while_the_node_was_idle_is_stored_at_once(
        nodes, redis_server: RedisServer):
    one, handled = await delivering(nodes)
    await asyncio.to_thread(redis_server.restart)
    await asyncio.sleep(0.1)  # the node notices the closed connections while idle
    await one.publish("signups", {"n": 2})  # not refused: the connection Redis closed is not used
    await eventually_async(lambda: handled == [1, 2], timeout=20)


async def test_entries_read_ahead_by_a_node_that_stops_are_delivered_by_another_at_once_exactly_once(nodes):
    """A node reads ahead of its free workers when its handlers are fast (redis/queues.py, PREFETCH_WINDOW).
    Stopped gracefully, it gives back what it read and did not start: the other node delivers those within a
    second, not after the (here 30 s) visibility timeout, and nothing is delivered twice. A graceful stop also
    records the acks of what it finished: none stays pending."""
    handled: Counter[int] = Counter()

    async def handle(data: Any) -> None:
        await asyncio.sleep(0.002)
        handled[data["n"]] += 1

    one, two = nodes(2)
    one.subscribe("index", "docs", handle, concurrency=2, visibilityTimeout=30)
    for n in range(5):  # the node learns the handler's pace: from now on it reads ahead
        await one.publish("docs", {"n": n})
    await eventually_async(lambda: len(handled) == 5)
    await asyncio.gather(*(one.publish("docs", {"n": n}) for n in range(5, 400)))
    await eventually_async(lambda: len(one.queues.subscribers["index"].ready) > 0, timeout=10)
    ahead = len(one.queues.subscribers["index"].ready)
    await one.close()  # the read-ahead entries go back to Redis
    pending = await two.queues.client.xpending(Keys("docs", "index").stream, GROUP)
    assert 0 < pending["pending"] <= ahead + 2  # what it gave back (and what its two workers had not finished)
    two.subscribe("index", "docs", handle, concurrency=2, visibilityTimeout=30)
    await eventually_async(lambda: len(handled) == 400, timeout=12)  # well within the visibility timeout
    await two.queues.wait_idle()
    assert set(handled.values()) == {1}
    assert ahead > 2  # it did read ahead (more than its two workers)


async def test_a_node_delivers_what_it_publishes_itself_and_stores_it_only_for_the_functions_it_does_not(nodes):
    """The Redis analogue of the SQLite group commit (redis/queues.py, `Local`): a publish whose node has a free
    worker of a subscribing function hands it the message at once; done before the publish goes out, nothing
    is stored for that function. Another subscribing function (on another node) gets it through Redis."""
    by: dict[str, list[tuple[str, int]]] = {"billing": [], "audit": []}

    def recorder(function: str, node: str) -> Any:
        async def handle(data: Any) -> None:
            by[function].append((node, data["n"]))
        return handle

    one, two = nodes(2)
    one.subscribe("billing", "orders", recorder("billing", one.name))
    two.subscribe("billing", "orders", recorder("billing", two.name))
    two.subscribe("audit", "orders", recorder("audit", two.name))
    await one.publish("orders", {"n": -1})  # the node's first publish opens its connection: through Redis
    await eventually_async(lambda: len(by["billing"]) == 1 and len(by["audit"]) == 1)
    await one.queues.wait_idle()
    client = one.queues.client
    stored = (await client.xinfo_stream(Keys("orders", "billing").stream))["entries-added"]
    for n in range(20):
        await one.publish("orders", {"n": n})
    await eventually_async(lambda: len(by["billing"]) == 21 and len(by["audit"]) == 21)
    await one.queues.wait_idle()
    assert by["billing"][1:] == [(one.name, n) for n in range(20)]  # the publishing node, each once, in order
    assert sorted(n for _, n in by["audit"]) == list(range(-1, 20))
    assert (await client.xinfo_stream(Keys("orders", "billing").stream))["entries-added"] == stored
    assert (await client.xinfo_stream(Keys("orders", "audit").stream))["entries-added"] == 21


async def test_a_local_delivery_still_running_is_held_in_redis_and_another_node_delivers_it_if_the_first_dies(
        nodes):
    started, finished = asyncio.Event(), []

    async def slow(data: Any) -> None:
        if data["n"] == 0:  # the node's first publish (it opens its connection: through Redis)
            return
        started.set()
        await asyncio.sleep(30)  # cancelled with its node
        finished.append(data["n"])

    async def quick(data: Any) -> None:
        finished.append(data["n"])

    one, two = nodes(2)
    one.subscribe("index", "docs", slow, visibilityTimeout=1)
    await one.publish("docs", {"n": 0})
    await one.queues.wait_idle()
    await one.publish("docs", {"n": 1})
    await asyncio.wait_for(started.wait(), 5)
    delayed = Keys("docs", "index").delayed
    [held] = await one.queues.client.zrange(delayed, 0, -1)
    assert held[:1] == b"h"  # held while it runs here
    [message] = (await one.call("engine::queue::list_topics"))["topics"][0]["subscribers"]
    assert message["pending"] == 1
    await one.engine.stop(drain_timeout=0.01)  # the node goes with the delivery unfinished
    two.subscribe("index", "docs", quick, visibilityTimeout=1)
    await eventually_async(lambda: finished == [1], timeout=10)  # the held copy came due
    await two.queues.wait_idle()
    assert await two.queues.client.zcard(delayed) == 0


async def test_a_failing_local_delivery_is_retried_from_its_held_copy_then_dead_lettered(nodes):
    attempts: Counter[int] = Counter()

    async def charge(data: Any) -> None:
        attempts[data["n"]] += 1
        if data["n"] == 7:
            raise BuiltinError("card_declined", f"order {data['n']}")

    [one] = nodes(1)
    one.subscribe("charge", "orders", charge, maxRetries=2, backoffDelayMs=10)
    await one.publish("orders", {"n": 0})  # the node's first publish opens its connection: through Redis
    await one.queues.wait_idle()
    stream = Keys("orders", "charge").stream
    stored = (await one.queues.client.xinfo_stream(stream))["entries-added"]
    await one.publish("orders", {"n": 7})
    await eventually_async(lambda: attempts[7] == 3)
    await one.queues.wait_idle()
    [letter] = await one.call("motia::dlq::list")
    assert (letter["attempts"], letter["error"]) == (3, "card_declined: order 7")
    assert attempts[7] == 3
    assert await one.queues.client.zcard(Keys("orders", "charge").delayed) == 0
    # the first attempt was local (the message never went to the stream), the retries came from its held copy
    assert (await one.queues.client.xinfo_stream(stream))["entries-added"] == stored + 2


async def test_a_message_handed_to_a_local_worker_of_a_node_that_stops_first_is_stored_for_another_node(nodes):
    handled: list[tuple[str, int]] = []

    def recorder(node: str) -> Any:
        async def handle(data: Any) -> None:
            handled.append((node, data["n"]))
        return handle

    one, two = nodes(2)
    one.subscribe("index", "docs", recorder(one.name))
    await one.publish("docs", {"n": 0})  # the node's first publish opens its connection: through Redis
    await eventually_async(lambda: handled == [(one.name, 0)])
    await one.queues.wait_idle()
    publishing = asyncio.ensure_future(one.publish("docs", {"n": 1}))
    await asyncio.sleep(0)  # the publish handed the message to an idle worker of its own, and waits for Redis
    await one.engine.stop(drain_timeout=1)  # before that worker ran: the message is given back
    await publishing
    assert handled == [(one.name, 0)]
    two.subscribe("index", "docs", recorder(two.name))
    await eventually_async(lambda: handled == [(one.name, 0), (two.name, 1)])


async def test_a_burst_of_local_deliveries_past_the_free_workers_is_handled_once_each_and_leaves_nothing_held(
        nodes):
    """Publishes faster than the node's own workers handle them: some go to its workers and outlast their
    publish (held in Redis while they wait and run, then removed), the rest go through the stream to either
    node. Each is handled once; nothing stays held, pending or unacknowledged."""
    handled: Counter[int] = Counter()

    async def handle(data: Any) -> None:
        await asyncio.sleep(0.01)
        handled[data["n"]] += 1

    one, two = nodes(2)
    one.subscribe("index", "docs", handle, concurrency=2)
    two.subscribe("index", "docs", handle, concurrency=2)
    await one.publish("docs", {"n": -1})  # the node's first publish opens its connection: through Redis
    await eventually_async(lambda: handled[-1] == 1)
    client = one.queues.client
    await client.config_resetstat()
    await asyncio.gather(*(one.publish("docs", {"n": n}) for n in range(200)))
    await eventually_async(lambda: len(handled) == 201, timeout=20)
    await one.queues.wait_idle()
    await two.queues.wait_idle()
    assert set(handled.values()) == {1}
    stats = await client.info("commandstats")
    assert stats["cmdstat_zadd"]["calls"] >= 1 and stats["cmdstat_zrem"]["calls"] >= 1  # some were held
    assert stats["cmdstat_xadd"]["calls"] >= 1  # some went through the stream
    keys = Keys("docs", "index")
    assert await client.zcard(keys.delayed) == 0
    assert (await client.xpending(keys.stream, GROUP))["pending"] == 0
    assert await client.xlen(keys.stream) == 0
