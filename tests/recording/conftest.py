"""What every recording test shares."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def info_lines() -> Iterator[None]:
    """Step lines at info reach the recording (`motia run` sets this level itself; in process nobody does)."""
    logger = logging.getLogger("motia")
    level = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(level)
