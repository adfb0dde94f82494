from typing import Any

from motia import FlowContext, queue, stateManager

config = {
    "name": "StoreOrder",
    "flows": ["orders"],
    "triggers": [queue("order.placed")],
}


async def handler(order: Any, ctx: FlowContext[Any]) -> None:
    await stateManager.set("orders", order["id"], order)
