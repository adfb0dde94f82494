"""The stream WebSocket endpoint, frame by frame (docs/protocol.md §4.4): join and its sync, pushed changes,
custom events, leave, errors, authentication and join/leave hooks."""

from __future__ import annotations

import json

import msgspec
import pytest
from websockets.exceptions import ConnectionClosed

from motia import Stream, stream_auth
from motia.engine.streams import StreamLimits
from tests.conftest import eventually_async
from tests.streams.conftest import frame, join, leave, raw_socket, serving

pytestmark = pytest.mark.anyio


class Todo(msgspec.Struct):
    id: str
    title: str
    done: bool = False


def stream_frame(frame_: dict, kind: str) -> dict:
    assert frame_["type"] == "stream", frame_
    assert frame_["event"]["type"] == kind, frame_
    assert isinstance(frame_["timestamp"], int)
    return frame_


# --- join and sync ------------------------------------------------------------------------------------


async def test_group_join_is_answered_with_a_sync_of_the_group_items():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app:
        await todos.set("inbox", "1", Todo("1", "milk"))
        await todos.set("inbox", "2", {"id": "2", "title": "bread", "done": True})
        await todos.set("work", "3", Todo("3", "report"))
        async with raw_socket(app) as ws:
            await join(ws, "s1", "todos", "inbox")
            sync = stream_frame(await frame(ws), "sync")
    assert (sync["streamName"], sync["groupId"], sync["id"]) == ("todos", "inbox", None)
    assert sorted(sync["event"]["data"], key=lambda t: t["id"]) == [
        {"id": "1", "title": "milk", "done": False},
        {"id": "2", "title": "bread", "done": True},
    ]


async def test_item_join_is_answered_with_the_item_or_null():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app:
        await todos.set("inbox", "1", Todo("1", "milk"))
        async with raw_socket(app) as ws:
            await join(ws, "s1", "todos", "inbox", "1")
            present = stream_frame(await frame(ws), "sync")
            await join(ws, "s2", "todos", "inbox", "nope")
            absent = stream_frame(await frame(ws), "sync")
    assert (present["id"], present["event"]["data"]) == ("1", {"id": "1", "title": "milk", "done": False})
    assert (absent["id"], absent["event"]["data"]) == ("nope", None)


async def test_join_of_an_empty_group_syncs_an_empty_list():
    async with serving() as app, raw_socket(app) as ws:
        await join(ws, "s1", "nothing", "here")
        assert stream_frame(await frame(ws), "sync")["event"]["data"] == []


# --- pushed changes -----------------------------------------------------------------------------------


async def test_create_update_delete_reach_the_group_and_item_subscribers():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app, raw_socket(app) as group_ws, raw_socket(app) as item_ws:
        await join(group_ws, "g", "todos", "inbox")
        await join(item_ws, "i", "todos", "inbox", "1")
        stream_frame(await frame(group_ws), "sync")
        stream_frame(await frame(item_ws), "sync")

        await todos.set("inbox", "1", Todo("1", "milk"))
        await todos.set("inbox", "1", Todo("1", "milk", done=True))
        await todos.delete("inbox", "1")

        for ws in (group_ws, item_ws):
            created = stream_frame(await frame(ws), "create")
            updated = stream_frame(await frame(ws), "update")
            deleted = stream_frame(await frame(ws), "delete")
            assert (created["streamName"], created["groupId"], created["id"]) == ("todos", "inbox", "1")
            assert created["event"]["data"] == {"id": "1", "title": "milk", "done": False}
            assert updated["event"]["data"] == {"id": "1", "title": "milk", "done": True}
            assert deleted["event"]["data"] == {"id": "1", "title": "milk", "done": True}  # the removed item


async def test_update_ops_are_pushed_as_create_then_update():
    counters = Stream("counters")
    async with serving(counters) as app, raw_socket(app) as ws:
        await join(ws, "s", "counters", "g")
        stream_frame(await frame(ws), "sync")
        await counters.update("g", "c", [{"type": "set", "path": "id", "value": "c"}])
        await counters.update("g", "c", [{"type": "increment", "path": "n", "by": 2}])
        assert stream_frame(await frame(ws), "create")["event"]["data"] == {"id": "c"}
        assert stream_frame(await frame(ws), "update")["event"]["data"] == {"id": "c", "n": 2}


