# The seed document's hello example, in its original form: StepConfig + step_wrapper in a *.step.py file.
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
    ctx.logger.info(f"Saying hello to {name}", name=name)
    return ApiResponse(status=200, body={"message": f"Hello, {name}!", "trigger": ctx.trigger.type})


step_wrapper(config, __file__, handler)
