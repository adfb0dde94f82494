"""One rule for credential headers sent more than once, on the HTTP port and the stream port alike: the
request is refused with a 400 (`BAD_REQUEST`) before any handler or `@stream_auth` sees it.

Two `Authorization` headers have no single meaning: HTTP would join them (`a, b`), a WebSocket library keeps
the last, a proxy may check the first. Whichever one a check reads, another layer could act on the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import errors

# Each may appear once in a request (RFC 9110, sections 11.6.2 and 11.7.2; RFC 6265, section 5.4: one Cookie header).
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def repeated_credential(names: Iterable[str]) -> str | None:
    """The first credential header among the (lower-case) `names` of headers that were repeated, or None."""
    return next((name for name in names if name in CREDENTIAL_HEADERS), None)


def refusal_body(name: str) -> bytes:
    return errors.error_body(errors.BAD_REQUEST, f"The {name} header appears more than once")


def refuse_repeated_on_handshake(connection: Any, request: Any) -> Any:
    """A `process_request` hook for `websockets.serve`: a 400 for a handshake with a repeated credential header
    (a WebSocket is then never opened, and `@stream_auth` never runs)."""
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    seen: set[str] = set()
    repeated: list[str] = []
    for name, _ in request.headers.raw_items():
        lower = name.lower()
        if lower in seen:
            repeated.append(lower)
        seen.add(lower)
    name = repeated_credential(repeated)
    if name is None:
        return None
    body = refusal_body(name)
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                       ("Connection", "close")])
    return Response(400, "Bad Request", headers, body)
