"""CORS for the HTTP trigger type: off unless origins are configured (`motia run --cors-origin ...`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Any, Any], Awaitable[None]]


class CorsPolicy:
    def __init__(
        self,
        origins: Iterable[str],
        *,
        methods: Iterable[str] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),
        headers: Iterable[str] = ("*",),
        credentials: bool = False,
        max_age: int = 600,
    ) -> None:
        self.origins = frozenset(origins)
        self.any_origin = "*" in self.origins
        self.methods = ", ".join(methods).encode()
        self.headers = ", ".join(headers).encode()
        self.credentials = credentials
        self.max_age = str(max_age).encode()

    def allows(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    def _common(self, origin: bytes) -> list[tuple[bytes, bytes]]:
        # With credentials the origin must be echoed, never `*`.
        allow_origin = b"*" if self.any_origin and not self.credentials else origin
        headers = [(b"access-control-allow-origin", allow_origin), (b"vary", b"Origin")]
        if self.credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        return headers

    async def __call__(self, scope: Scope, receive: Any, send: Any, app: ASGI) -> None:
        origin = next((v for k, v in scope["headers"] if k == b"origin"), None)
        if origin is None or not self.allows(origin.decode("latin-1")):
            await app(scope, receive, send)  # no CORS headers: the browser refuses a cross-origin read
            return
        preflight = scope["method"] == "OPTIONS" and any(
            k == b"access-control-request-method" for k, _ in scope["headers"]
        )
        if preflight:
            requested = next((v for k, v in scope["headers"] if k == b"access-control-request-headers"), None)
            allow_headers = requested if self.headers == b"*" and requested else self.headers
            headers = [
                *self._common(origin),
                (b"access-control-allow-methods", self.methods),
                (b"access-control-allow-headers", allow_headers),
                (b"access-control-max-age", self.max_age),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        extra = self._common(origin)

        async def send_with_cors(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await app(scope, receive, send_with_cors)
