from typing import Any

from motia import ApiResponse, Stream, http

config = {
    "name": "GetTodo",
    "flows": ["todos"],
    "triggers": [http("GET", "/todos/:id")],
}

todos = Stream("todos")


def handler(request: Any, ctx: Any) -> ApiResponse[Any]:
    todo = todos.get("inbox", request.path_params["id"])
    if todo is None:
        return ApiResponse(status=404, body={"error": "not found"})
    return ApiResponse(status=200, body=todo)
