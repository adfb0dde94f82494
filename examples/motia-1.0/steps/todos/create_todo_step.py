import uuid
from typing import Any

from motia import FlowContext, Stream, enqueue, http, logger

todos: Stream[dict[str, Any]] = Stream("todos")

config = {
    "name": "CreateTodo",
    "description": "Creates a todo in the inbox group of the todos stream",
    "flows": ["todos"],
    "triggers": [
        http(
            "POST",
            "/todos",
            body_schema={
                "type": "object",
                "properties": {"title": {"type": "string"}, "priority": {"type": "string"}},
                "required": ["title"],
            },
        )
    ],
    "enqueues": ["todo.created"],
}


def handler(request: Any, ctx: FlowContext[Any]) -> dict[str, Any]:
    # A sync handler: official motia 1.0's Stream and enqueue calls, without await.
    body = request.body or {}
    todo = {"id": str(uuid.uuid4())[:8], "title": body["title"], "done": False}
    todos.set("inbox", todo["id"], todo)
    enqueue({"topic": "todo.created", "data": {**todo, "priority": body.get("priority", "normal")}})
    logger.info("todo created", {"id": todo["id"]})
    return {"status": 201, "body": todo}
