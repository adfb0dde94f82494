# The seed document's hello step (StepConfig + step_wrapper): one INFO line per request, as users write it.
from motia import ApiResponse, ApiTrigger, FlowContext, StepConfig, step_wrapper

config = StepConfig(
    name="HelloWorld",
    description="Says hello to the caller",
    triggers=[ApiTrigger(path="/hello/:name", method="GET")],
    emits=[],
    flows=["hello"],
)


async def handler(req, ctx: FlowContext):
    name = req.path_params.get("name", "World")
    ctx.logger.info(f"Greeting {name}")
    return ApiResponse(status=200, body={"message": f"Hello, {name}!"})


step_wrapper(config, __file__, handler)
