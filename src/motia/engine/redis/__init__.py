"""Nodes sharing one Redis (`--store redis://HOST:PORT/DB`): state, streams, queues, cron locks and pub/sub.

Importing this package does not import the `redis` client (an optional extra): `RedisStore` does, when it
connects, and says how to install it when it is missing.
"""

from .connection import RedisUnavailable, is_redis_url, redact
from .store import RedisStore

__all__ = ["RedisStore", "RedisUnavailable", "is_redis_url", "redact"]
