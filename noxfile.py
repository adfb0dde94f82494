"""Project tasks. `nox -s tests` is what CI runs (.ci/run); `nox -s serve` serves an example; `nox -s build` writes
the wheels."""

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
    _install_chromium(session)
    _install_redis_server(session)
    _install_node_client(session)
    session.run("pytest", *session.posargs)


def _install_chromium(session: nox.Session) -> None:
    """The flow graph page is tested in a real browser (tests/graph/test_browser.py): Debian's chromium,
    installed when missing and possible (root with apt-get); otherwise those tests skip and say why."""
    import os
    import shutil

    if shutil.which("chromium") or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    script = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null"
    try:
        session.run("bash", "-c", script, external=True)
    except Exception:  # a failed install only skips the browser tests
        session.warn("could not install chromium; the browser tests will be skipped")


def _install_redis_server(session: nox.Session) -> None:
    """The Redis store (`--store redis://...`) is tested against a real server (tests/redis): Debian's
    redis-server, installed when missing and possible (root with apt-get); otherwise those tests skip and say why.
    Each test starts its own server on a free port (tests/redis/conftest.py); the system service is not used."""
    import os
    import shutil

    if shutil.which("redis-server") or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    script = ("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
              "redis-server >/dev/null")
    try:
        session.run("bash", "-c", script, external=True)
    except Exception:  # a failed install only skips the Redis tests
        session.warn("could not install redis-server; the Redis tests will be skipped")


def _install_node_client(session: nox.Session) -> None:
    """The Node iii-sdk, a second client of the engine (tests/protocol/test_node_sdk.py), from the lock file in
    tests/protocol/node; without node and npm (or when the install fails) those tests skip and say why."""
    import shutil
    from pathlib import Path

    if shutil.which("node") is None or shutil.which("npm") is None:
        session.warn("node/npm not found; the Node iii-sdk tests will be skipped")
        return
    lock = Path("tests/protocol/node/package-lock.json")
    installed = Path("tests/protocol/node/node_modules/.package-lock.json")
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return  # already installed from this lock file
    try:
        session.run("npm", "ci", "--no-audit", "--no-fund", "--silent", "--prefix", "tests/protocol/node",
                    external=True)
    except Exception:
        session.warn("npm ci failed in tests/protocol/node; the Node iii-sdk tests will be skipped")


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """The wheels of both packages in dist/: motia-py (the runtime, with the docs pages' assets) and motia-codegen.
    Install them anywhere with `pip install dist/motia_py-*.whl dist/motia_codegen-*.whl`."""
    session.run("python", "-m", "pip", "wheel", "--no-deps", "--wheel-dir", "dist", ".", "./codegen")


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


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks next to their baselines (not part of the tests): writes bench/results/<date>.md.
    `nox -s bench -- --seconds 10 --only http,official,events,ws,startup,codegen`"""
    import shutil

    session.install("-e", ".[redis]", "-e", "codegen", "fastapi==0.165.0", "litestar==2.25.0", "uvicorn[standard]")
    if shutil.which("wrk") is None and shutil.which("apt-get") is not None:
        session.run("bash", "-c", "apt-get update -qq && apt-get install -y -qq wrk >/dev/null", external=True)
    _install_redis_server(session)  # bench/redis_events.py: nodes sharing one Redis
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """Mixed HTTP and event load at half the measured capacity (not part of the tests): zero errors, every event
    handled, RSS within 10% of its value after the warm-up. Writes bench/results/soak-<date>.md.
    `nox -s soak -- --minutes 5`"""
    import shutil

    session.install("-e", ".")
    if shutil.which("wrk") is None and shutil.which("apt-get") is not None:
        session.run("bash", "-c", "apt-get update -qq && apt-get install -y -qq wrk >/dev/null", external=True)
    session.run("python", "bench/soak.py", *session.posargs)
