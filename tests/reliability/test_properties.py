"""Property tests (hypothesis): the router, cron next-fire, FIFO groups, the stores and the protocol types,
each checked against a model simple enough to be obviously right."""

from __future__ import annotations

import asyncio
import random
import tempfile
import types
import typing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motia import QueueConfig, on, protocol
from motia.crontab import CronSchedule
from motia.engine.clock import ManualClock
from motia.engine.cron import CronModule
from motia.engine.engine import Engine, TriggerEntry
from motia.engine.router import RouteConflict, Router
from motia.engine.store import MemoryStore, SqliteStore, Store
from motia.engine.tasks import Tasks
from tests.conftest import running

FAST = settings(max_examples=200, deadline=None, database=None)
SLOW = settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))

# --- router ---------------------------------------------------------------------------------------------

METHODS = ("GET", "POST", "PUT")
STATIC = ("a", "b", "c")
segment_patterns = st.one_of(st.sampled_from(STATIC), st.sampled_from(("id", "name", "x")).map(lambda n: ":" + n))
patterns = st.lists(segment_patterns, max_size=3)
routes = st.lists(st.tuples(st.sampled_from(METHODS), patterns), max_size=12)
requests_ = st.tuples(st.sampled_from(METHODS), st.lists(st.sampled_from((*STATIC, "d", "42")), max_size=3))


def _shape(pattern: list[str]) -> tuple[str | None, ...]:
    return tuple(None if s.startswith(":") else s for s in pattern)


def _matches(pattern: list[str], segments: list[str]) -> bool:
    if len(pattern) != len(segments):
        return False
    return all(p.startswith(":") or p == s for p, s in zip(pattern, segments, strict=True))


def _precedence(pattern: list[str]) -> tuple[int, ...]:
    """Static before parameter, decided at the leftmost segment where two patterns differ."""
    return tuple(1 if s.startswith(":") else 0 for s in pattern)


@FAST
@given(routes, st.lists(requests_, min_size=1, max_size=10))
def test_the_router_agrees_with_a_reference_matcher(table: list[tuple[str, list[str]]], asked: list[Any]) -> None:
    router: Router[int] = Router()
    model: dict[tuple[str, tuple[str | None, ...]], tuple[int, list[str]]] = {}
    for number, (method, pattern) in enumerate(table):
        key = (method, _shape(pattern))
        path = "/" + "/".join(pattern)
        if key in model and model[key][1] != pattern:
            with pytest.raises(RouteConflict):
                router.add(method, path, number)
            continue
        router.add(method, path, number)
        model[key] = (number, pattern)

    for method, segments in asked:
        candidates = [(p, n, m) for (m, _), (n, p) in model.items() if _matches(p, segments)]
        with_method = sorted((_precedence(p), n, p) for p, n, m in candidates if m == method)
        route, params, allowed = router.match(method, "/" + "/".join(segments))
        if with_method:
            _, number, pattern = with_method[0]
            assert route == number
            assert params == {p[1:]: s for p, s in zip(pattern, segments, strict=True) if p.startswith(":")}
            assert allowed == []
        else:
            assert route is None
            assert set(allowed) == {m for _, _, m in candidates}  # empty: 404, else 405 with these


@FAST
@given(st.sampled_from(STATIC), st.text(st.characters(codec="utf-8", exclude_characters="/?#"), min_size=1))
def test_a_parameter_binds_any_segment_a_static_route_does_not_claim(static: str, value: str) -> None:
    router: Router[str] = Router()
    router.add("GET", f"/{static}/summary", "static")
    router.add("GET", f"/{static}/:name", "param")
    route, params, _ = router.match("GET", f"/{static}/{value}")
    assert (route, params) == (("static", {}) if value == "summary" else ("param", {"name": value}))


@FAST
@given(routes)
def test_removing_every_route_leaves_an_empty_router(table: list[tuple[str, list[str]]]) -> None:
    router: Router[int] = Router()
    added = []
    for number, (method, pattern) in enumerate(table):
        try:
            router.add(method, "/" + "/".join(pattern), number)
            added.append((method, "/" + "/".join(pattern)))
        except RouteConflict:
            pass
    for method, path in added:
        router.remove(method, path)
    for method, path in added:
        assert router.match(method, path.replace(":", "")) == (None, {}, [])


