"""Step loggers: stdlib logging underneath, every line tagged with the step name and trace id.

Handlers call `ctx.logger.info("msg", {"data": 1})`, `ctx.logger.info("msg", user_id=7)` or
`ctx.logger.error("msg", exc_info=True)`; all three shapes (seed, Motia 1.x, stdlib) are accepted.
A step's line is a few microseconds on the event loop: `configure` installs a writer thread (`_log_writer`)
that formats and writes lines in batches; when it is the only handler, a step line reaches it as a `StepLine`,
otherwise as a `StepRecord` (a LogRecord made without the stdlib's caller look-up).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import msgspec

from ._log_writer import BackgroundWriter, flush_all

STEP_LOGGER = logging.getLogger("motia.step")
_json = msgspec.json.Encoder()
_record_callers = False
# Who else receives every step line (the console's recording, `motia.recording`): called with
# (level, message, step, trace_id, fields, exc_info) on the logging thread, so each must only append.
_taps: tuple[Callable[..., None], ...] = ()


def add_tap(tap: Callable[..., None]) -> None:
    """Give `tap` every step line from now on (`motia.recording` records them for the console)."""
    global _taps
    _taps = (*_taps, tap)


def remove_tap(tap: Callable[..., None]) -> None:
    global _taps
    _taps = tuple(t for t in _taps if t != tap)


def record_callers(enabled: bool = True) -> None:
    """Fill each step record's `pathname`, `lineno` and `funcName` with the handler's line (off by default:
    motia's formats do not show it; turn it on for a handler or formatter of your own that does)."""
    global _record_callers
    _record_callers = enabled


# What a step record says when callers are not recorded (`record_callers`): pathname, filename, module,
# lineno, funcName, as the stdlib's own records without a caller.
_NO_CALLER = ("(unknown file)", "(unknown file)", "(unknown file)", 0, "(unknown function)")


class StepRecord(logging.LogRecord):
    """The LogRecord of a step's line, built without the stdlib's per-record look-ups (the caller's frame,
    `os.path` splitting, the pid): the same attributes, plus `step`, `trace_id` and `fields`."""

    def __init__(self, level: int, message: str, exc_info: Any, step: str | None, trace_id: str | None,
                 fields: dict[str, Any], caller: Any = None) -> None:
        now = time.time()
        if caller is None:
            pathname, filename, module, lineno, function = _NO_CALLER
        else:
            pathname, lineno, function = caller.f_code.co_filename, caller.f_lineno, caller.f_code.co_name
            filename = os.path.basename(pathname)
            module = os.path.splitext(filename)[0]
        multiprocessing = sys.modules.get("multiprocessing")
        # One dict display instead of twenty attribute stores.
        self.__dict__ = {
            "name": STEP_LOGGER.name, "msg": message, "args": (), "levelname": _LEVEL_NAMES.get(level) or
            logging.getLevelName(level), "levelno": level, "pathname": pathname, "filename": filename,
            "module": module, "exc_info": exc_info, "exc_text": None,
            "stack_info": None, "lineno": lineno, "funcName": function, "created": now,
            "msecs": int((now - int(now)) * 1000) + 0.0, "relativeCreated": (now - _START) * 1000,
            "thread": threading.get_ident(), "threadName": threading.current_thread().name,
            "processName": multiprocessing.current_process().name if multiprocessing else "MainProcess",
            "process": _PID, "step": step, "trace_id": trace_id, "fields": fields,
        }


_LEVEL_NAMES = {level: logging.getLevelName(level) for level in
                (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)}
_START: float = getattr(logging, "_startTime", time.time())  # relativeCreated counts from logging's import
_PID = os.getpid()  # a system call per record otherwise


def _set_pid() -> None:
    global _PID
    _PID = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_set_pid)


class StepLine:
    """What motia's formatters read of a step record, for when `configure`'s writer alone receives step
    records (no other handler, no filter): a fraction of a LogRecord's cost to make."""

    __slots__ = ("created", "exc_info", "fields", "levelname", "levelno", "msg", "step", "trace_id")
    name = STEP_LOGGER.name
    args = ()  # read by `Handler.handleError`

    def __init__(self, created: float, level: int, message: str, exc_info: Any, step: str | None, trace_id: str | None,
                 fields: dict[str, Any]) -> None:
        self.created = created
        self.levelno = level
        self.levelname = _LEVEL_NAMES.get(level) or logging.getLevelName(level)
        self.msg = message
        self.exc_info = exc_info
        self.step = step
        self.trace_id = trace_id
        self.fields = fields

    def getMessage(self) -> str:
        return self.msg


