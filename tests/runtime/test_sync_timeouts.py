"""A sync handler past its time limit: its thread cannot be stopped, so the invocation is closed instead (its
later state, stream and emit calls are refused and logged) and the next attempt waits for the thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from motia import ApiRequest, FlowContext, QueueConfig, get, on, post
from motia.errors import InvocationClosed

late_errors: list[BaseException] = []
late_done = threading.Event()


@get("/slow-sync", timeout=0.3)
def slow_sync(req: ApiRequest, ctx: FlowContext) -> dict:
    try:
        time.sleep(0.8)
        try:
            ctx.state.set("late", "write", 1)
        except InvocationClosed as exc:
            late_errors.append(exc)
        try:
            ctx.emit("late.topic", 1)
        except InvocationClosed as exc:
            late_errors.append(exc)
    finally:
        late_done.set()
    return {"finished": True}


@get("/late-write")
async def late_write(req: ApiRequest, ctx: FlowContext) -> dict:
    return {"value": await ctx.state.get("late", "write")}


def test_a_timed_out_sync_handler_s_later_writes_are_refused_and_logged(
    serve: Callable[..., httpx.Client], caplog: pytest.LogCaptureFixture,
) -> None:
    client = serve(slow_sync, late_write)
    late_errors.clear()
    late_done.clear()
    with caplog.at_level(logging.ERROR):
        response = client.get("/slow-sync")
        assert response.status_code == 504  # answered at the limit, the thread still sleeping
        assert not late_done.is_set()
        assert late_done.wait(10)
    assert [type(e) for e in late_errors] == [InvocationClosed, InvocationClosed]
    assert client.get("/late-write").json() == {"value": None}
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 2 and "time limit" in refusals[0]


lock = threading.Lock()
running = {"now": 0, "peak": 0, "started": 0, "finished": 0}
finished = threading.Event()


@on("work.slow", queue=QueueConfig(max_retries=6, backoff_delay_ms=20, backoff_type="fixed"), timeout=0.3)
def slow_work(data: int) -> None:
    with lock:
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        running["started"] += 1
        first = running["started"] == 1
    try:
        if first:
            time.sleep(1.0)  # the first attempt overruns its 0.3 s limit by far; its thread runs on
    finally:
        with lock:
            running["now"] -= 1
            running["finished"] += 1
            if running["finished"] > 1:
                finished.set()


@post("/start-work")
async def start_work(req: ApiRequest, ctx: FlowContext) -> dict:
    await ctx.emit("work.slow", 1)
    return {}


def test_a_retry_never_runs_while_the_abandoned_attempt_still_runs(serve: Callable[..., httpx.Client]) -> None:
    client = serve(slow_work, start_work)
    running.update(now=0, peak=0, started=0, finished=0)
    finished.clear()
    client.post("/start-work")
    assert finished.wait(15)  # the first attempt's thread returned, then a retry ran to the end
    assert running["peak"] == 1  # never two attempts at once
