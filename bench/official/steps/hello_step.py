"""The benchmark's GET route as a step of the official Motia runtime (motia 1.0.4rc1 on iii-sdk 0.9.0).

`motia run` loads every `*_step.py` under `steps/` (and `src/`) and takes its module-level `config` and
`handler`. The JSON matches bench/apps/motia_hello: {"message": "Hello, <name>!"}.
"""

# motia loads step files under a module name missing from sys.modules, where evaluating a pydantic generic
# (`MotiaHttpArgs[Any]`) raises KeyError: keep the annotations unevaluated.
from __future__ import annotations

from typing import Any

from motia import ApiResponse, FlowContext, MotiaHttpArgs, http

config = {
    "name": "Hello",
    "description": "GET /hello/:name for the HTTP benchmark",
    "triggers": [http("GET", "/hello/:name")],
    "enqueues": [],
}


async def handler(request: MotiaHttpArgs[Any], ctx: FlowContext[Any]) -> ApiResponse[Any]:
    return ApiResponse(status=200, body={"message": f"Hello, {request.path_params['name']}!"})
