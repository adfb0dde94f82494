"""Real `motia run --store redis://...` processes sharing one Redis: increments from three nodes at once are
all counted, a stream client on one node sees a write made through another, a per-second cron runs once per
tick across three nodes, and nodes ride out a Redis restart without being restarted themselves."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import connect

import redis
from tests.conftest import MotiaProcess, eventually
from tests.redis.conftest import RedisServer

COUNTER_STEPS = textwrap.dedent("""
    from motia import api

    @api("POST", "/inc")
    async def inc(request, ctx):
        result = await ctx.state.update("counters", "hits", [{"type": "increment", "path": "n", "by": 1}])
        return {"status": 200, "body": result}

    @api("GET", "/count")
    async def count(request, ctx):
        return {"status": 200, "body": await ctx.state.get("counters", "hits")}

    @api("POST", "/todo/:id")
    async def add_todo(request, ctx):
        await ctx.streams.todo.set("inbox", request.path_params["id"], {"id": request.path_params["id"]})
        return {"status": 200, "body": {"ok": True}}
""")
TODO_STREAM = textwrap.dedent("""
    config = {"name": "todo", "schema": {"type": "object"}, "baseConfig": {"storageType": "default"}}
""")
CRON_STEPS = textwrap.dedent("""
    import os
    import time

    from motia import cron

    @cron("* * * * * *")
    async def every_second(ctx):
        await ctx.state.update("cron", "runs", [{"type": "append", "path": "at", "value": [time.time(), os.getpid()]}])
""")


def project(root: Path, **files: str) -> Path:
    (root / "steps").mkdir(parents=True)
    for name, source in files.items():
        (root / "steps" / name).write_text(source)
    return root


def start_nodes(root: Path, url: str, count: int) -> list[MotiaProcess]:
    return [MotiaProcess(root, "--store", url, "--stream-port", "0") for _ in range(count)]


def stop_nodes(nodes: list[MotiaProcess]) -> None:
    for node in nodes:
        if node.proc.poll() is None:
            node.stop()


@pytest.fixture
def counter_app(tmp_path: Path) -> Path:
    return project(tmp_path / "app", **{"counter_step.py": COUNTER_STEPS, "todo_stream.py": TODO_STREAM})


@pytest.fixture
def three_nodes(counter_app: Path, redis_server: RedisServer) -> Iterator[list[MotiaProcess]]:
    nodes = start_nodes(counter_app, redis_server.url, 3)
    yield nodes
    stop_nodes(nodes)


async def _increment(url: str, times: int, connections: int = 50) -> list[int]:
    """`times` POST /inc, over `connections` kept-alive connections at once. Plain HTTP/1.1 on asyncio streams:
    httpx's client spends far more CPU per request than the node does, and the test would measure it."""
    address = urlsplit(url)
    request = f"POST /inc HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Length: 0\r\n\r\n".encode()
    statuses: list[int] = []

    async def one_connection(count: int) -> None:
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        try:
            for _ in range(count):
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                statuses.append(int(head.split(b" ", 2)[1]))
        finally:
            writer.close()

    share, extra = divmod(times, connections)
    await asyncio.gather(*(one_connection(share + (i < extra)) for i in range(connections)))
    return statuses


@pytest.mark.slow
def test_three_nodes_times_a_thousand_increments_at_once_end_at_three_thousand(
    three_nodes: list[MotiaProcess],
) -> None:
    async def all_nodes() -> list[list[int]]:
        return list(await asyncio.gather(*(_increment(node.url, 1000) for node in three_nodes)))

    statuses = asyncio.run(all_nodes())
    assert [set(node) for node in statuses] == [{200}, {200}, {200}]
    assert [node.client.get("/count").json() for node in three_nodes] == [{"n": 3000}] * 3


def test_a_stream_client_on_node_two_sees_a_write_made_through_node_one(three_nodes: list[MotiaProcess]) -> None:
    one, two, _ = three_nodes

    async def watch() -> list[dict[str, object]]:
        async with connect(two.stream_url) as socket:
            await socket.send(json.dumps({"type": "join", "data": {"subscriptionId": "s1", "streamName": "todo",
                                                                   "groupId": "inbox"}}))
            sync = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert sync["event"] == {"type": "sync", "data": []}
            assert one.client.post("/todo/1").status_code == 200
            return [json.loads(await asyncio.wait_for(socket.recv(), 10))]

    (change,) = asyncio.run(watch())
    assert (change["streamName"], change["groupId"], change["id"]) == ("todo", "inbox", "1")
    assert change["event"] == {"type": "create", "data": {"id": "1"}}


@pytest.mark.slow
def test_a_per_second_cron_runs_once_per_tick_across_three_nodes(tmp_path: Path, redis_server: RedisServer) -> None:
    started = time.time()  # the first node runs ticks while the others start
    nodes = start_nodes(project(tmp_path / "app", **{"cron_step.py": CRON_STEPS}), redis_server.url, 3)
    try:
        time.sleep(12)
    finally:
        stop_nodes(nodes)
    elapsed = time.time() - started
    client = redis.Redis.from_url(redis_server.url)
    runs = json.loads(client.hget("motia:state:{cron}", "runs") or b"{}").get("at", [])
    client.close()
    times = sorted(at for at, _ in runs)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Three nodes firing every tick would run ~3 times a second, two of them within milliseconds of each other.
    assert elapsed / 2 <= len(times) <= elapsed + 1, times
    assert min(gaps) > 0.3, gaps


def test_nodes_answer_503_while_redis_is_away_and_recover_by_themselves(
    counter_app: Path, redis_server: RedisServer,
) -> None:
    one, two = nodes = start_nodes(counter_app, redis_server.url, 2)
    try:
        assert one.client.post("/inc").json() == {"n": 1}
        redis_server.stop()
        refused = one.client.post("/inc")
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "STORE_UNAVAILABLE"
        assert refused.headers["retry-after"] == "1"
        redis_server.start()
        one.wait_for_output(r"(subscribed to Redis at \S+ again)")
        assert one.client.post("/inc").status_code == 200  # not a 503 from a connection that died with Redis
        eventually(lambda: two.client.post("/inc").status_code == 200, timeout=20)
        assert one.client.get("/count").json() == {"n": 3}  # AOF kept the acknowledged increment

        async def stream_after_restart() -> dict[str, object]:
            async with connect(two.stream_url) as socket:
                await socket.send(json.dumps({"type": "join", "data": {"subscriptionId": "s", "streamName": "todo",
                                                                       "groupId": "inbox"}}))
                await asyncio.wait_for(socket.recv(), 10)  # the sync
                for attempt in range(40):  # node two's listener subscribes again within its back-off
                    assert one.client.post(f"/todo/{attempt}").status_code == 200
                    try:
                        return dict(json.loads(await asyncio.wait_for(socket.recv(), 0.5)))
                    except asyncio.TimeoutError:
                        continue
            raise AssertionError("node two never saw a change made through node one")

        assert asyncio.run(stream_after_restart())["event"]["type"] == "create"  # type: ignore[index]
    finally:
        stop_nodes(nodes)


def test_a_second_process_on_one_sqlite_data_directory_is_still_refused(counter_app: Path) -> None:
    first = MotiaProcess(counter_app, "--stream-port", "0")
    try:
        result = subprocess.run([sys.executable, "-m", "motia.cli", "run", "--port", "0", "--stream-port", "0"],
                                cwd=counter_app, capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        assert f"is in use by process {first.proc.pid}" in result.stderr
    finally:
        first.stop()
