"""Logging: step lines go through a writer thread, yet keep their order, their levels and their formats, and a
clean stop writes every one of them."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from motia import StepLogger, log
from motia._log_writer import BackgroundWriter
from tests.conftest import MotiaProcess
from tests.test_cli import project

TRACE = "1a2b3c4d5e6f7a8b"


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """`configured(level, fmt)` -> the file `log.configure` now writes to; the `motia` logger is restored after."""
    root = logging.getLogger("motia")
    saved = root.level, root.propagate, list(root.handlers)
    path = tmp_path / "motia.log"
    with path.open("w") as stream:

        def configure(level: str = "info", fmt: str = "human") -> Path:
            log.configure(level, fmt, stream=stream)
            return path

        yield configure
        for handler in list(root.handlers):
            if isinstance(handler, BackgroundWriter) and handler not in saved[2]:
                root.removeHandler(handler)
                handler.stop()
    root.setLevel(saved[0])
    root.propagate = saved[1]


def written(path: Path) -> list[str]:
    log.flush()
    return path.read_text().splitlines()


def test_lines_keep_the_order_of_the_logging_calls_across_threads(configured):
    path = configured()
    counter = iter(range(8000))
    turn = threading.Lock()  # makes the order of the calls known: the file must have the same order

    def step_lines(name: str) -> None:
        logger = StepLogger(name, TRACE)
        for _ in range(1500):
            with turn:
                logger.info(f"line {next(counter)}")

    def library_lines() -> None:  # motia's own modules log through the stdlib with %-arguments
        logger = logging.getLogger("motia.runtime")
        for _ in range(2000):
            with turn:
                logger.info("line %d", next(counter))

    threads = [threading.Thread(target=step_lines, args=(f"Step{i}",)) for i in range(4)]
    threads.append(threading.Thread(target=library_lines))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = [int(line.rsplit(" ", 1)[1]) for line in written(path)]
    assert numbers == list(range(8000))


def test_the_level_filters_step_and_library_lines(configured):
    path = configured("warning")
    logger = StepLogger("Levels", TRACE)
    logger.debug("step debug")
    logger.info("step info")
    logger.warning("step warning")
    logger.warn("step warn")
    logger.error("step error")
    logger.critical("step critical")
    logging.getLogger("motia.engine").info("library info")
    logging.getLogger("motia.engine").error("library error")
    messages = [line.split("] ", 1)[1] for line in written(path)]
    assert messages == ["step warning", "step warn", "step error", "step critical", "library error"]


def test_debug_level_writes_debug_lines(configured):
    path = configured("debug")
    StepLogger("Levels", TRACE).debug("step debug")
    assert [line.split("] ", 1)[1] for line in written(path)] == ["step debug"]


def test_human_format_shows_time_level_step_trace_message_and_fields(configured):
    path = configured("info", "human")
    logger = StepLogger("CreateUser", TRACE).bind(tenant="acme")
    logger.info("created user", {"user_id": 7}, name="Ada Lovelace")
    logger.info("seed form", 42)
    logging.getLogger("motia.runtime").warning("%d steps loaded", 3)
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        logger.exception("could not divide")
    lines = written(path)
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO  \[CreateUser 1a2b3c4d\] created user tenant=acme user_id=7 "
                        r"name='Ada Lovelace'", lines[0])
    assert lines[1].endswith("[CreateUser 1a2b3c4d] seed form tenant=acme data=42")
    assert re.fullmatch(r"\d\d:\d\d:\d\d WARNING \[motia.runtime\] 3 steps loaded", lines[2])
    assert lines[3].endswith("ERROR [CreateUser 1a2b3c4d] could not divide tenant=acme")
    assert lines[4] == "Traceback (most recent call last):"
    assert lines[-1] == "ZeroDivisionError: division by zero"


def test_json_format_writes_one_object_per_line(configured):
    path = configured("info", "json")
    logger = StepLogger("CreateUser", TRACE)
    logger.info("created user", user_id=7, tags=["a", "b"])
    try:
        raise KeyError("missing")
    except KeyError as exc:
        logger.error("lookup failed", exc_info=exc, error_id="e1")
    logging.getLogger("motia.engine").warning("queue %s is slow", "orders")
    first, second, third = (json.loads(line) for line in written(path))
    assert first.keys() == {"time", "level", "logger", "message", "step", "trace_id", "fields"}
    assert (first["level"], first["logger"], first["message"]) == ("info", "motia.step", "created user")
    assert (first["step"], first["trace_id"], first["fields"]) == ("CreateUser", TRACE, {"user_id": 7,
                                                                                         "tags": ["a", "b"]})
    assert second["level"] == "error" and second["fields"] == {"error_id": "e1"}
    assert second["exception"].endswith("KeyError: 'missing'")
    assert third == {"time": third["time"], "level": "warning", "logger": "motia.engine",
                     "message": "queue orders is slow"}


def test_percent_arguments_are_rendered_when_logged_not_when_written(configured):
    path = configured()
    items = ["first"]
    logging.getLogger("motia.runtime").info("items %s", items)
    items.append("later")
    assert written(path)[0].endswith("items ['first']")


def test_configure_again_writes_the_lines_queued_for_the_previous_stream(configured, tmp_path):
    path = configured()
    StepLogger("Before", TRACE).info("queued before the swap")
    with (tmp_path / "second.log").open("w") as second:
        log.configure("info", "human", stream=second)
        assert path.read_text().endswith("queued before the swap\n")  # no flush() needed: the swap wrote it
        StepLogger("After", TRACE).info("after the swap")
        log.flush()
    assert (tmp_path / "second.log").read_text().endswith("after the swap\n")


def test_callers_are_recorded_only_when_asked(configured):
    path = configured()
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger("motia").addHandler(handler)
    logger = StepLogger("Callers", TRACE)
    try:
        logger.info("without")
        log.record_callers(True)
        logger.info("with")
        line = sys._getframe().f_lineno - 1
    finally:
        log.record_callers(False)
        logging.getLogger("motia").removeHandler(handler)
    without, with_caller = seen
    assert (without.pathname, without.lineno, without.funcName) == ("(unknown file)", 0, "(unknown function)")
    assert without.__dict__.keys() == logging.LogRecord("x", 20, "x", 0, "x", (), None).__dict__.keys() | {
        "step", "trace_id", "fields"}  # the stdlib's attributes (formatters read `__dict__`), and motia's
    assert (with_caller.pathname, with_caller.lineno, with_caller.funcName) == (
        __file__, line, "test_callers_are_recorded_only_when_asked")
    assert (with_caller.filename, with_caller.module) == ("test_log.py", "test_log")
    # with a second handler the writer gets full records: the lines read the same
    assert [line.split(" ", 1)[1] for line in written(path)] == [
        "INFO  [Callers 1a2b3c4d] without", "INFO  [Callers 1a2b3c4d] with"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_writes_its_lines_even_when_it_leaves_through_os_exit(configured):
    path = configured()
    pid = os.fork()
    if pid == 0:  # the child: multiprocessing's fork start method leaves like this, running no exit handler
        try:
            StepLogger("Child", TRACE).info("from the child")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    StepLogger("Parent", TRACE).info("from the parent")
    assert [line.split("] ", 1)[1] for line in written(path)] == ["from the child", "from the parent"]


def test_a_process_that_exits_right_after_logging_writes_every_line(tmp_path):
    # uvicorn's dictConfig drops existing handlers from the list the stdlib flushes at exit: motia's own exit
    # flush must still write what the writer thread had not yet taken.
    script = tmp_path / "burst.py"
    script.write_text(textwrap.dedent("""
        import logging.config
        import sys

        from motia import StepLogger, log

        log.configure("info", "json")
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
        logger = StepLogger("Burst", "1a2b3c4d5e6f7a8b")
        for number in range(5000):
            logger.info(f"burst {number}")
        sys.exit(0)
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["message"] for line in result.stderr.splitlines()] == [
        f"burst {number}" for number in range(5000)]


