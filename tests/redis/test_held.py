"""The held connections of the queue (engine/redis/held.py) on a real redis-server: overlapping round trips on one
connection each get their own replies in order, a cancelled round trip does not shift the replies of the next,
error replies come back in place (NOSCRIPT as redis-py's NoScriptError), and a Redis restart fails what waits
and the next round trip connects again."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from motia.engine.redis.held import HeldConnection
from tests.redis.conftest import RedisServer

pytestmark = pytest.mark.anyio


async def test_overlapping_round_trips_on_one_connection_each_get_their_own_replies(redis_server: RedisServer):
    client = aioredis.Redis.from_url(redis_server.url)
    held = HeldConnection(client.connection_pool)
    try:
        async def echo(n: int) -> list[bytes]:
            return await held.round_trip([("ECHO", f"{n}-a"), ("ECHO", f"{n}-b"), ("INCR", "counter")])

        results = await asyncio.gather(*(echo(n) for n in range(200)))
        for n, (a, b, _) in enumerate(results):
            assert (a, b) == (f"{n}-a".encode(), f"{n}-b".encode())
        assert sorted(count for _, _, count in results) == list(range(1, 201))

        replies = await held.round_trip([("EVALSHA", "0" * 40, 0), ("GET", "counter"), ("LPUSH", "counter", "x")])
        assert isinstance(replies[0], NoScriptError) and replies[1] == b"200"
        assert isinstance(replies[2], ResponseError) and "WRONGTYPE" in str(replies[2])

        slow = asyncio.ensure_future(held.round_trip([("BLPOP", "nothing", 0.3)]))
        await asyncio.sleep(0.05)
        slow.cancel()  # its reply still arrives, and is not taken for the next round trip's
        assert await held.round_trip([("ECHO", "after")]) == [b"after"]
    finally:
        await held.release()
        await client.aclose()


async def test_a_redis_restart_fails_the_waiting_round_trip_and_the_next_one_connects_again(
        redis_server: RedisServer):
    client = aioredis.Redis.from_url(redis_server.url)
    held = HeldConnection(client.connection_pool)
    try:
        assert await held.round_trip([("SET", "kept", "1")]) == [b"OK"]
        waiting = asyncio.ensure_future(held.round_trip([("BLPOP", "nothing", 5)]))
        await asyncio.sleep(0.1)
        await asyncio.to_thread(redis_server.restart)
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(waiting, 5)
        assert await held.round_trip([("GET", "kept")]) == [b"1"]  # AOF kept it; a fresh connection read it
    finally:
        await held.release()
        await client.aclose()
