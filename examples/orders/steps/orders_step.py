"""Placing and reading orders: middleware, a typed body, state, and an event for the rest of the flow."""

import os
import uuid

from motia import ApiRequest, ApiResponse, FlowContext, api

from .models import NewOrder, Order

API_KEY = os.environ.get("ORDERS_API_KEY", "secret")


async def require_api_key(req, ctx, next):
    if req.headers.get("x-api-key") != API_KEY:
        return ApiResponse(401, {"error": "missing or wrong x-api-key"})
    ctx.caller = "api-key"
    return await next()


@api("POST", "/orders", status=201, middleware=[require_api_key], emits=["order.placed"], flows=["orders"])
async def place_order(req: ApiRequest[NewOrder], ctx: FlowContext) -> Order:
    """Place an order; payment and shipping happen asynchronously."""
    body = req.body
    order = Order(id=uuid.uuid4().hex[:12], customer=body.customer, item=body.item, quantity=body.quantity,
                  total=round(body.quantity * body.unit_price, 2), card=body.card)
    await ctx.state.set("orders", order.id, order)
    await ctx.emit("order.placed", order)
    ctx.logger.info("order placed", order_id=order.id, total=order.total, caller=ctx.caller)
    return order


@api("GET", "/orders/:id", flows=["orders"])
async def get_order(req: ApiRequest[None], ctx: FlowContext) -> ApiResponse[Order] | ApiResponse[dict]:
    order = await ctx.state.get("orders", req.path_params["id"], type=Order)
    if order is None:
        return ApiResponse(404, {"error": {"code": "NOT_FOUND", "message": "no such order"}})
    return ApiResponse(200, order)
