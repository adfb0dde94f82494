"""iii's `config.yaml` (`docs/protocol.md` §1.7), for `motia engine --config` and `motia run --config`.

The file is read once, `${VAR}` / `${VAR:default}` expanded, and decoded into typed settings (one msgspec
Struct per worker kind); `app_options` turns them into the options of the embedded engine's App. A worker name
we do not know, or a field a worker does not have, is an error naming the entry and the key.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Literal

import msgspec

from .options import EngineOptions, HttpFunctionsSecurity, HttpMiddlewareConfig
from .queues import QueueSettings
from .rbac import WorkerPortConfig

log = logging.getLogger("motia.engine.config")

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


class ConfigError(Exception):
    """The configuration file cannot be used; the message names the file, the entry and the key."""


class _Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every worker's settings: a misspelt key is an error, not a silent default."""


class Adapter(_Settings):
    """`{name, config}`: where a worker keeps its data (§1.7)."""

    name: str
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class KvAdapter(_Settings):
    """The config of a `kv` (state, streams, cron) or `builtin` (queue) adapter."""

    store_method: Literal["in_memory", "file_based"] = "in_memory"
    file_path: str | None = None
    save_interval_ms: int | None = None  # iii's write-behind; the SQLite store commits by itself


class RedisAdapter(_Settings):
    """The config of a `redis` adapter: every worker that names one shares the same Redis (`--store`)."""

    redis_url: str


class Cors(_Settings):
    allowed_origins: list[str] = msgspec.field(default_factory=list)
    allowed_methods: list[str] = msgspec.field(default_factory=list)


class HttpSettings(_Settings):
    """`iii-http`: the REST server of `http` triggers."""

    host: str = "127.0.0.1"
    port: int = 3111
    default_timeout: int = 30_000  # ms
    concurrency_request_limit: int = 1024
    cors: Cors | None = None
    # Engine-wide HTTP middleware (§3.1): the engine's own option type, decoded straight from the file.
    middleware: list[HttpMiddlewareConfig] = msgspec.field(default_factory=list)


class StreamSettings(_Settings):
    """`iii-stream`: the WebSocket of stream clients."""

    host: str | None = None
    port: int = 3112
    auth_function: str | None = None
    adapter: Adapter | None = None


class StateSettings(_Settings):
    adapter: Adapter | None = None
    triggers_enabled: bool = True
    max_value_bytes: int | None = None


class AdapterOnly(_Settings):
    """`iii-pubsub`, `iii-cron`: nothing to set but the adapter."""

    adapter: Adapter | None = None


class NamedQueue(_Settings):
    """One entry of `queue_configs` (§5)."""

    type: Literal["standard", "fifo"] = "standard"
    message_group_field: str | None = None
    max_retries: int = 3  # total delivery attempts before the dead letters
    concurrency: int = 10
    backoff_ms: int = 1000
    poll_interval_ms: int = 100
    max_priority: int | None = None
    priority_field: str | None = None

    def settings(self) -> QueueSettings:
        """The engine's delivery settings: iii counts attempts, the engine counts retries after the first."""
        if self.max_retries < 1 or self.concurrency < 1 or self.backoff_ms < 0:
            raise ValueError("max_retries and concurrency must be at least 1, backoff_ms at least 0")
        return QueueSettings(type=self.type, max_retries=self.max_retries - 1, concurrency=self.concurrency,
                             backoff_delay_ms=self.backoff_ms)


class QueueWorkerSettings(_Settings):
    """`iii-queue` / `queue`: named queues for the `enqueue` action."""

    adapter: Adapter | None = None
    queue_configs: dict[str, NamedQueue] = msgspec.field(default_factory=dict)


class HttpFunctionsSettings(_Settings):
    # The engine's own Struct (its defaults: any host, HTTPS only, no private addresses).
    security: HttpFunctionsSecurity | None = None


