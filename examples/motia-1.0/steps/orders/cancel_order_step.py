from typing import Any

from motia import ApiRequest, ApiResponse, FlowContext, cron, http, queue, stateManager


def only_open(input: Any, ctx: FlowContext[Any]) -> bool:
    return ctx.is_cron() or bool(input)


config = {
    "name": "CancelOrder",
    "description": "Multi-trigger with ctx.match: HTTP, queue and a cron sweep",
    "flows": ["orders"],
    "triggers": [
        http("POST", "/orders/:id/cancel", condition=only_open),
        queue("order.cancel", condition=only_open),
        cron("0 */5 * * * *", condition=only_open),
    ],
}


async def cancel(order_id: str) -> dict[str, Any]:
    order = await stateManager.get("orders", order_id) or {"id": order_id}
    cancelled = {**order, "status": "cancelled"}
    await stateManager.set("orders", order_id, cancelled)
    return cancelled


async def handler(input: Any, ctx: FlowContext[Any]) -> Any:
    async def on_http(request: ApiRequest[Any]) -> ApiResponse[Any]:
        return ApiResponse(status=200, body=await cancel(request.path_params["id"]))

    async def on_queue(data: Any) -> None:
        await cancel(data["id"])

    async def on_cron() -> None:
        await stateManager.set("sweeps", "cancel", {"trigger": ctx.trigger.expression})

    return await ctx.match({"http": on_http, "queue": on_queue, "cron": on_cron})
