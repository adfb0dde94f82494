"""The log handler `motia run` installs: records are handed to a writer thread that formats them and writes
them in batches, so a log line costs the event loop an append, not a format and a system call.

What is queued is written on `flush()`, `close()`, `stop()` and at exit; a process killed outright (SIGKILL,
out of memory, a crash of the interpreter) loses at most the lines of its last `LINGER` seconds.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import weakref
from typing import Any, TextIO

# How long the writer lets lines gather after the first one wakes it: one write for a burst of lines, at most
# this much output lost if the process dies without running its exit handlers (SIGKILL, OOM, segfault).
LINGER = 0.01
# Above this many queued records a logging call writes them itself (slower, but memory stays bounded when
# the output cannot keep up, e.g. a full pipe).
MAX_PENDING = 10_000

_writers: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()


class BackgroundWriter(logging.Handler):
    """Formats and writes records on its own thread, in order, one `write` per batch."""

    def __init__(self, stream: TextIO, formatter: logging.Formatter) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.stream = stream
        # deque.append/popleft are atomic: the logging call takes no lock (one deque keeps the order of
        # every thread's records).
        self._pending: collections.deque[Any] = collections.deque()
        self._armed = False  # the writer thread has been woken for what is pending
        self._stopped = False
        self._start_thread()
        _writers.add(self)

    def _start_thread(self) -> None:
        self._wake = threading.Event()
        self._write_lock = threading.Lock()  # one drain at a time: batches are written in order
        self._thread = threading.Thread(target=self._run, name="motia-log-writer", daemon=True)
        self._thread.start()

    def handle(self, record: logging.LogRecord) -> bool:
        if self.filters and not self.filter(record):
            return False
        if record.args:  # stdlib-style `log.info("%s", value)`: render now, the value may change later
            record.msg = record.getMessage()
            record.args = None
        self.put(record)
        return True

    def put(self, record: Any) -> None:
        """Queue a record (or anything the formatter reads like one) for the writer thread."""
        self._pending.append(record)
        if self._stopped or len(self._pending) > MAX_PENDING:
            self.flush()
        elif not self._armed:
            self._armed = True
            self._wake.set()

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait()
            self._wake.clear()
            if not self._stopped:
                self._wake.wait(LINGER)  # let a burst gather (close() cuts this short)
            # Disarm before draining: a record appended from here on wakes the thread again.
            self._armed = False
            self.flush()

    def flush(self) -> None:
        """Write everything queued so far (from any thread; returns when it is written)."""
        with self._write_lock:
            pending = self._pending
            records = [pending.popleft() for _ in range(len(pending))]
            if not records:
                return
            lines = []
            for record in records:
                try:
                    lines.append(self.format(record))
                except Exception:
                    self.handleError(record)
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except Exception:
                self.handleError(records[-1])

    def close(self) -> None:
        """Write what is queued; the thread keeps serving. `logging.config.dictConfig` (which uvicorn calls)
        closes every existing handler yet leaves it attached, and a closed StreamHandler goes on writing too."""
        self.flush()
        super().close()

    def stop(self) -> None:
        """Write what is queued and end the thread (a record that still comes is written by the logging call)."""
        self._stopped = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(5)
        self.flush()

    def _after_fork(self) -> None:
        # A forked child has the parent's queue (the parent writes it) but not its thread, and maybe a lock that
        # thread held. It writes its lines itself: multiprocessing's forked children leave through `os._exit`,
        # which runs no exit handler that could flush a queue (`configure()` in the child starts a new thread).
        self._pending.clear()
        self._write_lock = threading.Lock()
        self._stopped = True


def _write_directly_in_child() -> None:
    for writer in list(_writers):
        writer._after_fork()


@atexit.register
def flush_all() -> None:
    """Write what every writer has queued (at exit too: the stdlib's own exit flush misses a writer once
    `dictConfig` has dropped it from `logging._handlerList`)."""
    for writer in list(_writers):
        writer.flush()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_write_directly_in_child)
