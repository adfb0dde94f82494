from typing import Any

config: dict[str, Any] = {
    "name": "todos",
    "schema": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "done": {"type": "boolean"}},
        "required": ["id", "title"],
    },
    "baseConfig": {"storageType": "default"},
}
