import asyncio
import json
from typing import Any

from motia import FlowContext, MotiaHttpArgs, stateManager

config = {
    "name": "SseJobProgress",
    "description": "Server-sent events: a job's progress, pushed as its state changes",
    "triggers": [{"type": "http", "method": "GET", "path": "/sse/jobs/:id"}],
    "enqueues": [],
    "flows": ["streaming"],
}

POLL_SECONDS = 0.05
MAX_POLLS = 1200  # give up after about a minute


async def handler(args: MotiaHttpArgs, ctx: FlowContext) -> None:
    job_id = args.path_params["id"]
    await args.response.status(200)
    await args.response.headers({"content-type": "text/event-stream", "cache-control": "no-cache"})
    last: Any = object()
    for _ in range(MAX_POLLS):
        job = await stateManager.get("jobs", job_id)
        if job != last:
            # Each event reaches the client as soon as it is written.
            args.response.writer.stream.write(f"event: progress\ndata: {json.dumps(job)}\n\n".encode())
            last = job
        if job is None or job.get("status") == "done":
            break
        await asyncio.sleep(POLL_SECONDS)
    args.response.close()