# --- cron -----------------------------------------------------------------------------------------------


def _field(low: int, high: int) -> st.SearchStrategy[tuple[str, set[int]]]:
    values = range(low, high + 1)
    return st.one_of(
        st.just(("*", set(values))),
        st.integers(low, high).map(lambda v: (str(v), {v})),
        st.integers(1, high - low + 1).map(lambda n: (f"*/{n}", {v for v in values if (v - low) % n == 0})),
        st.lists(st.integers(low, high), min_size=1, max_size=3, unique=True)
        .map(lambda vs: (",".join(map(str, sorted(vs))), set(vs))),
        # `a-a` is left out: croniter reads it as `*` (test_known_a_single_value_range_is_that_value).
        st.lists(st.integers(low, high), min_size=2, max_size=2, unique=True).map(sorted)
        .map(lambda ab: (f"{ab[0]}-{ab[1]}", set(range(ab[0], ab[1] + 1)))),
    )


# 2000-01-01 .. 2090-01-01, with fractions of a second.
instants = st.floats(946_684_800, 3_786_825_600, allow_nan=False, allow_infinity=False)


def _cron_weekday(moment: datetime) -> int:
    return (moment.weekday() + 1) % 7  # cron counts from Sunday = 0


@settings(max_examples=150, deadline=None, database=None)
@given(_field(0, 59), _field(0, 23), _field(0, 6), instants)
def test_cron_next_fire_agrees_with_a_minute_by_minute_scan(minute, hour, weekday, when: float) -> None:
    schedule = CronSchedule(f"{minute[0]} {hour[0]} * * {weekday[0]}")
    candidate = (int(when) // 60 + 1) * 60  # the first whole minute strictly after `when`
    for _ in range(8 * 24 * 60):
        moment = datetime.fromtimestamp(candidate, timezone.utc)
        if moment.minute in minute[1] and moment.hour in hour[1] and _cron_weekday(moment) in weekday[1]:
            break
        candidate += 60
    else:
        raise AssertionError("a weekly schedule did not fire within 8 days")
    assert schedule.next_after(when) == candidate


@pytest.mark.parametrize(("expression", "expected"), [
    ("5-5 * * * *", 946_685_100.0),  # 2000-01-01 00:05 UTC, not 00:01
    ("* * * * 0-0", 946_771_200.0),  # Sunday 2000-01-02 00:00 UTC, not Saturday 00:01
])
def test_known_a_single_value_range_is_that_value(expression: str, expected: float) -> None:
    assert CronSchedule(expression).next_after(946_684_800.0) == expected  # Saturday 2000-01-01 00:00 UTC


@settings(max_examples=150, deadline=None, database=None)
@given(_field(0, 59), _field(0, 59), instants)
def test_cron_seconds_field_agrees_with_a_second_by_second_scan(second, minute, when: float) -> None:
    schedule = CronSchedule(f"{second[0]} {minute[0]} * * * *")
    candidate = int(when) + 1  # the first whole second strictly after `when`
    for _ in range(2 * 3600):
        moment = datetime.fromtimestamp(candidate, timezone.utc)
        if moment.second in second[1] and moment.minute in minute[1]:
            break
        candidate += 1
    else:
        raise AssertionError("an hourly schedule did not fire within 2 hours")
    assert schedule.next_after(when) == candidate


@settings(max_examples=100, deadline=None, database=None)
@given(_field(0, 59), _field(0, 23), instants)
def test_cron_next_fire_is_strictly_later_and_increasing(minute, hour, when: float) -> None:
    schedule = CronSchedule(f"{minute[0]} {hour[0]} * * *")
    first = schedule.next_after(when)
    second = schedule.next_after(first)
    assert when < first < second
    assert first % 60 == 0 and second - first <= 24 * 3600


class _UnpunctualClock(ManualClock):
    """A manual clock whose timers fire off their time by the given offsets (early < 0 < late), as the event
    loop's monotonic timers do against the wall clock."""

    def __init__(self, start: float, offsets: list[float]) -> None:
        super().__init__(start)
        self._offsets = iter(offsets)

    def call_at(self, when: float, callback: Any) -> Any:
        return super().call_at(when + next(self._offsets, 0.0), callback)


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.floats(-0.99, 3.5), min_size=1, max_size=30), st.floats(0, 0.999))
def test_cron_runs_each_tick_at_most_once_on_a_clock_that_fires_early_and_late(offsets, fraction) -> None:
    scheduled = asyncio.run(_cron_ticks(offsets, 1_800_000_000.0 + fraction, seconds=len(offsets) + 5))
    assert scheduled == sorted(set(scheduled))  # no tick twice, none out of order
    assert scheduled
    if max(offsets) < 1.0:  # never late by a whole period: no tick is missed either
        assert scheduled == list(range(int(scheduled[0]), int(scheduled[0]) + len(scheduled)))


