"""Greetings: path parameters, a static route beside a parameter route, a query Struct, a sync handler."""

from typing import Annotated

import msgspec

from motia import ApiRequest, FlowContext, api


class Greeting(msgspec.Struct):
    message: str


class GreetingQuery(msgspec.Struct):
    excited: bool = False
    times: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1


@api("GET", "/hello/:name", query=GreetingQuery, flows=["greetings"])
async def hello(req: ApiRequest[None], ctx: FlowContext) -> Greeting:
    """Greet someone by name."""
    query: GreetingQuery = req.query
    mark = "!" if query.excited else "."
    return Greeting(message=" ".join([f"Hello, {req.path_params['name']}{mark}"] * query.times))


@api("GET", "/greetings/summary", flows=["greetings"])
def greetings_summary(req: ApiRequest[None]) -> dict:
    """A static route that wins over /greetings/:name (and a sync handler, run in a worker thread)."""
    return {"routes": ["/hello/:name", "/greetings/:name", "/greetings/summary"]}


@api("GET", "/greetings/:name", flows=["greetings"])
async def greeting(req: ApiRequest[None], ctx: FlowContext) -> Greeting:
    ctx.logger.info("greeting", name=req.path_params["name"])
    return Greeting(message=f"Greetings, {req.path_params['name']}")
