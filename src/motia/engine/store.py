"""Where the embedded engine keeps state, stream items, queue messages and the queue subscriptions it remembers.

One interface, two implementations: `SqliteStore` (the default; `.motia/motia.db`, WAL) and
`MemoryStore` (`--memory`, tests). Mutations are plain calls on the event-loop thread; `await
store.flush()` returns once everything written so far is durable. SQLite writes go into one open
transaction that is committed once per loop iteration, so concurrent writers share a commit (group
commit) and no operation hops to a thread. The two writes of every event (a queue message stored when it is
published, deleted when its delivery succeeds) are not executed one by one: they gather until the commit, or
until anything else touches the queue table, and go in as one `executemany` each; a message delivered
before its publish was committed is never written at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("motia.engine.store")


class StoreError(RuntimeError):
    """The store cannot read or write (read-only or full disk, corrupt file)."""


class QueuedMessage:
    """One delivery of a published message to one subscribing function."""

    __slots__ = ("attempts", "available_at", "enqueued_at", "error", "failed_at", "function_id", "group_id", "id",
                 "payload", "topic", "traceparent")

    def __init__(
        self,
        id: int,
        function_id: str,
        topic: str,
        payload: bytes,
        *,
        group_id: str | None = None,
        attempts: int = 0,
        available_at: float = 0.0,
        traceparent: str | None = None,
        enqueued_at: float = 0.0,
        error: str | None = None,
        failed_at: float | None = None,
    ) -> None:
        self.id = id
        self.function_id = function_id
        self.topic = topic
        self.payload = payload
        self.group_id = group_id
        self.attempts = attempts
        self.available_at = available_at
        self.traceparent = traceparent
        self.enqueued_at = enqueued_at
        self.error = error
        self.failed_at = failed_at


class Store(ABC):
    # --- state: scope -> key -> JSON bytes --------------------------------------------------------

    @abstractmethod
    def state_get(self, scope: str, key: str) -> bytes | None: ...

    @abstractmethod
    def state_set(self, scope: str, key: str, value: bytes) -> bytes | None:
        """Store and return the previous value."""

    @abstractmethod
    def state_delete(self, scope: str, key: str) -> bytes | None:
        """Delete and return the previous value."""

    @abstractmethod
    def state_items(self, scope: str) -> list[tuple[str, bytes]]:
        """The keys and values of a scope, ordered by key (the same in every store)."""

    @abstractmethod
    def state_scopes(self) -> list[str]: ...

    # --- streams: stream -> group -> item -> JSON bytes -----------------------------------------

    @abstractmethod
    def stream_get(self, stream: str, group: str, item: str) -> bytes | None: ...

    @abstractmethod
    def stream_set(self, stream: str, group: str, item: str, value: bytes) -> bytes | None: ...

    @abstractmethod
    def stream_delete(self, stream: str, group: str, item: str) -> bytes | None: ...

    @abstractmethod
    def stream_items(self, stream: str, group: str) -> list[tuple[str, bytes]]:
        """The items of a group, ordered by item id (the same in every store)."""

    @abstractmethod
    def stream_groups(self, stream: str) -> list[str]: ...

    @abstractmethod
    def stream_names(self) -> list[str]: ...

    # --- queue: pending and dead-lettered deliveries ---------------------------------------------

    @abstractmethod
    def next_message_id(self) -> int: ...

    @abstractmethod
    def queue_add(self, message: QueuedMessage) -> None: ...

    @abstractmethod
    def queue_ack(self, message_id: int) -> None:
        """The delivery succeeded: forget the message."""

    @abstractmethod
    def queue_retry(self, message: QueuedMessage) -> None:
        """Persist the message's new `attempts`, `available_at` and `error`."""

    @abstractmethod
    def queue_dead(self, message: QueuedMessage) -> None:
        """Move the message to the dead letters (with `attempts`, `error`, `failed_at`)."""

    @abstractmethod
    def queue_revive(self, message_id: int, available_at: float) -> QueuedMessage | None:
        """Take a dead letter back to pending with no attempts; None if there is no such dead letter."""

    @abstractmethod
    def queue_discard(self, message_id: int) -> bool: ...

    @abstractmethod
    def queue_pending(self, function_id: str) -> list[QueuedMessage]:
        """Messages still to deliver to a function, oldest first (after a restart: also those in flight)."""

    @abstractmethod
    def queue_dead_letters(self) -> list[QueuedMessage]: ...

    @abstractmethod
    def queue_counts(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(function_id, topic) -> (pending, dead): one subscription's messages (a function may take several
        topics)."""

    @abstractmethod
    def queue_bury(self, function_id: str, topic: str, error: str, failed_at: float) -> int:
        """Move every pending message of one subscription to the dead letters; how many there were."""

    # --- subscriptions: (topic, function_id) -> queue settings (JSON bytes) -------------------------

    @abstractmethod
    def subscription_save(self, topic: str, function_id: str, settings: bytes) -> None: ...

    @abstractmethod
    def subscription_delete(self, topic: str, function_id: str) -> None: ...

    @abstractmethod
    def subscriptions(self) -> list[tuple[str, str, bytes]]:
        """Every remembered subscription: (topic, function_id, settings), ordered by topic then function."""

    # --- durability ---------------------------------------------------------------------------------

    async def flush(self) -> None:  # noqa: B027 - nothing to do for a store without transactions
        """Return once every mutation made so far is durable."""

    def request_flush(self) -> None:  # noqa: B027
        """Make what was written so far durable soon, without waiting for it."""

    def close(self) -> None:  # noqa: B027
        """Flush synchronously and release resources."""


class MemoryStore(Store):
    """Everything in dicts: fast, and gone when the process ends."""

    def __init__(self) -> None:
        self.state: dict[str, dict[str, bytes]] = {}
        self.streams: dict[str, dict[str, dict[str, bytes]]] = {}
        self.pending: dict[int, QueuedMessage] = {}
        self.dead: dict[int, QueuedMessage] = {}
        self.subscribed: dict[tuple[str, str], bytes] = {}
        self._next_id = 0

    def state_get(self, scope: str, key: str) -> bytes | None:
        group = self.state.get(scope)
        return group.get(key) if group else None

    def state_set(self, scope: str, key: str, value: bytes) -> bytes | None:
        group = self.state.setdefault(scope, {})
        old = group.get(key)
        group[key] = value
        return old

    def state_delete(self, scope: str, key: str) -> bytes | None:
        group = self.state.get(scope)
        if not group:
            return None
        old = group.pop(key, None)
        if not group:
            del self.state[scope]
        return old

    def state_items(self, scope: str) -> list[tuple[str, bytes]]:
        return sorted(self.state.get(scope, {}).items())

    def state_scopes(self) -> list[str]:
        return sorted(self.state)

    def stream_get(self, stream: str, group: str, item: str) -> bytes | None:
        return self.streams.get(stream, {}).get(group, {}).get(item)

    def stream_set(self, stream: str, group: str, item: str, value: bytes) -> bytes | None:
        items = self.streams.setdefault(stream, {}).setdefault(group, {})
        old = items.get(item)
        items[item] = value
        return old

    def stream_delete(self, stream: str, group: str, item: str) -> bytes | None:
        groups = self.streams.get(stream, {})
        items = groups.get(group)
        if not items:
            return None
        old = items.pop(item, None)
        if not items:
            del groups[group]
        return old

    def stream_items(self, stream: str, group: str) -> list[tuple[str, bytes]]:
        return sorted(self.streams.get(stream, {}).get(group, {}).items())

    def stream_groups(self, stream: str) -> list[str]:
        return sorted(self.streams.get(stream, {}))

    def stream_names(self) -> list[str]:
        return sorted(name for name, groups in self.streams.items() if groups)

    def next_message_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def queue_add(self, message: QueuedMessage) -> None:
        self.pending[message.id] = message

    def queue_ack(self, message_id: int) -> None:
        self.pending.pop(message_id, None)

    def queue_retry(self, message: QueuedMessage) -> None:
        pass  # the message object itself is the record

    def queue_dead(self, message: QueuedMessage) -> None:
        self.pending.pop(message.id, None)
        self.dead[message.id] = message

    def queue_revive(self, message_id: int, available_at: float) -> QueuedMessage | None:
        message = self.dead.pop(message_id, None)
        if message is None:
            return None
        message.attempts, message.available_at, message.error, message.failed_at = 0, available_at, None, None
        self.pending[message_id] = message
        return message

    def queue_discard(self, message_id: int) -> bool:
        return self.dead.pop(message_id, None) is not None

    def queue_pending(self, function_id: str) -> list[QueuedMessage]:
        return sorted((m for m in self.pending.values() if m.function_id == function_id), key=lambda m: m.id)

    def queue_dead_letters(self) -> list[QueuedMessage]:
        return sorted(self.dead.values(), key=lambda m: m.id)

    def queue_counts(self) -> dict[tuple[str, str], tuple[int, int]]:
        counts: dict[tuple[str, str], list[int]] = {}
        for message in self.pending.values():
            counts.setdefault((message.function_id, message.topic), [0, 0])[0] += 1
        for message in self.dead.values():
            counts.setdefault((message.function_id, message.topic), [0, 0])[1] += 1
        return {k: (v[0], v[1]) for k, v in counts.items()}

    def queue_bury(self, function_id: str, topic: str, error: str, failed_at: float) -> int:
        buried = [m for m in self.pending.values() if m.function_id == function_id and m.topic == topic]
        for message in buried:
            message.error, message.failed_at = error, failed_at
            self.queue_dead(message)
        return len(buried)

    def subscription_save(self, topic: str, function_id: str, settings: bytes) -> None:
        self.subscribed[topic, function_id] = settings

    def subscription_delete(self, topic: str, function_id: str) -> None:
        self.subscribed.pop((topic, function_id), None)

    def subscriptions(self) -> list[tuple[str, str, bytes]]:
        return [(topic, function_id, settings) for (topic, function_id), settings in sorted(self.subscribed.items())]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    scope TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stream (
    stream TEXT NOT NULL, grp TEXT NOT NULL, item TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (stream, grp, item)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY, function_id TEXT NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL,
    group_id TEXT, attempts INTEGER NOT NULL DEFAULT 0, available_at REAL NOT NULL DEFAULT 0,
    traceparent TEXT, enqueued_at REAL NOT NULL DEFAULT 0, error TEXT, dead INTEGER NOT NULL DEFAULT 0,
    failed_at REAL
);
CREATE INDEX IF NOT EXISTS queue_by_function ON queue (function_id, dead, id);
CREATE TABLE IF NOT EXISTS subscription (
    topic TEXT NOT NULL, function_id TEXT NOT NULL, settings BLOB NOT NULL, PRIMARY KEY (topic, function_id)
) WITHOUT ROWID;
"""

