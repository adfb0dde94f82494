"""Helpers for the official-motia-1.0 compatibility tests: an in-memory app of official-style steps."""

from __future__ import annotations

from typing import Any

import pytest

from motia import Motia
from motia.testing import TestApp


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def app_of(*steps: Any) -> TestApp:
    """A TestApp of official step definitions (`step(...)`) or `(config, handler)` pairs."""
    motia = Motia()
    for item in steps:
        if isinstance(item, tuple):
            motia.add_step(item[0], "steps/test_step.py", item[1])
        else:
            motia.add_step(item, "steps/test_step.py")
    return TestApp(motia.registry)
