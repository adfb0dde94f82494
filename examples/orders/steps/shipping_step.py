"""One step, two triggers: ship when the payment event arrives, or when someone asks over HTTP."""

import msgspec

from motia import ApiResponse, FlowContext, api, on

from .models import Order


@api("POST", "/orders/:id/ship", flows=["orders"])
@on("order.paid", flows=["orders"])
async def ship_order(data, ctx: FlowContext):
    if ctx.trigger.type == "api":
        order = await ctx.state.get("orders", data.path_params["id"], type=Order)
        if order is None:
            return ApiResponse(404, {"error": {"code": "NOT_FOUND", "message": "no such order"}})
    else:
        order = data if isinstance(data, Order) else msgspec.convert(data, Order)
    shipped = msgspec.structs.replace(order, status="shipped")
    await ctx.state.set("orders", order.id, shipped)
    ctx.logger.info("order shipped", order_id=order.id, via=ctx.trigger.kind)
    if ctx.trigger.type == "http":
        return ApiResponse(200, shipped)
    return None