_INSERT_MESSAGE = (
    "INSERT INTO queue (id, function_id, topic, payload, group_id, attempts, available_at, traceparent, enqueued_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_MESSAGE_COLUMNS = (
    "id, function_id, topic, payload, group_id, attempts, available_at, traceparent, enqueued_at, error, failed_at"
)


def _message(row: tuple[Any, ...]) -> QueuedMessage:
    return QueuedMessage(
        row[0], row[1], row[2], row[3], group_id=row[4], attempts=row[5], available_at=row[6],
        traceparent=row[7], enqueued_at=row[8], error=row[9], failed_at=row[10],
    )


def _lock(path: Path) -> IO[str]:
    """Hold an exclusive OS lock on `<db>.lock` for as long as the returned file is open.

    Two processes writing one SQLite file would each deliver the other's queue messages and cache ids that
    collide, so a second process is refused, told which process holds the store. The OS drops the lock when
    the holder exits, however it exits (kill -9 included): a stale lock file never blocks a start.
    """
    handle = open(path.with_name(path.name + ".lock"), "a+")  # noqa: SIM115 - open for the store's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StoreError(
            f"the data directory {path.parent} is in use by {holder}. One process per SQLite data directory: "
            f"to serve steps from several processes, run `motia engine` and start them as its workers with "
            f"`motia run --engine ws://HOST:49134`, or give each process its own --data-dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"process {os.getpid()} ({' '.join(sys.orig_argv)})\n")
    handle.flush()
    return handle


