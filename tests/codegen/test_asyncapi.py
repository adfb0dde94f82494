"""AsyncAPI 3.0 from the registry: channels are topics, operations are the steps' emits and subscriptions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from motia_codegen.asyncapi import asyncapi_document

from tests.codegen.conftest import APP, EXAMPLES, example

# The AsyncAPI 3.0.0 JSON Schema, from the npm package @asyncapi/specs 6.11.1 (schemas/3.0.0-without-$id.json,
# Apache-2.0), minified.
ASYNCAPI_SCHEMA = Path(__file__).resolve().parent / "schemas" / "asyncapi-3.0.0.json"


@pytest.fixture
def document(load: Any) -> dict[str, Any]:
    return asyncapi_document(load(APP))


def test_each_topic_is_a_channel_with_its_address(document):
    assert list(document["channels"]) == ["audit.archived", "audit.logged", "pet.adopted", "todo.created",
                                          "todo.remind"]
    channel = document["channels"]["todo.created"]
    assert channel["address"] == "todo.created"
    assert channel["messages"] == {"todo.created": {"$ref": "#/components/messages/todo.created"}}


def test_the_payload_is_what_the_subscribers_decode(document):
    messages = document["components"]["messages"]
    assert messages["todo.created"]["payload"] == {"$ref": "#/components/schemas/Todo"}
    assert document["components"]["schemas"]["Todo"]["required"] == ["id", "title"]
    # A legacy subscriber's JSON-Schema input is the payload as written.
    assert messages["audit.logged"]["payload"]["required"] == ["entry"]


def test_a_topic_nobody_types_carries_any_json_value(document):
    assert document["components"]["messages"]["audit.archived"]["payload"] == {}


def test_tagged_unions_use_asyncapi_discriminators(document):
    payload = document["components"]["messages"]["pet.adopted"]["payload"]
    assert payload["discriminator"] == "type"
    assert payload["anyOf"] == [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}]


def test_emitting_steps_send_and_subscribed_steps_receive(document):
    operations = document["operations"]
    send = operations["create_todo.send.todo.created"]
    receive = operations["index_todo.receive.todo.created"]
    assert (send["action"], send["channel"]) == ("send", {"$ref": "#/channels/todo.created"})
    assert (receive["action"], receive["channel"]) == ("receive", {"$ref": "#/channels/todo.created"})
    assert send["messages"] == [{"$ref": "#/channels/todo.created/messages/todo.created"}]
    assert send["x-motia-step"] == "create_todo"
    assert receive["tags"] == [{"name": "todos"}]


def test_virtual_emits_are_marked(document):
    assert document["operations"]["Audit.send.audit.archived"]["x-motia-virtual"] is True
    assert document["components"]["messages"]["audit.archived"]["x-motia-virtual"] is True
    assert "x-motia-virtual" not in document["operations"]["Audit.send.audit.logged"]


def test_queue_settings_of_a_subscription_are_kept(load):
    operations = asyncapi_document(load(example("orders")))["operations"]
    assert operations["charge_payment.receive.order.placed"]["x-motia-queue"]["maxRetries"] == 2


def test_the_document_is_deterministic(load):
    registry = load(APP)
    assert json.dumps(asyncapi_document(registry)) == json.dumps(asyncapi_document(registry))


@pytest.mark.parametrize("project", ["app", *EXAMPLES])
def test_the_document_validates_against_the_asyncapi_3_schema(load, project):
    document = asyncapi_document(load(APP if project == "app" else example(project)))
    jsonschema.validate(document, json.loads(ASYNCAPI_SCHEMA.read_text()))
    for ref in _refs(document):
        assert _resolve(document, ref) is not None, ref


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return own + [ref for item in value.values() for ref in _refs(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _refs(item)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
    return node
