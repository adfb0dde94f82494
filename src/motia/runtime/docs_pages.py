"""The API docs pages `motia run` serves: `/docs` (Swagger UI), `/redoc` (Redoc) over `/openapi.json`, and
`/asyncapi` over `/asyncapi.json` (the topics), each a `Route` the composition root serves as a builtin function.

The browser code is packaged in `motia/docs_assets` (see its README for versions and licences) and served under
`/__motia/docs/`: the pages work with no network. A page whose path a step already serves is left to the step.
"""

from __future__ import annotations

import html
import importlib.util
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from ..model import HttpTrigger
from ..protocol import HttpRequestData, HttpResponseData, Route
from ..registry import Registry

ASSETS_PATH = "/__motia/docs"
ASYNCAPI_JSON_PATH = "/asyncapi.json"
_ASSET_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_ASSETS = ("swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css", "redoc/redoc.standalone.js",
           "asyncapi.js", "asyncapi.css")

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {what}</title>
{head}
</head>
<body{attributes}>
{body}
</body>
</html>
"""

# Each page: what its title says, the end of its <head>, attributes of its <body>, and its <body>.
_PAGES = {
    "/docs": ("API docs", '<link rel="stylesheet" href="{assets}/swagger-ui/swagger-ui.css">', "", """\
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout",
}});
</script>"""),
    "/redoc": ("API reference", "<style>body {{ margin: 0; padding: 0; }}</style>", "", """\
<redoc spec-url="/openapi.json"></redoc>
<script src="{assets}/redoc/redoc.standalone.js"></script>"""),
    "/asyncapi": ("topics", '<link rel="stylesheet" href="{assets}/asyncapi.css">', ' data-document="{document}"', """\
<main id="asyncapi"><noscript>This page renders the AsyncAPI document with JavaScript: read it at
<a href="{document}">{document}</a>.</noscript></main>
<script src="{assets}/asyncapi.js"></script>"""),
}

Builtin = Callable[[HttpRequestData], Awaitable[HttpResponseData]]


def docs_paths() -> dict[str, str]:
    """The pages this app serves, by name, as the banner lists them (AsyncAPI needs the motia-codegen package)."""
    paths = {"swagger": "/docs", "redoc": "/redoc"}
    if _asyncapi_available():
        paths["asyncapi"] = "/asyncapi"
    return paths


def docs_routes(registry: Registry, title: str | None = None) -> list[Route]:
    """`/docs`, `/redoc`, `/asyncapi` (+ `/asyncapi.json`) and their assets, except paths a step serves."""
    name = html.escape(title or registry.name or Path.cwd().name or "motia")
    taken = {t.path for step in registry for t in step.triggers if isinstance(t, HttpTrigger) and t.method == "GET"}
    routes: list[Route] = []

    def add(path: str, handler: Builtin) -> None:
        if path not in taken:
            routes.append(Route("docs", "GET", path, handler))

    with_asyncapi = _asyncapi_available()
    if with_asyncapi:
        add(ASYNCAPI_JSON_PATH, _asyncapi_document(registry, name))
    for path, (what, head, attributes, body) in _PAGES.items():
        if path == "/asyncapi" and not with_asyncapi:
            continue
        slots = {"assets": ASSETS_PATH, "document": ASYNCAPI_JSON_PATH}
        page = _PAGE.format(title=name, what=what, head=head.format(**slots), attributes=attributes.format(**slots),
                            body=body.format(**slots))
        add(path, _constant(page.encode(), "text/html; charset=utf-8"))
    for asset in _ASSETS:
        add(f"{ASSETS_PATH}/{asset}", _asset(asset))
    return routes


def _constant(body: bytes, content_type: str) -> Builtin:
    async def respond(request: HttpRequestData) -> HttpResponseData:
        return HttpResponseData(200, {"content-type": content_type, "cache-control": "no-cache"}, body)

    return respond


def _asset(name: str) -> Builtin:
    """A packaged file, read on its first request (most runs never open a docs page)."""
    content_type = _ASSET_TYPES[Path(name).suffix]
    loaded: list[bytes] = []

    async def respond(request: HttpRequestData) -> HttpResponseData:
        if not loaded:
            loaded.append(resources.files("motia").joinpath(f"docs_assets/{name}").read_bytes())
        return HttpResponseData(200, {"content-type": content_type, "cache-control": "no-cache"}, loaded[0])

    return respond


def _asyncapi_available() -> bool:
    return importlib.util.find_spec("motia_codegen") is not None


def _asyncapi_document(registry: Registry, title: str) -> Builtin:
    """`GET /asyncapi.json`: built by motia-codegen on the first request and kept (the steps do not change)."""
    document: list[bytes] = []

    async def respond(request: HttpRequestData) -> HttpResponseData:
        if not document:
            import msgspec
            from motia_codegen.asyncapi import asyncapi_document

            document.append(msgspec.json.encode(asyncapi_document(registry, title=html.unescape(title))))
        return HttpResponseData(200, {"content-type": "application/json"}, document[0])

    return respond