class SqliteStore(Store):
    """SQLite in WAL mode, one connection used from the event-loop thread, commits once per loop turn.

    With `synchronous=NORMAL` a committed transaction is in the WAL file before `flush()` returns, so it
    survives the process being killed (an OS crash or power cut can lose the last commits).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = _lock(self.path)
        except OSError as exc:
            raise StoreError(f"cannot open the data store {self.path}: {exc}") from None
        try:
            emptied = self.path.is_file() and self.path.stat().st_size == 0 and not _has_wal(self.path)
            self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self._check()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=5000")
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            self._lock.close()
            raise StoreError(f"cannot open the data store {self.path}: {exc}") from None
        if emptied:
            # SQLite takes a zero-byte file for a new database; a store that was truncated would start empty
            # without a word.
            log.warning("the data store %s was an empty file: starting with an empty store (if it held data, "
                        "stop and restore it from a backup)", self.path)
        row = self.db.execute("SELECT max(id) FROM queue").fetchone()
        self._next_id = int(row[0] or 0)
        self._in_transaction = False
        self._failure: StoreError | None = None
        self._commit_due = False  # a commit is scheduled for the next loop turn
        self._waiters: list[asyncio.Future[None]] = []  # flush() calls waiting for that commit
        # Queue messages published and acknowledged since the last commit, not executed yet (see the module doc).
        self._adds: dict[int, tuple[Any, ...]] = {}
        self._acks: list[tuple[int]] = []

    def _check(self) -> None:
        """A damaged file is refused at start, naming the file and the way out, instead of failing requests
        later with "database disk image is malformed". `quick_check` reads every page once (0.6-1.2 s at start
        for a 470 MB store) but skips the index-content cross-check that makes `integrity_check` slower."""
        try:
            problems = [row[0] for row in self.db.execute("PRAGMA quick_check(5)").fetchall()]
        except sqlite3.DatabaseError as exc:  # not a database at all ("file is not a database")
            problems = [str(exc)]
        if problems != ["ok"]:
            self.db.close()
            raise StoreError(
                f"the data store {self.path} is damaged ({'; '.join(problems)}). To recover: stop motia, move the "
                f"file aside (with any -wal and -shm next to it) and restore a backup, or salvage what is readable "
                f"with `sqlite3 {self.path} .recover | sqlite3 recovered.db` and move recovered.db in its place, "
                f"or start with an empty store (another --data-dir, or --memory)"
            )

    # --- transactions -------------------------------------------------------------------------------

    def _begin(self) -> None:
        if not self._in_transaction:
            self.db.execute("BEGIN")
            self._in_transaction = True
            self._failure = None

    def _write(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        if self._adds or self._acks:
            self._apply_queued()  # in call order: this statement may touch a message still in the buffers
        self._begin()
        try:
            return self.db.execute(sql, args)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: sqlite3.Error) -> StoreError:
        error = StoreError(f"cannot write to the data store {self.path}: {exc}")
        if not self.db.in_transaction:
            # SQLite rolled the whole transaction back (a full disk does that): every writer that shares
            # it must hear so from its flush(), not just this one.
            self._failure = error
        return error

    def _apply_queued(self) -> None:
        """Execute the buffered queue inserts and deletes in the open transaction (one statement each)."""
        adds, acks = self._adds, self._acks
        self._adds, self._acks = {}, []
        self._begin()
        try:
            if adds:
                self.db.executemany(_INSERT_MESSAGE, adds.values())
            if acks:
                self.db.executemany("DELETE FROM queue WHERE id=?", acks)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def _dirty(self) -> bool:
        return self._in_transaction or bool(self._adds) or bool(self._acks)

    async def flush(self) -> None:
        if not self._dirty():
            return
        # A future per caller (not one shared and shielded): a caller that is cancelled cancels only its own.
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.request_flush()
        await waiter

    def request_flush(self) -> None:
        if not self._commit_due and self._dirty():
            self._commit_due = True
            asyncio.get_running_loop().call_soon(self._commit_now)

    def _read_queue(self) -> None:
        """Before a read of the queue table: the buffered writes go in first, so that it sees them."""
        if self._adds or self._acks:
            self._apply_queued()

    def _commit_now(self) -> None:
        waiters, self._waiters = self._waiters, []
        self._commit_due = False
        try:
            if self._adds or self._acks:
                self._apply_queued()
            if self._failure is not None:
                raise sqlite3.OperationalError(str(self._failure))
            if self._in_transaction:
                self._in_transaction = False
                self.db.execute("COMMIT")
        except (sqlite3.Error, StoreError) as exc:
            self._in_transaction = False
            self._failure = None
            error = StoreError(f"cannot commit to the data store {self.path}: {exc}")
            if self.db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error, StoreError):
            if self._adds or self._acks:
                self._apply_queued()
        if self._in_transaction:
            self._in_transaction = False
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("COMMIT")
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.db.close()
        self._lock.close()  # releases the lock

    # --- state -------------------------------------------------------------------------------------

    def state_get(self, scope: str, key: str) -> bytes | None:
        row = self.db.execute("SELECT value FROM state WHERE scope=? AND key=?", (scope, key)).fetchone()
        return row[0] if row else None

    def state_set(self, scope: str, key: str, value: bytes) -> bytes | None:
        old = self.state_get(scope, key)
        self._write("INSERT OR REPLACE INTO state (scope, key, value) VALUES (?, ?, ?)", (scope, key, value))
        return old

    def state_delete(self, scope: str, key: str) -> bytes | None:
        old = self.state_get(scope, key)
        if old is not None:
            self._write("DELETE FROM state WHERE scope=? AND key=?", (scope, key))
        return old

    def state_items(self, scope: str) -> list[tuple[str, bytes]]:
        return self.db.execute("SELECT key, value FROM state WHERE scope=? ORDER BY key", (scope,)).fetchall()

    def state_scopes(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT scope FROM state ORDER BY scope")]

    # --- streams -----------------------------------------------------------------------------------

    def stream_get(self, stream: str, group: str, item: str) -> bytes | None:
        row = self.db.execute(
            "SELECT value FROM stream WHERE stream=? AND grp=? AND item=?", (stream, group, item)
        ).fetchone()
        return row[0] if row else None

    def stream_set(self, stream: str, group: str, item: str, value: bytes) -> bytes | None:
        old = self.stream_get(stream, group, item)
        self._write(
            "INSERT OR REPLACE INTO stream (stream, grp, item, value) VALUES (?, ?, ?, ?)", (stream, group, item, value)
        )
        return old

    def stream_delete(self, stream: str, group: str, item: str) -> bytes | None:
        old = self.stream_get(stream, group, item)
        if old is not None:
            self._write("DELETE FROM stream WHERE stream=? AND grp=? AND item=?", (stream, group, item))
        return old

    def stream_items(self, stream: str, group: str) -> list[tuple[str, bytes]]:
        return self.db.execute(
            "SELECT item, value FROM stream WHERE stream=? AND grp=? ORDER BY item", (stream, group)
        ).fetchall()

    def stream_groups(self, stream: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT grp FROM stream WHERE stream=? ORDER BY grp", (stream,))]

    def stream_names(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT stream FROM stream ORDER BY stream")]

    # --- queue -------------------------------------------------------------------------------------

    def next_message_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def queue_add(self, message: QueuedMessage) -> None:
        self._adds[message.id] = (
            message.id, message.function_id, message.topic, message.payload, message.group_id, message.attempts,
            message.available_at, message.traceparent, message.enqueued_at,
        )

    def queue_ack(self, message_id: int) -> None:
        if self._adds.pop(message_id, None) is None:  # else it was never written, and need not be
            self._acks.append((message_id,))

    def queue_retry(self, message: QueuedMessage) -> None:
        self._write(
            "UPDATE queue SET attempts=?, available_at=?, error=? WHERE id=?",
            (message.attempts, message.available_at, message.error, message.id),
        )

    def queue_dead(self, message: QueuedMessage) -> None:
        self._write(
            "UPDATE queue SET dead=1, attempts=?, error=?, failed_at=? WHERE id=?",
            (message.attempts, message.error, message.failed_at, message.id),
        )

    def queue_revive(self, message_id: int, available_at: float) -> QueuedMessage | None:
        self._read_queue()
        row = self.db.execute(f"SELECT {_MESSAGE_COLUMNS} FROM queue WHERE id=? AND dead=1", (message_id,)).fetchone()
        if row is None:
            return None
        self._write(
            "UPDATE queue SET dead=0, attempts=0, available_at=?, error=NULL, failed_at=NULL WHERE id=?",
            (available_at, message_id),
        )
        message = _message(row)
        message.attempts, message.available_at, message.error, message.failed_at = 0, available_at, None, None
        return message

    def queue_discard(self, message_id: int) -> bool:
        return self._write("DELETE FROM queue WHERE id=? AND dead=1", (message_id,)).rowcount > 0

    def queue_pending(self, function_id: str) -> list[QueuedMessage]:
        self._read_queue()
        rows = self.db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM queue WHERE function_id=? AND dead=0 ORDER BY id", (function_id,)
        )
        return [_message(row) for row in rows]

    def queue_dead_letters(self) -> list[QueuedMessage]:
        self._read_queue()
        rows = self.db.execute(f"SELECT {_MESSAGE_COLUMNS} FROM queue WHERE dead=1 ORDER BY id")
        return [_message(row) for row in rows]

    def queue_counts(self) -> dict[tuple[str, str], tuple[int, int]]:
        self._read_queue()
        counts: dict[tuple[str, str], tuple[int, int]] = {}
        for function_id, topic, dead, count in self.db.execute(
                "SELECT function_id, topic, dead, count(*) FROM queue GROUP BY 1, 2, 3"):
            pending, dead_count = counts.get((function_id, topic), (0, 0))
            counts[function_id, topic] = (pending, count) if dead else (count, dead_count)
        return counts

    def queue_bury(self, function_id: str, topic: str, error: str, failed_at: float) -> int:
        return self._write(
            "UPDATE queue SET dead=1, error=?, failed_at=? WHERE function_id=? AND topic=? AND dead=0",
            (error, failed_at, function_id, topic),
        ).rowcount

    # --- subscriptions -----------------------------------------------------------------------------

    def subscription_save(self, topic: str, function_id: str, settings: bytes) -> None:
        self._write(
            "INSERT OR REPLACE INTO subscription (topic, function_id, settings) VALUES (?, ?, ?)",
            (topic, function_id, settings),
        )

    def subscription_delete(self, topic: str, function_id: str) -> None:
        self._write("DELETE FROM subscription WHERE topic=? AND function_id=?", (topic, function_id))

    def subscriptions(self) -> list[tuple[str, str, bytes]]:
        return self.db.execute(
            "SELECT topic, function_id, settings FROM subscription ORDER BY topic, function_id"
        ).fetchall()


def _has_wal(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    return wal.is_file() and wal.stat().st_size > 0
