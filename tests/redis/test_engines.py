"""Two embedded engines on one Redis, in one event loop: what one node does, the other sees (state, stream
items and changes, `publish`), cron ticks are taken by one node, and the keys are laid out for Redis Cluster."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect

import redis
from motia.engine.clock import ManualClock
from motia.engine.embedded import EmbeddedEngine
from motia.engine.engine import TriggerEntry
from motia.engine.redis import RedisStore
from motia.protocol import new_id
from tests.conftest import eventually_async
from tests.redis.conftest import RedisServer

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def nodes(url: str, count: int = 2, **options: Any) -> AsyncIterator[list[EmbeddedEngine]]:
    engines = [EmbeddedEngine(RedisStore(url), **options) for _ in range(count)]
    for engine in engines:
        await engine.start(stream_port=0)
    try:
        yield engines
    finally:
        for engine in engines:
            await engine.stop(drain_timeout=2)


async def call(engine: EmbeddedEngine, function_id: str, data: Any) -> Any:
    result = await engine.core.invoke(function_id, data)
    assert result.error is None, result.error
    return json.loads(json.dumps(result.result, default=lambda raw: json.loads(bytes(raw))))


def bind(engine: EmbeddedEngine, kind: str, config: dict[str, Any], seen: list[Any],
         function_id: str = "test::record") -> None:
    """A function on this node that records what it is called with, bound by a `kind` trigger (the same
    function on every node, as N identical nodes have)."""

    async def record(data: Any) -> None:
        seen.append(data)

    engine.core.add_builtin(function_id, record)
    assert engine.core.register_trigger(TriggerEntry(new_id(), kind, function_id, config, None, None)) is None


async def test_every_state_operation_is_shared_between_nodes(redis_server: RedisServer) -> None:
    async with nodes(redis_server.url) as (one, two):
        await call(one, "state::set", {"scope": "users", "key": "u1", "value": {"name": "Ada", "visits": 0}})
        await call(one, "state::set", {"scope": "settings", "key": "theme", "value": "dark"})
        assert await call(two, "state::get", {"scope": "users", "key": "u1"}) == {"name": "Ada", "visits": 0}
        updated = await call(two, "state::update", {"scope": "users", "key": "u1", "ops": [
            {"type": "increment", "path": "visits", "by": 2}, {"type": "increment", "path": "name", "by": 1}]})
        assert updated["new_value"] == {"name": "Ada", "visits": 2}
        assert [error["op_index"] for error in updated["errors"]] == [1]
        await call(two, "state::set", {"scope": "users", "key": "u0", "value": {"name": "Bob"}})
        assert await call(one, "state::list", {"scope": "users"}) == [{"name": "Bob"}, {"name": "Ada", "visits": 2}]
        assert await call(one, "state::list_groups", {}) == {"groups": ["settings", "users"]}
        assert await call(one, "state::delete", {"scope": "users", "key": "u0"}) == {"name": "Bob"}
        assert await call(two, "state::get", {"scope": "users", "key": "u0"}) is None
        assert await call(two, "state::clear", {"scope": "users"}) == {"deleted": 1}
        assert await call(one, "state::list_groups", {}) == {"groups": ["settings"]}


async def test_concurrent_updates_on_two_nodes_lose_no_increment(redis_server: RedisServer) -> None:
    op = {"scope": "counters", "key": "hits", "ops": [{"type": "increment", "path": "n", "by": 1}]}
    async with nodes(redis_server.url) as (one, two):
        await asyncio.gather(*(call(node, "state::update", op) for _ in range(200) for node in (one, two)))
        assert await call(one, "state::get", {"scope": "counters", "key": "hits"}) == {"n": 400}


async def test_a_state_trigger_fires_once_on_the_node_that_made_the_change(redis_server: RedisServer) -> None:
    fired: list[list[Any]] = [[], []]
    async with nodes(redis_server.url) as engines:
        for engine, seen in zip(engines, fired, strict=True):
            bind(engine, "state", {"scope": "orders"}, seen)
        await call(engines[0], "state::set", {"scope": "orders", "key": "o1", "value": 1})
        await eventually_async(lambda: fired[0])
        await asyncio.sleep(0.2)  # the other node would have fired by now
    assert [event["key"] for event in fired[0]] == ["o1"]
    assert fired[1] == []


async def test_stream_items_and_changes_reach_the_sockets_of_the_other_node(redis_server: RedisServer) -> None:
    join = {"type": "join", "data": {"subscriptionId": "s", "streamName": "todos", "groupId": "inbox"}}
    async with nodes(redis_server.url) as (one, two):
        async with connect(f"ws://127.0.0.1:{two.streams.port}") as socket:
            await socket.send(json.dumps(join))
            sync = json.loads(await asyncio.wait_for(socket.recv(), 5))
            assert sync["event"] == {"type": "sync", "data": []}
            await call(one, "stream::set", {"stream_name": "todos", "group_id": "inbox", "item_id": "2",
                                            "data": {"t": 2}})
            await call(one, "stream::send", {"stream_name": "todos", "group_id": "inbox", "type": "ping"})
            pushed = [json.loads(await asyncio.wait_for(socket.recv(), 5)) for _ in range(2)]
        assert [(f["id"], f["event"]) for f in pushed] == [
            ("2", {"type": "create", "data": {"t": 2}}),
            (None, {"type": "event", "event": {"type": "ping", "data": None}}),
        ]
        async with connect(f"ws://127.0.0.1:{two.streams.port}") as socket:  # a later client: items from Redis
            await socket.send(json.dumps(join))
            sync = json.loads(await asyncio.wait_for(socket.recv(), 5))
            assert sync["event"] == {"type": "sync", "data": [{"t": 2}]}
        assert await call(two, "stream::list_groups", {"stream_name": "todos"}) == ["inbox"]
        assert await call(two, "stream::list_all", {}) == {"stream": [{"id": "todos", "groups": ["inbox"]}],
                                                          "count": 1}


async def test_publish_reaches_subscribers_on_every_node_once(redis_server: RedisServer) -> None:
    seen: list[list[Any]] = [[], []]
    async with nodes(redis_server.url) as engines:
        for engine, received in zip(engines, seen, strict=True):
            bind(engine, "subscribe", {"topic": "news"}, received)
        await call(engines[0], "publish", {"topic": "news", "data": {"headline": "hi"}})
        await eventually_async(lambda: seen[0] and seen[1])
        await asyncio.sleep(0.2)
    assert seen == [[{"headline": "hi"}], [{"headline": "hi"}]]


async def test_a_cron_tick_runs_on_one_node_only(redis_server: RedisServer) -> None:
    clock = ManualClock(1_800_000_000.0)
    runs: list[list[Any]] = [[], []]
    async with nodes(redis_server.url, clock=clock) as engines:
        for engine, seen in zip(engines, runs, strict=True):
            bind(engine, "cron", {"expression": "* * * * * *"}, seen)
        for _ in range(5):
            await clock.advance(1)
            await asyncio.sleep(0.05)
        await eventually_async(lambda: len(runs[0]) + len(runs[1]) == 5)
    ticks = sorted(run["scheduled_time"] for node in runs for run in node)
    assert len(set(ticks)) == 5


async def test_keys_carry_one_hash_tag_per_scope_group_and_job(redis_server: RedisServer) -> None:
    async with nodes(redis_server.url, count=1) as (one,):
        await call(one, "state::set", {"scope": "users", "key": "u1", "value": 1})
        await call(one, "state::set", {"scope": "we{ir}d", "key": "k", "value": 1})
        await call(one, "stream::set", {"stream_name": "todos", "group_id": "inbox", "item_id": "1", "data": 1})
    client = redis.Redis.from_url(redis_server.url)
    found = sorted(key.decode() for key in client.keys("motia:*"))
    client.close()
    assert "motia:state:{users}" in found
    assert "motia:stream:{5:todos:inbox}" in found
    assert "motia:stream-groups:{todos}" in found
    weird = [key for key in found if key.startswith("motia:state:{#")]
    assert len(weird) == 1  # a scope with braces hashes by its digest, still one tag
