from typing import Any

from motia import queue, stateManager

config = {
    "name": "RecordUrgentTodo",
    "flows": ["todos"],
    "triggers": [queue("todo.urgent")],
}


async def handler(input: Any, ctx: Any) -> None:
    await stateManager.set("urgent", input["id"], input)
