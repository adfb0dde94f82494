from typing import Any

from motia import ApiResponse, cron, http, multi_trigger_step, queue, stateManager


async def on_http(request: Any, ctx: Any) -> ApiResponse[Any]:
    await stateManager.set("reminders", request.path_params["id"], {"via": "http"})
    return ApiResponse(status=201, body={"id": request.path_params["id"], "via": ctx.trigger.type})


def on_queue(data: Any, ctx: Any) -> None:
    stateManager.set("reminders", data["id"], {"via": "queue", "topic": ctx.trigger.topic})


async def on_cron(ctx: Any) -> None:
    await stateManager.set("reminders", "cron", {"via": "cron"})


reminder_step = (
    multi_trigger_step(
        {
            "name": "Reminder",
            "description": "multi_trigger_step, chained style",
            "triggers": [http("POST", "/reminders/:id"), queue("reminder.requested"), cron("0 0 * * * *")],
        }
    )
    .on_http(on_http)
    .on_queue(on_queue)
    .on_cron(on_cron)
    .handlers()
)
