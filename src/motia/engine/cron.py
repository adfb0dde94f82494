"""The `cron` trigger type (docs/protocol.md §3.2): fire bound functions on a schedule.

One job per (function, expression): several workers registering the same step fire it once per tick, and
a tick runs once even when its timer fires early or late.
A tick that finds the previous run still going is skipped and logged.
Nodes sharing a store (Redis) each arm their timers; a `TickLock` lets one of them run each tick.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from datetime import datetime, timezone
from typing import Any, Protocol

import msgspec

from ..crontab import CronError, CronSchedule
from ..protocol import CronTriggerConfig, InvalidTriggerConfig, decode_trigger_config
from .clock import Clock, Timer
from .engine import Engine, TriggerEntry
from .tasks import Tasks

log = logging.getLogger("motia.engine.cron")

RECENT_RUNS = 20  # runs each job remembers for the console (in memory: a restart forgets them)


class CronRun(msgspec.Struct, kw_only=True):
    """One run of a job: when it was due and started (epoch seconds), how long it took, how it ended."""

    scheduled: float
    started: float
    duration_ms: float | None = None  # None while it runs
    outcome: str = "running"  # "ok", "failed" or "running"
    error: str | None = None
    manual: bool = False  # started by `run_now`, not by the schedule


class Claim(enum.Enum):
    RUN = "run"  # this node runs the tick
    TAKEN = "taken"  # another node took this tick
    STILL_RUNNING = "still running"  # this node took the tick, but a run (on some node) is still going


class TickLock(Protocol):
    """Which node runs a tick, when several nodes carry the same job."""

    async def claim(self, job: str, scheduled: float) -> tuple[Claim, str]:
        """The outcome, and the token that `hold` and `release` take when it is RUN."""

    async def hold(self, job: str, token: str) -> None:
        """Keep the run's lock until cancelled."""

    async def release(self, job: str, token: str) -> None: ...


class CronJob:
    def __init__(self, function_id: str, schedule: CronSchedule, metadata: Any, namespace: str = "default") -> None:
        self.function_id = function_id
        self.namespace = namespace  # where the function is resolved (§2.9)
        self.schedule = schedule
        self.metadata = metadata
        self.trigger_ids: set[str] = set()
        self.timer: Timer | None = None
        self.running = False
        self.next_fire: float | None = None
        self.fired = 0
        self.skipped = 0
        self.runs: deque[CronRun] = deque(maxlen=RECENT_RUNS)


_REFUSALS = {"expression": "Cron expression is required"}  # why a binding is refused, by the key at fault