async def test_changes_do_not_reach_other_groups_other_items_or_other_streams():
    todos = Stream[Todo]("todos")
    notes = Stream("notes")
    async with serving(todos, notes) as app, raw_socket(app) as ws:
        await join(ws, "group", "todos", "inbox")
        await join(ws, "item", "todos", "work", "1")
        stream_frame(await frame(ws), "sync")
        stream_frame(await frame(ws), "sync")

        await todos.set("elsewhere", "1", Todo("1", "other group"))
        await todos.set("work", "2", Todo("2", "other item"))
        await notes.set("inbox", "1", {"id": "1"})
        await todos.delete("elsewhere", "1")
        await todos.set("work", "1", Todo("1", "the watched item"))

        # Frames of one socket arrive in order: the first one must be the watched change.
        received = stream_frame(await frame(ws), "create")
        assert (received["groupId"], received["id"]) == ("work", "1")


async def test_deleting_a_missing_item_pushes_nothing():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app, raw_socket(app) as ws:
        await join(ws, "s", "todos", "inbox")
        stream_frame(await frame(ws), "sync")
        assert await todos.delete("inbox", "missing") is None
        await todos.set("inbox", "1", Todo("1", "after"))
        assert stream_frame(await frame(ws), "create")["id"] == "1"


async def test_a_socket_with_a_group_and_an_item_subscription_gets_one_frame_per_subscription():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app, raw_socket(app) as ws:
        await join(ws, "group", "todos", "inbox")
        await join(ws, "item", "todos", "inbox", "1")
        stream_frame(await frame(ws), "sync")
        stream_frame(await frame(ws), "sync")
        await todos.set("inbox", "1", Todo("1", "milk"))
        await todos.set("inbox", "2", Todo("2", "bread"))
        ids = [stream_frame(await frame(ws), "create")["id"] for _ in range(3)]
    assert ids == ["1", "1", "2"]


# --- custom events ------------------------------------------------------------------------------------


async def test_send_pushes_a_custom_event_to_the_group_and_to_the_addressed_item():
    chat = Stream("chat")
    async with serving(chat) as app, raw_socket(app) as group_ws, raw_socket(app) as item_ws:
        await join(group_ws, "g", "chat", "room")
        await join(item_ws, "i", "chat", "room", "msg-1")
        stream_frame(await frame(group_ws), "sync")
        stream_frame(await frame(item_ws), "sync")

        await chat.send({"groupId": "room"}, {"type": "typing", "data": {"user": "ada"}})
        await chat.send({"groupId": "room", "id": "msg-1"}, {"type": "reaction", "data": "+1"})

        to_group = [stream_frame(await frame(group_ws), "event") for _ in range(2)]
        to_item = stream_frame(await frame(item_ws), "event")
    assert [(f["id"], f["event"]["event"]) for f in to_group] == [
        (None, {"type": "typing", "data": {"user": "ada"}}),
        ("msg-1", {"type": "reaction", "data": "+1"}),
    ]
    assert to_item["event"]["event"] == {"type": "reaction", "data": "+1"}


async def test_send_accepts_a_group_name_as_the_channel_and_stores_nothing():
    chat = Stream("chat")
    async with serving(chat) as app, raw_socket(app) as ws:
        await join(ws, "g", "chat", "room")
        stream_frame(await frame(ws), "sync")
        await chat.send("room", {"type": "ping"})
        assert stream_frame(await frame(ws), "event")["event"]["event"] == {"type": "ping", "data": None}
        assert await chat.get_group("room") == []


# --- leave --------------------------------------------------------------------------------------------


async def test_leave_stops_delivery_to_that_subscription_only():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app, raw_socket(app) as ws:
        await join(ws, "a", "todos", "inbox")
        await join(ws, "b", "todos", "work")
        stream_frame(await frame(ws), "sync")
        stream_frame(await frame(ws), "sync")
        await leave(ws, "a", "todos", "inbox")
        # A frame the server answers proves the leave was handled before the changes below.
        await join(ws, "c", "todos", "other")
        stream_frame(await frame(ws), "sync")

        await todos.set("inbox", "1", Todo("1", "not delivered"))
        await todos.set("work", "2", Todo("2", "delivered"))
        assert stream_frame(await frame(ws), "create")["groupId"] == "work"


async def test_joining_again_with_the_same_subscription_id_replaces_it():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app, raw_socket(app) as ws:
        await join(ws, "s", "todos", "inbox")
        stream_frame(await frame(ws), "sync")
        await join(ws, "s", "todos", "work")
        stream_frame(await frame(ws), "sync")
        await todos.set("inbox", "1", Todo("1", "old subscription"))
        await todos.set("work", "2", Todo("2", "new subscription"))
        assert stream_frame(await frame(ws), "create")["groupId"] == "work"


