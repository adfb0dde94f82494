"""The `motia` command line. Heavy imports happen inside commands so that `motia --help` stays fast."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer

app = typer.Typer(
    name="motia",
    help="Event-driven Python backends from typed steps (HTTP routes, queues, cron, state, streams).",
    no_args_is_help=True,
    # `motia --install-completion` (bash, zsh, fish, PowerShell) and `--show-completion`.
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"motia {version('motia-py')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("motia (not installed: no version)")
        raise typer.Exit()


@app.callback()
def _root_options(
    show_version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version of motia and exit."
    ),
) -> None:
    """Event-driven Python backends from typed steps (HTTP routes, queues, cron, state, streams)."""

DirOption = typer.Option(
    None, "--dir", "-d", help="The steps directory (default: ./steps). `src/` is scanned too when it exists."
)
DocsOption = typer.Option(
    None, "--docs/--no-docs", show_default=False,
    help="Serve the API docs pages (/docs, /redoc, /asyncapi). Default: on when --host is a loopback address.",
)
ConsoleOption = typer.Option(
    None, "--console/--no-console", show_default=False,
    help="Serve the console at /__motia/ (flows, endpoint tester, state, streams, queues, cron). Default: on under "
    "`motia dev` (and --watch) when --host is a loopback address, off otherwise. Another interface needs "
    "--console-token.",
)
ConsoleTokenOption = typer.Option(
    None, "--console-token", envvar="MOTIA_CONSOLE_TOKEN",
    help="A secret the console asks for (open /__motia/?token=... once, or send X-Motia-Console-Token); "
    "required to serve it on a non-loopback --host.",
)
RecordOption = typer.Option(
    None, "--record/--no-record", help="Record every trace and log line for the console's traces and logs pages "
    "and their /__motia/api routes (on by default under `motia dev`, off under `motia run`).",
)
RecordWindowOption = typer.Option(
    86400.0, "--record-window", help="Seconds of recorded traces and logs kept in recording.db beside the store.",
)
RecordTracesOption = typer.Option(1000, "--record-traces", help="Most recorded traces kept in memory.")
RecordLogsOption = typer.Option(10000, "--record-logs", help="Most recorded log lines kept in memory.")

def _engine_app_flags(
    config_file: Optional[Path] = typer.Option(
        None, "--config", "-c", help="An iii engine config.yaml (workers: iii-http, iii-stream, iii-worker-manager, "
        "adapters, queue_configs, ...); flags given on the command line override it. See docs/config.md."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface the HTTP server binds to."),
    port: int = typer.Option(3111, "--port", "-p", help="HTTP port (0: any free port)."),
    max_body_size: int = typer.Option(
        1024 * 1024, "--max-body-size", help="Largest request body in bytes (413 above)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="Log level: debug, info, warning or error."),
    log_format: str = typer.Option(
        "human", "--log-format", help="Log format: human (coloured on a terminal) or json (one object per line)."
    ),
    data_dir: Path = typer.Option(Path(".motia"), "--data-dir", help="Where the SQLite store lives."),
    memory: bool = typer.Option(False, "--memory", help="Keep state, streams and queues in memory only."),
    store: Optional[str] = typer.Option(
        None, "--store", envvar="MOTIA_STORE", help="Share state, streams, queues, cron and pub/sub with every node "
        "on one Redis: redis://HOST:PORT/DB or rediss:// (needs motia-py[redis]; see docs/deployment.md). Default: "
        "SQLite in --data-dir.",
    ),
    stream_port: int = typer.Option(
        3112, "--stream-port", help="WebSocket port for stream clients (0: any free port)."
    ),
    header_timeout: float = typer.Option(
        10.0, "--header-timeout", help="Seconds a client gets to send a request's head (then 408 and closed)."
    ),
    body_timeout: float = typer.Option(
        30.0, "--body-timeout", help="Seconds a client gets to send a request's body after its head (then 408)."
    ),
    keep_alive_timeout: float = typer.Option(5.0, "--keep-alive-timeout",
                                             help="Seconds an idle kept-alive connection stays open."),
    write_timeout: float = typer.Option(
        30.0, "--write-timeout", help="Seconds a client may leave its response unread before it is cut off."
    ),
    max_connections: int = typer.Option(
        1000, "--max-connections", help="Open HTTP connections; a connection over the cap gets 503 (0: no cap)."
    ),
    stream_max_queued_bytes: int = typer.Option(
        8 * 1024 * 1024, "--stream-max-queued-bytes",
        help="Bytes queued for one stream client that does not read; over it the socket is closed with 1008.",
    ),
    stream_max_subscriptions: int = typer.Option(
        1000, "--stream-max-subscriptions",
        help="Subscriptions on one stream socket; a join over it closes it (1008).",
    ),
    stream_max_connections: int = typer.Option(
        1000, "--stream-max-connections", help="Open stream sockets; one over the cap is closed with 1013.",
    ),
    max_head_size: int = typer.Option(
        64 * 1024, "--max-head-size", help="Largest request head (request line and headers) in bytes (431 above)."
    ),
    max_headers: int = typer.Option(100, "--max-headers", help="Most headers in a request (431 above)."),
    operator_hosts: Optional[list[str]] = typer.Option(
        None, "--operator-host", help="A Host name the operator routes (/__motia/...) answer to besides loopback "
        "names (repeatable; e.g. the name a local reverse proxy passes on)."
    ),
    access_log: Optional[bool] = typer.Option(
        None, "--access-log/--no-access-log", show_default=False,
        help="Log one line per HTTP request: method, path, status, duration and trace id (a client error with "
        "its reason). Default: on in `motia dev`, off otherwise.",
    ),
) -> None:
    """The options of an embedded engine's app, which `run`, `engine` and `dev` share, defined once: a signature
    only, whose parameters `_engine_options` adds to each command; `_app_options` turns them into an App's."""


