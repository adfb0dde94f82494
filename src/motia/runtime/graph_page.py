"""`GET /__motia/graph`: the app's flow graph page, one `Route` the composition root serves as a builtin function.

Built here (the runtime knows the Registry; the engine must not) on first request and kept: the steps of a
running app do not change (`motia dev` restarts the process on edits). `motia.graph` is imported on that first
request, not when the app starts.
"""

from __future__ import annotations

from pathlib import Path

from ..protocol import HttpRequestData, HttpResponseData, Route
from ..registry import Registry

GRAPH_PATH = "/__motia/graph"

_CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "mermaid": "text/plain; charset=utf-8",
    "dot": "text/vnd.graphviz; charset=utf-8",
    "json": "application/json",
}


def graph_routes(registry: Registry, title: str | None = None) -> list[Route]:
    """The page at GET /__motia/graph (`?format=mermaid|dot|json` for the text forms)."""
    name = title or Path.cwd().name or "motia"
    rendered: dict[str, bytes] = {}

    async def graph_page(request: HttpRequestData) -> HttpResponseData:
        requested = request.query_params.get("format", "html")
        fmt = requested if isinstance(requested, str) and requested in _CONTENT_TYPES else None
        if fmt is None:
            message = f"unknown format {requested!r}; use one of {', '.join(_CONTENT_TYPES)}"
            return HttpResponseData(400, {"content-type": "text/plain; charset=utf-8"}, message.encode())
        body = rendered.get(fmt)
        if body is None:
            from ..graph import build_graph, render  # loaded by the first request for a graph, not at start

            body = rendered[fmt] = render(build_graph(registry, root=Path.cwd()), fmt, name).encode()
        return HttpResponseData(200, {"content-type": _CONTENT_TYPES[fmt], "cache-control": "no-store"}, body)

    return [Route("admin", "GET", GRAPH_PATH, graph_page)]
