import os
from typing import Any

from motia import http

config = {
    "name": "DotenvCheck",
    "triggers": [http("GET", "/dotenv-check")],
}


def handler(request: Any, ctx: Any) -> dict[str, Any]:
    return {
        "status": 200,
        "body": {
            "app_name": os.environ.get("APP_NAME"),
            "has_secret": bool(os.environ.get("SECRET_KEY")),
            "prefix": os.environ.get("GREETING_PREFIX"),
        },
    }
