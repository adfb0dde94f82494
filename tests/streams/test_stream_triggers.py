"""`@on_stream` steps: fired by every change of their stream (optionally one group or item), with a typed
StreamTriggerInput that also allows dict access."""

from __future__ import annotations

import threading

import msgspec
import pytest

from motia import FlowContext, Stream, StreamEvent, StreamTriggerInput, on_stream
from tests.conftest import eventually_async
from tests.streams.conftest import serving

pytestmark = pytest.mark.anyio


class Todo(msgspec.Struct):
    id: str
    title: str
    done: bool = False


async def test_create_update_delete_reach_the_trigger_as_typed_input():
    todos = Stream[Todo]("todos")
    seen: list[StreamTriggerInput] = []

    @on_stream("todos")
    async def on_change(change: StreamTriggerInput, ctx: FlowContext) -> None:
        assert ctx.trigger.type == "stream"
        seen.append(change)

    async with serving(on_change, todos):
        await todos.set("inbox", "1", Todo("1", "milk"))
        await todos.update("inbox", "1", [{"type": "set", "path": "done", "value": True}])
        await todos.delete("inbox", "1")
        await eventually_async(lambda: len(seen) == 3)

    assert [c.event.type for c in seen] == ["create", "update", "delete"]
    created, updated, deleted = seen
    assert isinstance(created, StreamTriggerInput) and isinstance(created.event, StreamEvent)
    assert (created.type, created.stream_name, created.group_id, created.id) == ("stream", "todos", "inbox", "1")
    assert created.event.data == Todo("1", "milk")  # decoded into the declared stream's type
    assert updated.event.data == Todo("1", "milk", done=True)
    assert deleted.event.data == Todo("1", "milk", done=True)  # the removed item
    assert created.timestamp > 0


async def test_the_input_allows_dict_access_with_the_wire_names():
    seen = []

    @on_stream("notes")
    def on_change(change):  # a sync handler, untyped stream
        seen.append(change)

    notes = Stream("notes")
    async with serving(on_change):
        await notes.set("g", "1", {"text": "hi"})
        await eventually_async(lambda: len(seen) == 1)
    change = seen[0]
    assert (change["streamName"], change["groupId"], change["id"], change["itemId"]) == ("notes", "g", "1", "1")
    assert change["stream_name"] == "notes" and change.get("group_id") == "g"
    assert change["event"]["type"] == "create"
    assert change["event"]["data"] == {"text": "hi"}
    assert change.get("missing", "default") == "default"
    assert "streamName" in change and "nope" not in change
    with pytest.raises(KeyError):
        change["nope"]


async def test_custom_events_reach_the_trigger_with_their_name_and_data():
    seen = []

    @on_stream("chat")
    async def on_event(change: StreamTriggerInput) -> None:
        seen.append(change)

    chat = Stream("chat")
    async with serving(on_event, chat):
        await chat.send({"groupId": "room", "id": "m1"}, {"type": "typing", "data": {"user": "ada"}})
        await chat.send("room", {"type": "ping"})
        await eventually_async(lambda: len(seen) == 2)
    typing, ping = seen
    assert (typing.event.type, typing.event.name, typing.event.data) == ("event", "typing", {"user": "ada"})
    assert (typing.group_id, typing.id) == ("room", "m1")
    assert (ping.event.type, ping.event.name, ping.event.data, ping.id) == ("event", "ping", None, None)


async def test_a_group_filter_ignores_other_groups_and_other_streams():
    seen = []

    @on_stream("todos", group_id="inbox")
    async def inbox_only(change: StreamTriggerInput) -> None:
        seen.append((change.stream_name, change.group_id, change.id))

    todos, notes = Stream[Todo]("todos"), Stream("notes")
    async with serving(inbox_only, todos, notes):
        await todos.set("work", "1", Todo("1", "report"))
        await notes.set("inbox", "2", {"id": "2"})
        await todos.set("inbox", "3", Todo("3", "milk"))
        await eventually_async(lambda: len(seen) == 1)
        # Deliveries are in order: once the last change arrived, the earlier ones were skipped.
    assert seen == [("todos", "inbox", "3")]


async def test_an_item_filter_fires_for_that_item_only():
    seen = []

    @on_stream("todos", group_id="inbox", item_id="1")
    async def one_item(change: StreamTriggerInput) -> None:
        seen.append((change.id, change.event.type))

    @on_stream("todos")
    async def every_change(change: StreamTriggerInput) -> None:
        seen.append(("all", change.id))

    todos = Stream[Todo]("todos")
    async with serving(one_item, every_change, todos):
        await todos.set("inbox", "2", Todo("2", "other"))
        await todos.set("work", "1", Todo("1", "other group"))
        await todos.set("inbox", "1", Todo("1", "watched"))
        await eventually_async(lambda: ("1", "create") in seen and ("all", "1") in seen and len(seen) == 4)
    assert [s for s in seen if s[0] != "all"] == [("1", "create")]


async def test_a_condition_decides_whether_the_handler_runs():
    seen = []

    def only_done(change, ctx):
        return change.event.type != "delete" and change.event.data.done

    @on_stream("todos", condition=only_done)
    async def finished(change: StreamTriggerInput) -> None:
        seen.append(change.id)

    todos = Stream[Todo]("todos")
    async with serving(finished, todos):
        await todos.set("inbox", "1", Todo("1", "open"))
        await todos.set("inbox", "2", Todo("2", "done", done=True))
        await eventually_async(lambda: seen == ["2"])


async def test_a_failing_trigger_handler_does_not_stop_later_deliveries():
    seen = []

    @on_stream("todos")
    def fragile(change: StreamTriggerInput) -> None:
        assert threading.current_thread() is not threading.main_thread()
        if change.id == "bad":
            raise RuntimeError("boom")
        seen.append(change.id)

    todos = Stream[Todo]("todos")
    async with serving(fragile, todos):
        await todos.set("inbox", "bad", Todo("bad", "x"))
        await todos.set("inbox", "good", Todo("good", "y"))
        await eventually_async(lambda: seen == ["good"])


async def test_an_item_that_does_not_match_the_stream_type_reaches_the_trigger_as_json():
    seen = []

    @on_stream("todos")
    async def on_change(change: StreamTriggerInput) -> None:
        seen.append(change.event.data)

    todos = Stream[Todo]("todos")
    async with serving(on_change, todos):
        await Stream("todos").set("inbox", "1", {"id": "1"})  # no title
        await eventually_async(lambda: seen == [{"id": "1"}])