async def _cron_ticks(offsets: list[float], start: float, seconds: int) -> list[float]:
    clock = _UnpunctualClock(start, offsets)
    engine, tasks = Engine(), Tasks()
    module = CronModule(engine, tasks, clock)
    scheduled: list[float] = []

    async def tick(payload: Any) -> None:
        scheduled.append(datetime.fromisoformat(payload["scheduled_time"]).timestamp())

    engine.add_builtin("tick", tick)
    engine.register_trigger(TriggerEntry("every-second", "cron", "tick", {"expression": "* * * * * *"}, None, None))
    module.start()
    await clock.advance(seconds)
    module.stop()
    await tasks.close()
    return scheduled


# --- FIFO groups ----------------------------------------------------------------------------------------


@SLOW
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=40),  # the group of each message, in emit order
    st.integers(1, 8),  # queue concurrency
    st.integers(0, 2**32),  # seeds the handlers' random delays
)
def test_fifo_handles_each_group_in_emit_order_under_concurrency(groups: list[int], concurrency: int,
                                                                seed: int) -> None:
    rng = random.Random(seed)
    handled: dict[str, list[int]] = {}
    busy: set[str] = set()
    overlaps: list[str] = []

    @on("ledger", queue=QueueConfig(type="fifo", concurrency=concurrency))
    async def apply(entry: dict) -> None:
        group = entry["group"]
        if group in busy:
            overlaps.append(group)
        busy.add(group)
        await asyncio.sleep(rng.random() / 500)
        handled.setdefault(group, []).append(entry["n"])
        busy.discard(group)

    sent: dict[str, list[int]] = {}
    for n, group in enumerate(groups):
        sent.setdefault(f"g{group}", []).append(n)

    async def scenario() -> None:
        async with running(apply) as app:

            async def producer(group: str, numbers: list[int]) -> None:
                for n in numbers:  # each group's producer emits in order; producers race each other
                    await app.worker.emit("ledger", {"group": group, "n": n}, trace_id="5" * 32,
                                          message_group_id=group)
                    await asyncio.sleep(0)

            await asyncio.gather(*(producer(g, ns) for g, ns in sent.items()))
            await asyncio.wait_for(app.embedded.queues.wait_idle(), 10)

    asyncio.run(scenario())
    assert handled == sent
    assert overlaps == []  # one message per group at a time


# --- stores ---------------------------------------------------------------------------------------------

names = st.sampled_from(("a", "b", "c"))
values = st.binary(max_size=8)
store_ops = st.lists(
    st.one_of(
        st.tuples(st.just("state_set"), names, names, values),
        st.tuples(st.just("state_delete"), names, names),
        st.tuples(st.just("stream_set"), names, names, names, values),
        st.tuples(st.just("stream_delete"), names, names, names),
    ),
    max_size=40,
)


def _apply(store: Store, model: dict[tuple[str, ...], bytes], op: tuple[Any, ...]) -> None:
    kind, *args = op
    if kind in ("state_set", "stream_set"):
        *key, value = args
        previous = getattr(store, kind)(*args)
        assert previous == model.get((kind[:5], *key))
        model[(kind[:5], *key)] = value
    else:
        previous = getattr(store, kind)(*args)
        assert previous == model.pop((kind.split("_")[0][:5], *args), None)


