"""Adoptions in official motia 1.0's Python form: a config dict, `http()`/`queue()` triggers and pydantic models
(the model class as the body and payload schema; the handler validates what it needs with `model_validate`)."""

from typing import Any

from pydantic import BaseModel

from motia import ApiRequest, ApiResponse, FlowContext, http


class AdoptionRequest(BaseModel):
    pet_id: int
    adopter: str


config = {
    "name": "RequestAdoption",
    "description": "Asks to adopt a pet",
    "flows": ["pets"],
    "triggers": [http("POST", "/adoptions", body_schema=AdoptionRequest)],
    "enqueues": ["adoption.requested"],
}


async def handler(request: ApiRequest[AdoptionRequest], ctx: FlowContext[Any]) -> ApiResponse[Any]:
    adoption = request.body
    ctx.logger.info("adoption requested", {"pet_id": adoption.pet_id})
    await ctx.enqueue({"topic": "adoption.requested", "data": adoption})
    return ApiResponse(status=202, body=adoption)
