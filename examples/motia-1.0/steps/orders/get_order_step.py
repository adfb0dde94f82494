from typing import Any

from motia import ApiResponse, http, stateManager

config = {
    "name": "GetOrder",
    "flows": ["orders"],
    "triggers": [http("GET", "/orders/:id")],
}


def handler(request: Any, ctx: Any) -> ApiResponse[Any]:
    order = stateManager.get("orders", request.path_params["id"])
    if order is None:
        return ApiResponse(status=404, body={"error": "no such order"})
    return ApiResponse(status=200, body=order)
