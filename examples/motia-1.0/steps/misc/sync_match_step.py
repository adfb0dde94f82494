from typing import Any

from motia import FlowContext, http, queue, stateManager

config = {
    "name": "SyncMatch",
    "description": "A sync handler returning ctx.match(...)",
    "triggers": [http("GET", "/sync-match/:id"), queue("sync.match")],
}


def handler(input: Any, ctx: FlowContext[Any]) -> Any:
    def on_http(request: Any) -> dict[str, Any]:
        return {"status": 200, "body": {"id": request.path_params["id"], "stored": stateManager.get("sync", "last")}}

    def on_queue(data: Any) -> None:
        stateManager.set("sync", "last", data)

    return ctx.match({"http": on_http, "queue": on_queue})
