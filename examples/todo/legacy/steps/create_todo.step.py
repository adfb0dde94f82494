# The seed's form: StepConfig + step_wrapper, a JSON-Schema body validated before the handler runs.
from uuid import uuid4

from motia import ApiResponse, ApiTrigger, FlowContext, StepConfig, step_wrapper

from .todos import INBOX, now, todo_stream

config = StepConfig(
    name="CreateTodo",
    description="Create a todo in the inbox",
    triggers=[
        ApiTrigger(
            path="/todo",
            method="POST",
            body_schema={
                "type": "object",
                "properties": {
                    "description": {"type": "string", "minLength": 1},
                    "dueDate": {"type": ["string", "null"]},
                },
                "required": ["description"],
            },
        )
    ],
    flows=["todo"],
)


async def handler(req, ctx: FlowContext):
    todo = {
        "id": str(uuid4()),
        "description": req.body["description"],
        "createdAt": now(),
        "dueDate": req.body.get("dueDate"),
        "completedAt": None,
    }
    await todo_stream.set(INBOX, todo["id"], todo)
    ctx.logger.info("todo created", {"todo_id": todo["id"]})
    return ApiResponse(status=201, body=todo)


step_wrapper(config, __file__, handler)
