"""The console tests' app (`shop.py`) served on an ephemeral port, with a client bound to it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from motia.assembly import ServedApp
from tests.console.shop import registry


@contextlib.contextmanager
def served_console(**options: Any) -> Iterator[httpx.Client]:
    """The shop app with the console on (and any other App `options`), and an HTTP client of it."""
    with ServedApp(registry(), console=True, **options) as served, \
            httpx.Client(base_url=served.url, timeout=10) as client:
        yield client
