from typing import Any

from motia import StateTriggerInput, Stream, state


def in_orders(input: StateTriggerInput, ctx: Any) -> bool:
    return input.group_id == "orders"


config = {
    "name": "MirrorOrdersToStream",
    "description": "A state trigger: every change in the orders scope is mirrored to a stream",
    "flows": ["orders"],
    "triggers": [state(condition=in_orders)],
}


def handler(input: StateTriggerInput, ctx: Any) -> None:
    Stream("order_events").set("all", input.item_id, {"id": input.item_id, "value": input.new_value})
