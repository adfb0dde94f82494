from typing import Any

from motia import Stream, http, stateManager

config = {
    "name": "DeleteTodo",
    "description": "DELETE with a JSON body: the reason is kept in state",
    "flows": ["todos"],
    "triggers": [http("DELETE", "/todos/:id")],
}


def handler(request: Any, ctx: Any) -> dict[str, Any]:
    todo_id = request.path_params["id"]
    reason = (request.body or {}).get("reason", "no reason given")
    removed = Stream("todos").delete("inbox", todo_id)
    stateManager.set("deletions", todo_id, {"reason": reason})
    return {"status": 200, "body": {"deleted": removed is not None, "reason": reason}}