# Worker name -> its settings. The short names are newer engines' aliases (§1.7).
KINDS: dict[str, type[Any]] = {
    "iii-worker-manager": WorkerPortConfig,
    "iii-http": HttpSettings,
    "http": HttpSettings,
    "iii-stream": StreamSettings,
    "iii-state": StateSettings,
    "state": StateSettings,
    "iii-pubsub": AdapterOnly,
    "pubsub": AdapterOnly,
    "iii-cron": AdapterOnly,
    "cron": AdapterOnly,
    "iii-queue": QueueWorkerSettings,
    "queue": QueueWorkerSettings,
    "iii-http-functions": HttpFunctionsSettings,
}
# Known iii workers that have nothing to configure here: accepted, and logged once as ignored.
IGNORED = frozenset({
    "iii-observability", "iii-telemetry", "iii-engine-functions", "configuration", "iii-exec", "iii-bridge",
    "iii-console",
})
# Adapters each worker can use here; others (rabbitmq, bridge) are refused with a clear message.
ADAPTERS = {
    "iii-state": ("kv", "redis"), "iii-stream": ("kv", "redis"), "iii-cron": ("kv", "redis"),
    "iii-pubsub": ("local", "kv", "redis"), "iii-queue": ("builtin", "kv", "redis"),
}
_CANONICAL = {"state": "iii-state", "cron": "iii-cron", "pubsub": "iii-pubsub", "queue": "iii-queue",
              "http": "iii-http"}


class _Entry(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    config: Any = None


class _File(msgspec.Struct, forbid_unknown_fields=True):
    registration_namespace_grace_ms: int | None = None
    workers: list[_Entry] | None = None
    modules: list[_Entry] | None = None  # the older name of `workers`


class EngineConfig(msgspec.Struct, kw_only=True):
    """A decoded config.yaml."""

    path: str
    worker_ports: list[WorkerPortConfig] = msgspec.field(default_factory=list)
    http: HttpSettings | None = None
    stream: StreamSettings | None = None
    state: StateSettings | None = None
    pubsub: AdapterOnly | None = None
    cron: AdapterOnly | None = None
    queue: QueueWorkerSettings | None = None
    http_functions: HttpFunctionsSettings | None = None
    registration_namespace_grace_ms: int | None = None
    ignored: list[str] = msgspec.field(default_factory=list)


def expand(text: str, path: str, environ: dict[str, str] | None = None) -> str:
    """Replace `${VAR}` and `${VAR:default}` from the environment; an unset variable without a default is an
    error (a silent empty string would become, say, an empty token)."""
    env = os.environ if environ is None else environ

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        line = text.count("\n", 0, match.start()) + 1
        raise ConfigError(f"{path}:{line}: ${{{name}}} is not set and has no default (write ${{{name}:default}})")

    return _VARIABLE.sub(value, text)


def load(path: str | Path, environ: dict[str, str] | None = None) -> EngineConfig:
    """Read and check a config.yaml; raises ConfigError."""
    import yaml

    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(expand(text, name, environ))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name} is not valid YAML: {exc}") from None
    return parse(raw if raw is not None else {}, name)


def parse(raw: Any, path: str = "config.yaml") -> EngineConfig:
    """A config already loaded from YAML (or built in a test) -> EngineConfig; raises ConfigError."""
    try:
        top = msgspec.convert(raw, _File)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {_where(exc, 'top level')}") from None
    if top.workers is not None and top.modules is not None:
        raise ConfigError(f"{path}: use `workers` or its older name `modules`, not both")
    config = EngineConfig(path=path, registration_namespace_grace_ms=top.registration_namespace_grace_ms)
    seen: dict[str, int] = {}
    list_name = "modules" if top.modules is not None else "workers"
    for index, entry in enumerate(top.workers or top.modules or []):
        where = f"{path}: {list_name}[{index}] ({entry.name})"
        if entry.name in IGNORED:
            if entry.name not in config.ignored:
                config.ignored.append(entry.name)
            continue
        kind = KINDS.get(entry.name)
        if kind is None:
            known = ", ".join(sorted({*KINDS, *IGNORED}))
            raise ConfigError(f"{path}: {list_name}[{index}]: unknown worker '{entry.name}' (known: {known})")
        canonical = _CANONICAL.get(entry.name, entry.name)
        if canonical != "iii-worker-manager" and canonical in seen:
            raise ConfigError(f"{where}: {canonical} is already configured by {list_name}[{seen[canonical]}]")
        seen[canonical] = index
        try:
            settings = msgspec.convert(entry.config if entry.config is not None else {}, kind)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{where}: {_where(exc, 'config')}") from None
        _check_adapter(where, canonical, getattr(settings, "adapter", None))
        _place(config, canonical, settings, where)
    _one_redis(config)
    return config


