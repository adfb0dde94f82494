"""`motia.StreamClient`: subscriptions that keep a group's or an item's state from real WebSocket frames."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from motia import ApiRequest, FlowContext, Stream, StreamClient, post, stream_auth
from motia.stream_client import StreamClosed, StreamError, StreamMessage, StreamUnauthorized
from tests.conftest import eventually_async, http
from tests.streams.conftest import serving, ws_url

pytestmark = pytest.mark.anyio


class Todo(msgspec.Struct):
    id: str
    title: str
    done: bool = False


# --- state --------------------------------------------------------------------------------------------


async def test_a_group_subscription_starts_from_the_sync_and_follows_create_update_delete():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app:
        await todos.set("inbox", "1", Todo("1", "milk"))
        async with StreamClient(ws_url(app)) as client:
            inbox = await client.subscribe_group("todos", "inbox")
            assert inbox.state == [{"id": "1", "title": "milk", "done": False}]

            await todos.set("inbox", "2", Todo("2", "bread"))
            await todos.update("inbox", "1", [{"type": "set", "path": "done", "value": True}])
            await todos.delete("inbox", "2")
            await todos.set("work", "3", Todo("3", "report"))  # another group
            await todos.set("inbox", "4", Todo("4", "eggs"))
            state = await inbox.wait_for(lambda items: len(items) == 2 and items[-1]["id"] == "4")

    assert state == [{"id": "1", "title": "milk", "done": True}, {"id": "4", "title": "eggs", "done": False}]
    assert inbox.items == {"1": state[0], "4": state[1]}


async def test_an_item_subscription_follows_its_item_only():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app, StreamClient(ws_url(app)) as client:
        item = await client.subscribe_item("todos", "inbox", "1")
        assert item.state is None
        await todos.set("inbox", "2", Todo("2", "another item"))
        await todos.set("inbox", "1", Todo("1", "milk"))
        assert await item.wait_for(lambda todo: todo is not None) == {"id": "1", "title": "milk", "done": False}
        await todos.delete("inbox", "1")
        assert await item.wait_for(lambda todo: todo is None) is None
        kinds = [(await item.next_message()).type for _ in range(3)]
    assert kinds == ["sync", "create", "delete"]


async def test_type_converts_the_items_of_a_subscription():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app, StreamClient(ws_url(app)) as client:
        await todos.set("inbox", "1", Todo("1", "milk"))
        inbox = await client.subscribe_group("todos", "inbox", type=Todo)
        item = await client.subscribe_item("todos", "inbox", "1", type=Todo)
        assert inbox.state == [Todo("1", "milk")]
        assert item.state == Todo("1", "milk")
        await todos.update("inbox", "1", [{"type": "set", "path": "done", "value": True}])
        assert await item.wait_for(lambda todo: todo.done) == Todo("1", "milk", done=True)
        assert await inbox.wait_for(lambda items: items[0].done) == [Todo("1", "milk", done=True)]


async def test_wait_for_times_out_with_the_current_state():
    async with serving() as app, StreamClient(ws_url(app)) as client:
        inbox = await client.subscribe_group("todos", "inbox")
        with pytest.raises(TimeoutError, match=r"todos/inbox.*state is \[\]"):
            await inbox.wait_for(lambda items: items, timeout=0.05)


# --- messages -----------------------------------------------------------------------------------------


async def test_iterating_yields_every_message_in_order_and_ends_when_closed():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app, StreamClient(ws_url(app)) as client:
        inbox = await client.subscribe_group("todos", "inbox")
        await todos.set("inbox", "1", Todo("1", "milk"))
        await todos.set("inbox", "1", Todo("1", "milk", done=True))
        await todos.send("inbox", {"type": "typing", "data": {"user": "ada"}})
        await todos.delete("inbox", "1")
        received: list[StreamMessage] = []
        async for message in inbox:
            received.append(message)
            if message.type == "delete":
                await inbox.close()
    assert [(m.type, m.name, m.id) for m in received] == [
        ("sync", None, None), ("create", None, "1"), ("update", None, "1"), ("event", "typing", None),
        ("delete", None, "1"),
    ]
    assert received[3].data == {"user": "ada"}
    assert received[4].data == {"id": "1", "title": "milk", "done": True}
    assert all((m.stream_name, m.group_id) == ("todos", "inbox") and m.timestamp > 0 for m in received)


async def test_on_event_calls_the_handler_for_custom_events_of_that_name():
    chat = Stream("chat")
    typing, reactions = [], []

    async def on_reaction(data):
        reactions.append(data)

    async with serving(chat) as app, StreamClient(ws_url(app)) as client:
        room = await client.subscribe_group("chat", "room")
        room.on_event("typing", typing.append)
        room.on_event("reaction", on_reaction)
        await chat.send("room", {"type": "typing", "data": {"user": "ada"}})
        await chat.send({"groupId": "room", "id": "m1"}, {"type": "reaction", "data": "+1"})
        await chat.send("room", {"type": "other", "data": 1})
        await eventually_async(lambda: len(typing) == 1 and len(reactions) == 1)
        room.off_event("typing", typing.append)
        await chat.send("room", {"type": "typing", "data": {"user": "bob"}})
        await chat.send("room", {"type": "reaction", "data": "-1"})
        await eventually_async(lambda: len(reactions) == 2)
    assert typing == [{"user": "ada"}]
    assert reactions == ["+1", "-1"]
    assert room.state == []  # custom events are not items


async def test_group_and_item_subscriptions_on_one_client_each_see_each_change_once():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app, StreamClient(ws_url(app)) as client:
        inbox = await client.subscribe_group("todos", "inbox")
        first = await client.subscribe_item("todos", "inbox", "1")
        twin = await client.subscribe_group("todos", "inbox")
        await todos.set("inbox", "1", Todo("1", "milk"))
        await todos.set("inbox", "2", Todo("2", "bread"))
        await todos.set("inbox", "1", Todo("1", "milk", done=True))
        await todos.set("inbox", "3", Todo("3", "eggs"))  # a marker: nothing may arrive between

        async def kinds(subscription, until):
            received = [await subscription.next_message()]
            while received[-1].id != until:
                received.append(await subscription.next_message())
            return [(m.type, m.id) for m in received]

        expected = [("sync", None), ("create", "1"), ("create", "2"), ("update", "1"), ("create", "3")]
        assert await kinds(inbox, "3") == expected
        assert await kinds(twin, "3") == expected
        await todos.set("inbox", "1", Todo("1", "milk", done=False))
        assert await kinds(first, "1") == [("sync", "1")]
        assert await kinds(first, "1") == [("create", "1")]
        assert await kinds(first, "1") == [("update", "1")]
        assert await kinds(first, "1") == [("update", "1")]
        assert first.state == {"id": "1", "title": "milk", "done": False}


async def test_messages_are_routed_by_stream_and_group():
    todos, notes = Stream[Todo]("todos"), Stream("notes")
    async with serving(todos, notes) as app, StreamClient(ws_url(app)) as client:
        inbox = await client.subscribe_group("todos", "inbox")
        note_inbox = await client.subscribe_group("notes", "inbox")
        work = await client.subscribe_group("todos", "work")
        await notes.set("inbox", "n", {"id": "n"})
        await todos.set("work", "w", Todo("w", "report"))
        await todos.set("inbox", "i", Todo("i", "milk"))
        await inbox.wait_for(lambda items: len(items) == 1)
        assert [i["id"] for i in note_inbox.state] == ["n"]
        assert [i["id"] for i in work.state] == ["w"]
        assert [i["id"] for i in inbox.state] == ["i"]


# --- leave and close ----------------------------------------------------------------------------------


async def test_close_leaves_the_subscription_on_the_server_and_ends_iteration_after_what_was_received():
    left = asyncio.Event()
    todos = Stream[Todo]("todos", on_leave=lambda subscription: left.set())
    async with serving(todos) as app, StreamClient(ws_url(app)) as client:
        inbox = await client.subscribe_group("todos", "inbox")
        await inbox.close()
        await asyncio.wait_for(left.wait(), 5)
        assert inbox.closed
        assert [m.type async for m in inbox] == ["sync"]
        with pytest.raises(StreamError, match="closed"):
            await inbox.next_message()


async def test_closing_the_client_stops_its_reader_and_ends_its_subscriptions():
    left = []
    todos = Stream[Todo]("todos", on_leave=lambda subscription: left.append(subscription.group_id))
    async with serving(todos) as app:
        client = StreamClient(ws_url(app))
        await client.connect()
        inbox = await client.subscribe_group("todos", "inbox")
        assert not client.closed
        await client.close()
        assert client.closed
        assert [m.type async for m in inbox] == ["sync"]  # the sync, then the end, no error
        await eventually_async(lambda: left == ["inbox"])
        with pytest.raises(StreamClosed):
            await client.subscribe_group("todos", "inbox")


async def test_without_reconnect_a_server_shutdown_ends_subscriptions_with_stream_closed():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app:
        client = await StreamClient(ws_url(app), reconnect=False).connect()
        inbox = await client.subscribe_group("todos", "inbox")
    await client.wait_closed()
    with pytest.raises(StreamClosed) as closed:
        async for _ in inbox:
            pass
    assert closed.value.code == 1001
    await client.close()


async def test_a_client_reconnecting_to_a_server_that_stays_down_ends_cleanly_when_closed():
    todos = Stream[Todo]("todos")
    async with serving(todos) as app:
        client = await StreamClient(ws_url(app), reconnect_delay=0.05, max_reconnect_delay=0.1).connect()
        inbox = await client.subscribe_group("todos", "inbox")
    await asyncio.sleep(0.3)  # several attempts, each refused
    assert not client.closed and not inbox.closed and client.reconnects == 0
    await asyncio.wait_for(client.close(), 5)
    assert client.closed and inbox.closed
    assert [m.type async for m in inbox] == ["sync"]  # the end, not an error


async def test_subscribing_before_connecting_is_an_error():
    with pytest.raises(StreamError, match="not connected"):
        await StreamClient("ws://127.0.0.1:1").subscribe_group("todos", "inbox")


# --- refusals -----------------------------------------------------------------------------------------


async def test_a_refused_join_raises_stream_unauthorized_and_the_client_keeps_working():
    todos = Stream[Todo]("todos", on_join=lambda subscription: subscription.group_id != "secret")
    async with serving(todos) as app, StreamClient(ws_url(app)) as client:
        with pytest.raises(StreamUnauthorized, match="todos/secret") as refused:
            await client.subscribe_group("todos", "secret")
        assert refused.value.subscription.refused and refused.value.subscription.closed
        await todos.set("secret", "1", Todo("1", "hidden"))
        public = await client.subscribe_group("todos", "public")
        await todos.set("public", "2", Todo("2", "visible"))
        assert [t["id"] for t in await public.wait_for(lambda items: items)] == ["2"]


async def test_a_refused_connection_raises_stream_unauthorized():
    @stream_auth
    def authenticate(request):
        return request.headers.get("authorization") == "Bearer right"

    todos = Stream[Todo]("todos")
    async with serving(todos, authenticate) as app:
        await todos.set("inbox", "1", Todo("1", "private"))
        async with StreamClient(ws_url(app), token="wrong") as client:
            with pytest.raises(StreamUnauthorized, match="refused the connection"):
                await client.subscribe_group("todos", "inbox")
            await client.wait_closed()
            assert client.close_code == 4401
        async with StreamClient(ws_url(app), token="right") as client:
            inbox = await client.subscribe_group("todos", "inbox")
            assert [t["title"] for t in inbox.state] == ["private"]


async def test_headers_and_token_reach_stream_auth_and_its_context_reaches_on_join():
    contexts = []

    @stream_auth
    def authenticate(request, ctx):
        return {"authorized": True, "context": {"token": request.headers["authorization"],
                                                "tenant": request.headers["x-tenant"]}}

    todos = Stream[Todo]("todos", on_join=lambda subscription, ctx, auth: contexts.append(auth))
    async with serving(todos, authenticate) as app, \
            StreamClient(ws_url(app), token="t0k", headers={"X-Tenant": "acme"}) as client:
        await client.subscribe_group("todos", "inbox")
    assert contexts == [{"token": "Bearer t0k", "tenant": "acme"}]


# --- with handlers ------------------------------------------------------------------------------------


async def test_a_subscriber_sees_what_an_http_step_writes_through_ctx_streams():
    todos = Stream[Todo]("todos")

    @post("/todos")
    async def create(req: ApiRequest[Todo], ctx: FlowContext) -> Todo:
        await ctx.streams.todos.set("inbox", req.body.id, req.body)
        return req.body

    async with serving(create, todos) as app, http(app) as web, StreamClient(ws_url(app)) as client:
        inbox = await client.subscribe_group("todos", "inbox", type=Todo)
        assert (await web.post("/todos", json={"id": "1", "title": "milk"})).status_code == 200
        assert await inbox.wait_for(lambda items: items) == [Todo("1", "milk")]


# --- reconnecting -------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_subscribed_client_survives_a_restart_of_motia_run_and_reconciles_from_the_sync(tmp_path):
    from motia.engine.store import SqliteStore
    from tests.conftest import ROOT, MotiaProcess

    def todo(todo_id: str, description: str) -> dict:
        return {"id": todo_id, "description": description, "createdAt": "2026-12-01T00:00:00Z", "dueDate": None,
                "completedAt": None}

    def start(stream_port: int) -> MotiaProcess:
        return MotiaProcess(ROOT / "examples" / "todo", "--data-dir", str(tmp_path), "--stream-port", str(stream_port))

    first = await asyncio.to_thread(start, 0)
    stream_url = first.stream_url
    async with StreamClient(stream_url, reconnect_delay=0.1, max_reconnect_delay=0.5) as client:
        inbox = await client.subscribe_group("todo", "inbox")
        kept = first.client.post("/todo", json={"description": "kept"}).json()
        gone = first.client.post("/todo", json={"description": "deleted while the client was away"}).json()
        await inbox.wait_for(lambda items: len(items) == 2)
        await asyncio.to_thread(first.stop)
        # While the app is down, another process changes the stream (what a replica, or the app's own
        # handlers before the client is back, would do): the client hears of it only from the sync.
        store = SqliteStore(tmp_path / "motia.db")
        store.stream_delete("todo", "inbox", gone["id"])
        store.stream_set("todo", "inbox", "offline", msgspec.json.encode(todo("offline", "written while down")))
        await store.flush()
        store.close()
        second = await asyncio.to_thread(start, int(stream_url.rsplit(":", 1)[1]))
        try:
            state = await inbox.wait_for(lambda items: {t["id"] for t in items} == {kept["id"], "offline"}, timeout=20)
            assert [t["description"] for t in state] == ["kept", "written while down"]
            assert client.reconnects >= 1 and not inbox.closed
            # The subscription is live on the new connection: a change made now arrives as a change.
            later = second.client.post("/todo", json={"description": "after the restart"}).json()
            await inbox.wait_for(lambda items: later["id"] in {t["id"] for t in items})
            types = [m.type for m in [await inbox.next_message(timeout=1) for _ in range(5)]]
            assert types == ["sync", "create", "create", "sync", "create"]  # no delete: the sync reconciled it
        finally:
            await asyncio.to_thread(second.stop)
