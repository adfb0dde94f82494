"""examples/seed: the seed document's examples in their original forms, served by `motia run`."""

import pytest

from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "seed"


@pytest.fixture(scope="module")
def app(motia_run):
    return motia_run(EXAMPLE).client


def test_hello_step_wrapper_form(app):
    assert app.get("/hello/Ada").json() == {"message": "Hello, Ada!", "trigger": "http"}


def test_create_user_validates_its_json_schema(app):
    bad = app.post("/users", json={"name": "", "age": -1})
    assert bad.status_code == 400
    details = bad.json()["error"]["details"]
    assert {"message": "'email' is a required property", "path": "$"} in details
    assert {"message": "-1 is less than the minimum of 0", "path": "$.age"} in details


def test_create_then_get_user_through_the_dict_config_step(app):
    created = app.post("/users", json={"name": "Ada", "email": "ada@example.com"})
    assert created.status_code == 201
    user = created.json()
    assert app.get(f"/users/{user['id']}").json() == user
    assert app.get("/users/0123456789").status_code == 404


def test_dict_config_condition_refuses_short_ids(app):
    response = app.get("/users/abc")
    assert response.status_code == 422
    assert response.json()["skipped"] is True


def test_protected_route_needs_the_token(app):
    assert app.get("/protected").status_code == 401
    response = app.get("/protected", headers={"Authorization": "Bearer secret-token"})
    assert response.json() == {"message": "Welcome, Ada", "user": {"id": "user-1", "name": "Ada"}}
