"""The recording's history on disk: a SQLite file beside the store (`recording.db` in the data dir), written in
batches from a thread, so a restart keeps the traces and log lines of the last `RecordingConfig.window`."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import msgspec

from .model import LogLine, Span

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (trace_id TEXT NOT NULL, start REAL NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS spans_start ON spans (start);
CREATE TABLE IF NOT EXISTS logs (seq INTEGER PRIMARY KEY, time REAL NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS logs_time ON logs (time);
"""


def _unencodable(value: Any) -> str:
    return repr(value)  # a log field of any type is kept as its repr rather than lost


_encoder = msgspec.json.Encoder(enc_hook=_unencodable)
_spans = msgspec.json.Decoder(Span)
_lines = msgspec.json.Decoder(LogLine)


class History:
    """Spans and log lines younger than a window, in their own SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # one thread at a time on the connection
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def load(self, since: float, max_traces: int, max_lines: int) -> tuple[list[Span], list[LogLine]]:
        """The spans of the newest `max_traces` traces and the newest `max_lines` lines younger than `since`,
        oldest first."""
        with self._lock:
            db = self._open()
            traces = [row[0] for row in db.execute(
                "SELECT trace_id FROM spans WHERE start >= ? GROUP BY trace_id ORDER BY MIN(start) DESC LIMIT ?",
                (since, max_traces))]
            spans: list[Span] = []
            if traces:
                marks = ",".join("?" * len(traces))
                spans = [_spans.decode(row[0]) for row in db.execute(
                    f"SELECT data FROM spans WHERE start >= ? AND trace_id IN ({marks}) ORDER BY start",  # noqa: S608
                    (since, *traces))]
            lines = [_lines.decode(row[0]) for row in db.execute(
                "SELECT data FROM (SELECT seq, data FROM logs WHERE time >= ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                (since, max_lines))]
        return spans, lines

    def save(self, spans: list[Span], lines: list[LogLine], before: float) -> None:
        """Add `spans` and `lines`, and forget what is older than `before`."""
        with self._lock:
            db = self._open()
            db.execute("BEGIN")
            try:
                db.executemany("INSERT INTO spans (trace_id, start, data) VALUES (?, ?, ?)",
                               [(s.trace_id, s.start, _encoder.encode(s)) for s in spans])
                db.executemany("INSERT OR REPLACE INTO logs (seq, time, data) VALUES (?, ?, ?)",
                               [(line.seq, line.time, _encoder.encode(line)) for line in lines])
                db.execute("DELETE FROM spans WHERE start < ?", (before,))
                db.execute("DELETE FROM logs WHERE time < ?", (before,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