def _engine_options(after: str) -> Any:
    """Give a command (whose signature ends in `**shared`) the shared options, listed in `--help` after its own
    option `after`; typer passes their values in `shared`."""
    import typing

    shared = list(inspect.signature(_engine_app_flags).parameters.values())
    hints = typing.get_type_hints(_engine_app_flags)

    def add(command: Any) -> Any:
        signature = inspect.signature(command)
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        at = [p.name for p in own].index(after) + 1
        command.__signature__ = signature.replace(parameters=[*own[:at], *shared, *own[at:]])
        command.__annotations__ = {**command.__annotations__, **{p.name: hints[p.name] for p in shared}}
        return command

    return add


def _app_options(ctx: typer.Context, shared: dict[str, Any], **own: Any) -> dict[str, Any]:
    """The App options of the shared flags and a command's own (`own`, App option names), over config.yaml's."""
    return _options(
        ctx, shared["config_file"], host=shared["host"], port=shared["port"], max_body_size=shared["max_body_size"],
        data_dir=shared["data_dir"], memory=shared["memory"], redis_url=shared["store"],
        stream_port=shared["stream_port"], header_timeout=shared["header_timeout"],
        body_timeout=shared["body_timeout"], keep_alive_timeout=shared["keep_alive_timeout"],
        write_timeout=shared["write_timeout"], max_connections=shared["max_connections"],
        max_head_size=shared["max_head_size"], max_headers=shared["max_headers"],
        operator_hosts=shared["operator_hosts"] or (),
        stream_limits=_stream_limits(shared["stream_max_queued_bytes"], shared["stream_max_subscriptions"],
                                     shared["stream_max_connections"]),
        access_log=shared["access_log"] if shared["access_log"] is not None else _watched(),
        **own,
    )


def _fail(message: object, code: int = 1) -> NoReturn:
    """Print `error: ...` in red on stderr and exit."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _discover(steps_dir: Optional[Path], serving: Optional[tuple[str, int]] = None,  # type: ignore[no-untyped-def]
              logged: bool = False):
    """The project's registry; a step that does not load exits with its error. Warnings go to the log when the
    command configured one (`logged`: `motia run`, in its log format), else to stderr."""
    import logging

    from .discovery import discover
    from .errors import StepError

    root = str(Path.cwd().resolve())
    try:
        registry = discover(Path.cwd(), steps_dir)
    except StepError as exc:
        text = exc.render(root)
        typer.secho(f"error: {text}", fg=typer.colors.RED, err=True)
        _serve_unavailable_while_watched(serving, text)
        raise typer.Exit(1) from None
    for warning in registry.warnings:
        if logged:
            logging.getLogger("motia").warning(warning.render(root))
        else:
            typer.secho(f"warning: {warning.render(root)}", fg=typer.colors.YELLOW, err=True)
    return registry


def _serve_unavailable_while_watched(serving: Optional[tuple[str, int]], error: str) -> None:
    """Under `motia dev`, a start-up error is served on the app's port (503) until the watcher restarts the app."""
    from .reload import serve_unavailable

    if serving is not None and _watched():
        serve_unavailable(*serving, error)