# --- malformed frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", [
    "not json at all",
    json.dumps({"type": "dance", "data": {"subscriptionId": "s", "streamName": "todos", "groupId": "g"}}),
    json.dumps({"type": "join", "data": {"subscriptionId": "s", "streamName": "todos"}}),
    json.dumps({"type": "join"}),
    json.dumps(["join"]),
    json.dumps("join"),
    b"\x00\x01binary",
], ids=["not-json", "unknown-type", "missing-group", "missing-data", "array", "string", "binary"])
async def test_a_malformed_frame_is_answered_with_an_error_and_the_connection_keeps_working(garbage):
    todos = Stream[Todo]("todos")
    async with serving(todos) as app, raw_socket(app) as ws:
        await ws.send(garbage)
        error = await frame(ws)
        assert error["type"] == "error"
        assert error["error"]["code"] == "INVALID_MESSAGE"
        assert error["error"]["message"]

        await join(ws, "s", "todos", "inbox")
        stream_frame(await frame(ws), "sync")
        await todos.set("inbox", "1", Todo("1", "still working"))
        assert stream_frame(await frame(ws), "create")["id"] == "1"


# --- hooks --------------------------------------------------------------------------------------------


async def test_on_join_gets_the_subscription_and_on_leave_runs_on_leave_and_on_socket_close():
    calls = []

    def on_join(subscription, ctx, auth_context):
        calls.append(("join", subscription.subscription_id, subscription.group_id, subscription.id))
        return True

    async def on_leave(subscription, ctx, auth_context):
        calls.append(("leave", subscription.subscription_id, subscription["groupId"], subscription["item_id"]))

    todos = Stream[Todo]("todos", on_join=on_join, on_leave=on_leave)
    async with serving(todos) as app:
        async with raw_socket(app) as ws:
            await join(ws, "a", "todos", "inbox")
            await join(ws, "b", "todos", "inbox", "1")
            stream_frame(await frame(ws), "sync")
            stream_frame(await frame(ws), "sync")
            await leave(ws, "a", "todos", "inbox")
            await eventually_async(lambda: ("leave", "a", "inbox", None) in calls)
        # Closing the socket leaves every subscription still open.
        await eventually_async(lambda: ("leave", "b", "inbox", "1") in calls)
    assert calls == [
        ("join", "a", "inbox", None),
        ("join", "b", "inbox", "1"),
        ("leave", "a", "inbox", None),
        ("leave", "b", "inbox", "1"),
    ]


async def test_hooks_of_one_stream_are_not_run_for_another():
    calls = []
    todos = Stream[Todo]("todos", on_join=lambda subscription: calls.append(subscription.stream_name))
    async with serving(todos) as app, raw_socket(app) as ws:
        await join(ws, "a", "notes", "inbox")
        stream_frame(await frame(ws), "sync")
        await join(ws, "b", "todos", "inbox")
        stream_frame(await frame(ws), "sync")
    assert calls == ["todos"]


@pytest.mark.parametrize("refusal", [False, {"unauthorized": True}], ids=["False", "unauthorized-dict"])
async def test_an_on_join_refusal_answers_unauthorized_and_sends_nothing_after(refusal):
    def on_join(subscription, ctx, auth_context):
        return refusal if subscription.group_id == "secret" else None

    todos = Stream[Todo]("todos", on_join=on_join)
    async with serving(todos) as app, raw_socket(app) as ws:
        await join(ws, "s", "todos", "secret")
        refused = await frame(ws)
        assert refused["type"] == "stream"
        assert refused["event"] == {"type": "unauthorized"}
        assert (refused["streamName"], refused["groupId"]) == ("todos", "secret")

        await join(ws, "t", "todos", "public")
        stream_frame(await frame(ws), "sync")
        await todos.set("secret", "1", Todo("1", "hidden"))
        await todos.set("public", "2", Todo("2", "visible"))
        assert stream_frame(await frame(ws), "create")["groupId"] == "public"


async def test_an_on_join_hook_that_raises_refuses_the_subscription():
    def on_join(subscription):
        raise RuntimeError("hook bug")

    todos = Stream[Todo]("todos", on_join=on_join)
    async with serving(todos) as app, raw_socket(app) as ws:
        await join(ws, "s", "todos", "inbox")
        assert (await frame(ws))["event"] == {"type": "unauthorized"}


