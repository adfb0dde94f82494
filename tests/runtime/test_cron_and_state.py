"""Cron schedules and state, end to end through the embedded engine."""

from __future__ import annotations

import asyncio
import textwrap
from datetime import datetime, timezone

import msgspec
import pytest

from motia import ApiRequest, FlowContext, Registry, StateTriggerInput, StepError, api, cron, on_state, state
from motia.dsl import step_of
from motia.engine.clock import ManualClock
from tests.conftest import http, running

pytestmark = pytest.mark.anyio

# 2027-01-01T00:00:00Z, a Friday.
START = datetime(2027, 1, 1, tzinfo=timezone.utc).timestamp()


class User(msgspec.Struct):
    id: str
    name: str
    visits: int = 0


# --- cron ---------------------------------------------------------------------------------------------


async def test_five_field_cron_fires_every_matching_minute():
    clock = ManualClock(START + 10)
    fired = []

    @cron("*/5 * * * *")
    async def tick(ctx: FlowContext):
        fired.append((clock.now() - START, ctx.trigger.type == "cron", ctx.trigger.expression))

    async with running(tick, clock=clock):
        await clock.advance(15 * 60)
    assert fired == [(300, True, "*/5 * * * *"), (600, True, "*/5 * * * *"), (900, True, "*/5 * * * *")]


async def test_six_field_cron_has_seconds_first_and_handlers_may_take_none_and_ctx():
    clock = ManualClock(START)
    fired = []

    @cron("*/20 * * * * *")
    async def tick(data, ctx):  # called as handler(None, ctx)
        fired.append((data, clock.now() - START))

    async with running(tick, clock=clock):
        await clock.advance(60)
    assert fired == [(None, 20), (None, 40), (None, 60)]


async def test_sync_cron_handler_runs_in_a_thread():
    import threading

    clock = ManualClock(START)
    threads = []

    @cron("* * * * *")
    def tick(ctx):
        threads.append(threading.current_thread().name)

    async with running(tick, clock=clock):
        await clock.advance(60)
        for _ in range(100):
            if threads:
                break
            await asyncio.sleep(0.01)
    assert len(threads) == 1 and threads[0] != threading.main_thread().name


async def test_seven_field_cron_with_year_and_aliases():
    clock = ManualClock(START)
    fired = []

    @cron("0 0 12 * * * 2027")
    async def noon(ctx):
        fired.append(("noon", clock.now() - START))

    @cron("@hourly")
    async def hourly(ctx):
        fired.append(("hourly", clock.now() - START))

    async with running(noon, hourly, clock=clock):
        await clock.advance(12 * 3600)
    assert ("noon", 12 * 3600) in fired
    assert [t for name, t in fired if name == "hourly"] == [h * 3600 for h in range(1, 13)]


async def test_cron_time_zone_option():
    clock = ManualClock(START)
    fired = []

    @cron("0 9 * * *", timezone="America/New_York")
    async def morning(ctx):
        fired.append(clock.now() - START)

    async with running(morning, clock=clock):
        await clock.advance(24 * 3600)
    assert fired == [14 * 3600]  # 09:00 in New York is 14:00 UTC in January


async def test_a_run_still_going_at_the_next_tick_is_not_started_twice(caplog):
    clock = ManualClock(START)
    release = asyncio.Event()
    starts = []

    @cron("* * * * *")
    async def slow(ctx):
        starts.append(clock.now() - START)
        await release.wait()

    async with running(slow, clock=clock) as app:
        await clock.advance(60)
        await clock.advance(60)
        await clock.advance(60)
        assert starts == [60]
        job = next(iter(app.embedded.cron.jobs.values()))
        assert job.skipped == 2
        release.set()
        await asyncio.sleep(0.01)
        await clock.advance(60)
    assert starts == [60, 240]
    assert any("still going" in r.getMessage() for r in caplog.records)


async def test_one_tick_fires_once_when_several_workers_register_the_same_step():
    clock = ManualClock(START)
    fired = []

    @cron("* * * * *")
    async def once(ctx):
        fired.append(clock.now())

    async with running(once, clock=clock) as app:
        # A second worker registering the same step: same function id, another trigger binding.
        from motia.engine.engine import TriggerEntry

        function_id = next(iter(app.worker.functions))
        app.engine.register_trigger(TriggerEntry("replica-trigger", "cron", function_id, {"expression": "* * * * *"},
                                                 None, None))
        await clock.advance(60)
    assert len(fired) == 1


async def test_cron_condition():
    clock = ManualClock(START)
    fired = []

    @cron("* * * * *", condition=lambda _input, ctx: len(fired) < 2)
    async def limited(ctx):
        fired.append(clock.now())

    async with running(limited, clock=clock):
        await clock.advance(300)
    assert len(fired) == 2


@pytest.mark.parametrize("expression", ["61 * * * *", "* * *", "every minute", "* * * * * * * *"])
def test_invalid_cron_expression_stops_registration_with_the_step_location(expression):
    @cron(expression)
    async def broken(ctx):
        pass

    with pytest.raises(StepError, match="Invalid cron expression") as error:
        Registry([step_of(broken)])
    assert error.value.location.endswith(f"test_cron_and_state.py:{broken.__code__.co_firstlineno}")


