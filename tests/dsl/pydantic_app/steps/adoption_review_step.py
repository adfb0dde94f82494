"""Reviews an adoption: official motia 1.0's queue trigger with a pydantic model as its input schema."""

from typing import Any

from pydantic import BaseModel

from motia import FlowContext, queue


class AdoptionRequest(BaseModel):
    pet_id: int
    adopter: str


config = {
    "name": "ReviewAdoption",
    "flows": ["pets"],
    "triggers": [queue("adoption.requested", input=AdoptionRequest)],
}


async def handler(input: AdoptionRequest, ctx: FlowContext[Any]) -> None:
    await ctx.state.set("welcomed", f"adoption-{input.pet_id}",
                        {"name": input.adopter, "received": type(input).__name__, "owner": None})
