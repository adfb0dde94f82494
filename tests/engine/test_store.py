"""The store interface, specified once and run against both implementations (and SQLite reopened)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3

import pytest

from motia.engine.store import MemoryStore, QueuedMessage, SqliteStore, Store, StoreError
from tests.protocol.test_processes import Process

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path) -> Store:
    return MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "motia.db")


def message(store: Store, function_id: str = "f", group: str | None = None) -> QueuedMessage:
    return QueuedMessage(store.next_message_id(), function_id, "topic", b'{"x":1}', group_id=group, enqueued_at=1.0)


async def test_state_round_trip(store):
    assert store.state_set("users", "a", b'{"n":1}') is None
    assert store.state_set("users", "a", b'{"n":2}') == b'{"n":1}'
    store.state_set("users", "b", b"3")
    store.state_set("other", "c", b"4")
    await store.flush()
    assert store.state_get("users", "a") == b'{"n":2}'
    assert sorted(store.state_items("users")) == [("a", b'{"n":2}'), ("b", b"3")]
    assert store.state_scopes() == ["other", "users"]
    assert store.state_delete("users", "a") == b'{"n":2}'
    assert store.state_delete("users", "a") is None
    assert store.state_get("users", "a") is None


async def test_stream_round_trip(store):
    assert store.stream_set("todos", "inbox", "1", b'{"id":"1"}') is None
    store.stream_set("todos", "inbox", "2", b'{"id":"2"}')
    store.stream_set("todos", "done", "3", b'{"id":"3"}')
    await store.flush()
    assert store.stream_get("todos", "inbox", "1") == b'{"id":"1"}'
    assert sorted(item for item, _ in store.stream_items("todos", "inbox")) == ["1", "2"]
    assert store.stream_groups("todos") == ["done", "inbox"]
    assert store.stream_names() == ["todos"]
    assert store.stream_delete("todos", "done", "3") == b'{"id":"3"}'
    assert store.stream_groups("todos") == ["inbox"]


async def test_queue_lifecycle(store):
    first, second, other = message(store), message(store, group="g"), message(store, "other")
    for m in (first, second, other):
        store.queue_add(m)
    assert [m.id for m in store.queue_pending("f")] == [first.id, second.id]
    first.attempts, first.available_at, first.error = 2, 50.0, "boom"
    store.queue_retry(first)
    second.attempts, second.error, second.failed_at = 4, "gave up", 60.0
    store.queue_dead(second)
    store.queue_ack(other.id)
    await store.flush()
    pending = store.queue_pending("f")
    assert [(m.id, m.attempts, m.available_at, m.error) for m in pending] == [(first.id, 2, 50.0, "boom")]
    dead = store.queue_dead_letters()
    assert [(m.id, m.attempts, m.error, m.group_id) for m in dead] == [(second.id, 4, "gave up", "g")]
    assert store.queue_counts() == {("f", "topic"): (1, 1)}
    revived = store.queue_revive(second.id, 70.0)
    assert revived is not None and (revived.attempts, revived.available_at, revived.error) == (0, 70.0, None)
    assert store.queue_revive(second.id, 70.0) is None
    assert [m.id for m in store.queue_pending("f")] == [first.id, second.id]
    assert store.queue_dead_letters() == []


async def test_sqlite_keeps_everything_across_reopen(tmp_path):
    path = tmp_path / "motia.db"
    first = SqliteStore(path)
    first.state_set("s", "k", b"1")
    first.stream_set("st", "g", "i", b"2")
    kept = message(first)
    first.queue_add(kept)
    await first.flush()
    first.close()
    again = SqliteStore(path)
    assert again.state_get("s", "k") == b"1"
    assert again.stream_get("st", "g", "i") == b"2"
    assert [m.id for m in again.queue_pending("f")] == [kept.id]
    assert again.next_message_id() == kept.id + 1  # ids keep growing after a restart
    again.close()


async def test_sqlite_commits_once_for_writers_of_the_same_loop_turn(tmp_path):
    store = SqliteStore(tmp_path / "motia.db")
    commits = 0
    real = store._commit_now

    def counting() -> None:
        nonlocal commits
        commits += 1
        real()

    store._commit_now = counting  # type: ignore[method-assign]

    async def writer(n: int) -> None:
        store.state_set("s", str(n), b"1")
        await store.flush()

    await asyncio.gather(*(writer(n) for n in range(50)))
    assert commits == 1
    # committed: another connection sees every write
    other = sqlite3.connect(tmp_path / "motia.db")
    assert other.execute("SELECT count(*) FROM state").fetchone()[0] == 50
    other.close()
    store.close()


def queue_rows(path) -> list[tuple[int, int]]:
    """(id, dead) of every queue row committed to the file, read through a connection of its own."""
    other = sqlite3.connect(path)
    try:
        return other.execute("SELECT id, dead FROM queue ORDER BY id").fetchall()
    finally:
        other.close()


def published(tmp_path, count: int) -> tuple[SqliteStore, list[QueuedMessage]]:
    """A SQLite store with `count` messages published to function "f" (not committed yet)."""
    store = SqliteStore(tmp_path / "motia.db")
    messages = [message(store) for _ in range(count)]
    for m in messages:
        store.queue_add(m)
    return store, messages


async def test_sqlite_published_messages_are_in_the_file_once_flushed_and_acks_delete_them(tmp_path):
    store, (kept, done, quick) = published(tmp_path, 3)
    store.queue_ack(quick.id)  # delivered in the turn it was published: never written
    await store.flush()
    assert queue_rows(tmp_path / "motia.db") == [(kept.id, 0), (done.id, 0)]
    store.queue_ack(done.id)
    await store.flush()
    assert queue_rows(tmp_path / "motia.db") == [(kept.id, 0)]
    store.close()


async def test_sqlite_reads_and_updates_see_messages_not_committed_yet(tmp_path):
    store, (first, second, third) = published(tmp_path, 3)
    assert [m.id for m in store.queue_pending("f")] == [first.id, second.id, third.id]
    assert store.queue_counts() == {("f", "topic"): (3, 0)}
    first.attempts, first.error = 1, "boom"
    store.queue_retry(first)
    second.attempts, second.error, second.failed_at = 3, "gave up", 2.0
    store.queue_dead(second)
    store.queue_ack(third.id)
    assert [m.id for m in store.queue_dead_letters()] == [second.id]
    await store.flush()
    store.close()
    reopened = SqliteStore(tmp_path / "motia.db")
    assert [(m.id, m.attempts, m.error) for m in reopened.queue_pending("f")] == [(first.id, 1, "boom")]
    assert [(m.id, m.error) for m in reopened.queue_dead_letters()] == [(second.id, "gave up")]
    reopened.close()


_KILLED_AFTER_FLUSH = """
import asyncio, sys, time
from motia.engine.store import QueuedMessage, SqliteStore

