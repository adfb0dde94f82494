from motia import ApiResponse, ApiTrigger, FlowContext, StepConfig, step_wrapper

from .todos import INBOX, todo_stream

config = StepConfig(
    name="ListTodos",
    description="Every todo in the inbox, oldest first",
    triggers=[ApiTrigger(path="/todo", method="GET")],
    flows=["todo"],
)


async def handler(req, ctx: FlowContext):
    todos = await todo_stream.get_group(INBOX)
    return ApiResponse(status=200, body=sorted(todos, key=lambda todo: todo["createdAt"]))


step_wrapper(config, __file__, handler)
