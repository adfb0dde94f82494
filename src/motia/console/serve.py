"""`console_routes`: the console's routes, `Route`s the composition root serves as builtin functions (as the
graph and docs pages are): the shell at `/__motia/`, its files at `/__motia/console/<file>`
and the APIs of `api.py` under `/__motia/api/`.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from .. import errors
from ..engine.embedded import EmbeddedEngine
from ..protocol import HttpRequestData, HttpResponseData, Route
from ..registry import Registry
from .access import ConsoleAccess, Handler
from .api import ApiError, ConsoleApi

CONSOLE_PATH = "/__motia/"
ASSETS_PATH = "/__motia/console"
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".css": "text/css; charset=utf-8", ".png": "image/png"}
# Any file of assets/ by its plain name: a new page is a new file there and one line in console.js's PAGES.
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|js|css|png)$")


def console_routes(embedded: EmbeddedEngine, registry: Registry, *, token: str | None = None,
                   title: str | None = None) -> tuple[list[Route], ConsoleAccess]:
    """The console's routes, and its access checks (other console pages' APIs wrap their handlers with them)."""
    access = ConsoleAccess(token)
    api = ConsoleApi(embedded, registry, title or Path.cwd().name or "motia")
    routes: dict[tuple[str, str], Handler] = {
        ("GET", "/__motia"): _shell(access),
        ("GET", f"{ASSETS_PATH}/:file"): _asset,
        ("GET", "/__motia/api/console"): api.about,
        ("GET", "/__motia/api/flows"): api.flows,
        ("GET", "/__motia/api/state"): api.state_groups,
        ("GET", "/__motia/api/state/:group"): api.state_items,
        ("PUT", "/__motia/api/state/:group/:key"): api.state_set,
        ("DELETE", "/__motia/api/state/:group/:key"): api.state_delete,
        ("GET", "/__motia/api/streams"): api.streams,
        ("GET", "/__motia/api/queues"): api.queues,
        ("GET", "/__motia/api/queues/messages"): api.messages,
        ("POST", "/__motia/api/queues/redrive"): api.redrive,
        ("POST", "/__motia/api/queues/discard"): api.discard,
        ("GET", "/__motia/api/cron"): api.cron,
        ("POST", "/__motia/api/cron/run"): api.cron_run,
    }
    # The shell checks the token itself: a `?token=` visit is how a browser gets the cookie.
    return [Route("console", method, path, _answer_errors(handler) if path == "/__motia"
                  else access.guard(_answer_errors(handler))) for (method, path), handler in routes.items()], access


def _answer_errors(handler: Handler) -> Handler:
    async def answered(request: HttpRequestData) -> HttpResponseData:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()

    return answered


def _shell(access: ConsoleAccess) -> Handler:
    async def shell(request: HttpRequestData) -> HttpResponseData:
        visit = access.token_visit(request)
        if visit is not None:
            return visit
        refused = access.refusal(request)
        if refused is not None:
            return refused
        return HttpResponseData(200, {"content-type": _CONTENT_TYPES[".html"], "cache-control": "no-cache"},
                                _read("index.html"))

    return shell


async def _asset(request: HttpRequestData) -> HttpResponseData:
    name = request.path_params.get("file", "")
    if not _ASSET_NAME.match(name):
        raise ApiError(404, errors.NOT_FOUND, f"no console file {name!r}")
    try:
        body = _read(name)
    except FileNotFoundError:
        raise ApiError(404, errors.NOT_FOUND, f"no console file {name!r}") from None
    return HttpResponseData(200, {"content-type": _CONTENT_TYPES[Path(name).suffix], "cache-control": "no-cache"},
                            body)


def _read(name: str) -> bytes:
    # Read when asked, not kept: small files, and most runs never open the console.
    return resources.files("motia.console").joinpath(f"assets/{name}").read_bytes()
