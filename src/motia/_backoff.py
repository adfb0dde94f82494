"""Reconnecting with exponential back-off and jitter: a worker to its engine, a stream client to its server."""

from __future__ import annotations

import random

import msgspec


class ReconnectPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Exponential back-off with jitter, the SDKs' defaults (§1.6): 1 s, x2, at most 30 s, ±30 %."""

    initial_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.3

    def delay(self, attempt: int) -> float:
        capped = min(self.initial_delay * self.multiplier**attempt, self.max_delay)
        return max(0.0, capped * (1 + self.jitter * (2 * random.random() - 1)))
