"""The hello example's own tests, with motia.testing (in memory, no ports)."""

from pathlib import Path

import pytest

from motia.testing import TestApp

STEPS = Path(__file__).resolve().parent.parent / "steps"

pytestmark = pytest.mark.anyio


async def test_greeting_with_query_options():
    async with TestApp.from_dir(STEPS) as app:
        response = await app.http.get("/hello/ada", params={"excited": "true"})
        assert response.json() == {"message": "Hello, ada!"}


async def test_users_are_created_and_read_back():
    async with TestApp.from_dir(STEPS) as app:
        user = (await app.http.post("/users", json={"name": "Ada", "email": "a@b.c", "age": 36})).json()
        assert (await app.http.get(f"/users/{user['id']}")).json() == user


async def test_wrong_types_are_rejected_before_the_handler():
    async with TestApp.from_dir(STEPS) as app:
        response = await app.http.post("/users", json={"name": "Ada", "email": "a@b.c", "age": "old"})
        assert response.status_code == 400
        assert response.json()["error"]["details"] == [{"message": "Expected int, got str", "path": "$.age"}]
