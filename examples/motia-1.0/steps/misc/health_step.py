from typing import Any


def always(request: Any, ctx: Any) -> bool:
    return True


config = {
    "name": "Health",
    "triggers": [{"type": "http", "path": "/health", "method": "GET", "responseSchema": {200: {"type": "object"}}, "condition": always}],
}


def handler(request: Any, ctx: Any) -> dict[str, Any]:
    return {"status": 200, "body": {"ok": True}}

