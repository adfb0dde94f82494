"""pydantic models stored in state and in a typed stream (`Stream[Kennel]`), and inside a Struct."""

from __future__ import annotations

import msgspec
from pydantic import BaseModel, Field

from motia import ApiRequest, ApiResponse, FlowContext, Stream, api


class Kennel(BaseModel):
    name: str = Field(min_length=1)
    capacity: int = Field(ge=1)
    keeper: str | None = None


class Stay(msgspec.Struct):
    """A Struct holding a model: stored as plain JSON like the rest."""

    kennel: Kennel
    nights: int


kennels = Stream[Kennel]("kennels")


@api("PUT", "/kennels/:id")
async def put_kennel(req: ApiRequest[Kennel], ctx: FlowContext) -> ApiResponse[dict[str, object]]:
    kennel_id = req.path_params["id"]
    await ctx.state.set("kennels", kennel_id, req.body)
    await ctx.state.set("stays", kennel_id, Stay(kennel=req.body, nights=2))
    await kennels.set("all", kennel_id, req.body)
    return ApiResponse(200, {"stored": kennel_id})


@api("GET", "/kennels/:id")
async def get_kennel(req: ApiRequest[None], ctx: FlowContext) -> ApiResponse[dict[str, object]]:
    kennel_id = req.path_params["id"]
    from_state = await ctx.state.get("kennels", kennel_id, type=Kennel)
    every = await ctx.state.get_group("kennels", type=Kennel)
    item = await kennels.get("all", kennel_id)
    items = await kennels.get_group("all")
    if from_state is None or item is None:
        return ApiResponse(404, {"missing": kennel_id})
    return ApiResponse(200, {
        "state": [type(from_state).__name__, from_state.model_dump()],
        "group": sorted(type(k).__name__ + ":" + k.name for k in every),
        "stream": [type(item).__name__, item.model_dump()],
        "stream_group": sorted(type(k).__name__ + ":" + k.name for k in items),
        "stay": await ctx.state.get("stays", kennel_id),
    })
