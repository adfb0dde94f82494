"""The harness itself: a server starts, keeps an acknowledged write across a restart (AOF), and stops."""

from __future__ import annotations

import redis
from tests.redis.conftest import RedisServer


def test_server_keeps_acknowledged_writes_across_restart(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.set("k", "v")
    client.close()
    redis_server.restart()
    client = redis.Redis.from_url(redis_server.url)
    assert client.get("k") == b"v"
    client.close()
