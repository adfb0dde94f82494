from typing import Any

from motia import ApiRequest, ApiResponse, FlowContext, Stream, http

config = {
    "name": "CompleteTodo",
    "flows": ["todos"],
    "triggers": [http("PUT", "/todos/:id/done")],
}


async def handler(request: ApiRequest[Any], ctx: FlowContext[Any]) -> ApiResponse[Any]:
    todos = Stream("todos")
    todo_id = request.path_params["id"]
    todo = await todos.get("inbox", todo_id)
    if todo is None:
        return ApiResponse(status=404, body={"error": "not found"})
    updated = {**todo, "done": True}
    await todos.set("inbox", todo_id, updated)
    return ApiResponse(status=200, body=updated)
