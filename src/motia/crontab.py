"""Cron expressions: 5 fields (minute first), 6 (seconds first), 7 (seconds first, with year) and the
`@daily`-style aliases, parsed by croniter. `CronSchedule` serves the registry (start-up checks), the banner
(next fire) and the embedded engine (scheduling); `to_iii` the remote transport (what an iii engine parses)."""

from __future__ import annotations

import math
import re
from datetime import datetime
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .errors import did_you_mean

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


_SINGLE_RANGE = re.compile(r"(?<![\w-])(\w+)-\1(?![\w-])")


class CronError(ValueError):
    """An expression or time zone that cannot be scheduled; `hint` says what to write instead."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


FIELDS_HINT = ("write 5 fields (minute hour day-of-month month day-of-week), 6 (seconds first), 7 (seconds first, "
               "then year), or an alias such as @daily")
RANGES_HINT = ("the fields' ranges: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, day-of-week 0-6 "
               "(0 is Sunday)")


class CronSchedule:
    """A parsed expression in a time zone; `next_after(t)` is the first fire time strictly after `t`."""

    __slots__ = ("expression", "fields", "timezone", "zone")

    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        from croniter import croniter

        self.expression = expression
        self.timezone = timezone
        text = ALIASES.get(expression.strip().lower(), expression.strip())
        # croniter 7 reads a one-value range `5-5` as `*`: write it as the value it means.
        self.fields = [_SINGLE_RANGE.sub(r"\1", field) for field in text.split()]
        if len(self.fields) not in (5, 6, 7):
            raise CronError(f"Invalid cron expression '{expression}': it has {len(self.fields)} fields", FIELDS_HINT)
        try:
            self.zone = dt_timezone.utc if timezone.upper() == "UTC" else ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CronError(f"Unknown time zone '{timezone}'", _zone_hint(timezone)) from None
        try:
            croniter(" ".join(self.fields), datetime.now(self.zone), second_at_beginning=True)
        except Exception as exc:
            raise CronError(f"Invalid cron expression '{expression}': {exc}", RANGES_HINT) from None

    def next_after(self, when: float) -> float:
        """Epoch seconds of the next fire strictly after `when` (epoch seconds)."""
        from croniter import croniter

        # Cron resolves to whole seconds: start from the second `when` falls in (rounding a time a hair
        # before a boundary up to it would skip a fire due exactly at that boundary).
        start = datetime.fromtimestamp(math.floor(when), self.zone)
        iterator = croniter(" ".join(self.fields), start, second_at_beginning=True)
        return float(iterator.get_next(float))


def to_iii(expression: str) -> str:
    """The seconds-first 6/7-field form the iii engine requires: aliases expanded, 5 fields get `0` seconds."""
    fields = ALIASES.get(expression.strip().lower(), expression.strip()).split()
    return " ".join(["0", *fields]) if len(fields) == 5 else " ".join(fields)


def _zone_hint(timezone: str) -> str:
    """Only on the error path: listing the zones reads the whole tz database."""
    close = did_you_mean(timezone, sorted(available_timezones()), most=1)  # ~600 zones: many look alike
    return "use an IANA time zone name (or UTC)" + (f"; {close}" if close else ", such as 'Europe/Paris'")
