"""examples/hello served by a real `motia run` subprocess."""

import pytest

from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "hello"


@pytest.fixture(scope="module")
def app(motia_run):
    return motia_run(EXAMPLE).client


def test_hello_with_query_struct(app):
    assert app.get("/hello/world").json() == {"message": "Hello, world."}
    assert app.get("/hello/ada", params={"excited": "true", "times": 2}).json() == {
        "message": "Hello, ada! Hello, ada!"
    }


def test_static_route_beats_parameter_route(app):
    assert "routes" in app.get("/greetings/summary").json()
    assert app.get("/greetings/bob").json() == {"message": "Greetings, bob"}


def test_create_and_read_user_across_step_files(app):
    created = app.post("/users", json={"name": "Ada", "email": "ada@example.com", "age": 36})
    assert created.status_code == 201
    user = created.json()
    assert app.get(f"/users/{user['id']}").json() == user
    missing = app.get("/users/9999")
    assert (missing.status_code, missing.json()) == (404, {"error": "no such user"})


def test_invalid_body_is_rejected(app):
    response = app.post("/users", json={"name": "Ada", "email": "x", "age": "old"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "$.age: Expected int, got str"