# --- authentication -----------------------------------------------------------------------------------


async def test_stream_auth_refusing_closes_the_connection_before_any_data():
    seen = []

    @stream_auth
    def authenticate(request, ctx):
        seen.append(request)
        return request.headers.get("authorization") == "Bearer good"

    todos = Stream[Todo]("todos")
    async with serving(todos, authenticate) as app:
        await todos.set("inbox", "1", Todo("1", "private"))
        async with raw_socket(app, additional_headers={"Authorization": "Bearer bad"}) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await join(ws, "s", "todos", "inbox")
                await frame(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        async with raw_socket(app, additional_headers={"Authorization": "Bearer good"}) as ws:
            await join(ws, "s", "todos", "inbox")
            assert stream_frame(await frame(ws), "sync")["event"]["data"] == [
                {"id": "1", "title": "private", "done": False}
            ]
    assert [r.headers["authorization"] for r in seen] == ["Bearer bad", "Bearer good"]


async def test_stream_auth_sees_path_query_and_address_and_its_context_reaches_the_hooks():
    joined, left = [], []

    @stream_auth
    async def authenticate(request, ctx):
        assert request.path == "/"
        assert request.addr.startswith("127.0.0.1:")
        user = request.query_params.get("authToken", [None])[0]
        return {"authorized": user is not None, "context": {"user": user}}

    def on_join(subscription, ctx, auth_context):
        joined.append(auth_context)
        return subscription.group_id == auth_context["user"]

    def on_leave(subscription, ctx, auth_context):
        left.append((subscription.group_id, auth_context, subscription.auth_context))

    todos = Stream[Todo]("todos", on_join=on_join, on_leave=on_leave)
    async with serving(todos, authenticate) as app:
        async with raw_socket(app) as ws:  # no token: refused
            with pytest.raises(ConnectionClosed):
                await frame(ws)
        app_url = f"ws://127.0.0.1:{app.stream_port}/?authToken=ada"
        from websockets.asyncio.client import connect

        async with connect(app_url) as ws:
            await join(ws, "own", "todos", "ada")
            stream_frame(await frame(ws), "sync")
            await join(ws, "other", "todos", "bob")
            assert (await frame(ws))["event"] == {"type": "unauthorized"}
        await eventually_async(lambda: len(left) == 1)
    assert joined == [{"user": "ada"}, {"user": "ada"}]
    assert left == [("ada", {"user": "ada"}, {"user": "ada"})]


async def test_a_failing_stream_auth_refuses_the_connection():
    @stream_auth
    def authenticate(request):
        raise RuntimeError("auth backend down")

    async with serving(authenticate) as app, raw_socket(app) as ws:
        with pytest.raises(ConnectionClosed):
            await frame(ws)


# --- limits ---------------------------------------------------------------------------------------------


async def test_a_join_over_the_subscription_cap_closes_the_socket_with_1008():
    todos = Stream[Todo]("todos")
    async with serving(todos, stream_limits=StreamLimits(max_subscriptions=3)) as app, raw_socket(app) as ws:
        for n in range(3):
            await join(ws, f"s{n}", "todos", "inbox")
            stream_frame(await frame(ws), "sync")
        await join(ws, "s0", "todos", "work")  # joining again with an id it holds replaces, it does not add
        stream_frame(await frame(ws), "sync")
        await join(ws, "s3", "todos", "inbox")
        with pytest.raises(ConnectionClosed) as closed:
            await frame(ws)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "too many subscriptions (the limit is 3)")


async def test_a_connection_over_the_cap_is_closed_with_1013_and_one_is_taken_again_once_a_socket_goes():
    todos = Stream[Todo]("todos")

    async def served(ws) -> bool:
        await join(ws, "s", "todos", "inbox")
        try:
            stream_frame(await frame(ws), "sync")
        except ConnectionClosed:
            return False
        return True

    async with serving(todos, stream_limits=StreamLimits(max_connections=2)) as app:
        async with raw_socket(app) as first, raw_socket(app) as second:
            assert await served(first) and await served(second)
            async with raw_socket(app) as third:
                with pytest.raises(ConnectionClosed) as closed:
                    await frame(third)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            assert await served(first)  # the sockets inside the cap keep working
        # Once the two sockets are gone (their handlers finish a moment after the close handshake), a new one
        # is served.
        async def fourth_served() -> bool:
            async with raw_socket(app) as fourth:
                return await served(fourth)

        await eventually_async(fourth_served)
