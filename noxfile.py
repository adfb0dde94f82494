"""Project tasks. `nox -s tests` is what CI runs (.ci/run); `nox -s serve` serves an example."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = None  # the interpreter running nox


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite (includes the lint and type checks, see tests/test_code_quality.py)."""
    # The runtime and the generator package (`motia codegen`, tests/codegen), both editable.
    session.install("-e", ".[test]", "-e", "codegen")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "examples", "codegen", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".", "mypy")
    session.run("mypy")


@nox.session(python=PYTHON)
def serve(session: nox.Session) -> None:
    """Serve an example with the embedded engine: `nox -s serve -- [examples/NAME] [motia run options]`."""
    session.install("-e", ".")
    args = list(session.posargs)
    example = args.pop(0) if args and not args[0].startswith("-") else "examples/hello"
    session.chdir(example)
    session.run("motia", "run", *args, external=False)