def _where(error: msgspec.ValidationError, root: str) -> str:
    """msgspec says `... - at `$.cors.x`` (nothing at the top); the reader knows the entry's `config`."""
    message = str(error)
    return message.replace("`$", f"`{root}") if " - at `$" in message else f"{message} - at `{root}`"


def _check_adapter(where: str, worker: str, adapter: Adapter | None) -> None:
    if adapter is None:
        return
    allowed = ADAPTERS.get(worker, ())
    if adapter.name in ("rabbitmq", "bridge"):
        raise ConfigError(f"{where}: the {adapter.name} adapter is not available yet in motia; use "
                          f"{' or '.join(allowed)} (one engine process, state in memory or in SQLite)")
    if adapter.name not in allowed:
        raise ConfigError(f"{where}: unknown adapter '{adapter.name}' (use {' or '.join(allowed)})")
    if adapter.name in ("kv", "builtin"):
        try:
            msgspec.convert(adapter.config, KvAdapter)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{where}: {_where(exc, 'config.adapter.config')}") from None
    if adapter.name == "redis":
        try:
            url = msgspec.convert(adapter.config, RedisAdapter).redis_url
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{where}: {_where(exc, 'config.adapter.config')}") from None
        from .redis.connection import RedisUnavailable, check_url

        try:
            check_url(url)
        except RedisUnavailable as exc:
            raise ConfigError(f"{where}: config.adapter.config.redis_url: {exc}") from None


def _adapters(config: EngineConfig) -> list[Adapter]:
    return [settings.adapter for settings in (config.state, config.stream, config.queue, config.cron, config.pubsub)
            if settings is not None and settings.adapter is not None]


def _redis_urls(config: EngineConfig) -> list[str]:
    return [str(adapter.config["redis_url"]) for adapter in _adapters(config) if adapter.name == "redis"]


def _one_redis(config: EngineConfig) -> None:
    """Motia keeps state, streams, queues, cron locks and pub/sub in one store: one Redis for all of them."""
    from .redis.connection import redact

    urls = _redis_urls(config)
    if len(set(urls)) > 1:
        raise ConfigError(f"{config.path}: the redis adapters name different servers ("
                          f"{', '.join(sorted({redact(url) for url in urls}))}); motia keeps everything in one Redis")
    local = [adapter.name for adapter in _adapters(config) if adapter.name in ("kv", "builtin")]
    if urls and local:
        log.warning("%s: with a redis adapter, motia keeps state, streams and queues in Redis; the %s adapters "
                    "are not used", config.path, " and ".join(sorted(set(local))))


# Where each worker's settings go in EngineConfig (iii-worker-manager entries are a list).
_FIELDS = {"iii-http": "http", "iii-stream": "stream", "iii-state": "state", "iii-pubsub": "pubsub",
           "iii-cron": "cron", "iii-queue": "queue", "iii-http-functions": "http_functions"}


def _place(config: EngineConfig, worker: str, settings: Any, where: str) -> None:
    if worker == "iii-worker-manager":
        config.worker_ports.append(settings)
        return
    if isinstance(settings, QueueWorkerSettings):
        for name, queue in settings.queue_configs.items():
            try:
                queue.settings()
            except ValueError as exc:
                raise ConfigError(f"{where}: queue_configs.{name}: {exc}") from None
    setattr(config, _FIELDS[worker], settings)