def test_unknown_time_zone_is_refused():
    @cron("0 9 * * *", timezone="Mars/Olympus")
    async def broken(ctx):
        pass

    with pytest.raises(StepError, match="Unknown time zone 'Mars/Olympus'"):
        Registry([step_of(broken)])


def test_invalid_cron_in_a_step_file_stops_motia_run_with_file_and_line(tmp_path):
    import subprocess
    import sys

    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "nightly_step.py").write_text(textwrap.dedent("""
        from motia import cron


        @cron("0 25 * * *")
        async def nightly(ctx):
            pass
    """))
    result = subprocess.run([sys.executable, "-m", "motia.cli", "run", "--memory"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "steps/nightly_step.py:5: step 'nightly': Invalid cron expression '0 25 * * *'" in result.stderr


# --- state --------------------------------------------------------------------------------------------


async def test_state_operations_through_ctx_state():
    @api("POST", "/run")
    async def run(req, ctx: FlowContext):
        await ctx.state.set("users", "u1", User("u1", "Ada"))
        await ctx.state.set("users", "u2", {"id": "u2", "name": "Bob", "visits": 3})
        await ctx.state.set("settings", "theme", "dark")
        results = {
            "get": await ctx.state.get("users", "u1"),
            "typed": (await ctx.state.get("users", "u2", type=User)).name,
            "missing": await ctx.state.get("users", "nobody"),
            "group": sorted(u["id"] for u in await ctx.state.get_group("users")),
            "list_alias": len(await ctx.state.list("users")),
            "groups": await ctx.state.list_groups(),
            "updated": await ctx.state.update("users", "u2", [
                {"type": "increment", "path": "visits", "by": 2},
                {"type": "set", "path": "name", "value": "Robert"},
                {"type": "merge", "value": {"role": "admin"}},
            ]),
            "deleted": await ctx.state.delete("users", "u1"),
            "after_delete": await ctx.state.get("users", "u1"),
            "cleared": await ctx.state.clear("users"),
            "after_clear": await ctx.state.get_group("users"),
            "theme": await state.get("settings", "theme"),
        }
        return results

    async with running(run) as app, http(app) as client:
        result = (await client.post("/run")).json()
    assert result == {
        "get": {"id": "u1", "name": "Ada", "visits": 0},
        "typed": "Bob",
        "missing": None,
        "group": ["u1", "u2"],
        "list_alias": 2,
        "groups": ["settings", "users"],
        "updated": {"id": "u2", "name": "Robert", "visits": 5, "role": "admin"},
        "deleted": {"id": "u1", "name": "Ada", "visits": 0},
        "after_delete": None,
        "cleared": 1,
        "after_clear": [],
        "theme": "dark",
    }


async def test_sync_handler_uses_state_without_await():
    @api("POST", "/count")
    def count(req: ApiRequest[None], ctx):
        current = ctx.state.get("counters", "hits") or 0
        ctx.state.set("counters", "hits", current + 1)
        return {"hits": state.get("counters", "hits")}

    async with running(count) as app, http(app) as client:
        assert (await client.post("/count")).json() == {"hits": 1}
        assert (await client.post("/count")).json() == {"hits": 2}


async def test_invalid_update_op_is_reported():
    @api("POST", "/bad")
    async def bad(req, ctx):
        await ctx.state.set("g", "k", {"n": "text"})
        try:
            await ctx.state.update("g", "k", [{"type": "increment", "path": "n", "by": 1}])
        except Exception as exc:
            return {"error": str(exc)}
        return {"error": None}

    async with running(bad) as app, http(app) as client:
        error = (await client.post("/bad")).json()["error"]
    assert "increment.not_number" in error


async def test_state_triggers_get_a_typed_input_with_dict_access():
    changes = []

    @api("POST", "/change")
    async def change(req, ctx):
        await ctx.state.set("users", "u1", {"name": "Ada"})
        await ctx.state.set("users", "u1", {"name": "Ada L."})
        await ctx.state.delete("users", "u1")
        await ctx.state.set("other", "x", 1)

    @on_state(scope="users")
    async def audit(change: StateTriggerInput, ctx):
        changes.append((change.event_type, change.group_id, change["itemId"], change.old_value,
                        change.get("new_value"), ctx.trigger.type == "state"))

    async with running(change, audit) as app, http(app) as client:
        await client.post("/change")
        for _ in range(50):
            if len(changes) == 3:
                break
            await asyncio.sleep(0.01)
    assert changes == [
        ("state:created", "users", "u1", None, {"name": "Ada"}, True),
        ("state:updated", "users", "u1", {"name": "Ada"}, {"name": "Ada L."}, True),
        ("state:deleted", "users", "u1", {"name": "Ada L."}, None, True),
    ]


async def test_state_trigger_with_an_async_condition():
    seen = []

    async def only_big(change, ctx):
        await asyncio.sleep(0)
        return (change.new_value or 0) > 10

    @api("POST", "/set/:n")
    async def setter(req, ctx):
        await ctx.state.set("numbers", req.path_params["n"], int(req.path_params["n"]))

    @on_state(scope="numbers", condition=only_big)
    async def big(change: StateTriggerInput):
        seen.append(change.new_value)

    async with running(setter, big) as app, http(app) as client:
        for n in (5, 50, 7, 70):
            await client.post(f"/set/{n}")
        await app.embedded.wait_idle()
    assert seen == [50, 70]