_ROOT = logging.getLogger("motia")


def _sole_writer(level: int, logger: logging.Logger = STEP_LOGGER) -> BackgroundWriter | None:
    """`configure`'s writer, when it is the only thing a record of `logger` at `level` would reach."""
    handlers = _ROOT.handlers
    if (len(handlers) != 1 or logger.handlers or logger.filters or _ROOT.filters
            or not logger.propagate or logger.disabled or _ROOT.disabled):
        return None
    writer = handlers[0]
    if type(writer) is not BackgroundWriter or writer.filters or level < writer.level:
        return None
    return writer


class StepLogger:
    """A logger bound to one invocation (step name + trace id)."""

    __slots__ = ("_extra_fields", "step", "trace_id")

    def __init__(self, step: str | None, trace_id: str | None, fields: dict[str, Any] | None = None) -> None:
        self.step = step
        self.trace_id = trace_id
        self._extra_fields = fields or {}

    def bind(self, **fields: Any) -> StepLogger:
        return StepLogger(self.step, self.trace_id, {**self._extra_fields, **fields})

    def _log(self, level: int, message: Any, data: Any, exc_info: Any, fields: dict[str, Any]) -> None:
        if not STEP_LOGGER.isEnabledFor(level):
            return
        if data is None:  # `fields` is this call's own kwargs dict: no copy needed
            merged = {**self._extra_fields, **fields} if self._extra_fields else fields
        else:
            merged = {**self._extra_fields, **data} if isinstance(data, dict) else {**self._extra_fields, "data": data}
            merged.update(fields)
        if exc_info:
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
        text = str(message)
        for tap in _taps:
            tap(level, text, self.step or None, self.trace_id or None, merged, exc_info)
        if logging.getLogRecordFactory() is not logging.LogRecord:  # someone wants their own records
            STEP_LOGGER.log(level, text, exc_info=exc_info, stacklevel=3,
                            extra={"step": self.step or None, "trace_id": self.trace_id or None, "fields": merged})
            return
        if _record_callers:
            # frame 0 is this method, 1 the level method (info, error...), 2 the handler that logged
            caller = sys._getframe(2)
        else:
            writer = _sole_writer(level)
            if writer is not None:  # nobody else sees the record: the writer's formatter only needs a line
                writer.put(StepLine(time.time(), level, text, exc_info, self.step or None,
                                    self.trace_id or None, merged))
                return
            caller = None
        STEP_LOGGER.handle(StepRecord(level, text, exc_info, self.step or None, self.trace_id or None,
                                       merged, caller))

    def debug(self, message: Any, data: Any = None, *, exc_info: Any = None, **fields: Any) -> None:
        self._log(logging.DEBUG, message, data, exc_info, fields)

    def info(self, message: Any, data: Any = None, *, exc_info: Any = None, **fields: Any) -> None:
        self._log(logging.INFO, message, data, exc_info, fields)

    def warning(self, message: Any, data: Any = None, *, exc_info: Any = None, **fields: Any) -> None:
        self._log(logging.WARNING, message, data, exc_info, fields)

    warn = warning

    def error(self, message: Any, data: Any = None, *, exc_info: Any = None, **fields: Any) -> None:
        self._log(logging.ERROR, message, data, exc_info, fields)

    def critical(self, message: Any, data: Any = None, *, exc_info: Any = None, **fields: Any) -> None:
        self._log(logging.CRITICAL, message, data, exc_info, fields)

    def exception(self, message: Any, data: Any = None, **fields: Any) -> None:
        self._log(logging.ERROR, message, data, True, fields)


ACCESS_LOGGER = logging.getLogger("motia.access")


class AccessLine(StepLine):
    """An access-log line (`runtime/access_log`), as the writer's formatters read it."""

    __slots__ = ()
    name = ACCESS_LOGGER.name


def access(level: int, message: str, trace_id: str, fields: dict[str, Any]) -> None:
    """One line of the access log, tagged with the request's trace id; `fields` are for the JSON format (the
    human one shows the message alone, which says the same)."""
    if not ACCESS_LOGGER.isEnabledFor(level):
        return
    writer = _sole_writer(level, ACCESS_LOGGER)
    if writer is not None:
        writer.put(AccessLine(time.time(), level, message, None, None, trace_id, fields))
    else:
        ACCESS_LOGGER.log(level, message, extra={"trace_id": trace_id, "fields": fields})


