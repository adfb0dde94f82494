from typing import Any

from motia import ApiRequest, ApiResponse, http, stateManager

config = {
    "name": "GetCounter",
    "triggers": [http("GET", "/counter/:name")],
}


async def handler(request: ApiRequest[Any], ctx: Any) -> ApiResponse[Any]:
    name = request.path_params["name"]
    return ApiResponse(
        status=200,
        body={"value": await stateManager.get("counter", name), "even": await stateManager.get("even_counts", name)},
    )
