"""iii's config.yaml read by `motia engine --config` (`docs/protocol.md` §1.7): what each worker entry sets, and
the errors a wrong file gets (naming the entry and the key)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from motia.engine.config import ConfigError, app_options, load, parse, report_ignored
from motia.engine.queues import QueueSettings
from motia.engine.rbac import ExposeMetadata


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


FULL = """
workers:
  - name: iii-worker-manager
    config:
      port: 49199
  - name: iii-worker-manager
    config:
      host: 127.0.0.1
      port: 49135
      middleware_function_id: session::middleware
      rbac:
        auth_function_id: session::auth
        expose_functions:
          - match("public::*")
          - metadata:
              public: true
        on_function_registration_function_id: hooks::function
  - name: iii-http
    config:
      port: 3199
      default_timeout: 5000
      concurrency_request_limit: 64
      cors:
        allowed_origins: ["https://app.example"]
        allowed_methods: [get, post]
  - name: iii-stream
    config:
      port: 3198
      auth_function: streams::auth
      adapter: {name: kv, config: {store_method: file_based, file_path: ./data}}
  - name: iii-state
    config:
      adapter: {name: kv, config: {store_method: file_based, file_path: ./data}}
  - name: iii-queue
    config:
      adapter: {name: builtin, config: {store_method: file_based, file_path: ./data}}
      queue_configs:
        emails: {max_retries: 5, concurrency: 2, backoff_ms: 500}
  - name: iii-cron
    config: {adapter: {name: kv}}
  - name: iii-pubsub
    config: {adapter: {name: local}}
  - name: iii-http-functions
    config:
      security: {url_allowlist: [api.example.com], block_private_ips: true, require_https: true}
  - name: iii-observability
    config: {exporter: memory}
"""


def test_a_file_shaped_like_iiis_own_test_configuration_is_read(tmp_path):
    config = load(write(tmp_path, FULL))
    plain, guarded = config.worker_ports
    assert (plain.host, plain.port, plain.rbac) == ("127.0.0.1", 49199, None)
    assert guarded.port == 49135 and guarded.middleware_function_id == "session::middleware"
    assert guarded.rbac is not None and guarded.rbac.auth_function_id == "session::auth"
    assert guarded.rbac.expose_functions == ['match("public::*")', ExposeMetadata({"public": True})]
    assert config.http_functions is not None and config.http_functions.security is not None
    assert config.http_functions.security.url_allowlist == ["api.example.com"]
    assert config.ignored == ["iii-observability"]
    options = app_options(config)
    assert options["port"] == 3199 and options["default_timeout"] == 5.0 and options["max_connections"] == 64
    assert options["cors_origins"] == ["https://app.example"] and options["cors_methods"] == ["GET", "POST"]
    assert options["stream_port"] == 3198 and options["stream_auth_function"] == "streams::auth"
    assert options["memory"] is False and options["data_dir"] == Path("data")
    # iii counts delivery attempts; the engine counts retries after the first.
    assert options["queue_settings"] == {"emails": QueueSettings(max_retries=4, concurrency=2, backoff_delay_ms=500)}


def test_variables_are_expanded_with_their_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("HTTP_PORT", "4111")
    monkeypatch.delenv("STREAM_PORT", raising=False)
    config = load(write(tmp_path, """
workers:
  - name: iii-http
    config: {port: ${HTTP_PORT}, host: "${HTTP_HOST:127.0.0.1}"}
  - name: iii-stream
    config: {port: ${STREAM_PORT:4112}}