@app.command()
@_engine_options(after="steps_dir")
def run(
    ctx: typer.Context,
    steps_dir: Optional[Path] = DirOption,
    timeout: float = typer.Option(30.0, "--timeout", help="Default handler time limit in seconds (504/failure above)."),
    drain_timeout: float = typer.Option(
        10.0, "--drain-timeout", help="Seconds in-flight handlers get to finish on shutdown."
    ),
    engine_url: Optional[str] = typer.Option(
        None, "--engine", envvar="III_URL",
        help="Run the steps as a worker of this engine (ws://host:49134: `motia engine` or an iii engine) "
        "instead of starting the embedded one.",
    ),
    watch: bool = typer.Option(False, "--watch", "-w", help="Restart when step files, helpers or .env change."),
    cors_origins: Optional[list[str]] = typer.Option(
        None, "--cors-origin", help="Allow cross-origin browser requests from this origin (repeatable; * for any). "
        "Off by default."
    ),
    worker_token: Optional[str] = typer.Option(
        None, "--worker-token", envvar="III_TOKEN",
        help="With --engine: the engine's worker token, sent as `Authorization: Bearer` (as iii SDKs send III_TOKEN).",
    ),
    docs: Optional[bool] = DocsOption,
    record: Optional[bool] = RecordOption,
    record_window: float = RecordWindowOption,
    record_traces: int = RecordTracesOption,
    record_logs: int = RecordLogsOption,
    console: Optional[bool] = ConsoleOption,
    console_token: Optional[str] = ConsoleTokenOption,
    workers: int = typer.Option(
        1, "--workers", help="Run the steps in this many worker processes of the embedded engine (1: in this "
        "process). A worker that exits is started again.",
    ),
    **shared: Any,
) -> None:
    """Discover the steps and serve them with the embedded engine (HTTP on 127.0.0.1:3111, stream
    WebSocket on :3112, state/streams/queues in .motia/motia.db), or with `--engine` as a worker of another."""
    if watch:
        from .reload import run_with_reload

        raise typer.Exit(run_with_reload(Path.cwd(), [a for a in sys.argv[2:] if a not in ("--watch", "-w")]))
    from . import log
    from .dotenv import load_env_files

    log_level, log_format, host, port = shared["log_level"], shared["log_format"], shared["host"], shared["port"]
    config_file, access_log, store = shared["config_file"], shared["access_log"], shared["store"]
    log.configure(log_level, log_format)
    load_env_files(Path.cwd())
    from .tracing import export_from_env

    export_from_env()  # OTEL_* variables (from the environment or .env) asking for OTLP
    if engine_url and config_file is not None:
        _fail("--config configures the embedded engine; a worker of another engine (--engine) has none")
    if engine_url and access_log:
        _fail("--access-log logs the HTTP requests this process serves; a worker of another engine (--engine) "
              "serves none (the engine does)")
    if workers < 1:
        _fail(f"--workers must be 1 or more, not {workers}")
    if engine_url and workers != 1:
        _fail("--workers runs worker processes of the embedded engine; with --engine, start more `motia run "
              "--engine` processes instead")
    if engine_url and store:
        _fail("--store is where the embedded engine keeps its data; a worker of another engine (--engine) keeps none")
    options = _app_options(ctx, shared, default_timeout=timeout, drain_timeout=drain_timeout,
                           cors_origins=cors_origins or [])
    registry = _discover(steps_dir, serving=None if engine_url else (host, port), logged=True)
    if engine_url:
        _work_for(registry, engine_url, timeout, drain_timeout, worker_token)
        return
    if workers > 1:
        options["workers"] = _worker_pool(workers, steps_dir, timeout, drain_timeout, log_level, log_format)
    application = _embedded_app(registry, **options, docs=docs,
                                **_recording(record, record_window, record_traces, record_logs),
                                **_console_options(options.get("host", host), console, console_token))

    def started() -> None:
        from .banner import banner_data, render

        _freeze_start_up_objects()

        info = banner_data(
            registry, http=application.url,
            streams=f"ws://{application.stream_host}:{application.stream_port}" if application.stream_port else None,
            data=application.store_description,
            pages=application.pages,
        )
        if log_format == "json":
            import logging

            logging.getLogger("motia").info("started", extra={"fields": info})
        else:
            typer.echo(render(info, color=sys.stderr.isatty()), err=True)

    _serve(application.serve(on_started=started))


def _recording(record: Optional[bool], window: float, traces: int, lines: int) -> dict[str, Any]:
    """The App's recording options: on under `motia dev` (a watched child) unless `--no-record`, off under
    `motia run` unless `--record` (recording costs a few percent of throughput: bench/run.py measures it)."""
    if record is None:
        record = _watched()
    if not record:  # the recording package is imported only when on
        return {"record": False}
    from .recording import RecordingConfig

    try:
        config = RecordingConfig(max_traces=traces, max_logs=lines, window=window)
    except ValueError as exc:
        _fail(f"{exc} (--record-window, --record-traces, --record-logs)")
    return {"record": record, "recording": config}