class CronModule:
    def __init__(self, engine: Engine, tasks: Tasks, clock: Clock) -> None:
        self.engine = engine
        self.tasks = tasks
        self.clock = clock
        # (namespace, function, expression, time zone) -> its job.
        self.jobs: dict[tuple[str, str, str, str], CronJob] = {}
        self._by_trigger: dict[str, tuple[str, str, str, str]] = {}
        self.started = False
        self.lock: TickLock | None = None  # set when nodes share a store
        engine.add_trigger_type("cron", self)

    def register(self, trigger: TriggerEntry) -> str | None:
        try:
            config = decode_trigger_config(trigger.config, CronTriggerConfig, _REFUSALS)
        except InvalidTriggerConfig as exc:
            return str(exc)
        expression, zone = config.expression, config.timezone or "UTC"
        if not expression.strip():
            return _REFUSALS["expression"]
        try:
            schedule = CronSchedule(expression, zone)
        except CronError as exc:
            return str(exc)
        key = (trigger.namespace, trigger.function_id, expression, zone)
        job = self.jobs.get(key)
        if job is None:
            job = self.jobs[key] = CronJob(trigger.function_id, schedule, trigger.metadata, trigger.namespace)
            if self.started:
                self._arm(job)
        job.trigger_ids.add(trigger.id)
        self._by_trigger[trigger.id] = key
        return None

    def unregister(self, trigger: TriggerEntry) -> None:
        key = self._by_trigger.pop(trigger.id, None)
        job = self.jobs.get(key) if key else None
        if job is None:
            return
        job.trigger_ids.discard(trigger.id)
        if not job.trigger_ids:
            if job.timer is not None:
                job.timer.cancel()
            del self.jobs[key]  # type: ignore[arg-type]

    def start(self) -> None:
        """Arm every job (called once the engine runs, so that start-up does not fire early)."""
        self.started = True
        for job in self.jobs.values():
            self._arm(job)

    def stop(self) -> None:
        self.started = False
        for job in self.jobs.values():
            if job.timer is not None:
                job.timer.cancel()

    def _arm(self, job: CronJob, after: float | None = None) -> None:
        # Re-armed from the tick just scheduled, not from "now": the loop's timers run on a monotonic clock
        # and can fire a hair before the wall-clock second, when "the next time after now" is that same tick
        # again. A timer that fires late (past later ticks) skips them: one run per tick, never a burst.
        now = self.clock.now()
        job.next_fire = job.schedule.next_after(now if after is None else max(after, now))
        scheduled = job.next_fire
        job.timer = self.clock.call_at(scheduled, lambda: self._tick(job, scheduled))

    def _tick(self, job: CronJob, scheduled: float) -> None:
        if self.jobs.get((job.namespace, job.function_id, job.schedule.expression, job.schedule.timezone)) is not job:
            return
        if job.running:
            job.skipped += 1
            log.warning("cron %s: the previous run is still going; skipping the tick at %s",
                        job.function_id, _iso(scheduled))
        else:
            job.running = True
            self.tasks.spawn(self._run(job, scheduled), name=f"cron:{job.function_id}")
        if self.started:
            self._arm(job, after=scheduled)

    def run_now(self, job: CronJob) -> bool:
        """Start a run of `job` now, outside its schedule (the console's "run now"); False while one runs. Not
        claimed across nodes: it is one operator's explicit request to this node."""
        if job.running:
            return False
        job.running = True
        self.tasks.spawn(self._run(job, self.clock.now(), manual=True), name=f"cron:{job.function_id}")
        return True

    async def _run(self, job: CronJob, scheduled: float, manual: bool = False) -> None:
        try:
            if self.lock is None or manual:
                await self._invoke(job, scheduled, manual)
            else:
                await self._run_locked(job, scheduled, self.lock)
        finally:
            job.running = False

    async def _run_locked(self, job: CronJob, scheduled: float, lock: TickLock) -> None:
        name = f"{job.namespace}/{job.function_id}/{job.schedule.expression}/{job.schedule.timezone}"
        try:
            claim, token = await lock.claim(name, scheduled)
        except Exception as exc:  # the shared store does not answer: no node can know the tick is its own
            log.warning("cron %s: the tick at %s is skipped: %s", job.function_id, _iso(scheduled), exc)
            return
        if claim is Claim.TAKEN:
            return
        if claim is Claim.STILL_RUNNING:
            job.skipped += 1
            log.warning("cron %s: the previous run is still going (on this or another node); skipping the tick "
                        "at %s", job.function_id, _iso(scheduled))
            return
        holder = self.tasks.spawn(lock.hold(name, token), name=f"cron-lock:{job.function_id}")
        try:
            await self._invoke(job, scheduled)
        finally:
            holder.cancel()
            try:
                await lock.release(name, token)
            except Exception as exc:  # the lock lapses by itself
                log.warning("cron %s: cannot release its run lock: %s", job.function_id, exc)

    async def _invoke(self, job: CronJob, scheduled: float, manual: bool = False) -> None:
        started = self.clock.now()
        run = CronRun(scheduled=scheduled, started=started, manual=manual)
        job.runs.append(run)  # the console's "last runs"
        payload = {"trigger": "cron", "job_id": next(iter(job.trigger_ids), ""),
                   "scheduled_time": _iso(scheduled), "actual_time": _iso(started)}
        try:
            job.fired += 1
            result = await self.engine.invoke(job.function_id, payload, namespace=job.namespace, metadata=job.metadata)
            if result.error is not None:
                run.outcome, run.error = "failed", result.error.message
                log.error("cron %s failed: %s", job.function_id, result.error.message)
            else:
                run.outcome = "ok"
        except BaseException:
            run.outcome, run.error = "failed", "stopped before it finished"
            raise
        finally:
            run.duration_ms = round((self.clock.now() - started) * 1000, 3)

def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")