class ContextLogger:
    """The module-level `logger` (official motia 1.0's `from motia import logger`): each line is tagged with
    the step and trace id of the invocation running in this task or worker thread; outside one, untagged."""

    __slots__ = ()

    def _bound(self) -> StepLogger:
        from ._current import current_context

        ctx = current_context.get()
        return ctx.logger if ctx is not None else _UNBOUND

    def debug(self, message: Any, data: Any = None, *, exc_info: Any = None, **fields: Any) -> None:
        self._bound()._log(logging.DEBUG, message, data, exc_info, fields)

    def info(self, message: Any, data: Any = None, *, exc_info: Any = None, **fields: Any) -> None:
        self._bound()._log(logging.INFO, message, data, exc_info, fields)

    def warning(self, message: Any, data: Any = None, *, exc_info: Any = None, **fields: Any) -> None:
        self._bound()._log(logging.WARNING, message, data, exc_info, fields)

    warn = warning

    def error(self, message: Any, data: Any = None, *, exc_info: Any = None, **fields: Any) -> None:
        self._bound()._log(logging.ERROR, message, data, exc_info, fields)

    def critical(self, message: Any, data: Any = None, *, exc_info: Any = None, **fields: Any) -> None:
        self._bound()._log(logging.CRITICAL, message, data, exc_info, fields)

    def exception(self, message: Any, data: Any = None, **fields: Any) -> None:
        self._bound()._log(logging.ERROR, message, data, True, fields)


_UNBOUND = StepLogger("", "")
logger = ContextLogger()


_COLORS = {"DEBUG": "\033[2m", "INFO": "\033[36m", "WARNING": "\033[33m", "ERROR": "\033[31m",
           "CRITICAL": "\033[1;31m"}


class HumanFormatter(logging.Formatter):
    """`12:00:01 INFO  [CreateUser 1a2b3c4d] created user user_id=7` (levels coloured on a terminal)."""

    def __init__(self, color: bool = False) -> None:
        super().__init__()
        self.color = color
        self._time: tuple[int, str] = (-1, "")  # one tuple: formatters may be shared between threads

    def format(self, record: logging.LogRecord) -> str:
        second, time = self._time
        if int(record.created) != second:  # one strftime per second of output, not per line
            time = self.formatTime(record, "%H:%M:%S")
            self._time = (int(record.created), time)
        step = getattr(record, "step", None)
        if step:
            where = f"[{step} {str(getattr(record, 'trace_id', ''))[:8]}] "
        elif record.name == ACCESS_LOGGER.name:
            where = f"[http {str(getattr(record, 'trace_id', ''))[:8]}] "
        else:
            where = f"[{record.name}] "
        level = f"{record.levelname:<5}"
        if self.color:
            level = f"{_COLORS.get(record.levelname, '')}{level}\033[0m"
        line = f"{time} {level} {where}{record.getMessage()}"
        fields = getattr(record, "fields", None)
        if fields and record.name != ACCESS_LOGGER.name:  # an access line's message says what its fields hold
            line += " " + " ".join(f"{k}={_render(v)}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("step", "trace_id", "error_id"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        fields = getattr(record, "fields", None)
        if fields:
            entry["fields"] = fields
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _json.encode(entry).decode()


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else repr(value)
    try:
        return _json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(value)


def configure(level: str = "INFO", fmt: str = "human", stream: TextIO | None = None) -> None:
    """Send the `motia` logger tree to `stream` (stderr by default) through a writer thread (idempotent:
    the handler of a previous call is flushed and replaced)."""
    stream = stream if stream is not None else sys.stderr
    root = logging.getLogger("motia")
    for handler in list(root.handlers):
        if isinstance(handler, BackgroundWriter):
            root.removeHandler(handler)
            handler.stop()
    formatter = JsonFormatter() if fmt == "json" else HumanFormatter(color=stream.isatty())
    root.addHandler(BackgroundWriter(stream, formatter))
    root.setLevel(level.upper())
    root.propagate = False


def flush() -> None:
    """Write every queued line now and return when they are written (motia does this at exit by itself)."""
    flush_all()
