"""The recording's history on disk: a SQLite file beside the store (`recording.db` in the data dir), written from a
thread, so a restart keeps the traces and log lines of the last `RecordingConfig.window`.

Each save is one row per table holding the batch as a JSON array (one insert, one encode: a row per span would
cost the app more than the span itself); a batch goes once its newest entry is older than the window.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import msgspec

from .model import LogLine, Span

_SCHEMA = """
CREATE TABLE IF NOT EXISTS span_batches (id INTEGER PRIMARY KEY, newest REAL NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS log_batches (id INTEGER PRIMARY KEY, newest REAL NOT NULL, data BLOB NOT NULL);
"""


_encoder = msgspec.json.Encoder()
_spans = msgspec.json.Decoder(list[Span])
_lines = msgspec.json.Decoder(list[LogLine])


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
            span_rows = db.execute("SELECT data FROM span_batches WHERE newest >= ? ORDER BY id", (since,)).fetchall()
            line_rows = db.execute("SELECT data FROM log_batches WHERE newest >= ? ORDER BY id", (since,)).fetchall()
        spans = sorted((span for row in span_rows for span in _spans.decode(row[0]) if span.start >= since),
                       key=lambda span: span.start)
        firsts: dict[str, float] = {}
        for span in spans:
            firsts.setdefault(span.trace_id, span.start)
        kept = set(sorted(firsts, key=firsts.__getitem__)[-max_traces:])
        lines = [line for row in line_rows for line in _lines.decode(row[0]) if line.time >= since]
        return [span for span in spans if span.trace_id in kept], lines[-max_lines:]

    def save(self, spans: list[Span], lines: list[LogLine], before: float) -> None:
        """Add `spans` and `lines`, and forget the batches older than `before`."""
        with self._lock:
            db = self._open()
            db.execute("BEGIN")
            try:
                if spans:
                    db.execute("INSERT INTO span_batches (newest, data) VALUES (?, ?)",
                               (max(span.start for span in spans), _encoder.encode(spans)))
                if lines:
                    db.execute("INSERT INTO log_batches (newest, data) VALUES (?, ?)",
                               (max(line.time for line in lines), _encoder.encode(lines)))
                db.execute("DELETE FROM span_batches WHERE newest < ?", (before,))
                db.execute("DELETE FROM log_batches WHERE newest < ?", (before,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
