"""Counting changes as they happen: a stream trigger fed by every write to the todo stream, and a route
that reads the counts (a static path, so it wins over /todo/:id)."""

from motia import ApiRequest, FlowContext, StreamTriggerInput, api, on_stream

from .todo_stream import INBOX

STATS = "todo-stats"


@on_stream("todo", group_id=INBOX, flows=["todo"])
async def count_todo_changes(change: StreamTriggerInput, ctx: FlowContext) -> None:
    """`change.event.type` is create, update or delete; `change.event.data` the (removed) Todo."""
    ctx.logger.info("todo changed", todo_id=change.id, change=change.event.type)
    await ctx.state.update(STATS, INBOX, [{"type": "increment", "path": change.event.type, "by": 1}])


@api("GET", "/todo/stats", flows=["todo"])
async def todo_stats(req: ApiRequest[None], ctx: FlowContext) -> dict:
    """How many todos were created, updated and deleted since the app started (or ever, with SQLite)."""
    return await ctx.state.get(STATS, INBOX) or {}
