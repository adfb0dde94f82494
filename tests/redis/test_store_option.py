"""`--store redis://...` and config.yaml's `redis` adapter: a bad or unreachable URL is a clear error naming it
(never its password); a reachable one serves the app with its data in Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from motia import Registry
from motia.assembly import App
from motia.engine.config import ConfigError, app_options, parse
from motia.engine.redis import RedisStore, RedisUnavailable
from tests.conftest import MotiaProcess
from tests.redis.conftest import RedisServer, _free_port

HELLO = textwrap.dedent("""
    from motia import api

    @api("GET", "/hello")
    async def hello(request, ctx):
        return {"status": 200, "body": {"hello": "world"}}
""")


def _project(tmp_path: Path) -> Path:
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "hello_step.py").write_text(HELLO)
    return tmp_path


def _motia(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "motia.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_an_unreachable_redis_stops_motia_run_naming_the_url_without_its_password(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    result = _motia(_project(tmp_path), "run", "--port", "0", "--store", f"redis://:s3cret@127.0.0.1:{port}/0")
    assert result.returncode == 1
    assert f"error: cannot reach Redis at redis://:***@127.0.0.1:{port}/0" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_an_unreachable_redis_stops_motia_engine_too(tmp_path: Path) -> None:
    port = _free_port()
    result = _motia(tmp_path, "engine", "--port", "0", "--engine-port", "0", "--store", f"redis://127.0.0.1:{port}/2")
    assert result.returncode == 1
    assert f"cannot reach Redis at redis://127.0.0.1:{port}/2" in result.stderr


@pytest.mark.parametrize(("url", "message"), [
    ("http://127.0.0.1:6379/0", "expected redis://HOST:PORT/DB"),
    ("redis://127.0.0.1:notaport/0", "Port could not be cast"),
    ("redis://127.0.0.1:6379/zero", "the database is a number"),
    ("redis:///0", "the URL names no host"),
])
def test_a_malformed_store_url_is_refused_before_connecting(url: str, message: str) -> None:
    with pytest.raises(RedisUnavailable, match=message):
        RedisStore(url)


def test_store_with_memory_is_refused(tmp_path: Path) -> None:
    result = _motia(_project(tmp_path), "run", "--port", "0", "--memory", "--store", "redis://127.0.0.1:1/0")
    assert result.returncode == 1
    assert "--store redis://... keeps everything in Redis: drop --memory and --data-dir" in result.stderr


def test_store_with_engine_is_refused(tmp_path: Path) -> None:
    result = _motia(_project(tmp_path), "run", "--engine", "ws://127.0.0.1:1", "--store", "redis://127.0.0.1:1/0")
    assert result.returncode == 1
    assert "--store is where the embedded engine keeps its data" in result.stderr


def test_motia_run_serves_with_a_reachable_redis(tmp_path: Path, redis_server: RedisServer) -> None:
    node = MotiaProcess(_project(tmp_path), "--store", redis_server.url, "--stream-port", "0")
    try:
        assert node.client.get("/hello").json() == {"hello": "world"}
        assert node.wait_for_output(r"data in (Redis at \S+)") == f"Redis at {redis_server.url}"
    finally:
        output = node.stop()
    assert not (tmp_path / ".motia" / "motia.db").exists(), output  # nothing went to SQLite


def test_config_yaml_redis_adapter_picks_the_redis_store(redis_server: RedisServer) -> None:
    adapter = {"name": "redis", "config": {"redis_url": redis_server.url}}
    config = parse({"workers": [{"name": "iii-state", "config": {"adapter": adapter}},
                                {"name": "iii-stream", "config": {"adapter": adapter}}]})
    options = app_options(config)
    assert options["redis_url"] == redis_server.url
    app = App(Registry(), **{**options, "port": 0, "stream_port": None})
    assert isinstance(app.store, RedisStore)
    assert app.store_description == f"Redis at {redis_server.url}"


def test_config_yaml_redis_adapters_naming_two_servers_are_refused() -> None:
    def adapter(url: str) -> dict[str, object]:
        return {"adapter": {"name": "redis", "config": {"redis_url": url}}}

    with pytest.raises(ConfigError, match="the redis adapters name different servers"):
        parse({"workers": [{"name": "iii-state", "config": adapter("redis://a:6379/0")},
                           {"name": "iii-cron", "config": adapter("redis://:pw@b:6379/0")}]})


def test_config_yaml_redis_adapter_without_url_names_the_key() -> None:
    with pytest.raises(ConfigError, match="redis_url"):
        parse({"workers": [{"name": "iii-state", "config": {"adapter": {"name": "redis", "config": {}}}}]})
