"""The `motia` command line. Heavy imports happen inside commands so that `motia --help` stays fast."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

app = typer.Typer(
    name="motia",
    help="Event-driven Python backends from typed steps (HTTP routes, queues, cron, state, streams).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DirOption = typer.Option(
    None, "--dir", "-d", help="Steps directory (default: ./steps). `src/` is scanned too when present."
)


def _discover(steps_dir: Optional[Path]):  # type: ignore[no-untyped-def]
    from .discovery import discover
    from .errors import StepError

    try:
        return discover(Path.cwd(), steps_dir)
    except StepError as exc:
        typer.secho(f"error: {exc.render()}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


@app.command()
def run(
    steps_dir: Optional[Path] = DirOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface the HTTP server binds to."),
    port: int = typer.Option(3111, "--port", "-p", help="HTTP port."),
    max_body_size: int = typer.Option(
        1024 * 1024, "--max-body-size", help="Largest request body in bytes (413 above)."
    ),
    timeout: float = typer.Option(30.0, "--timeout", help="Default handler time limit in seconds (504/failure above)."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    log_format: str = typer.Option("human", "--log-format", help="human or json."),
    data_dir: Path = typer.Option(Path(".motia"), "--data-dir", help="Where the SQLite store lives."),
    memory: bool = typer.Option(False, "--memory", help="Keep state, streams and queues in memory only."),
    stream_port: int = typer.Option(3112, "--stream-port", help="WebSocket port for stream clients."),
    drain_timeout: float = typer.Option(
        10.0, "--drain-timeout", help="Seconds in-flight handlers get to finish on shutdown."
    ),
    engine_url: Optional[str] = typer.Option(
        None, "--engine", envvar="III_URL",
        help="Run the steps as a worker of this engine (ws://host:49134: `motia engine` or an iii engine) "
        "instead of starting the embedded one.",
    ),
) -> None:
    """Discover the steps and serve them with the embedded engine (HTTP on 127.0.0.1:3111, stream
    WebSocket on :3112, state/streams/queues in .motia/motia.db), or with `--engine` as a worker of another."""
    from . import log
    from .engine.store import StoreError
    from .runtime.app import App
    from .runtime.app import run as run_loop

    log.configure(log_level, log_format)
    registry = _discover(steps_dir)
    if engine_url:
        _work_for(registry, engine_url, timeout, drain_timeout)
        return
    try:
        application = App(
            registry, host=host, port=port, max_body_size=max_body_size, default_timeout=timeout,
            data_dir=data_dir, memory=memory, stream_port=stream_port, drain_timeout=drain_timeout,
        )
    except StoreError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None

    async def main() -> None:
        await application.serve()

    try:
        run_loop(main())
    except OSError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def _work_for(registry: Any, engine_url: str, timeout: float, drain_timeout: float) -> None:
    from .runtime.app import RemoteApp
    from .runtime.app import run as run_loop
    from .runtime.remote import EngineRejected

    application = RemoteApp(registry, engine_url, default_timeout=timeout, drain_timeout=drain_timeout)
    try:
        run_loop(application.serve())
    except EngineRejected as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


@app.command()
def engine(
    engine_host: str = typer.Option("127.0.0.1", "--engine-host", help="Interface the worker port binds to."),
    engine_port: int = typer.Option(49134, "--engine-port", help="Worker port (iii protocol over WebSocket)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface the HTTP server binds to."),
    port: int = typer.Option(3111, "--port", "-p", help="HTTP port."),
    max_body_size: int = typer.Option(
        1024 * 1024, "--max-body-size", help="Largest request body in bytes (413 above)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    log_format: str = typer.Option("human", "--log-format", help="human or json."),
    data_dir: Path = typer.Option(Path(".motia"), "--data-dir", help="Where the SQLite store lives."),
    memory: bool = typer.Option(False, "--memory", help="Keep state, streams and queues in memory only."),
    stream_port: int = typer.Option(3112, "--stream-port", help="WebSocket port for stream clients."),
    drain_timeout: float = typer.Option(
        10.0, "--drain-timeout", help="Seconds in-flight deliveries get to finish on shutdown."
    ),
) -> None:
    """Run the embedded engine alone: workers (`motia run --engine ws://HOST:49134`, iii SDK workers)
    connect to its worker port, and it serves their HTTP routes, queues, cron, state and streams."""
    from . import log
    from .engine.store import StoreError
    from .registry import Registry
    from .runtime.app import App
    from .runtime.app import run as run_loop

    log.configure(log_level, log_format)
    try:
        application = App(
            Registry(), host=host, port=port, max_body_size=max_body_size, data_dir=data_dir, memory=memory,
            stream_port=stream_port, drain_timeout=drain_timeout, engine_host=engine_host, engine_port=engine_port,
        )
    except StoreError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    try:
        run_loop(application.serve())
    except OSError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


@app.command()
def steps(
    steps_dir: Optional[Path] = DirOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List every step with its triggers and file:line."""
    import msgspec

    from .model import CronTrigger, HttpTrigger, QueueTrigger, StateTrigger, StreamTrigger

    registry = _discover(steps_dir)
    rows = []
    for step in registry:
        triggers: list[dict[str, Any]] = []
        for trigger in step.triggers:
            if isinstance(trigger, HttpTrigger):
                triggers.append({"type": "http", "method": trigger.method, "path": trigger.path})
            elif isinstance(trigger, QueueTrigger):
                triggers.append({"type": "queue", "topic": trigger.topic})
            elif isinstance(trigger, CronTrigger):
                triggers.append({"type": "cron", "expression": trigger.expression})
            elif isinstance(trigger, StateTrigger):
                triggers.append({"type": "state", "scope": trigger.scope, "key": trigger.key})
            elif isinstance(trigger, StreamTrigger):
                triggers.append({"type": "stream", "stream_name": trigger.stream_name})
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


