"""`GET /openapi.json` on a running app: the same document `motia codegen openapi` writes."""

from __future__ import annotations

import json

import msgspec

from motia import ApiRequest, api
from motia.openapi import openapi_document
from tests.codegen.conftest import example
from tests.conftest import registry_of


class Greeting(msgspec.Struct):
    message: str


@api("GET", "/hello/:name", flows=["greetings"])
async def hello(req: ApiRequest[None]) -> Greeting:
    """Greet someone."""
    return Greeting(message=f"Hello, {req.path_params['name']}")


def test_a_running_app_serves_its_openapi_document(serve):
    registry = registry_of(hello)
    client = serve(registry)
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == openapi_document(registry)
    assert response.json()["paths"]["/hello/{name}"]["get"]["operationId"] == "hello"
    assert client.get("/openapi.json").content == response.content  # built once, then cached


def test_the_document_route_is_not_part_of_the_document(serve):
    assert "/openapi.json" not in serve(hello).get("/openapi.json").json()["paths"]


def test_a_step_that_serves_openapi_json_itself_wins(serve):
    @api("GET", "/openapi.json")
    async def own_document(req: ApiRequest[None]) -> dict:
        return {"mine": True}

    assert serve(hello, own_document).get("/openapi.json").json() == {"mine": True}


def test_motia_run_serves_the_document_the_example_ships(motia_run):
    served = motia_run(example("hello"), "--memory", "--stream-port", "0").client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads((example("hello") / "openapi.json").read_text())


def test_the_served_documents_are_titled_with_the_projects_name(tmp_path, motia_run):
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "hello_step.py").write_text("from motia import get\n\n@get('/hi')\nasync def hi(req):\n"
                                                      "    return {}\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tea-shop"\nversion = "0.1.0"\n')
    served = motia_run(tmp_path, "--memory", "--stream-port", "0")
    assert served.client.get("/openapi.json").json()["info"]["title"] == "tea-shop"
    assert "<title>tea-shop · " in served.client.get("/docs").text


def test_without_a_pyproject_the_title_is_the_projects_directory(tmp_path):
    from motia.discovery import discover

    root = tmp_path / "bakery"
    (root / "steps").mkdir(parents=True)
    (root / "steps" / "hello_step.py").write_text("from motia import get\n\n@get('/hi')\nasync def hi(req):\n"
                                                  "    return {}\n")
    assert openapi_document(discover(root))["info"]["title"] == "bakery"
