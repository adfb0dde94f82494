from motia import ApiResponse, ApiTrigger, FlowContext, StepConfig, step_wrapper

from .todos import INBOX, NOT_FOUND, now, todo_stream

config = StepConfig(
    name="UpdateTodo",
    description="Change a todo's description or due date, or complete it",
    triggers=[
        ApiTrigger(
            path="/todo/:id",
            method="PUT",
            body_schema={
                "type": "object",
                "properties": {
                    "description": {"type": ["string", "null"], "minLength": 1},
                    "dueDate": {"type": ["string", "null"]},
                    "completed": {"type": ["boolean", "null"]},
                },
            },
        )
    ],
    flows=["todo"],
)


async def handler(req, ctx: FlowContext):
    todo = await todo_stream.get(INBOX, req.path_params["id"])
    if todo is None:
        return ApiResponse(status=404, body=NOT_FOUND)
    changes = req.body or {}
    if changes.get("description") is not None:
        todo["description"] = changes["description"]
    if changes.get("dueDate") is not None:
        todo["dueDate"] = changes["dueDate"]
    if changes.get("completed") is not None:
        todo["completedAt"] = (todo["completedAt"] or now()) if changes["completed"] else None
    await todo_stream.set(INBOX, todo["id"], todo)
    ctx.logger.info("todo updated", {"todo_id": todo["id"]})
    return ApiResponse(status=200, body=todo)


step_wrapper(config, __file__, handler)
