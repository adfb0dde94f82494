"""The app the recording tests serve: a route that logs, writes state and emits, and a queue handler whose very
first delivery fails (so the first order's trace has a failed delivery and its retry)."""

from __future__ import annotations

from typing import Any

from motia import ApiRequest, FlowContext, QueueConfig, api, on


def shop() -> tuple[Any, Any, list[str]]:
    attempts: list[str] = []

    @api("POST", "/orders")
    async def place(req: ApiRequest[dict], ctx: FlowContext) -> dict:
        ctx.logger.info("placing order", order=req.body["id"])
        await ctx.state.set("orders", req.body["id"], req.body)
        await ctx.emit("order.placed", {"id": req.body["id"]})
        return {"trace_id": ctx.trace_id}

    @on("order.placed", queue=QueueConfig(max_retries=2, backoff_delay_ms=0))
    async def bill(data: dict, ctx: FlowContext) -> None:
        attempts.append(data["id"])
        if len(attempts) == 1:
            raise RuntimeError("card processor down")
        ctx.logger.warning("billed", order=data["id"])

    return place, bill, attempts
