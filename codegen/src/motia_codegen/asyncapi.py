"""AsyncAPI 3.0 from the step registry: one channel per topic with its payload schema, a `send` operation per
step that declares it emits the topic and a `receive` operation per step subscribed to it."""

from __future__ import annotations

import re
from typing import Any

from motia.openapi import DEFAULT_VERSION, SchemaSet, document_title
from motia.registry import Registry

from .topics import Topic, topics

ASYNCAPI_VERSION = "3.0.0"
_KEY = re.compile(r"[^\w.-]")


def asyncapi_document(
    registry: Registry, *, title: str | None = None, version: str = DEFAULT_VERSION, description: str | None = None
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of `registry`'s topics (deterministic: sorted by topic and step)."""
    catalogue = topics(registry)
    schemas = SchemaSet()
    for topic in catalogue:
        for payload in topic.payloads:
            if not isinstance(payload, dict):
                schemas.add(payload)
    schemas.resolve()

    keys = _Keys()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in catalogue:
        key = keys.unique(topic.name)
        message: dict[str, Any] = {"name": topic.name, "payload": _payload(topic, schemas, key)}
        if topic.virtual:
            message["x-motia-virtual"] = True
        messages[key] = message
        channel: dict[str, Any] = {
            "address": topic.name,
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        channel_description = _channel_description(topic)
        if channel_description:
            channel["description"] = channel_description
        channels[key] = channel
        message_ref = {"$ref": f"#/channels/{key}/messages/{key}"}
        edges: list[tuple[str, str, Any, bool]] = []
        for publisher in topic.publishers:
            edges.append(("send", publisher.step.name, publisher, publisher.virtual))
        for subscriber in topic.subscribers:
            edges.append(("receive", subscriber.step.name, subscriber, subscriber.virtual))
        for action, step_name, edge, virtual in sorted(edges, key=lambda e: (e[0] != "send", e[1])):
            operation_id = keys.unique(f"{step_name}.{action}.{topic.name}", operations)
            operation: dict[str, Any] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{key}"},
                "messages": [message_ref],
            }
            step = edge.step
            summary = " ".join(step.description.split()) if step.description else None
            if summary:
                operation["summary"] = summary
            if step.flows:
                operation["tags"] = [{"name": flow} for flow in step.flows]
            operation["x-motia-step"] = step_name
            if action == "send" and edge.emit.label:
                operation["description"] = edge.emit.label
            if action == "send" and edge.emit.conditional:
                operation["x-motia-conditional"] = True
            if action == "receive" and edge.trigger is not None and edge.trigger.config is not None:
                operation["x-motia-queue"] = edge.trigger.config.to_wire()
            if virtual:
                operation["x-motia-virtual"] = True
            operations[operation_id] = operation

    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": title or document_title(registry), "version": version,
                 **({"description": description} if description else {})},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": {key: operations[key] for key in sorted(operations)},
        "components": {
            "schemas": {},
            "messages": messages,
        },
    }
    document["components"]["schemas"] = {
        _KEY.sub("_", name): _asyncapi_schema(schema)
        for name, schema in schemas.reachable_from(messages).items()
    }
    if not document["components"]["schemas"]:
        del document["components"]["schemas"]
    document["components"]["messages"] = _asyncapi_schema(messages)
    return document


def _payload(topic: Topic, schemas: SchemaSet, key: str) -> dict[str, Any]:
    """The union of what the subscribers decode (any JSON value when none declares a type)."""
    parts = [schemas.hoist(p, f"{key}_payload") if isinstance(p, dict) else schemas.schema(p) for p in topic.payloads]
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"anyOf": parts}


def _channel_description(topic: Topic) -> str | None:
    publishers = sorted({p.step.name for p in topic.publishers})
    subscribers = sorted({s.step.name for s in topic.subscribers})
    parts = []
    if publishers:
        parts.append("Emitted by " + ", ".join(publishers) + ".")
    if subscribers:
        parts.append("Consumed by " + ", ".join(subscribers) + ".")
    if topic.publishers and not topic.subscribers:
        parts.append("No step subscribes to it.")
    return " ".join(parts) or None


def _asyncapi_schema(value: Any) -> Any:
    """msgspec writes OpenAPI's `discriminator` object; an AsyncAPI schema's `discriminator` is the property name."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "discriminator" and isinstance(item, dict) and "propertyName" in item:
                out[key] = item["propertyName"]
            else:
                out[key] = _asyncapi_schema(item)
        return out
    if isinstance(value, list):
        return [_asyncapi_schema(item) for item in value]
    return value


class _Keys:
    """AsyncAPI component and channel keys are `[\\w.-]+`: topics are sanitized and kept unique."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def unique(self, name: str, taken: dict[str, Any] | None = None) -> str:
        base = _KEY.sub("_", name) or "topic"
        pool = self.taken if taken is None else set(taken)
        candidate, n = base, 2
        while candidate in pool:
            candidate, n = f"{base}_{n}", n + 1
        if taken is None:
            self.taken.add(candidate)
        return candidate
