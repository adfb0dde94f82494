"""pydantic v2 models wherever msgspec Structs go: request body, query, response and event payload, validated by
pydantic with msgspec's error envelope and paths, described in OpenAPI, AsyncAPI and the typed client.

The app in `pydantic_app/` is served by a real `motia run`: a decorator-form step (`pets_step.py`) and two steps in
official motia 1.0's Python form (config dicts with `http()`/`queue()` and pydantic models)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pydantic
import pytest
from openapi_spec_validator import validate

from motia import ApiRequest, FlowContext, api
from motia.discovery import discover
from motia.errors import StepError
from motia.openapi import openapi_document
from tests.conftest import eventually
from tests.dsl.named_alike.models import User as ModelUser
from tests.dsl.named_alike.structs import User as StructUser

APP = Path(__file__).parent / "pydantic_app"


@pytest.fixture(scope="module")
def served(motia_run):
    return motia_run(APP, "--memory", "--stream-port", "0")


def test_import_motia_does_not_import_pydantic():
    code = "import sys, motia, motia.cli, motia.runtime; assert 'pydantic' not in sys.modules, 'pydantic imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --- served by `motia run` -------------------------------------------------------------------------------


def test_a_model_body_is_validated_answered_as_a_model_and_emitted_as_one(served):
    created = served.client.post("/pets", json={"name": "Rex", "age": 3, "owner": {"name": "Ada", "email": "a@x"}})
    assert created.status_code == 201, created.text
    assert created.json() == {"name": "Rex", "age": 3, "tags": [], "owner": {"name": "Ada", "email": "a@x"}, "id": 7}
    # The subscriber's parameter is typed `Pet`: it receives a Pet instance, decoded from the emitted model.
    welcomed = eventually(lambda: (r := served.client.get("/welcomed/7")).status_code == 200 and r.json())
    assert welcomed == {"name": "Rex", "received": "Pet", "owner": "Ada"}


def test_every_problem_of_a_model_body_is_a_detail_on_msgspecs_paths(served):
    response = served.client.post("/pets", json={"name": "", "age": "old", "owner": {"email": "a@x"}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"] == [
        {"path": "$.name", "message": "String should have at least 1 character"},
        {"path": "$.age", "message": "Input should be a valid integer, unable to parse string as an integer"},
        {"path": "$.owner", "message": "Object missing required field name"},
    ]
    assert error["message"] == "$.name: String should have at least 1 character"


def test_a_body_that_is_not_json_is_invalid_json_for_a_model_too(served):
    response = served.client.post("/pets", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_JSON"
    assert response.json()["error"]["message"].startswith("Malformed JSON body: JSON is malformed")


def test_a_model_query_is_converted_from_strings_and_refused_on_its_path(served):
    listed = served.client.get("/pets", params={"limit": "3", "prefix": "cat"})
    assert listed.status_code == 200
    assert [pet["name"] for pet in listed.json()] == ["cat0", "cat1", "cat2"]
    assert served.client.get("/pets").json()[1]["name"] == "pet1"  # the model's defaults
    refused = served.client.get("/pets", params={"limit": "many"})
    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == [
        {"path": "query.limit", "message": "Input should be a valid integer, unable to parse string as an integer"}]


def test_official_form_steps_take_the_model_as_body_and_payload_schema(served):
    accepted = served.client.post("/adoptions", json={"pet_id": 5, "adopter": "Grace"})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"pet_id": 5, "adopter": "Grace"}
    welcomed = eventually(lambda: (r := served.client.get("/welcomed/adoption-5")).status_code == 200 and r.json())
    assert welcomed == {"name": "Grace", "received": "AdoptionRequest", "owner": None}
    refused = served.client.post("/adoptions", json={"adopter": "Grace"})
    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == [{"path": "$", "message": "Object missing required field pet_id"}]


def test_the_served_openapi_document_has_the_models_schemas(served):
    document = served.client.get("/openapi.json").json()
    validate(document)
    schemas = document["components"]["schemas"]
    assert {"NewPet", "Owner", "Pet", "AdoptionRequest"} <= set(schemas)
    assert schemas["NewPet"]["description"] == "A pet to register."
    assert schemas["NewPet"]["properties"]["age"] == {"minimum": 0, "title": "Age", "type": "integer"}
    create = document["paths"]["/pets"]["post"]
    assert create["requestBody"] == {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}}}
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Pet"}
    listing = document["paths"]["/pets"]["get"]
    assert [(p["name"], p["in"], p["required"]) for p in listing["parameters"]] == [
        ("limit", "query", False), ("prefix", "query", False)]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "array", "items": {"$ref": "#/components/schemas/Pet"}}


# --- the same mistakes, a Struct and a model ------------------------------------------------------------


class StructItem(msgspec.Struct):
    sku: str
    qty: int


class StructOrder(msgspec.Struct):
    items: list[StructItem]


class ModelItem(pydantic.BaseModel):
    sku: str
    qty: int


class ModelOrder(pydantic.BaseModel):
    items: list[ModelItem]


@api("POST", "/struct")
async def struct_order(req: ApiRequest[StructOrder], ctx: FlowContext) -> StructOrder:
    return req.body


@api("POST", "/model")
async def model_order(req: ApiRequest[ModelOrder], ctx: FlowContext) -> ModelOrder:
    return req.body


@pytest.mark.parametrize("body", [
    {"items": [{"sku": "a", "qty": 1}, {"sku": "b"}]},  # a missing field, inside a list
    {"items": [{"sku": "a", "qty": [1]}]},  # a wrong type
    {"items": "none"},
    [],
])
def test_a_model_and_a_struct_answer_the_same_mistake_on_the_same_path(serve, body):
    client = serve(struct_order, model_order)
    struct, model = client.post("/struct", json=body), client.post("/model", json=body)
    assert struct.status_code == model.status_code == 400
    struct_error, model_error = struct.json()["error"], model.json()["error"]
    assert struct_error["code"] == model_error["code"] == "VALIDATION_ERROR"
    assert [d["path"] for d in struct_error["details"]] == [d["path"] for d in model_error["details"]]
    if "missing" in struct_error["message"]:
        assert struct_error == model_error  # msgspec's own words
    valid = {"items": [{"sku": "a", "qty": 1}]}
    assert client.post("/struct", json=valid).json() == client.post("/model", json=valid).json() == valid


# --- start-up, AsyncAPI and the typed client ------------------------------------------------------------


class Opaque:
    pass


class Unschemable(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    thing: Opaque


def test_a_model_pydantic_cannot_describe_is_refused_at_start_up_with_the_steps_line():
    @api("POST", "/opaque")
    async def opaque(req: ApiRequest[Unschemable], ctx: FlowContext) -> None: ...

    from tests.conftest import registry_of

    with pytest.raises(StepError) as raised:
        registry_of(opaque)
    assert "request body of POST /opaque has a type pydantic cannot describe" in str(raised.value)
    assert f"{Path(__file__).name}:" in str(raised.value)


@pytest.fixture
def registry():
    modules = set(sys.modules)
    try:
        yield discover(APP, APP / "steps")
    finally:
        for name in set(sys.modules) - modules:
            if name == "steps" or name.startswith("steps."):
                del sys.modules[name]


def test_asyncapi_gives_the_topics_the_models_schemas(registry):
    from motia_codegen.asyncapi import asyncapi_document

    document = asyncapi_document(registry)
    schemas = document["components"]["schemas"]
    payloads = {name: message["payload"] for name, message in document["components"]["messages"].items()}
    assert payloads == {"adoption.requested": {"$ref": "#/components/schemas/AdoptionRequest"},
                        "pet.created": {"$ref": "#/components/schemas/Pet"}}
    assert schemas["Pet"]["properties"]["owner"]["anyOf"][0] == {"$ref": "#/components/schemas/Owner"}
    assert schemas["AdoptionRequest"]["required"] == ["pet_id", "adopter"]
    assert openapi_document(registry)["components"]["schemas"]["Pet"]["required"] == ["name", "age", "id"]


def test_the_typed_client_types_emit_with_the_model(registry):
    from motia_codegen.client import client_module

    source = client_module(registry)
    assert "from steps.pets_step import Pet" in source
    assert 'def emit(topic: Literal["pet.created"], data: Pet, /) -> Coroutine[Any, Any, None]: ...' in source


# --- state and streams ---------------------------------------------------------------------------------------


def test_models_are_stored_in_state_and_a_typed_stream_and_read_back_as_models(served):
    for kennel_id, name in (("k1", "North"), ("k2", "South")):
        stored = served.client.put(f"/kennels/{kennel_id}", json={"name": name, "capacity": 4})
        assert stored.status_code == 200, stored.text
    read = served.client.get("/kennels/k1")
    assert read.status_code == 200, read.text
    assert read.json() == {
        "state": ["Kennel", {"name": "North", "capacity": 4, "keeper": None}],
        "group": ["Kennel:North", "Kennel:South"],
        "stream": ["Kennel", {"name": "North", "capacity": 4, "keeper": None}],
        "stream_group": ["Kennel:North", "Kennel:South"],
        # a Struct holding a model is stored as plain JSON, the model's fields inlined
        "stay": {"kennel": {"name": "North", "capacity": 4, "keeper": None}, "nights": 2},
    }


def test_state_values_decode_into_models_from_either_engine_and_refusals_name_the_path():
    from motia.pydantic_types import ModelValidationError
    from motia.state import decode

    class Box(pydantic.BaseModel):
        size: int

    # in-process engines answer raw JSON, a remote engine values already parsed: both become the model
    assert decode(msgspec.Raw(b'{"size": 3}'), Box) == Box(size=3)
    assert decode({"size": 3}, Box) == Box(size=3)
    assert decode(None, Box) is None
    assert decode([{"size": 1}, {"size": 2}], list[Box]) == [Box(size=1), Box(size=2)]
    with pytest.raises(ModelValidationError, match=r"at `\$\.size`"):
        decode(msgspec.Raw(b'{"size": "big"}'), Box)


def test_a_model_and_a_struct_of_the_same_name_are_two_components():
    from tests.conftest import registry_of

    @api("POST", "/struct-users")
    async def create_struct_user(req: ApiRequest[StructUser], ctx: FlowContext) -> StructUser:
        return req.body

    @api("POST", "/model-users")
    async def create_model_user(req: ApiRequest[ModelUser], ctx: FlowContext) -> ModelUser:
        return req.body

    document = openapi_document(registry_of(create_struct_user, create_model_user))
    validate(document)
    schemas = document["components"]["schemas"]

    def body_schema(path: str) -> dict:
        ref = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return schemas[ref.rsplit("/", 1)[-1]]

    assert body_schema("/struct-users")["required"] == ["login"]
    assert body_schema("/model-users")["required"] == ["email"]
