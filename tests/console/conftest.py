"""The console tests' app (`shop.py`) served on an ephemeral port, with a client bound to it, and the queue checks
the SQLite and the Redis tests (tests/redis/test_console_redis.py) share."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from motia.assembly import ServedApp
from tests.conftest import eventually
from tests.console.shop import registry


@contextlib.contextmanager
def served_console(**options: Any) -> Iterator[httpx.Client]:
    """The shop app with the console on (and any other App `options`), and an HTTP client of it."""
    with ServedApp(registry(), console=True, **options) as served, \
            httpx.Client(base_url=served.url, timeout=10) as client:
        yield client


def subscription(console: httpx.Client, topic: str) -> dict:
    return next(row for row in console.get("/__motia/api/queues").json() if row["topic"] == topic)


def redrive_then_discard(console: httpx.Client, query: dict, dead: dict) -> None:
    """Redrive the dead letter `dead` of the subscription `query`, see it fail and die again, then discard it."""
    redriven = console.post("/__motia/api/queues/redrive", json={**query, "ids": [dead["id"]]})
    assert redriven.json() == {"redriven": 1}
    # Delivered again (and failing again, the item is still broken): two more failed attempts, dead once more.
    again = eventually(lambda: [m for m in console.get("/__motia/api/queues/messages", params=query).json()["dead"]
                                if len(m["errors"]) == 4])
    assert again[0]["id"] == dead["id"]

    assert console.post("/__motia/api/queues/discard", json=query).json() == {"discarded": 1}
    assert console.get("/__motia/api/queues/messages", params=query).json() == {"pending": [], "dead": []}
    assert subscription(console, query["topic"])["dead"] == 0
