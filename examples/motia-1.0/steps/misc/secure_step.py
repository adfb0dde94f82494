from typing import Any

from motia import ApiResponse, http


async def require_token(request: Any, ctx: Any, next: Any) -> Any:
    if request.headers.get("authorization") != "Bearer letmein":
        return ApiResponse(status=401, body={"error": "unauthorized"})
    ctx.user = "admin"
    return await next()


config = {
    "name": "Secure",
    "triggers": [http("GET", "/secure", middleware=[require_token])],
}


async def handler(request: Any, ctx: Any) -> ApiResponse[Any]:
    return ApiResponse(status=200, body={"user": ctx.user})
