"""A stream declared the legacy way: a config with a JSON-Schema item schema."""

config = {
    "name": "notes",
    "schema": {
        "type": "object",
        "properties": {"text": {"type": "string"}, "pinned": {"type": "boolean"}},
        "required": ["text"],
    },
}
