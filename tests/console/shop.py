"""The app the console tests serve: an HTTP route that takes a typed body, a queue step that fails on demand
(dead letters), a state trigger that records what it saw, a cron job and a stream."""

from __future__ import annotations

import threading

import msgspec

from motia import (
    ApiRequest,
    FlowContext,
    QueueConfig,
    Registry,
    StateTriggerInput,
    Stream,
    api,
    cron,
    on,
    on_state,
    state,
)
from motia.dsl import step_of


class NewOrder(msgspec.Struct):
    item: str
    quantity: int
    gift: bool = False


class Order(msgspec.Struct):
    id: str
    item: str
    quantity: int


orders = Stream[Order]("orders")


@api("POST", "/orders/:shop", status=201, emits=["order.placed"], flows=["shop"])
async def place_order(req: ApiRequest[NewOrder], ctx: FlowContext) -> Order:
    """Takes an order for one shop."""
    order = Order(id=f"{req.path_params['shop']}-{req.body.item}", item=req.body.item, quantity=req.body.quantity)
    await ctx.emit("order.placed", order)
    return order


@on("order.placed", queue=QueueConfig(max_retries=1, backoff_delay_ms=10), flows=["shop"])
async def pack_order(order: Order, ctx: FlowContext) -> None:
    if order.item == "broken":
        raise RuntimeError("cannot pack a broken item")
    await orders.set("packed", order.id, order)


@on_state(scope="inventory")
async def audit_inventory(change: StateTriggerInput, ctx: FlowContext) -> None:
    """Records every change of the inventory: how a test sees that a console edit fired the trigger."""
    await state.set("audit", change.item_id, {"event": change.event_type, "new": change.new_value})


@cron("0 0 1 1 *")
async def yearly_report(ctx: FlowContext) -> None:
    await state.set("reports", "yearly", {"done": True})


# Holds a run of `stocktake` until a test lets it finish (a sync handler: it runs in a worker thread).
STOCKTAKE_MAY_FINISH = threading.Event()


@cron("0 0 1 7 *")
def stocktake(ctx: FlowContext) -> None:
    STOCKTAKE_MAY_FINISH.wait(30)


def registry() -> Registry:
    handlers = (place_order, pack_order, audit_inventory, yearly_report, stocktake)
    return Registry([step for step in map(step_of, handlers) if step is not None], [orders])
