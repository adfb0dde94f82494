from typing import Any

from motia import QueryParam, http

config = {
    "name": "Search",
    "triggers": [
        http("GET", "/search", query_params=[QueryParam(name="q", description="text"), QueryParam(name="tag", description="repeatable")])
    ],
}


async def handler(request: Any, ctx: Any) -> dict[str, Any]:
    return {"status": 200, "body": {"q": request.query_params.get("q"), "tag": request.query_params.get("tag")}}