def _console_options(host: str, console: Optional[bool], token: Optional[str]) -> dict[str, Any]:
    """On by default under `motia dev` where it may be served (loopback, or with a token); asked for where it
    may not be, a clear error."""
    if console is False or (console is None and not _watched()):  # the console package is imported only when on
        return {"console": False, "console_token": token}
    from .console import unavailable_reason

    reason = unavailable_reason(host, token)
    if console is None:
        console = _watched() and reason is None
    elif console and reason is not None:
        _fail(reason)
    return {"console": console, "console_token": token}


def _watched() -> bool:
    """Whether this `motia run` is the app `motia dev` restarts on changes."""
    import os

    from .reload import CHILD_ENV

    return os.environ.get(CHILD_ENV) == "1"


def _worker_pool(count: int, steps_dir: Optional[Path], timeout: float, drain_timeout: float, log_level: str,
                 log_format: str) -> Any:
    """`--workers N`: each child is `motia run --engine` (the URL and token come in its environment)."""
    from .runtime.workers import WorkerPool

    args = ["--timeout", str(timeout), "--drain-timeout", str(drain_timeout), "--log-level", log_level,
            "--log-format", log_format]
    if steps_dir is not None:
        args += ["--dir", str(steps_dir)]
    return WorkerPool(count, args, cwd=Path.cwd(), stop_timeout=drain_timeout)


def _embedded_app(registry: Any, **options: Any) -> Any:
    """An App with the embedded engine; a store that cannot be opened is a clear error, not a traceback."""
    from .assembly import App
    from .engine.store import StoreError

    try:
        application = App(registry, **options)
    except StoreError as exc:
        _fail(exc)
    return application


def _options(ctx: typer.Context, config_file: Optional[Path], **flags: Any) -> dict[str, Any]:
    """The App options: config.yaml's (with `--config`), then every flag given on the command line or by its
    environment variable. Worker ports: the file's `iii-worker-manager` entries, or one from
    `--engine-host/--engine-port`; `--engine-*` flags change the first, `--worker-token/--worker-origin` all."""
    import msgspec

    from .engine import config as engine_config
    from .engine.rbac import WorkerPortConfig

    def given(name: str) -> bool:
        # By name: typer may bring its own copy of click, whose enum is not click's.
        source = ctx.get_parameter_source(name)
        return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")

    # An App option -> the parameter of its flag, where they differ.
    flag_of = {"default_timeout": "timeout", "redis_url": "store"}
    options: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = engine_config.load(config_file)
        except engine_config.ConfigError as exc:
            _fail(exc)
        engine_config.report_ignored(loaded)
        options = engine_config.app_options(loaded)
    limits = {k: flags.pop(k) for k in ("header_timeout", "body_timeout", "keep_alive_timeout", "write_timeout",
                                        "max_connections", "max_head_size", "max_headers")}
    if not given("max_connections") and "max_connections" in options:
        limits["max_connections"] = options["max_connections"]
    options.pop("max_connections", None)
    options["limits"] = _limits(**limits)
    port_flags = {k: flags.pop(k) for k in ("engine_host", "engine_port", "worker_token", "worker_origins")
                  if k in flags}
    for name, value in flags.items():
        if name not in options or given(flag_of.get(name, name)):
            options[name] = value
    if given("data_dir") and not given("memory"):
        options["memory"] = False
    if given("store") and (given("memory") or given("data_dir")):
        _fail("--store redis://... keeps everything in Redis: drop --memory and --data-dir")
    if not given("store") and (given("memory") or given("data_dir")):
        options.pop("redis_url", None)  # the flag wins over config.yaml's redis adapter
    if port_flags:
        ports = options.get("worker_ports") or [WorkerPortConfig(host=port_flags["engine_host"],
                                                                 port=port_flags["engine_port"])]
        first: dict[str, Any] = {k[len("engine_"):]: port_flags[k] for k in ("engine_host", "engine_port")
                                 if given(k)}
        every: dict[str, Any] = {}
        if given("worker_token"):
            every["auth_token"] = port_flags["worker_token"]
        if given("worker_origins"):
            every["allowed_origins"] = list(port_flags["worker_origins"] or [])
        try:
            options["worker_ports"] = [msgspec.structs.replace(p, **every, **(first if i == 0 else {}))
                                       for i, p in enumerate(ports)]
        except ValueError as exc:
            _fail(exc)
    return options


