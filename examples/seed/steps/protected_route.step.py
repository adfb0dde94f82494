# The seed document's protected-route example: middleware that authenticates and puts the user on ctx.
from motia import ApiResponse, ApiTrigger, FlowContext, StepConfig, step_wrapper

TOKENS = {"secret-token": {"id": "user-1", "name": "Ada"}}


async def auth_middleware(req, ctx, next_handler):
    header = req.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip()
    user = TOKENS.get(token)
    if user is None:
        return ApiResponse(status=401, body={"error": "Unauthorized"})
    ctx.user = user
    return await next_handler(req, ctx)


config = StepConfig(
    name="ProtectedRoute",
    description="Only for authenticated callers",
    triggers=[ApiTrigger(path="/protected", method="GET", middleware=[auth_middleware])],
    flows=["users"],
)


async def handler(req, ctx: FlowContext):
    return ApiResponse(status=200, body={"message": f"Welcome, {ctx.user['name']}", "user": ctx.user})


step_wrapper(config, __file__, handler)
