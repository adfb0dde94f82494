from typing import Any

from motia import enqueue, http, stateManager

config = {
    "name": "IncrementCounter",
    "description": "A sync handler: stateManager and enqueue without await",
    "triggers": [http("POST", "/counter/:name")],
    "enqueues": ["counter.changed"],
}


def handler(request: Any, ctx: Any) -> dict[str, Any]:
    name = request.path_params["name"]
    value = (stateManager.get("counter", name) or 0) + 1
    stateManager.set("counter", name, value)
    enqueue({"topic": "counter.changed", "data": {"name": name, "value": value}})
    return {"status": 200, "body": {"name": name, "value": value}}
