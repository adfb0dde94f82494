from typing import Any

from motia import ApiResponse, http, stateManager

config = {
    "name": "ListUrgent",
    "flows": ["todos"],
    "triggers": [http("GET", "/urgent", response_schema={200: {"type": "array"}})],
}


def handler(request: Any, ctx: Any) -> ApiResponse[Any]:
    return ApiResponse(status=200, body=sorted(stateManager.list("urgent"), key=lambda t: t["id"]))
