"""Who may call the operator routes (`/__motia/...`): the operator's own tools, never a web page.

A page in the operator's browser can send requests to 127.0.0.1, and DNS rebinding can make a hostile name
resolve there. So, before any operator route runs:
- `Host` must be a loopback name (`localhost`, `127.x.x.x`, `[::1]`, with any port) or one configured with
  `--operator-host` (a rebinding page's requests carry its own name);
- an unsafe method must say `Content-Type: application/json`: not a "simple" request, so a browser asks first
  with a preflight, and the preflight is refused (403);
- CORS never applies: no `access-control-*` header is ever sent, whatever `--cors-origin` allows.
`/__motia/health` is exempt from the `Host` rule (load balancers call it by the app's public name).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from .. import errors

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Any, Any], Awaitable[None]]

PREFIX = "__motia"
_HEALTH = [PREFIX, "health"]
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def is_operator_path(path: str) -> bool:
    """Whether the router would take `path` to an operator route (it ignores empty segments: `//__motia/x`)."""
    return PREFIX in path and path.lstrip("/").split("/", 1)[0] == PREFIX  # `in` first: every request asks


def _host_name(host: str) -> str:
    """The name in a `Host` header, without its port: `[::1]:3111` -> `::1`, `Example:80` -> `example`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback_name(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class OperatorGuard:
    """The checks above, as a wrapper around the HTTP app for requests to operator paths."""

    def __init__(self, hosts: Iterable[str] = ()) -> None:
        self.hosts = frozenset(_host_name(host) for host in hosts)

    def refusal(self, scope: Scope) -> tuple[int, bytes] | None:
        """The status and envelope a request to an operator path is refused with, or None to serve it."""
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)
        if [segment for segment in scope["path"].split("/") if segment] != _HEALTH:
            host = _host_name(headers.get(b"host", b"").decode("latin-1"))
            if not (is_loopback_name(host) or host in self.hosts):
                return 403, errors.error_body(
                    errors.FORBIDDEN, "Operator routes answer only to a loopback Host (or one given with "
                    "--operator-host)")
        method = scope["method"]
        if method == "OPTIONS":
            return 403, errors.error_body(errors.FORBIDDEN, "Operator routes take no cross-origin requests")
        if method not in _SAFE_METHODS:
            content_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
            if content_type != b"application/json":
                return 415, errors.error_body(
                    errors.UNSUPPORTED_MEDIA_TYPE, f"{method} on an operator route needs Content-Type: "
                    "application/json")
        return None

    async def __call__(self, scope: Scope, receive: Any, send: Any, app: ASGI) -> None:
        refused = self.refusal(scope)
        if refused is None:
            await app(scope, receive, send)  # never through CORS: no access-control-* header is added
            return
        status, body = refused
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        ]})
        await send({"type": "http.response.body", "body": body})
