from typing import Any

from motia import http, stateManager

config = {
    "name": "DeletionReason",
    "flows": ["todos"],
    "triggers": [http("GET", "/todos/:id/deletion")],
}


async def handler(request: Any, ctx: Any) -> dict[str, Any]:
    reason = await stateManager.get("deletions", request.path_params["id"])
    return {"status": 200 if reason else 404, "body": reason or {"error": "not deleted"}}
