from typing import Any

from motia import ApiRequest, ApiResponse, FlowContext, Stream, http

config = {
    "name": "ListTodos",
    "flows": ["todos"],
    "triggers": [http("GET", "/todos", query_params=[{"name": "done", "description": "only done (true) or open"}])],
}


async def handler(request: ApiRequest[Any], ctx: FlowContext[Any]) -> ApiResponse[Any]:
    items = await Stream("todos").get_group("inbox")
    done = request.query_params.get("done")
    if done is not None:
        items = [t for t in items if t.get("done") == (done == "true")]
    return ApiResponse(status=200, body=sorted(items, key=lambda t: t["title"]))
