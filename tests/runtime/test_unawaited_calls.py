"""Sync-style calls (official Motia code calls `state`, `Stream`, `enqueue`, `ctx.emit` without `await`) take
effect in call order, awaited or not, in async handlers, sync handlers and threads a handler starts; the run
answers only once they are applied; a read used without `await` fails at once with a clear error."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from motia import ApiRequest, FlowContext, MotiaError, Stream, enqueue, get, on, post, stateManager
from motia.state import SetResult, StateManager
from motia.testing import TestApp
from tests.conftest import http, registry_of, running

pytestmark = pytest.mark.anyio

counters = Stream[Any]("counters")


def app_of(*handlers: Any) -> TestApp:
    registry = registry_of(*handlers)
    registry.add_stream(counters)
    return TestApp(registry)


async def test_a_forgotten_await_still_writes_and_publishes_in_call_order() -> None:
    handled: list[Any] = []

    @post("/forgetful")
    async def forgetful(req: ApiRequest[None], ctx: FlowContext) -> dict[str, str]:
        counters.set("g", "c", {"n": 1})  # every call below is missing its `await`
        stateManager.set("s", "k", "first")
        enqueue({"topic": "ticks", "data": 1})
        ctx.emit("ticks", 2)
        stateManager.set("s", "k", "second")
        counters.set("g", "c", {"n": 2})
        return {"ok": "yes"}

    @on("ticks")
    async def tick(data: int) -> None:
        handled.append(data)

    async with app_of(forgetful, tick) as app:
        response = await app.http.post("/forgetful")
        assert response.status_code == 200
        # Answered only after every write was applied, so they are visible right away, the last write winning.
        assert await app.state.get("s", "k") == "second"
        assert await app.stream("counters").get("g", "c") == {"n": 2}
        assert app.emitted("ticks") == [1, 2]
        await app.wait_idle()
    assert sorted(handled) == [1, 2]


async def test_awaiting_still_returns_the_result_and_reads_see_earlier_unawaited_writes() -> None:
    @get("/roundtrip")
    async def roundtrip(req: ApiRequest[None]) -> dict[str, Any]:
        stateManager.set("s", "k", 1)  # not awaited: the read below still sees it
        seen = await stateManager.get("s", "k")
        result = await counters.set("g", "c", {"n": 5})
        again = await counters.set("g", "c", {"n": 6})
        return {"seen": seen, "new": result["new_value"], "old": again["old_value"], "typed": again.new_value}

    async with app_of(roundtrip) as app:
        assert (await app.http.get("/roundtrip")).json() == {"seen": 1, "new": {"n": 5}, "old": {"n": 5},
                                                            "typed": {"n": 6}}


async def test_a_read_used_without_await_fails_at_that_line_with_a_clear_error() -> None:
    messages: list[str] = []

    @get("/careless")
    async def careless(req: ApiRequest[None]) -> str:
        items = counters.get_group("g")
        try:
            len(items)  # type: ignore[arg-type]
        except MotiaError as exc:
            messages.append(str(exc))
        try:
            stateManager.get("s", "k")["field"]  # type: ignore[index]
        except MotiaError as exc:
            messages.append(str(exc))
        return "done"

    async with app_of(careless) as app:
        assert (await app.http.get("/careless")).status_code == 200
    assert len(messages) == 2
    assert "counters.get_group() was called without `await`" in messages[0]
    assert "await state.get(...)" in messages[1]


async def test_a_failing_call_nobody_awaited_fails_the_request() -> None:
    @post("/bad-emit")
    async def bad_emit(req: ApiRequest[None], ctx: FlowContext) -> str:
        ctx.emit({"data": "an event without a topic"})
        return "looks fine"

    async with app_of(bad_emit) as app:
        response = await app.http.post("/bad-emit")
        assert response.status_code == 500
        failures = [str(record.exc_info[1]) for record in app.logs if record.exc_info]
        assert any("ctx.emit() (not awaited) failed: an event needs a 'topic'" in text for text in failures)


async def test_a_sync_handler_gets_values_without_await() -> None:
    @post("/sync")
    def sync_handler(req: ApiRequest[None], ctx: FlowContext) -> dict[str, Any]:
        stored = counters.set("g", "c", {"n": 3})
        stateManager.set("s", "k", "from a thread")
        enqueue({"topic": "ticks", "data": 3})
        ctx.emit("ticks", 4)
        return {"stored": stored["new_value"], "read": counters.get("g", "c"), "state": stateManager.get("s", "k"),
                "groups": counters.list_groups()}

    async with app_of(sync_handler) as app:
        response = await app.http.post("/sync")
        assert response.json() == {"stored": {"n": 3}, "read": {"n": 3}, "state": "from a thread", "groups": ["g"]}
        assert app.emitted("ticks") == [3, 4]


async def test_a_thread_started_by_a_handler_writes_through_the_app() -> None:
    results: list[Any] = []

    def worker() -> None:
        results.append(stateManager.set("s", "from-thread", {"done": True}))
        results.append(counters.get("g", "missing"))

    @post("/threaded")
    async def threaded(req: ApiRequest[None]) -> str:
        thread = threading.Thread(target=worker)
        thread.start()
        await asyncio.to_thread(thread.join)
        return "joined"

    async with app_of(threaded) as app:
        assert (await app.http.post("/threaded")).status_code == 200
        assert await app.state.get("s", "from-thread") == {"done": True}
    assert results == [SetResult({"done": True}, None), None]


# --- services per invocation -------------------------------------------------------------------------


async def test_two_apps_in_one_process_never_see_each_others_data() -> None:
    @post("/remember/:value")
    async def remember(req: ApiRequest[None]) -> None:
        value = req.path_params["value"]
        await asyncio.sleep(0)  # let the other app's request interleave
        stateManager.set("s", "k", value)
        counters.set("g", "c", value)
        enqueue({"topic": "remembered", "data": value})

    @get("/recall")
    async def recall(req: ApiRequest[None]) -> dict[str, Any]:
        return {"state": await stateManager.get("s", "k"), "stream": await counters.get("g", "c")}

    async with app_of(remember, recall) as first, app_of(remember, recall) as second:
        await asyncio.gather(first.http.post("/remember/first"), second.http.post("/remember/second"))
        assert (await first.http.get("/recall")).json() == {"state": "first", "stream": "first"}
        assert (await second.http.get("/recall")).json() == {"state": "second", "stream": "second"}
        assert first.emitted() == ["first"]
        assert second.emitted() == ["second"]
        # Outside any handler, which app is meant is ambiguous: a clear error, not a guess.
        with pytest.raises(MotiaError, match="2 motia apps run in this process"):
            await stateManager.get("s", "k")


async def test_outside_handlers_the_only_running_app_is_used() -> None:
    async with app_of() as app:
        await stateManager.set("s", "k", "from the test")
        assert await app.state.get("s", "k") == "from the test"
    with pytest.raises(MotiaError, match="no motia app is running"):
        await stateManager.get("s", "k")


async def test_writes_that_suspend_on_the_sqlite_store_still_apply_in_call_order(tmp_path: Path) -> None:
    @post("/many/:n")
    async def many(req: ApiRequest[None]) -> Any:
        for n in range(int(req.path_params["n"])):
            stateManager.set("s", "k", n)  # each write waits for the store's commit: they overlap
            counters.set("g", str(n % 3), n)
        return await stateManager.get("s", "k")  # sees the last write before it

    registry = registry_of(many)
    registry.add_stream(counters)
    async with running(registry, data_dir=tmp_path) as app, http(app) as client:
        assert (await client.post("/many/50")).json() == 49
        assert await StateManager(app.worker).get("s", "k") == 49
        assert await app.worker.stream("counters").get_group("g") == [48, 49, 47]