# The flag that moves each port an app listens on (`ListenError.role`).
_PORT_FLAGS = {"HTTP": "--port", "the stream WebSocket": "--stream-port", "the worker port": "--engine-port"}


def _freeze_start_up_objects() -> None:
    """What start-up made (modules, classes, the steps, the engine, the clients) lives as long as the server:
    moved out of the cyclic garbage collector's sight once serving, so that the collections a busy server makes
    no longer walk all of it each time (a tenth of a Redis node's CPU per event; bench/README.md)."""
    import gc

    gc.collect()
    gc.freeze()


def _serve(main: Any) -> None:
    """Run the app's coroutine; a port in use (or another OS refusal) is a clear error naming the flag to use."""
    from .assembly import ListenError
    from .runtime.app import run as run_loop
    from .runtime.workers import WorkersFailed

    try:
        run_loop(main)
    except WorkersFailed as exc:
        _fail(exc)
    except ListenError as exc:
        flag = _PORT_FLAGS.get(exc.role, "--port")
        move = f"choose another port: {flag} PORT ({flag} 0 picks a free one)"
        _fail(f"{exc}\n  hint: {'stop it, or ' + move if exc.in_use else move}")
    except OSError as exc:
        _fail(exc)


def dev(**options: Any) -> None:
    """`motia run --watch`: serve, and restart on changes to step files, helper modules and .env (the store and
    ports are kept; a broken step prints its error and the watcher waits for the fix). Takes every option of
    `motia run`."""
    run(**options, watch=True)


# `motia dev` takes exactly `motia run`'s options (but --watch, which it always is): one list, kept in one place.
dev.__signature__ = inspect.signature(run).replace(  # type: ignore[attr-defined]
    parameters=[p for name, p in inspect.signature(run).parameters.items() if name != "watch"]
)
dev.__annotations__ = {name: hint for name, hint in run.__annotations__.items() if name != "watch"}
app.command()(dev)


def _limits(header_timeout: float, body_timeout: float, keep_alive_timeout: float, write_timeout: float,
            max_connections: int, max_head_size: int, max_headers: int) -> Any:
    from .engine.http import HttpLimits

    for name, value in (("--header-timeout", header_timeout), ("--body-timeout", body_timeout),
                        ("--keep-alive-timeout", keep_alive_timeout), ("--write-timeout", write_timeout)):
        if not value > 0:
            _fail(f"{name} must be a positive number of seconds, not {value}")
    if max_connections < 0:
        _fail(f"--max-connections must be 0 (no cap) or more, not {max_connections}")
    if max_head_size < 1024:
        _fail(f"--max-head-size must be at least 1024 bytes, not {max_head_size}")
    if max_headers < 1:
        _fail(f"--max-headers must be 1 or more, not {max_headers}")
    return HttpLimits(header_timeout=header_timeout, body_timeout=body_timeout,
                      keep_alive_timeout=keep_alive_timeout, write_timeout=write_timeout,
                      max_connections=max_connections or None, max_head_size=max_head_size, max_headers=max_headers)


def _stream_limits(max_queued_bytes: int, max_subscriptions: int, max_connections: int) -> Any:
    from .engine.streams import StreamLimits

    for name, value in (("--stream-max-queued-bytes", max_queued_bytes),
                        ("--stream-max-subscriptions", max_subscriptions),
                        ("--stream-max-connections", max_connections)):
        if value < 1:
            _fail(f"{name} must be 1 or more, not {value}")
    return StreamLimits(max_queued_bytes=max_queued_bytes, max_subscriptions=max_subscriptions,
                        max_connections=max_connections)


def _work_for(registry: Any, engine_url: str, timeout: float, drain_timeout: float, token: Optional[str]) -> None:
    from .runtime.app import RemoteApp
    from .runtime.app import run as run_loop
    from .runtime.remote import EngineRejected

    application = RemoteApp(registry, engine_url, default_timeout=timeout, drain_timeout=drain_timeout, token=token)
    try:
        run_loop(application.serve(on_started=_freeze_start_up_objects))
    except EngineRejected as exc:
        _fail(exc)


