from motia import ApiResponse, ApiTrigger, FlowContext, StepConfig, step_wrapper

from .todos import INBOX, NOT_FOUND, todo_stream

config = StepConfig(
    name="DeleteTodo",
    description="Delete a todo and return it",
    triggers=[ApiTrigger(path="/todo/:id", method="DELETE")],
    flows=["todo"],
)


async def handler(req, ctx: FlowContext):
    removed = await todo_stream.delete(INBOX, req.path_params["id"])
    if removed is None:
        return ApiResponse(status=404, body=NOT_FOUND)
    ctx.logger.info("todo deleted", {"todo_id": removed["id"]})
    return ApiResponse(status=200, body=removed)


step_wrapper(config, __file__, handler)
