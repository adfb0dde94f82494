import json

from motia import FlowContext, MotiaHttpArgs

config = {
    "name": "SseUpload",
    "description": "Reads an upload chunk by chunk (a sync handler, as in the official playground) and reports "
                   "each chunk as a server-sent event",
    "triggers": [{"type": "http", "method": "POST", "path": "/sse/upload"}],
    "enqueues": [],
    "flows": ["streaming"],
}


def handler(args: MotiaHttpArgs, ctx: FlowContext) -> None:
    args.response.status(200)
    args.response.headers({"content-type": "text/event-stream"})
    total = 0
    for chunk in args.request.request_body.stream:  # the body is read as it arrives, never held whole
        total += len(chunk)
        args.response.writer.stream.write(f"event: chunk\ndata: {json.dumps({'bytes': len(chunk)})}\n\n")
    args.response.writer.stream.write(f"event: done\ndata: {json.dumps({'total': total})}\n\n")
    args.response.close()
