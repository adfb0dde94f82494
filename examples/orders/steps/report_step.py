"""A report every five seconds (6-field cron: seconds first), readable over HTTP."""

from motia import FlowContext, api, cron


@cron("*/5 * * * * *", flows=["orders"])
async def order_report(ctx: FlowContext) -> None:
    orders = await ctx.state.get_group("orders")
    counts: dict[str, int] = {}
    for order in orders:
        counts[order["status"]] = counts.get(order["status"], 0) + 1
    await ctx.state.set("reports", "latest", {"orders": len(orders), "by_status": counts})


@api("GET", "/reports/latest", flows=["orders"])
async def latest_report(req, ctx: FlowContext):
    return await ctx.state.get("reports", "latest") or {"orders": 0, "by_status": {}}
