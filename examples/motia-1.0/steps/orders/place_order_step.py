import uuid
from typing import Any

from motia import ApiRequest, ApiResponse, FlowContext, enqueue, http


def has_items(request: ApiRequest[Any], ctx: FlowContext[Any]) -> bool:
    return bool((request.body or {}).get("items"))


config = {
    "name": "PlaceOrder",
    "description": "An order without items fails the condition (422)",
    "flows": ["orders"],
    "triggers": [http("POST", "/orders", condition=has_items)],
    "enqueues": [{"topic": "order.placed", "label": "order placed"}],
}


async def handler(request: ApiRequest[Any], ctx: FlowContext[Any]) -> ApiResponse[Any]:
    order = {"id": str(uuid.uuid4())[:8], "items": request.body["items"], "status": "placed"}
    await enqueue({"topic": "order.placed", "data": order, "messageGroupId": order["id"]})
    return ApiResponse(status=202, body=order)
