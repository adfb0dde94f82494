"""OpenAPI 3.1 from the registry (`motia.openapi`): what each kind of declaration becomes in the document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_spec_validator import validate

from motia.openapi import openapi_document
from tests.codegen.conftest import APP, EXAMPLES, example


@pytest.fixture
def document(load: Any) -> dict[str, Any]:
    return openapi_document(load(APP))


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    result: dict[str, Any] = document["paths"][path][method]
    return result


def test_path_parameters_use_braces_and_are_listed(document):
    get = operation(document, "get", "/todos/{todo_id}")
    assert "/todos/:todo_id" not in document["paths"]
    assert get["parameters"][0] == {"name": "todo_id", "in": "path", "required": True, "schema": {"type": "string"}}


def test_query_struct_fields_become_query_parameters_with_their_wire_names(document):
    query = [p for p in operation(document, "get", "/todos/{todo_id}")["parameters"] if p["in"] == "query"]
    assert query == [
        {"name": "includeDone", "in": "query", "required": False, "schema": {"type": "boolean", "default": False}},
        {"name": "limit", "in": "query", "required": False, "description": "At most this many",
         "schema": {"type": "integer", "minimum": 1, "description": "At most this many", "default": 20}},
    ]


def test_the_query_struct_is_spread_into_parameters_not_kept_as_a_component(document):
    assert "TodoQuery" not in document["components"]["schemas"]


def test_legacy_query_params_are_optional_string_parameters(document):
    parameters = operation(document, "post", "/audit/{kind}")["parameters"]
    assert parameters[1] == {"name": "dry_run", "in": "query", "required": False, "description": "Validate only",
                             "schema": {"type": "string"}}


def test_a_struct_body_is_a_required_json_request_body(document):
    body = operation(document, "post", "/todos")["requestBody"]
    schema = {"$ref": "#/components/schemas/NewTodo"}
    assert body == {"required": True, "content": {"application/json": {"schema": schema}}}
    assert document["components"]["schemas"]["NewTodo"]["properties"]["title"] == {
        "type": "string", "minLength": 1, "description": "What to do"}


def test_a_legacy_json_schema_body_has_its_defs_hoisted_into_components(document):
    schema = operation(document, "post", "/audit/{kind}")["requestBody"]["content"]["application/json"]["schema"]
    assert "$defs" not in schema
    assert schema["properties"]["who"] == {"$ref": "#/components/schemas/Actor"}
    assert document["components"]["schemas"]["Actor"] == {"type": "object", "properties": {"name": {"type": "string"}}}


def test_a_route_without_a_body_has_no_request_body(document):
    assert "requestBody" not in operation(document, "get", "/todos/{todo_id}")


def test_each_status_gets_its_own_response(document):
    responses = operation(document, "get", "/todos/{todo_id}")["responses"]
    assert responses["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Todo"}
    assert responses["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/NotFound"}


def test_the_declared_status_and_legacy_response_schemas_are_used(document):
    assert "201" in operation(document, "post", "/todos")["responses"]
    audit = operation(document, "post", "/audit/{kind}")["responses"]["202"]
    assert audit["content"]["application/json"]["schema"]["properties"] == {"queued": {"type": "boolean"}}


def test_a_handler_returning_none_answers_204_without_content(document):
    assert operation(document, "delete", "/todos/{todo_id}")["responses"]["204"] == {"description": "No Content"}


def test_the_error_envelope_is_one_component_referenced_on_error_statuses(document):
    responses = document["components"]["responses"]
    assert set(responses) == {"BadRequest", "NotFound", "MethodNotAllowed", "PayloadTooLarge", "ConditionNotMet",
                              "InternalError", "Timeout"}
    for response in responses.values():
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}
    envelope = document["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["properties"]["error"] == {"$ref": "#/components/schemas/ErrorInfo"}
    create = operation(document, "post", "/todos")["responses"]
    assert {s: create[s] for s in ("400", "413", "500", "504")} == {
        "400": {"$ref": "#/components/responses/BadRequest"},
        "413": {"$ref": "#/components/responses/PayloadTooLarge"},
        "500": {"$ref": "#/components/responses/InternalError"},
        "504": {"$ref": "#/components/responses/Timeout"},
    }


def test_error_statuses_follow_what_the_route_can_answer(document):
    delete = operation(document, "delete", "/todos/{todo_id}")["responses"]
    assert "400" not in delete and "413" not in delete and "422" not in delete  # no body, no query, no condition
    condition_not_met = {"$ref": "#/components/responses/ConditionNotMet"}
    assert operation(document, "post", "/pets")["responses"]["422"] == condition_not_met
    # A status the step declares itself keeps the step's schema.
    assert "$ref" not in operation(document, "get", "/todos/{todo_id}")["responses"]["404"]


def test_operation_ids_are_step_names_and_tags_are_flows(document):
    create = operation(document, "post", "/todos")
    assert (create["operationId"], create["tags"]) == ("create_todo", ["todos"])
    assert operation(document, "post", "/audit/{kind}")["operationId"] == "Audit"
    assert document["tags"] == [{"name": "audit"}, {"name": "todos"}]


def test_summary_and_description_come_from_the_docstring(document):
    create = operation(document, "post", "/todos")
    assert create["summary"] == "Create a todo."
    assert create["description"] == "The todo is stored in the `todos` stream and announced on `todo.created`."
    assert operation(document, "post", "/audit/{kind}")["summary"] == "Records an audit entry"
    assert "summary" not in operation(document, "delete", "/todos/{todo_id}")


def test_tagged_unions_carry_a_discriminator(document):
    schema = operation(document, "post", "/pets")["requestBody"]["content"]["application/json"]["schema"]
    assert schema["discriminator"] == {
        "propertyName": "type",
        "mapping": {"cat": "#/components/schemas/Cat", "dog": "#/components/schemas/Dog"},
    }
    assert schema["anyOf"] == [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}]


def test_struct_docstrings_become_descriptions(document):
    assert document["components"]["schemas"]["Todo"]["description"] == "A todo item."


def test_a_union_msgspec_cannot_describe_is_described_member_by_member(load):
    document = openapi_document(load(example("orders")))
    schema = document["paths"]["/orders/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"anyOf": [{"$ref": "#/components/schemas/Order"}, {"type": "object"}]}


def test_components_are_sorted_and_only_what_is_referenced(document):
    names = list(document["components"]["schemas"])
    assert names == sorted(names)
    assert set(names) == {"Actor", "Cat", "Dog", "ErrorDetail", "ErrorEnvelope", "ErrorInfo", "NewTodo", "NotFound",
                          "Todo"}


def test_the_document_is_deterministic(load):
    registry = load(APP)
    first = json.dumps(openapi_document(registry, title="t", version="1"))
    assert json.dumps(openapi_document(registry, title="t", version="1")) == first
    assert json.loads(first)["info"] == {"title": "t", "version": "1"}


@pytest.mark.parametrize("project", ["app", *EXAMPLES])
def test_the_document_validates_against_the_openapi_3_1_schema(load, project):
    document = openapi_document(load(APP if project == "app" else example(project)))
    assert document["openapi"] == "3.1.0"
    validate(document)