def _same(store: Store, model: dict[tuple[str, ...], bytes]) -> None:
    for scope in ("a", "b", "c"):
        expected = {key: value for (kind, s, key), value in
                    ((k, v) for k, v in model.items() if len(k) == 3) if kind == "state" and s == scope}
        assert dict(store.state_items(scope)) == expected
        for key in ("a", "b", "c"):
            assert store.state_get(scope, key) == expected.get(key)
    assert set(store.state_scopes()) == {k[1] for k in model if k[0] == "state"}
    streams = {k for k in model if k[0] == "strea"}
    assert set(store.stream_names()) == {k[1] for k in streams}
    for stream in ("a", "b", "c"):
        assert set(store.stream_groups(stream)) == {k[2] for k in streams if k[1] == stream}
        for group in ("a", "b", "c"):
            expected = {k[3]: model[k] for k in streams if k[1] == stream and k[2] == group}
            assert dict(store.stream_items(stream, group)) == expected
            for item in ("a", "b", "c"):
                assert store.stream_get(stream, group, item) == expected.get(item)


@FAST
@given(store_ops)
def test_the_memory_store_is_a_dict(ops: list[tuple[Any, ...]]) -> None:
    store, model = MemoryStore(), {}
    for op in ops:
        _apply(store, model, op)
    _same(store, model)


@settings(max_examples=100, deadline=None, database=None)
@given(store_ops, store_ops)
def test_the_sqlite_store_is_a_dict_also_after_reopening(first: list[Any], second: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "motia.db"
        model: dict[tuple[str, ...], bytes] = {}
        store = SqliteStore(path)
        for op in first:
            _apply(store, model, op)
        _same(store, model)
        store.close()
        store = SqliteStore(path)
        try:
            _same(store, model)
            for op in second:
                _apply(store, model, op)
            _same(store, model)
        finally:
            store.close()


# --- protocol types -------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _strategy(annotation: Any) -> st.SearchStrategy[Any]:
    if annotation is Any:
        return json_values
    if annotation is str:
        return st.text()
    if annotation is int:
        return st.integers(100, 599)
    if annotation is bytes:
        return st.binary(max_size=8)
    if typing.get_origin(annotation) is list:
        return st.lists(_strategy(typing.get_args(annotation)[0]), max_size=3)
    if typing.get_origin(annotation) is dict:
        return st.dictionaries(st.text(max_size=8), _strategy(typing.get_args(annotation)[1]), max_size=3)
    if typing.get_origin(annotation) is typing.Annotated:  # InvocationId: a UUID
        return st.uuids().map(str)
    if typing.get_origin(annotation) in (typing.Union, getattr(types, "UnionType", None)):
        return st.one_of(*(_strategy(arg) for arg in typing.get_args(annotation)))
    if annotation is type(None):
        return st.none()
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return _struct(annotation)
    raise AssertionError(f"no strategy for {annotation!r}")


def _struct(cls: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return st.builds(cls, **{name: _strategy(hints[name]) for name in cls.__struct_fields__})


MESSAGES = typing.get_args(protocol.AnyMessage)


def test_the_union_holds_every_message_type() -> None:
    assert set(MESSAGES) == set(protocol.Message.__subclasses__())


@FAST
@given(st.sampled_from(MESSAGES).flatmap(_struct))
def test_every_message_survives_the_wire(message: protocol.Message) -> None:
    frame = protocol.encode_message(message)
    assert protocol.decode_message(frame) == message
    assert msgspec.json.decode(msgspec.json.encode(message), type=protocol.AnyMessage) == message


@FAST
@given(_struct(protocol.HttpRequestData).filter(lambda r: r.raw_body is None), _struct(protocol.HttpResponseData))
def test_http_trigger_payloads_survive_the_wire(request: protocol.HttpRequestData,
                                                response: protocol.HttpResponseData) -> None:
    assert msgspec.json.decode(msgspec.json.encode(request), type=protocol.HttpRequestData) == request
    assert msgspec.json.decode(msgspec.json.encode(response), type=protocol.HttpResponseData) == response


def test_a_time_a_hair_before_a_fire_does_not_skip_it() -> None:
    # Found by the minute-by-minute property: 05:59:59.9999995 rounded up to 06:00 skipped the 06:00 fire.
    assert CronSchedule("0 * * * *").next_after(946_706_399.9999995) == 946_706_400.0
