# The seed document's create-user example: a JSON-Schema body validated at request time.
import uuid

from motia import ApiResponse, ApiTrigger, FlowContext, StepConfig, step_wrapper

from .users import USERS

config = StepConfig(
    name="CreateUser",
    description="Creates a user from a validated body",
    triggers=[
        ApiTrigger(
            path="/users",
            method="POST",
            body_schema={
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "email": {"type": "string"},
                    "age": {"type": "integer", "minimum": 0},
                },
                "required": ["name", "email"],
            },
            response_schema={
                201: {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}},
            },
        )
    ],
    emits=["user.created"],
    flows=["users"],
)


async def handler(req, ctx: FlowContext):
    user = {"id": str(uuid.uuid4()), **req.body}
    USERS[user["id"]] = user
    ctx.logger.info("User created", {"user_id": user["id"]})
    return ApiResponse(status=201, body=user)


step_wrapper(config, __file__, handler)
