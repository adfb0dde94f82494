"""The recording's operator routes (`motia.recording.api`) as `Route`s the composition root serves as builtin
functions under `/__motia/` (the operator guard keeps them to the operator's own tools), plus the
standalone traces and logs pages (`/__motia/recording/traces`, `/__motia/recording/logs`) until the console
shell hosts them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..protocol import HttpRequestData, HttpResponseData, Route
from ..recording import Recorder, api

TRACES_PATH = "/__motia/api/traces"
LOGS_PATH = "/__motia/api/logs"
RERUN_PATH = "/__motia/api/rerun"
PAGES = {"traces": "/__motia/recording/traces", "logs": "/__motia/recording/logs"}
_ASSETS = Path(api.assets_dir())
_ASSET_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# A page of its own for each module (`render(root, params)`), with the hash's `/`-separated parts as params.
_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>motia {name}</title>
<link rel="stylesheet" href="/__motia/recording/assets/recording.css"></head>
<body><main id="root"></main>
<script type="module">
import {{ render }} from "/__motia/recording/assets/{name}.js";
const root = document.getElementById("root");
const show = () => render(root, location.hash.replace(/^#\\/?/, "").split("/").filter(Boolean));
window.addEventListener("hashchange", show);
show();
</script></body></html>
"""


Handler = Callable[[HttpRequestData], Awaitable[HttpResponseData]]


Enqueue = Callable[[str, str, Any, str], Awaitable[str]]


def recording_routes(recorder: Recorder, base_url: Callable[[], str], enqueue: Enqueue,
                     guard: Callable[[Handler], Handler] | None = None) -> list[Route]:
    """The recording's routes; `base_url()` is the app's own HTTP address (a rerun re-sends requests there),
    `enqueue` the engine's queue action (a rerun of a queue delivery); `guard` wraps each route (the console's
    token and Origin checks, when the console is served)."""

    async def send_http(method: str, path: str, query: dict[str, Any], headers: dict[str, str], body: bytes) -> int:
        import httpx  # on the first rerun: importing it (~90 ms, with rich) is not worth it at every start

        async with httpx.AsyncClient(base_url=base_url(), timeout=60) as client:
            response = await client.request(method, path, params=query, headers=headers, content=body)
        return response.status_code

    async def rerun(request: HttpRequestData) -> HttpResponseData:
        return await api.rerun(recorder, request, send_http, enqueue)

    def bound(handler: Callable[[Recorder, HttpRequestData], HttpResponseData]) -> Handler:
        async def serve(request: HttpRequestData) -> HttpResponseData:
            return handler(recorder, request)

        return serve

    routes: list[Route] = []

    def route(method: str, path: str, function: Handler) -> None:
        routes.append(Route("recording", method, path, guard(function) if guard is not None else function))

    route("GET", TRACES_PATH, bound(api.list_traces))
    route("GET", f"{TRACES_PATH}/:id", bound(api.get_trace))
    route("GET", LOGS_PATH, bound(api.list_logs))
    route("GET", f"{LOGS_PATH}/tail", bound(api.tail_logs))
    route("POST", RERUN_PATH, rerun)
    for name, path in PAGES.items():
        page = _PAGE.format(name=name).encode()
        route("GET", path, _static(page, "text/html; charset=utf-8"))
    for asset in ("traces.js", "logs.js", "recording.css"):
        file = _ASSETS / asset
        route("GET", f"/__motia/recording/assets/{asset}", _static(file.read_bytes(), _ASSET_TYPES[file.suffix]))
    return routes


def _static(body: bytes, content_type: str) -> Handler:
    async def serve(request: HttpRequestData) -> HttpResponseData:
        return HttpResponseData(200, {"content-type": content_type, "cache-control": "no-store"}, body)

    return serve
