"""Step loggers: stdlib logging underneath, every line tagged with the step name and trace id.

Handlers call `ctx.logger.info("msg", {"data": 1})`, `ctx.logger.info("msg", user_id=7)` or
`ctx.logger.error("msg", exc_info=True)`; all three shapes (seed, Motia 1.x, stdlib) are accepted.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import msgspec

STEP_LOGGER = logging.getLogger("motia.step")
_json = msgspec.json.Encoder()


class StepLogger:
    """A logger bound to one invocation (step name + trace id)."""

    __slots__ = ("_extra_fields", "step", "trace_id")

    def __init__(self, step: str, trace_id: str, fields: dict[str, Any] | None = None) -> None:
        self.step = step
        self.trace_id = trace_id
        self._extra_fields = fields or {}

    def bind(self, **fields: Any) -> StepLogger:
        return StepLogger(self.step, self.trace_id, {**self._extra_fields, **fields})

    def _log(self, level: int, message: Any, data: Any, exc_info: Any, fields: dict[str, Any]) -> None:
        if not STEP_LOGGER.isEnabledFor(level):
            return
        merged = dict(self._extra_fields)
        if isinstance(data, dict):
            merged.update(data)
        elif data is not None:
            merged["data"] = data
        merged.update(fields)
        STEP_LOGGER.log(
            level,
            str(message),
            exc_info=exc_info,
            extra={"step": self.step or None, "trace_id": self.trace_id or None, "fields": merged},
            stacklevel=3,  # the handler's line: _log <- info() <- handler
        )

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

    def format(self, record: logging.LogRecord) -> str:
        time = self.formatTime(record, "%H:%M:%S")
        step = getattr(record, "step", None)
        where = f"[{step} {str(getattr(record, 'trace_id', ''))[:8]}] " if step else f"[{record.name}] "
        level = f"{record.levelname:<5}"
        if self.color:
            level = f"{_COLORS.get(record.levelname, '')}{level}\033[0m"
        line = f"{time} {level} {where}{record.getMessage()}"
        fields = getattr(record, "fields", None)
        if fields:
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


def configure(level: str = "INFO", fmt: str = "human") -> None:
    """Install one stderr handler on the `motia` logger tree (idempotent)."""
    root = logging.getLogger("motia")
    for handler in list(root.handlers):
        if getattr(handler, "_motia", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter(color=sys.stderr.isatty()))
    handler._motia = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
