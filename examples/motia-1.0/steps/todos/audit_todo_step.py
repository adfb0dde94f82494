from typing import Any

from motia import queue, stateManager

config = {
    "name": "AuditTodo",
    "flows": ["todos"],
    "triggers": [
        queue(
            "todo.created",
            input={"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
            config={"maxRetries": 2, "type": "standard"},
        )
    ],
}


def handler(input: Any, ctx: Any) -> None:
    stateManager.set("audit", input["id"], {"event": "created", "trace_id": ctx.trace_id})