@app.command()
@_engine_options(after="worker_origins")
def engine(
    ctx: typer.Context,
    engine_host: str = typer.Option("127.0.0.1", "--engine-host", help="Interface the worker port binds to."),
    engine_port: int = typer.Option(49134, "--engine-port", help="Worker port (iii protocol over WebSocket)."),
    worker_token: Optional[str] = typer.Option(
        None, "--worker-token", envvar="MOTIA_WORKER_TOKEN",
        help="Refuse workers that do not send `Authorization: Bearer TOKEN` (iii SDKs and `motia run --engine` "
        "send $III_TOKEN) with AUTH_ERROR.",
    ),
    worker_origins: Optional[list[str]] = typer.Option(
        None, "--worker-origin", help="Let pages of this browser origin open the worker port (repeatable; * for "
        "any). Handshakes carrying an Origin are refused by default.",
    ),
    drain_timeout: float = typer.Option(
        10.0, "--drain-timeout", help="Seconds in-flight deliveries get to finish on shutdown."
    ),
    **shared: Any,
) -> None:
    """Run the embedded engine alone: workers (`motia run --engine ws://HOST:49134`, iii SDK workers)
    connect to its worker port, and it serves their HTTP routes, queues, cron, state and streams."""
    from . import log
    from .registry import Registry

    log.configure(shared["log_level"], shared["log_format"])
    options = _app_options(ctx, shared, drain_timeout=drain_timeout, engine_host=engine_host,
                           engine_port=engine_port, worker_token=worker_token, worker_origins=worker_origins)
    _serve(_embedded_app(Registry(), **options).serve(on_started=_freeze_start_up_objects))


