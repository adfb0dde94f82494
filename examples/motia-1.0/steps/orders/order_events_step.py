from typing import Any

from motia import ApiResponse, Stream, http

config = {
    "name": "ListOrderEvents",
    "flows": ["orders"],
    "triggers": [http("GET", "/order-events")],
}


async def handler(request: Any, ctx: Any) -> ApiResponse[Any]:
    return ApiResponse(status=200, body=await Stream("order_events").get_group("all"))
