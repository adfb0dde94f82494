"""`motia codegen openapi|asyncapi|client`: generate files from the steps, or check they are up to date.

Imports are light here (typer and the runtime's CLI stack); the generators are imported inside the commands.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

import typer

app = typer.Typer(
    name="codegen",
    help="Generate OpenAPI 3.1, AsyncAPI 3.0 and a typed client module from the steps (`--check`: fail when the "
    "file on disk is stale).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DirOption = typer.Option(
    None, "--dir", "-d", help="Steps directory (default: ./steps). `src/` is scanned too when present."
)
CheckOption = typer.Option(
    False, "--check", help="Do not write: exit 1 with a unified diff when the file differs from what would be written."
)
TitleOption = typer.Option(
    None, "--title", help="info.title (default: the project's name from pyproject.toml, else its directory's)."
)
VersionOption = typer.Option(None, "--version", help="info.version (default: 0.1.0).")


@app.command()
def openapi(
    steps_dir: Optional[Path] = DirOption,
    output: Path = typer.Option(Path("openapi.json"), "--output", "-o", help="openapi.json or .yaml; - for stdout."),
    title: Optional[str] = TitleOption,
    version: Optional[str] = VersionOption,
    check: bool = CheckOption,
) -> None:
    """OpenAPI 3.1 of the HTTP steps (what `motia run` serves at GET /openapi.json)."""
    from motia.openapi import openapi_document

    from .output import render_document

    registry = _load(steps_dir)
    document = openapi_document(registry, **_info(title, version))
    _emit(output, render_document(document, output), check, "openapi")


@app.command()
def asyncapi(
    steps_dir: Optional[Path] = DirOption,
    output: Path = typer.Option(Path("asyncapi.json"), "--output", "-o", help="asyncapi.json or .yaml; - for stdout."),
    title: Optional[str] = TitleOption,
    version: Optional[str] = VersionOption,
    check: bool = CheckOption,
) -> None:
    """AsyncAPI 3.0 of the topics: one channel per topic, its payload, the steps that emit and consume it."""
    from .asyncapi import asyncapi_document
    from .output import render_document

    registry = _load(steps_dir)
    document = asyncapi_document(registry, **_info(title, version))
    _emit(output, render_document(document, output), check, "asyncapi")


@app.command()
def client(
    steps_dir: Optional[Path] = DirOption,
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="The module to write (default: motia_client.py beside the steps directory, "
        "where steps can import it); - for stdout."
    ),
    check: bool = CheckOption,
) -> None:
    """A typed Python module: `Topic`, `emit` typed by topic, `streams.<name>` typed by item, and `TypedContext`
    to annotate handlers' `ctx` with."""
    from .client import client_module
    from .models import SchemaError
    from .project import import_root, source_label

    registry = _load(steps_dir)
    root = Path.cwd()
    path = output if output is not None else import_root(root, steps_dir) / "motia_client.py"
    if output is None:
        path = _relative(path)
    try:
        module = path.stem if str(path) != "-" else "motia_client"
        source = client_module(registry, source=source_label(root, steps_dir), module=module)
    except SchemaError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    _emit(path, source, check, "client")


def _load(steps_dir: Optional[Path]) -> Any:
    from motia.errors import StepError

    from .project import load

    try:
        return load(Path.cwd(), steps_dir)
    except StepError as exc:
        typer.secho(f"error: {exc.render()}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def _info(title: Optional[str], version: Optional[str]) -> dict[str, str]:
    info = {}
    if title is not None:
        info["title"] = title
    if version is not None:
        info["version"] = version
    return info


def _emit(path: Path, content: str, check: bool, command: str) -> None:
    from .output import stale_diff, write

    if str(path) == "-":
        sys.stdout.write(content)
        return
    if check:
        diff = stale_diff(path, content)
        if diff is not None:
            sys.stdout.write(diff)
            typer.secho(f"{path} is stale: run `motia codegen {command}` to update it", fg=typer.colors.RED,
                        err=True)
            raise typer.Exit(1)
        typer.echo(f"{path} is up to date", err=True)
        return
    changed = write(path, content)
    typer.echo(f"{'wrote' if changed else 'unchanged:'} {path}", err=True)


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def main(args: Sequence[str] | None = None, prog_name: str = "motia-codegen") -> Any:
    """Run the command line (`motia codegen ...` calls this with the arguments after `codegen`)."""
    from motia.cli import plain_help

    command = typer.main.get_command(app)
    plain_help(command)  # the same `--help` as the other motia commands
    run: Callable[..., Any] = command
    return run(args=list(args) if args is not None else None, prog_name=prog_name)


if __name__ == "__main__":
    main()
