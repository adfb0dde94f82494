from motia import ApiResponse, ApiTrigger, FlowContext, StepConfig, step_wrapper

from .todos import INBOX, NOT_FOUND, todo_stream

config = StepConfig(
    name="GetTodo",
    description="One todo",
    triggers=[ApiTrigger(path="/todo/:id", method="GET")],
    flows=["todo"],
)


async def handler(req, ctx: FlowContext):
    todo = await todo_stream.get(INBOX, req.path_params["id"])
    if todo is None:
        return ApiResponse(status=404, body=NOT_FOUND)
    return ApiResponse(status=200, body=todo)


step_wrapper(config, __file__, handler)