"""))
    options = app_options(config)
    assert (options["host"], options["port"], options["stream_port"]) == ("127.0.0.1", 4111, 4112)


def test_an_unset_variable_without_a_default_is_an_error_with_its_line(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_VARIABLE", raising=False)
    path = write(tmp_path, "workers:\n  - name: iii-http\n    config: {port: ${NO_SUCH_VARIABLE}}\n")
    with pytest.raises(ConfigError, match=r"config.yaml:3: \$\{NO_SUCH_VARIABLE\} is not set"):
        load(path)


def test_the_older_modules_key_is_read():
    config = parse({"modules": [{"name": "iii-worker-manager", "config": {"port": 49500}}]})
    assert config.worker_ports[0].port == 49500


def test_every_in_memory_kv_adapter_keeps_the_store_in_memory():
    memory = {"adapter": {"name": "kv", "config": {"store_method": "in_memory"}}}
    config = parse({"workers": [{"name": "iii-state", "config": memory}, {"name": "iii-stream", "config": memory}]})
    assert app_options(config)["memory"] is True


@pytest.mark.parametrize(("raw", "message"), [
    ({"workers": [{"name": "iii-htp"}]}, r"workers\[0\]: unknown worker 'iii-htp'"),
    ({"workers": [{"name": "iii-http", "config": {"prot": 1}}]},
     r"workers\[0\] \(iii-http\): Object contains unknown field `prot` - at `config`"),
    ({"workers": [{"name": "iii-http"}, {"name": "iii-http", "config": {"cors": {"origins": []}}}]},
     r"workers\[1\] \(iii-http\): iii-http is already configured by workers\[0\]"),
    ({"workers": [{"name": "iii-http", "config": {"cors": {"origins": []}}}]},
     r"unknown field `origins` - at `config.cors`"),
    ({"workers": [{"name": "iii-http", "config": {"port": "eighty"}}]},
     r"workers\[0\] \(iii-http\): Expected `int`, got `str` - at `config.port`"),
    ({"workers": [{"name": "iii-worker-manager", "config": {"rbac": {"expose_functions": ["public::*"]}}}]},
     r"workers\[0\] \(iii-worker-manager\): .*match\(\"glob\"\).*at `config.rbac`"),
    ({"workers": [{"name": "iii-worker-manager", "config": {"port": 70000}}]}, r"port must be between 0 and 65535"),
    ({"workers": [{"name": "iii-queue", "config": {"adapter": {"name": "rabbitmq",
                                                                "config": {"amqp_url": "amqp://x:5672"}}}}]},
     r"workers\[0\] \(iii-queue\): the rabbitmq adapter is not available yet in motia; use builtin or kv or redis"),
    ({"workers": [{"name": "iii-state", "config": {"adapter": {"name": "kv", "config": {"store": "x"}}}}]},
     r"unknown field `store` - at `config.adapter.config`"),
    ({"workers": [{"name": "iii-queue", "config": {"queue_configs": {"q": {"concurrency": 0}}}}]},
     r"workers\[0\] \(iii-queue\): queue_configs.q: max_retries and concurrency must be at least 1"),
    ({"workers": [], "modules": []}, r"use `workers` or its older name `modules`, not both"),
    ({"worker": []}, r"Object contains unknown field `worker`"),
])
def test_a_wrong_file_is_an_error_naming_the_entry_and_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse(raw)


def test_invalid_yaml_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"config.yaml is not valid YAML"):
        load(write(tmp_path, "workers: [\n"))


def test_what_is_ignored_is_logged_once_by_name(caplog):
    config = parse({"workers": [
        {"name": "iii-observability", "config": {"exporter": "otlp"}},
        {"name": "iii-observability"},
        {"name": "iii-state", "config": {"max_value_bytes": 1024}},
    ]})
    with caplog.at_level(logging.INFO, logger="motia.engine.config"):
        report_ignored(config)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("iii-observability" in m for m in messages) == 1
    assert any("iii-state.max_value_bytes" in m for m in messages)


def test_a_worker_port_without_a_host_stays_on_loopback():
    config = parse({"workers": [{"name": "iii-worker-manager"}]})
    assert (config.worker_ports[0].host, config.worker_ports[0].port) == ("127.0.0.1", 49134)
