"""The app the multi-node queue tests run under `motia run --store redis://...` (tests/redis/test_queue_processes.py,
tests/reliability/test_redis_crash.py): a burst endpoint that emits, and handlers that count each delivery in
Redis itself (`MOTIA_TEST_REDIS`), apart from the store under test."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import redis

STEPS = textwrap.dedent('''
    import asyncio
    import os

    import redis.asyncio as aioredis

    from motia import ApiRequest, FlowContext, api, on

    counts = aioredis.Redis.from_url(os.environ["MOTIA_TEST_REDIS"])


    @api("POST", "/burst")
    async def burst(req: ApiRequest[dict], ctx: FlowContext):
        # Answered once every emit of the batch has returned, that is, is stored in Redis.
        await asyncio.gather(*(ctx.emit(req.body.get("topic", "work"), {"id": n}) for n in req.body["ids"]))
        return {"acked": len(req.body["ids"])}


    @on("work", queue={"visibility_timeout": 2, "backoff_delay_ms": 100})
    async def handle(job: dict, ctx: FlowContext):
        await asyncio.sleep(0.002)  # slower than the emits: a backlog is pending when a node dies
        await counts.hincrby("test:handled", str(job["id"]), 1)
        await counts.hset("test:pid", str(job["id"]), os.getpid())


    # The first delivery hangs until its node is killed; the visibility timeout hands the message on.
    @on("slow", queue={"visibility_timeout": 3, "backoff_delay_ms": 100}, timeout=600)
    async def slow(job: dict, ctx: FlowContext):
        if await counts.hsetnx("test:started", str(job["id"]), os.getpid()):
            await asyncio.sleep(600)
        await counts.hincrby("test:handled", str(job["id"]), 1)
        await counts.hset("test:pid", str(job["id"]), os.getpid())
''')


def write_project(directory: Path) -> Path:
    (directory / "steps").mkdir()
    (directory / "steps" / "queue_step.py").write_text(STEPS)
    return directory


def handled(url: str) -> tuple[Counter[int], dict[int, int]]:
    """How many times each id was handled, and by which process last."""
    client = redis.Redis.from_url(url)
    try:
        times = Counter({int(k): int(v) for k, v in client.hgetall("test:handled").items()})
        pids = {int(k): int(v) for k, v in client.hgetall("test:pid").items()}
    finally:
        client.close()
    return times, pids