dlq_app = typer.Typer(help="Dead letters of a running app: messages whose deliveries all failed.",
                      no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

UrlOption = typer.Option("http://127.0.0.1:3111", "--url", help="Base URL of the running app (`motia run`).")


def _admin(method: str, url: str, path: str, body: Any = None) -> Any:
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
        typer.secho(f"error: {method} {path} answered {exc.code}: {exc.read().decode(errors='replace')}",
                    fg=typer.colors.RED, err=True)
    except (urllib.error.URLError, OSError) as exc:
        typer.secho(f"error: cannot reach {url} ({exc}); is `motia run` running there?", fg=typer.colors.RED,
                    err=True)
    raise typer.Exit(1)


@dlq_app.command("list")
def dlq_list(
    url: str = UrlOption,
    topic: Optional[str] = typer.Option(None, "--topic", help="Only this topic."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List dead letters: id, topic, subscriber, attempts and the last error."""
    import json
    from urllib.parse import quote

    letters = _admin("GET", url, "/__motia/dlq" + (f"?topic={quote(topic)}" if topic else ""))
    if as_json:
        typer.echo(json.dumps(letters, indent=2))
        return
    if not letters:
        typer.echo("no dead letters")
        return
    for letter in letters:
        typer.echo(f"{letter['id']:>6}  {letter['topic']}  -> {letter['function_id']}  "
                   f"attempts={letter['attempts']}  {letter['error']}")


@dlq_app.command("redrive")
def dlq_redrive(
    url: str = UrlOption,
    ids: Optional[list[int]] = typer.Option(None, "--id", help="A dead letter to redrive (repeatable)."),
    topic: Optional[str] = typer.Option(None, "--topic", help="Redrive every dead letter of this topic."),
    everything: bool = typer.Option(False, "--all", help="Redrive every dead letter."),
) -> None:
    """Put dead letters back on their queue, with their retries reset."""
    if not ids and not topic and not everything:
        typer.secho("error: say which dead letters: --id N, --topic T or --all", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    body: dict[str, Any] = {}
    if ids:
        body["ids"] = list(ids)
    if topic:
        body["topic"] = topic
    result = _admin("POST", url, "/__motia/dlq/redrive", body)
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
