from typing import Any

from motia import ApiResponse, http, step


async def ping(request: Any, ctx: Any) -> ApiResponse[Any]:
    return ApiResponse(status=200, body={"pong": True, "step": "Ping"})


ping_step = step({"name": "Ping", "triggers": [http("GET", "/ping")]}, ping)