BURST_STEP = """
    from motia import FlowContext, get

    @get("/burst/:count")
    async def burst(req, ctx: FlowContext):
        for number in range(int(req.path_params["count"])):
            ctx.logger.info(f"burst {number}")
        return {"logged": True}
"""


@pytest.mark.parametrize("fmt", ["human", "json"])
def test_sigterm_right_after_logging_loses_no_line(tmp_path, fmt):
    root = project(tmp_path, {"steps/burst_step.py": BURST_STEP})
    process = MotiaProcess(root, "--stream-port", "0", "--memory", "--log-format", fmt)
    assert process.client.get("/burst/3000").json() == {"logged": True}
    output = process.stop()  # SIGTERM at once: most of the burst is still queued for the writer thread
    assert process.proc.returncode == 0
    messages = [json.loads(line)["message"] if fmt == "json" else line.split("] ", 1)[1]
                for line in output.splitlines() if "burst " in line]
    assert messages == [f"burst {number}" for number in range(3000)]


def test_env_values_stay_out_of_the_log_at_debug_level(tmp_path):
    root = project(tmp_path, {
        "steps/secret_step.py": """
            import os

            from motia import FlowContext, get

            @get("/secret")
            async def secret(req, ctx: FlowContext):
                ctx.logger.debug("used the token", present="API_TOKEN" in os.environ)
                return {"ok": True}
        """,
        ".env": "API_TOKEN=s3cr3t-value\n",
    })
    process = MotiaProcess(root, "--stream-port", "0", "--memory", "--log-level", "debug", "--log-format", "json")
    assert process.client.get("/secret").json() == {"ok": True}
    output = process.stop()
    used = [json.loads(line) for line in output.splitlines() if "used the token" in line]
    assert [record["fields"] for record in used] == [{"present": True}]
    assert "s3cr3t-value" not in output
