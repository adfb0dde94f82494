"""The durable queue with real `motia run --store redis://...` nodes: an emit through one node is handled once
across three, and a node killed with SIGKILL mid-delivery has its message delivered by another."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import redis
from tests.conftest import MotiaProcess, eventually
from tests.redis.conftest import RedisServer
from tests.redis.queue_app import handled, write_project

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MOTIA_TEST_REDIS", redis_server.url)
    project = write_project(tmp_path)
    started: list[MotiaProcess] = []

    def start(count: int) -> list[MotiaProcess]:
        for _ in range(count):
            started.append(MotiaProcess(project, "--store", redis_server.url, "--stream-port", "0"))
        return started[-count:]

    yield start
    for node in started:
        if node.proc.poll() is None:
            node.stop()


def test_emits_through_one_node_are_handled_exactly_once_across_three_nodes(cluster, redis_server):
    first, _, _ = cluster(3)
    ids = list(range(60))
    assert first.client.post("/burst", json={"ids": ids}).status_code == 200
    times, _ = eventually(lambda: (found := handled(redis_server.url)) and len(found[0]) == len(ids) and found,
                          timeout=30)
    assert times == {n: 1 for n in ids}


def test_a_message_whose_node_is_killed_mid_delivery_is_delivered_by_another_node(cluster, redis_server):
    nodes = cluster(3)
    assert nodes[0].client.post("/burst", json={"topic": "slow", "ids": [1]}).status_code == 200
    client = redis.Redis.from_url(redis_server.url)
    started = int(eventually(lambda: client.hget("test:started", "1"), timeout=30))
    client.close()
    [busy] = [node for node in nodes if node.proc.pid == started]
    os.kill(busy.proc.pid, signal.SIGKILL)  # mid-delivery: the entry stays pending under its consumer
    busy.proc.wait(10)
    times, pids = eventually(lambda: (found := handled(redis_server.url)) and found[0] and found, timeout=30)
    assert times == {1: 1}
    assert pids[1] != busy.proc.pid and pids[1] in {node.proc.pid for node in nodes}
