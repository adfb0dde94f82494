from motia import ApiResponse, ApiTrigger, FlowContext, StepConfig, step_wrapper

from .todos import INBOX

config = StepConfig(
    name="TodoStats",
    description="How many todos were created, updated and deleted",
    triggers=[ApiTrigger(path="/todo/stats", method="GET")],
    flows=["todo"],
)


async def handler(req, ctx: FlowContext):
    return ApiResponse(status=200, body=await ctx.state.get("todo-stats", INBOX) or {})


step_wrapper(config, __file__, handler)
