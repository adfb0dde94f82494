from typing import Any

from motia import FlowContext, enqueue, logger, queue, stateManager


def is_urgent(input: Any, ctx: FlowContext[Any]) -> bool:
    return input.get("priority") == "high"


config = {
    "name": "EscalateUrgentTodo",
    "description": "Only high-priority todos pass the condition",
    "flows": ["todos"],
    "triggers": [queue("todo.created", condition=is_urgent)],
    "enqueues": ["todo.urgent"],
}


async def handler(input: Any, ctx: FlowContext[Any]) -> None:
    logger.info("escalating", {"id": input["id"], "topic": ctx.trigger.topic})
    await stateManager.set("escalated", input["id"], {"title": input["title"]})
    await enqueue({"topic": "todo.urgent", "data": {"id": input["id"], "title": input["title"]}})
