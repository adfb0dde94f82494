from typing import Any

from motia import StreamTriggerInput, stateManager, stream


def is_create(input: StreamTriggerInput, ctx: Any) -> bool:
    return input.event.type == "create"


config = {
    "name": "CountCreatedTodos",
    "description": "A stream trigger: counts todos created in the inbox group",
    "flows": ["todos"],
    "triggers": [stream("todos", group_id="inbox", condition=is_create)],
}


async def handler(input: StreamTriggerInput, ctx: Any) -> None:
    count = await stateManager.get("counters", "todos_created") or 0
    await stateManager.set("counters", "todos_created", count + 1)
