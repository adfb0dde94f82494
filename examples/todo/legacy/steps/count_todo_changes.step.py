# A stream trigger in the seed's form: runs on every create, update and delete in the todo stream's inbox.
from motia import FlowContext, StepConfig, StreamTrigger, step_wrapper

from .todos import INBOX

config = StepConfig(
    name="CountTodoChanges",
    description="Counts todo changes by kind",
    triggers=[StreamTrigger(stream_name="todo", group_id=INBOX)],
    flows=["todo"],
)


async def handler(change, ctx: FlowContext):
    kind = change["event"]["type"]
    ctx.logger.info("todo changed", {"todo_id": change["id"], "change": kind})
    await ctx.state.update("todo-stats", INBOX, [{"type": "increment", "path": kind, "by": 1}])


step_wrapper(config, __file__, handler)
