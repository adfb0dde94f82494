"""Cron ticks across nodes: one node runs each tick, and no node starts a run while another's is going.

Per job (one hash tag) Redis holds the last tick taken and, while a run goes on, a lock with an expiry the
running node keeps extending: a node that dies mid-run frees the job after `LOCK_TTL`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ...protocol import new_id
from ..cron import Claim
from . import keys
from .connection import answering

log = logging.getLogger("motia.engine.redis")

LOCK_TTL_MS = 30_000  # as iii's redis cron adapter

# KEYS: last tick, running lock. ARGV: tick (ms), token, ttl (ms).
# 0: taken by another node; 2: this tick is ours but a run is still going; 1: run it (the lock is ours).
_CLAIM = """
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if last >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisTickLock:
    """`cron.TickLock` on Redis."""

    def __init__(self, client: Any, url: str) -> None:
        self.url = url
        self._claim = client.register_script(_CLAIM)
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)

    async def claim(self, job: str, scheduled: float) -> tuple[Claim, str]:
        token = new_id()
        with answering(self.url):
            outcome = await self._claim(keys=list(keys.cron_job(job)),
                                        args=[round(scheduled * 1000), token, LOCK_TTL_MS])
        return {0: Claim.TAKEN, 1: Claim.RUN, 2: Claim.STILL_RUNNING}[int(outcome)], token

    async def hold(self, job: str, token: str) -> None:
        """Keep the lock while the run goes on (cancelled when it ends)."""
        _, running = keys.cron_job(job)
        while True:
            await asyncio.sleep(LOCK_TTL_MS / 3000)
            try:
                with answering(self.url):
                    await self._extend(keys=[running], args=[token, LOCK_TTL_MS])
            except Exception as exc:  # Redis away: the lock may lapse; the run goes on
                log.warning("cron %s: cannot extend its run lock: %s", job, exc)

    async def release(self, job: str, token: str) -> None:
        _, running = keys.cron_job(job)
        with answering(self.url):
            await self._release(keys=[running], args=[token])
