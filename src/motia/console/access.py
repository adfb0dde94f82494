"""Who may use the console and its APIs, on top of the operator guard every `/__motia/` route has
(`engine/operator_guard.py`: a loopback or `--operator-host` Host, no preflight, JSON for writes, no CORS).

- `Origin`, when a browser sends one, must be the page's own (`http(s)://` + the request's `Host`): a page of
  another site gets 403 even if it reached the port.
- With a token (`--console-token` or $MOTIA_CONSOLE_TOKEN), every request carries it, as the
  `X-Motia-Console-Token` header or the `motia_console` cookie that a visit to `/__motia/?token=...` sets
  (HttpOnly, SameSite=Strict). Without one the console serves loopback interfaces only (`unavailable_reason`).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from http.cookies import CookieError, SimpleCookie

from .. import errors
from ..engine.operator_guard import is_loopback_name
from ..protocol import HttpRequestData, HttpResponseData

TOKEN_HEADER = "x-motia-console-token"
TOKEN_COOKIE = "motia_console"
TOKEN_ENV = "MOTIA_CONSOLE_TOKEN"
UNAUTHORIZED = "UNAUTHORIZED"  # 401: no token, or a wrong one

Handler = Callable[[HttpRequestData], Awaitable[HttpResponseData]]


def unavailable_reason(host: str, token: str | None) -> str | None:
    """Why the console may not be served on interface `host`, or None: off loopback it needs a token."""
    if is_loopback_name(host.strip("[]").lower()) or token:
        return None
    return (f"the console on a non-loopback interface ({host}) needs a token: pass --console-token "
            f"(or set ${TOKEN_ENV}), or --no-console")


class ConsoleAccess:
    """The Origin and token checks, as a wrapper around each console route."""

    def __init__(self, token: str | None = None) -> None:
        if token is not None and not token.strip():
            raise ValueError("the console token must not be empty")
        self.token = token

    def guard(self, handler: Handler) -> Handler:
        """`handler` behind the checks (the recording pages' APIs may wrap theirs the same way)."""

        async def guarded(request: HttpRequestData) -> HttpResponseData:
            refused = self.refusal(request)
            return refused if refused is not None else await handler(request)

        return guarded

    def refusal(self, request: HttpRequestData) -> HttpResponseData | None:
        origin = request.headers.get("origin")
        if origin is not None and not _same_origin(origin, request.headers.get("host", "")):
            return _error(403, errors.FORBIDDEN, "the console answers only to its own pages (Origin differs from Host)")
        if self.token is not None and not self._has_token(request):
            return _error(401, UNAUTHORIZED, f"the console needs its token: open /__motia/?token=... once, or "
                          f"send the {TOKEN_HEADER} header")
        return None

    def _has_token(self, request: HttpRequestData) -> bool:
        assert self.token is not None
        given = request.headers.get(TOKEN_HEADER) or _cookie(request.headers.get("cookie", ""), TOKEN_COOKIE)
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def token_visit(self, request: HttpRequestData) -> HttpResponseData | None:
        """`GET /__motia/?token=T` with the right token: set the cookie and send the browser to the console
        without the token in its address bar and history. None when the request carries no `token`."""
        given = request.query_params.get("token")
        if given is None:
            return None
        if self.token is None or not isinstance(given, str) or not hmac.compare_digest(given.encode(),
                                                                                        self.token.encode()):
            return _error(401, UNAUTHORIZED, "wrong console token")
        cookie = f"{TOKEN_COOKIE}={self.token}; Path=/__motia; HttpOnly; SameSite=Strict"
        return HttpResponseData(303, {"location": "/__motia/", "set-cookie": cookie, "cache-control": "no-store"}, b"")


def _same_origin(origin: str, host: str) -> bool:
    scheme, _, rest = origin.partition("://")
    return scheme in ("http", "https") and rest.rstrip("/").lower() == host.strip().lower()


def _cookie(header: str, name: str) -> str | None:
    try:
        jar = SimpleCookie(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def _error(status: int, code: str, message: str) -> HttpResponseData:
    return HttpResponseData(status, {"content-type": "application/json"}, errors.error_body(code, message))
