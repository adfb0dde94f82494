import os
from typing import Any

from motia import ApiRequest, ApiResponse, FlowContext, http, logger

config = {
    "name": "Hello",
    "description": "Greets by name; the prefix comes from .env",
    "flows": ["misc"],
    "triggers": [http("GET", "/hello/:name")],
    "enqueues": [],
}


async def handler(request: ApiRequest[Any], ctx: FlowContext[Any]) -> ApiResponse[Any]:
    name = request.path_params["name"]
    logger.info("greeting", {"name": name})
    prefix = os.environ.get("GREETING_PREFIX", "Hello")
    return ApiResponse(status=200, body={"message": f"{prefix}, {name}!", "trace_id": ctx.trace_id})
