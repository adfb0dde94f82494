"""examples/todo served by a real `motia run` subprocess, in both of its forms: the decorator steps in
`steps/` and the seed's StepConfig + step_wrapper steps in `legacy/steps/`. One API, one set of checks."""

from __future__ import annotations

import httpx
import pytest

from motia import StreamClient
from tests.conftest import ROOT, eventually

EXAMPLE = ROOT / "examples" / "todo"
FORMS = {"decorators": (), "seed-form": ("--dir", "legacy/steps")}


@pytest.fixture(scope="module", params=list(FORMS))
def app(request, motia_run):
    process = motia_run(EXAMPLE, "--memory", "--stream-port", "0", *FORMS[request.param])
    return process


def test_create_then_read_list_update_and_delete(app):
    client = app.client
    created = client.post("/todo", json={"description": "Buy milk", "dueDate": "2030-01-01"})
    assert created.status_code == 201
    todo = created.json()
    assert set(todo) == {"id", "description", "createdAt", "dueDate", "completedAt"}
    assert (todo["description"], todo["dueDate"], todo["completedAt"]) == ("Buy milk", "2030-01-01", None)

    assert client.get(f"/todo/{todo['id']}").json() == todo
    assert todo in client.get("/todo").json()

    completed = client.put(f"/todo/{todo['id']}", json={"completed": True})
    assert completed.status_code == 200
    assert completed.json()["completedAt"] is not None
    renamed = client.put(f"/todo/{todo['id']}", json={"description": "Buy oat milk"}).json()
    assert (renamed["description"], renamed["completedAt"]) == ("Buy oat milk", completed.json()["completedAt"])
    reopened = client.put(f"/todo/{todo['id']}", json={"completed": False}).json()
    assert reopened["completedAt"] is None
    assert client.get(f"/todo/{todo['id']}").json() == reopened

    deleted = client.delete(f"/todo/{todo['id']}")
    assert (deleted.status_code, deleted.json()) == (200, reopened)
    assert client.get(f"/todo/{todo['id']}").status_code == 404
    assert todo["id"] not in [t["id"] for t in client.get("/todo").json()]


def test_list_is_oldest_first(app):
    ids = [app.client.post("/todo", json={"description": f"todo {n}"}).json()["id"] for n in range(3)]
    listed = [t["id"] for t in app.client.get("/todo").json()]
    assert [i for i in listed if i in ids] == ids


def test_unknown_todos_are_404_for_read_update_and_delete(app):
    for response in (app.client.get("/todo/nope"), app.client.put("/todo/nope", json={"completed": True}),
                     app.client.delete("/todo/nope")):
        assert (response.status_code, response.json()) == (404, {"error": "Todo not found"})


def test_invalid_bodies_are_rejected_before_the_handler(app):
    for body in ({}, {"description": ""}, {"description": 42}):
        response = app.client.post("/todo", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    todo = app.client.post("/todo", json={"description": "ok"}).json()
    response = app.client.put(f"/todo/{todo['id']}", json={"completed": "yes"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "VALIDATION_ERROR")


def test_the_stream_trigger_counts_every_change(app):
    before = app.client.get("/todo/stats").json()
    todo = app.client.post("/todo", json={"description": "counted"}).json()
    app.client.put(f"/todo/{todo['id']}", json={"completed": True})
    app.client.delete(f"/todo/{todo['id']}")

    def grew():
        stats = app.client.get("/todo/stats").json()
        return stats if all(stats.get(k, 0) == before.get(k, 0) + 1 for k in ("create", "update", "delete")) else None

    assert eventually(grew), app.client.get("/todo/stats").json()


@pytest.mark.anyio
async def test_a_websocket_subscriber_sees_every_change(app):
    async with StreamClient(app.stream_url) as stream, httpx.AsyncClient(base_url=app.url, timeout=10) as web:
        inbox = await stream.subscribe_group("todo", "inbox")
        before = {t["id"] for t in inbox.state}
        todo = (await web.post("/todo", json={"description": "watched"})).json()
        assert await inbox.wait_for(lambda items: any(t["id"] == todo["id"] for t in items))
        item = await stream.subscribe_item("todo", "inbox", todo["id"])
        assert item.state == todo

        await web.put(f"/todo/{todo['id']}", json={"completed": True})
        done = await item.wait_for(lambda t: t is not None and t["completedAt"] is not None)
        assert inbox.items[todo["id"]] == done

        await web.delete(f"/todo/{todo['id']}")
        assert await item.wait_for(lambda t: t is None) is None
        await inbox.wait_for(lambda items: todo["id"] not in {t["id"] for t in items})
        assert {t["id"] for t in inbox.state} == before

        kinds = [(m.type, m.id) async for m in _until_delete(inbox, todo["id"])]
    assert kinds == [("sync", None), ("create", todo["id"]), ("update", todo["id"]), ("delete", todo["id"])]


async def _until_delete(subscription, todo_id):
    while True:
        message = await subscription.next_message()
        yield message
        if (message.type, message.id) == ("delete", todo_id):
            return
