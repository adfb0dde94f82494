"""The Redis URL (`--store redis://HOST:PORT/DB`, `rediss://` for TLS) and the client made from it.

The URL is checked before anything connects; the server is asked for a PING once at start, so a wrong or
unreachable URL is an error naming it (its password never appears in a message or a log line).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ...errors import STORE_UNAVAILABLE
from ..engine import BuiltinError
from ..store import StoreError

INSTALL_HINT = "pip install 'motia-py[redis]'"
# How long one connect may take before the server counts as unreachable (at start and when reconnecting).
CONNECT_TIMEOUT = 5.0
# Connections one node opens at most for its commands (Redis takes 10,000 clients by default: room for many
# nodes). The queue's blocking reads have a pool of their own (`readers`): one connection per (topic,
# function) subscription, so that any number of them leave these to everything else.
MAX_CONNECTIONS = 64


class RedisUnavailable(StoreError):
    """Redis cannot be used: not installed, a malformed URL, or the server does not answer."""


def redact(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def is_redis_url(value: str) -> bool:
    return value.startswith(("redis://", "rediss://"))


def check_url(url: str) -> str:
    """The URL when it is a usable `redis://HOST:PORT/DB` (or `rediss://`), else a RedisUnavailable naming it."""
    shown = redact(url)
    if not is_redis_url(url):
        raise RedisUnavailable(f"--store {shown}: expected redis://HOST:PORT/DB or rediss://HOST:PORT/DB")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port that is not a number, or out of range
        raise RedisUnavailable(f"--store {shown}: {exc}") from None
    if not parts.hostname:
        raise RedisUnavailable(f"--store {shown}: the URL names no host (redis://HOST:PORT/DB)")
    if port == 0:
        raise RedisUnavailable(f"--store {shown}: port 0 is not a Redis port")
    database = parts.path.lstrip("/")
    if database and not database.isdigit():
        raise RedisUnavailable(f"--store {shown}: the database is a number (redis://HOST:PORT/0), not {database!r}")
    return url


def connect(url: str) -> Any:
    """A `redis.asyncio.Redis` for the URL, after the server answered a PING (a blocking check, at start).

    The asyncio client connects lazily on the loop that uses it; the check uses a short-lived blocking client
    so that a bad URL fails where a bad SQLite path fails, before anything is served.
    """
    check_url(url)
    try:
        import hiredis  # noqa: F401 - the held connections' command packer (engine/redis/held.py)
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        import redis
    except ImportError:
        raise RedisUnavailable(f"--store {redact(url)} needs the Redis client: {INSTALL_HINT}") from None
    try:
        probe = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT)
        try:
            probe.ping()
        finally:
            probe.close()
    except redis.RedisError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {redact(url)}: {_reason(exc, url)}") from None
    except ValueError as exc:  # redis-py refuses some URLs only when it parses them
        raise RedisUnavailable(f"--store {redact(url)}: {_reason(exc, url)}") from None
    # No retry inside the client: a write whose reply was lost may have been applied, and sending it again
    # would apply it twice (an increment counted twice). A failed command is STORE_UNAVAILABLE to its caller;
    # the next command opens a new connection. Commands beyond MAX_CONNECTIONS in flight wait for one.
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=CONNECT_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT,
        health_check_interval=30, retry=Retry(NoBackoff(), 0),
    )
    return redis.asyncio.Redis.from_pool(pool)  # closing the client closes the pool


def readers(url: str) -> Any:
    """The client of the queue's blocking reads (`XREADGROUP ... BLOCK`), on a pool of its own with no cap:
    each (topic, function) subscription holds one connection for its read at a time, which would otherwise
    take the connections of `connect()`'s pool from state, streams and the queue's writes. Call after
    `connect()` (which checked the URL and the server)."""
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = redis.asyncio.ConnectionPool.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT,
                                                 health_check_interval=30, retry=Retry(NoBackoff(), 0))
    return redis.asyncio.Redis.from_pool(pool)


def _reason(error: Exception, url: str) -> str:
    """The client's message, with the password taken out should the client have quoted the URL."""
    text = str(error) or type(error).__name__
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


@contextlib.contextmanager
def answering(url: str) -> Iterator[None]:
    """Redis not answering (down, restarting, loading its AOF) becomes the STORE_UNAVAILABLE refusal: HTTP
    that needed it answers 503, and the client's next command connects again by itself."""
    import redis

    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise BuiltinError(STORE_UNAVAILABLE, f"Redis at {redact(url)} does not answer: {_reason(exc, url)}") from None