async def main():
    store = SqliteStore(sys.argv[1])
    for _ in range(3):
        store.queue_add(QueuedMessage(store.next_message_id(), "f", "topic", b'{"n":1}', enqueued_at=1.0))
    await store.flush()
    print("flushed", flush=True)
    store.queue_add(QueuedMessage(store.next_message_id(), "f", "topic", b'{"n":2}', enqueued_at=1.0))
    time.sleep(60)  # never committed: the loop is blocked until the kill

asyncio.run(main())
"""


async def test_sqlite_a_flushed_publish_survives_sigkill_and_an_unflushed_one_is_not_half_written(tmp_path):
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", _KILLED_AFTER_FLUSH, str(tmp_path / "motia.db")],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "flushed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    store = SqliteStore(tmp_path / "motia.db")  # the killed holder's lock went with it
    assert [(m.id, m.payload) for m in store.queue_pending("f")] == [(1, b'{"n":1}'), (2, b'{"n":1}'),
                                                                     (3, b'{"n":1}')]
    store.close()


async def test_a_full_database_is_a_store_error_not_a_crash(tmp_path):
    store = SqliteStore(tmp_path / "motia.db")
    store.db.execute("PRAGMA max_page_count = 20")  # a disk that fills up after a few pages
    with pytest.raises(StoreError, match="database or disk is full"):
        for n in range(1000):
            store.state_set("s", str(n), b"x" * 4000)
    # The writes before the failure shared its transaction: their flush fails too, and nothing is half-written.
    with pytest.raises(StoreError, match="cannot commit"):
        await store.flush()
    assert store.state_get("s", "0") is None
    store.db.execute("PRAGMA max_page_count = 100000")
    store.state_set("s", "after", b"1")  # the store keeps working once there is room again
    await store.flush()
    assert store.state_get("s", "after") == b"1"


def test_unopenable_path_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the data store"):
        SqliteStore(blocker / "motia.db")


async def test_a_damaged_store_is_refused_at_start_naming_the_file_and_the_recovery(tmp_path):
    path = tmp_path / "motia.db"
    store = SqliteStore(path)
    for n in range(2000):
        store.state_set("s", f"{n:05}", b"x" * 200)
    await store.flush()
    store.close()
    with sqlite3.connect(path) as db:  # move the WAL into the main file, as a clean shutdown would leave it
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert path.stat().st_size > 100 * 4096
    with path.open("r+b") as file:  # overwrite pages in the middle of the table's b-tree with garbage
        file.seek(40 * 4096)
        file.write(bytes(range(256)) * 64)
    with pytest.raises(StoreError) as error:
        SqliteStore(path)
    message = str(error.value)
    assert f"the data store {path} is damaged" in message
    assert ".recover" in message and "--memory" in message


def test_a_file_that_is_not_a_database_is_refused_as_damaged(tmp_path):
    path = tmp_path / "motia.db"
    path.write_bytes(b"this is not SQLite" * 1000)
    with pytest.raises(StoreError, match=f"the data store {path} is damaged"):
        SqliteStore(path)


def test_an_empty_file_where_a_store_was_expected_starts_empty_with_a_warning(tmp_path, caplog):
    path = tmp_path / "motia.db"
    path.write_bytes(b"")
    store = SqliteStore(path)
    assert store.state_items("s") == []
    store.close()
    assert any(r.levelname == "WARNING" and f"the data store {path} was an empty file" in r.getMessage()
               for r in caplog.records)
    caplog.clear()
    SqliteStore(path).close()  # a store that was opened (and so has its tables) is not empty any more
    assert not caplog.records


async def test_groups_list_in_key_order_in_every_store(store):
    for key in ("b", "c", "a"):
        store.state_set("g", key, key.encode())
        store.stream_set("s", "g", key, key.encode())
    await store.flush()
    assert [k for k, _ in store.state_items("g")] == ["a", "b", "c"]
    assert [k for k, _ in store.stream_items("s", "g")] == ["a", "b", "c"]


async def test_subscriptions_are_remembered_by_topic_and_function(store):
    store.subscription_save("orders", "f", b'{"type":"standard"}')
    store.subscription_save("orders", "f", b'{"type":"fifo"}')  # the same subscription, new settings
    store.subscription_save("audit", "g", b"{}")
    store.subscription_save("orders", "e", b"{}")
    await store.flush()
    assert store.subscriptions() == [("audit", "g", b"{}"), ("orders", "e", b"{}"), ("orders", "f", b'{"type":"fifo"}')]
    store.subscription_delete("orders", "f")
    store.subscription_delete("orders", "nobody")
    assert store.subscriptions() == [("audit", "g", b"{}"), ("orders", "e", b"{}")]


async def test_burying_a_subscription_dead_letters_only_its_pending_messages(store):
    mine = message(store)
    other_function = message(store, function_id="g")
    other_topic = QueuedMessage(store.next_message_id(), "f", "elsewhere", b"1")
    for queued in (mine, other_function, other_topic):
        store.queue_add(queued)
    assert store.queue_bury("f", "topic", "subscriber_gone: away", 5.0) == 1
    await store.flush()
    [dead] = store.queue_dead_letters()
    assert (dead.id, dead.error, dead.failed_at) == (mine.id, "subscriber_gone: away", 5.0)
    assert [m.id for m in store.queue_pending("f")] == [other_topic.id]
    assert [m.id for m in store.queue_pending("g")] == [other_function.id]


async def test_sqlite_remembers_subscriptions_across_reopen(tmp_path):
    first = SqliteStore(tmp_path / "motia.db")
    first.subscription_save("orders", "f", b"{}")
    await first.flush()
    first.close()
    again = SqliteStore(tmp_path / "motia.db")
    assert again.subscriptions() == [("orders", "f", b"{}")]
    again.close()


def test_a_second_store_on_the_same_file_is_refused_naming_the_holder(tmp_path):
    holder = SqliteStore(tmp_path / "motia.db")
    with pytest.raises(StoreError, match=rf"in use by process {os.getpid()} \(.*pytest.*\).*motia run --engine"):
        SqliteStore(tmp_path / "motia.db")
    holder.close()  # closing releases it
    SqliteStore(tmp_path / "motia.db").close()


@pytest.mark.slow
def test_a_second_engine_on_one_data_directory_refuses_to_start_naming_the_first(tmp_path, processes):
    first = start(processes, tmp_path)
    first.wait_for(r"worker port on")
    second = start(processes, tmp_path)
    assert second.proc.wait(30) == 1
    output = "".join(second.lines)
    assert f"in use by process {first.proc.pid} (" in output and "motia.cli engine" in output
    assert "motia run --engine" in output and "Traceback" not in output


@pytest.mark.slow
def test_a_data_directory_whose_holder_was_killed_opens_at_once(tmp_path, processes):
    first = start(processes, tmp_path)
    first.wait_for(r"worker port on")
    first.stop(signal.SIGKILL)
    start(processes, tmp_path).wait_for(r"worker port on")  # the OS dropped the dead holder's lock


def start(processes: list[Process], tmp_path) -> Process:
    engine = Process(tmp_path, "engine", "--engine-port", "0", "--port", "0", "--stream-port", "0",
                     "--data-dir", str(tmp_path / "data"))
    processes.append(engine)
    return engine
