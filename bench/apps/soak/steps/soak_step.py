"""The soak test's app (bench/soak.py): a read route, a validated write route that emits an event, and a
subscriber that records each event in state and in a stream. Counters in this module let the driver check
that every emitted event was handled."""

from typing import Annotated

import msgspec

from motia import ApiRequest, FlowContext, QueueConfig, api, on

from .soak_stream import latest

HANDLED = "soak-handled"
counts = {"emitted": 0, "deliveries": 0}


class Item(msgspec.Struct):
    id: str
    name: str
    tags: list[str]


class Work(msgspec.Struct):
    seq: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    payload: Annotated[str, msgspec.Meta(max_length=1024)]
    priority: Annotated[int, msgspec.Meta(ge=0, le=9)] = 0


class Accepted(msgspec.Struct):
    seq: str


@api("GET", "/items/:id")
async def get_item(req: ApiRequest[None]) -> Item:
    item_id = req.path_params["id"]
    return Item(id=item_id, name=f"item {item_id}", tags=["soak", "read"])


@api("POST", "/work", status=202, emits=["soak.work"])
async def post_work(req: ApiRequest[Work], ctx: FlowContext) -> Accepted:
    counts["emitted"] += 1  # first: the subscriber may run before emit returns
    await ctx.emit("soak.work", req.body)
    return Accepted(seq=req.body.seq)


@on("soak.work", queue=QueueConfig(concurrency=10))
async def handle_work(work: Work, ctx: FlowContext) -> None:
    counts["deliveries"] += 1
    await ctx.state.set(HANDLED, work.seq, 1)
    # A bounded set of stream items, so stream writes (and pushes to subscribers) are part of the load.
    await latest.set("recent", str(int(work.seq.rsplit("-", 1)[-1]) % 100), {"seq": work.seq})


@api("GET", "/soak/stats")
async def stats(req: ApiRequest[None], ctx: FlowContext) -> dict:
    """The counters; `?handled=1` also counts the distinct events recorded in state (slow: reads them all)."""
    result: dict = dict(counts)
    if req.query_params.get("handled"):
        result["handled"] = len(await ctx.state.get_group(HANDLED))
    return result