@app.command()
def steps(
    steps_dir: Optional[Path] = DirOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List every step with its triggers and file:line."""
    import msgspec

    registry = _discover(steps_dir)
    rows = []
    for step in registry:
        triggers = [trigger.summary() for trigger in step.triggers]
        rows.append({
            "name": step.name,
            "triggers": triggers,
            "emits": [e.topic for e in step.emits],
            "flows": step.flows,
            "file": _relative(step.source.file) if step.source else None,
            "line": step.source.line if step.source else None,
        })
    if as_json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(rows)).decode() + "\n")
        return
    if not rows:
        typer.echo("no steps found")
        return
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        described = ", ".join(_describe(t) for t in row["triggers"]) or "(no trigger)"
        typer.echo(f"{row['name']:<{width}}  {described}  {row['file']}:{row['line']}")


@app.command()
def graph(
    steps_dir: Optional[Path] = DirOption,
    fmt: str = typer.Option("mermaid", "--format", "-f", help="Output format: mermaid, dot, html or json."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file, not stdout."),
) -> None:
    """Draw the flow: steps (API, event, cron, state, stream, noop), topics and emit edges (virtual ones
    dashed). `--format html` is a self-contained page, also served by `motia run` at /__motia/graph."""
    from .graph import FORMATS, build_graph, render

    if fmt not in FORMATS:
        typer.secho(f"error: unknown format {fmt!r}; use one of {', '.join(FORMATS)}", fg=typer.colors.RED,
                    err=True)
        raise typer.Exit(2)
    flow = build_graph(_discover(steps_dir), root=Path.cwd())
    text = render(flow, fmt, Path.cwd().name or "motia")
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    counts = [_count(len(flow.steps), "step")]
    for kind, noun in (("topic", "topic"), ("stream", "stream"), ("state", "state group")):
        found = sum(1 for node in flow.topics if node.kind == kind)
        if found or kind == "topic":
            counts.append(_count(found, noun))
    typer.echo(f"wrote {output} ({', '.join(counts)})", err=True)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@app.command()
def create(
    name: str = typer.Argument(..., help="The project directory to create (its name is the project's)."),
    motia_path: Optional[Path] = typer.Option(
        None, "--motia-path", envvar="MOTIA_PATH", show_envvar=True,
        help="A motia checkout the project's install line installs (its path written relative to the project, so "
        "both can move together). Without it, the project uses the motia-py installed where you run it.",
    ),
) -> None:
    """Scaffold a project: pyproject, README, one step of each kind and tests that pass as generated."""
    from .scaffold import ScaffoldError, create_project, install_command

    try:
        files = create_project(Path(name), motia_path=motia_path)
    except ScaffoldError as exc:
        _fail(exc)
    for file in files:
        typer.echo(f"  created {file}")
    where = "" if motia_path else " (in the virtualenv motia is installed in)"
    typer.echo(f"\nNext{where}:\n  cd {name}\n  {install_command(name, motia_path)}\n  pytest\n  motia run")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def codegen(ctx: typer.Context) -> None:
    """Generate OpenAPI, AsyncAPI or a typed client module from the steps (needs motia-codegen).

    `motia codegen openapi|asyncapi|client [--dir steps] [-o PATH] [--check]`; `motia codegen --help` for more."""
    try:
        from motia_codegen.cli import main as codegen_main
    except ImportError:
        typer.secho("error: `motia codegen` needs the motia-codegen package, which is not installed. From a "
                    "checkout of motia: `pip install ./codegen` (or the wheel `nox -s build` writes: "
                    "`pip install dist/motia_codegen-*.whl`).", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    codegen_main(ctx.args, prog_name="motia codegen")


dlq_app = typer.Typer(help="Dead letters of a running app: messages whose deliveries all failed.",
                      no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

UrlOption = typer.Option("http://127.0.0.1:3111", "--url", help="Base URL of the running app (`motia run`).")


def _admin(method: str, url: str, path: str, body: Any = None, *, missing: str | None = None) -> Any:
    """Call an operator route of the running app. A 404 is `missing` (what the user asked for is not there), any
    other refusal the app's own message: never the raw HTTP exchange."""
    import json
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and missing is not None:
            _fail(missing)
        _fail(f"the app at {url} refused it ({exc.code}): {_error_message(exc.read())}")
    except (urllib.error.URLError, OSError) as exc:
        _fail(f"cannot reach {url} ({exc}); is `motia run` running there?")


def _error_message(body: bytes) -> str:
    """The `message` of an error envelope, or the body as text when it is not one."""
    import msgspec

    from .errors import ErrorEnvelope

    try:
        return msgspec.json.decode(body, type=ErrorEnvelope).error.message
    except msgspec.DecodeError:
        return body.decode(errors="replace").strip() or "(no message)"


@app.command("emit")
def emit_command(
    topic: str = typer.Argument(..., help="The topic to publish to."),
    data: str = typer.Argument("null", help="The event data, as JSON."),
    url: str = UrlOption,
    group: Optional[str] = typer.Option(
        None, "--group", help="The message group (messageGroupId) for FIFO subscribers."
    ),
    force: bool = typer.Option(False, "--force", help="Exit 0 even when no function subscribes to the topic."),
) -> None:
    """Publish an event to a running app, as a step would (`motia emit order.placed '{"id": 1}'`). A topic no
    function subscribes to is an error (exit 1; the message is dropped) unless `--force`."""
    import json

    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        typer.secho(f"error: DATA is not JSON: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    body: dict[str, Any] = {"topic": topic, "data": value}
    if group is not None:
        body["messageGroupId"] = group
    reply = _admin("POST", url, "/__motia/emit", body)
    warning = reply.get("warning") if isinstance(reply, dict) else None
    if warning:
        typer.secho(f"{'warning' if force else 'error'}: {warning}", fg=typer.colors.YELLOW if force else
                    typer.colors.RED, err=True)
        if not force:
            raise typer.Exit(1)
    typer.echo(f"emitted {topic}")


state_app = typer.Typer(help="State of a running app.", no_args_is_help=True)
app.add_typer(state_app, name="state")


@state_app.command("get")
def state_get(group: str, key: str, url: str = UrlOption) -> None:
    """Print one value as JSON."""
    import json
    from urllib.parse import quote

    value = _admin("GET", url, f"/__motia/state/{quote(group, safe='')}/{quote(key, safe='')}",
                   missing=f"no value for key {key!r} in group {group!r} (see motia state list {group})")
    typer.echo(json.dumps(value, indent=2))


@state_app.command("set")
def state_set(group: str, key: str, value: str = typer.Argument(..., help="The value, as JSON."),
              url: str = UrlOption) -> None:
    """Store a JSON value (`motia state set users u1 '{"name": "Ada"}'`)."""
    import json
    from urllib.parse import quote

    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        typer.secho(f"error: VALUE is not JSON: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    _admin("PUT", url, f"/__motia/state/{quote(group, safe='')}/{quote(key, safe='')}", parsed)
    typer.echo(f"set {group}/{key}")


@state_app.command("list")
def state_list(group: Optional[str] = typer.Argument(None, help="A group; without it, the groups."),
               url: str = UrlOption) -> None:
    """List the groups, or every key and value of one group (exit status 1 when there are none)."""
    import json
    from urllib.parse import quote

    if group is None:
        groups = _admin("GET", url, "/__motia/state").get("groups", [])
        for name in groups:
            typer.echo(name)
        if not groups:  # like grep: nothing matched is exit status 1
            typer.echo("no state", err=True)
            raise typer.Exit(1)
        return
    values = _admin("GET", url, f"/__motia/state/{quote(group, safe='')}")
    if not values:
        typer.echo(f"no keys in group {group!r}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(values, indent=2))


@dlq_app.command("list")
def dlq_list(
    url: str = UrlOption,
    topic: Optional[str] = typer.Option(None, "--topic", help="Only this topic."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List dead letters: id, topic, step, attempts and the last error (exit status 1 when there are none)."""
    import json
    from urllib.parse import quote

    letters = _admin("GET", url, "/__motia/dlq" + (f"?topic={quote(topic)}" if topic else ""))
    if as_json:
        typer.echo(json.dumps(letters, indent=2))
    elif letters:
        rows = [[str(letter["id"]), letter["topic"], _step_of(letter["function_id"]), str(letter["attempts"]),
                 letter["error"] or ""] for letter in letters]
        _table(["ID", "TOPIC", "STEP", "ATTEMPTS", "ERROR"], rows)
    if not letters:  # like grep: nothing matched is exit status 1
        typer.echo("no dead letters" + (f" on topic {topic!r}" if topic else ""), err=True)
        raise typer.Exit(1)


def _step_of(function_id: str) -> str:
    """The step behind a function id (`steps::<name>::trigger::queue(topic)`), else the id itself (a function
    of another worker, an iii SDK's)."""
    name, found, _ = function_id.removeprefix("steps::").partition("::trigger::")
    return name if function_id.startswith("steps::") and found else function_id


def _table(header: list[str], rows: list[list[str]]) -> None:
    """Columns as wide as their widest cell, the last one left unpadded (an error text may be long)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        typer.echo("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]))


@dlq_app.command("redrive")
def dlq_redrive(
    url: str = UrlOption,
    ids: Optional[list[int]] = typer.Option(None, "--id", help="A dead letter to redrive (repeatable)."),
    topic: Optional[str] = typer.Option(None, "--topic", help="Redrive every dead letter of this topic."),
    everything: bool = typer.Option(False, "--all", help="Redrive every dead letter."),
) -> None:
    """Put dead letters back on their queue, with their retries reset (exit status 1 when none matched)."""
    if not ids and not topic and not everything:
        typer.secho("error: say which dead letters: --id N, --topic T or --all", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    body: dict[str, Any] = {}
    if ids:
        body["ids"] = list(ids)
    if topic:
        body["topic"] = topic
    result = _admin("POST", url, "/__motia/dlq/redrive", body)
    if not result["redriven"]:
        asked = " ".join([*(f"--id {i}" for i in ids or ()), *([f"--topic {topic}"] if topic else []),
                          *(["--all"] if everything else [])])
        _fail(f"no dead letter matched {asked}: nothing was redriven (see motia dlq list)")
    typer.echo(f"redriven: {result['redriven']}")


def _describe(trigger: dict[str, Any]) -> str:
    kind = trigger["type"]
    if kind == "http":
        return f"{trigger['method']} {trigger['path']}"
    if kind == "queue":
        return f"on {trigger['topic']}"
    if kind == "cron":
        return f"cron {trigger['expression']}"
    if kind == "stream":
        return f"stream {trigger['stream_name']}"
    return "state" + (f" {trigger['scope']}" if trigger.get("scope") else "")


def _relative(file: str) -> str:
    try:
        return str(Path(file).resolve().relative_to(Path.cwd()))
    except ValueError:
        return file


def plain_help(command: Any) -> None:
    """Readable `--help`: a flag shows no value placeholder, other options a word (`PORT`, `SECONDS`) instead of
    the Python annotation typer prints (`<bool>`, `<list[int]>`, `<float>`)."""
    for param in command.params:
        # Duck-typed: typer may bring its own copy of click, whose classes are not `click.Option`.
        if param.metavar is not None or param.param_type_name not in ("option", "argument"):
            continue
        name = param.name or ""
        param.metavar = "" if getattr(param, "is_flag", False) else _METAVARS.get(name, name.upper())
        if param.param_type_name == "argument" and hasattr(param, "display_type_rich"):
            param.display_type_rich = lambda ctx: None  # the name column already shows the placeholder
    make_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:  # `--help` is made when asked for, not a member of `params`
        option = make_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)


# The value placeholder of each option by parameter name (otherwise the name in capitals).
_METAVARS = {
    "host": "HOST", "port": "PORT", "stream_port": "PORT", "engine_port": "PORT", "engine_host": "HOST",
    "max_body_size": "BYTES", "max_connections": "N", "log_level": "LEVEL", "log_format": "FORMAT",
    "cors_origins": "ORIGIN",
    "engine_url": "URL", "url": "URL", "topic": "TOPIC", "group": "GROUP", "ids": "ID", "fmt": "FORMAT",
    "output": "FILE", "steps_dir": "DIR", "data_dir": "DIR", "motia_path": "PATH",
    **{name: "SECONDS" for name in ("timeout", "drain_timeout", "header_timeout", "body_timeout",
                                    "keep_alive_timeout")},
}


def main() -> None:
    command = typer.main.get_command(app)
    plain_help(command)
    command(prog_name="motia")


if __name__ == "__main__":
    main()
