"""Charging the card: retried with back-off, dead-lettered when the card keeps failing."""

import msgspec

from motia import FlowContext, QueueConfig, api, on

from .models import Order


class PaymentDeclined(Exception):
    pass


@on("order.placed", queue=QueueConfig(max_retries=2, backoff_type="exponential", backoff_delay_ms=100),
    emits=["order.paid"], flows=["orders"])
async def charge_payment(order: Order, ctx: FlowContext) -> None:
    if order.card == "0000":
        raise PaymentDeclined(f"card declined for order {order.id}")
    paid = msgspec.structs.replace(order, status="paid")
    await ctx.state.set("orders", order.id, paid)
    await ctx.emit("order.paid", paid)


@on("order.placed", condition=lambda order, ctx: order.total >= 1000, flows=["orders"])
async def alert_big_order(order: Order, ctx: FlowContext) -> None:
    """Only orders of 1000 or more reach this step."""
    await ctx.state.set("alerts", order.id, {"order": order.id, "total": order.total})


@api("GET", "/alerts", flows=["orders"])
async def list_alerts(req, ctx: FlowContext):
    return await ctx.state.get_group("alerts")
