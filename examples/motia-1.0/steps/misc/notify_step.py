from typing import Any

from motia import http, multi_trigger_step, queue, stateManager


async def by_http(request: Any, ctx: Any) -> dict[str, Any]:
    return {"status": 200, "body": {"kind": "http"}}


async def by_queue(data: Any, ctx: Any) -> None:
    await stateManager.set("notifications", data["id"], data)


notify_step = multi_trigger_step(
    {"name": "Notify", "triggers": [http("GET", "/notify"), queue("notify")]}
).handlers({"http": by_http, "queue": by_queue})
