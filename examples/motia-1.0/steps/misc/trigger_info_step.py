from typing import Any

from motia import FlowContext, http, queue, stateManager

config = {
    "name": "TriggerInfoProbe",
    "description": "ctx.is_api()/is_queue(), ctx.get_data() and the filled TriggerInfo",
    "triggers": [http("POST", "/probe"), queue("probe")],
}


def handler(input: Any, ctx: FlowContext[Any]) -> Any:
    info = {"type": ctx.trigger.type, "index": ctx.trigger.index, "path": ctx.trigger.path,
            "method": ctx.trigger.method, "topic": ctx.trigger.topic, "data": ctx.get_data()}
    if ctx.is_api():
        return {"status": 200, "body": info}
    if ctx.is_queue():
        stateManager.set("probe", "last", info)
    return None