def store_options(config: EngineConfig) -> dict[str, Any]:
    """The store the adapters ask for. Motia keeps state, streams and queues in one store: Redis when an adapter
    is `redis`, in memory when every kv adapter is `in_memory`, else SQLite in the first `file_path` (a
    directory, like --data-dir)."""
    urls = _redis_urls(config)
    if urls:
        return {"redis_url": urls[0]}
    adapters = [settings.adapter for settings in (config.state, config.stream, config.queue, config.cron)
                if settings is not None and settings.adapter is not None and settings.adapter.name in ("kv", "builtin")]
    if not adapters:
        return {}
    kv = [msgspec.convert(adapter.config, KvAdapter) for adapter in adapters]
    files = [k.file_path or ".motia" for k in kv if k.store_method == "file_based"]
    if not files:
        return {"memory": True}
    if len(set(files)) > 1:
        log.warning("%s: motia keeps state, streams and queues in one SQLite store, in %s (not in %s)",
                    config.path, files[0], ", ".join(sorted(set(files[1:]) - {files[0]})))
    return {"memory": False, "data_dir": Path(files[0])}


def app_options(config: EngineConfig) -> dict[str, Any]:
    """The App options config.yaml sets (the CLI's explicit flags are applied over them)."""
    options: dict[str, Any] = store_options(config)
    if config.worker_ports:
        options["worker_ports"] = list(config.worker_ports)
    http = config.http
    if http is not None:
        options.update(host=http.host, port=http.port, default_timeout=http.default_timeout / 1000,
                       max_connections=http.concurrency_request_limit)
        if http.cors is not None:
            options["cors_origins"] = list(http.cors.allowed_origins)
            if http.cors.allowed_methods:
                options["cors_methods"] = [m.upper() for m in http.cors.allowed_methods]
    stream = config.stream
    if stream is not None:
        options["stream_port"] = stream.port
        if stream.host is not None:
            options["stream_host"] = stream.host
        if stream.auth_function is not None:
            options["stream_auth_function"] = stream.auth_function
    if config.queue is not None and config.queue.queue_configs:
        options["queue_settings"] = {name: q.settings() for name, q in config.queue.queue_configs.items()}
    options["engine_options"] = engine_options(config)
    return options


def engine_options(config: EngineConfig) -> EngineOptions:
    """The protocol-side settings: engine-wide HTTP middleware, HTTP-invoked functions' URL security, the
    namespace grace time."""
    settings: dict[str, Any] = {}
    if config.http is not None and config.http.middleware:
        settings["http_middleware"] = tuple(config.http.middleware)
    security = config.http_functions.security if config.http_functions is not None else None
    if security is not None:
        settings["http_functions"] = security
    if config.registration_namespace_grace_ms is not None:
        settings["namespace_grace_ms"] = config.registration_namespace_grace_ms
    return EngineOptions(**settings)


def report_ignored(config: EngineConfig) -> None:
    """Log once, by name, what the file sets that this engine does not use."""
    for name in config.ignored:
        log.info("%s: worker %s is accepted and ignored by motia", config.path, name)
    ignored = []
    if config.state is not None and config.state.max_value_bytes is not None:
        ignored.append("iii-state.max_value_bytes")
    if config.state is not None and not config.state.triggers_enabled:
        ignored.append("iii-state.triggers_enabled")
    for name, queue in (config.queue.queue_configs.items() if config.queue is not None else ()):
        for key in ("message_group_field", "max_priority", "priority_field"):
            if getattr(queue, key) is not None:
                ignored.append(f"iii-queue.queue_configs.{name}.{key}")
    for key in ignored:
        log.info("%s: %s is not supported by motia and is ignored", config.path, key)


__all__ = ["ConfigError", "EngineConfig", "app_options", "engine_options", "expand", "load", "parse", "report_ignored"]
