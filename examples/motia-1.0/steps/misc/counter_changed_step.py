from typing import Any

from motia import queue, stateManager

config = {
    "name": "CounterChanged",
    "triggers": [queue("counter.changed", condition=lambda data, ctx: data["value"] % 2 == 0)],
}


def handler(data: Any, ctx: Any) -> None:
    stateManager.set("even_counts", data["name"], data["value"])
