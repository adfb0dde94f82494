"""The engine's settings that iii keeps in `config.yaml` (§1.7), as typed Structs.

`EngineOptions` gathers them; `App(engine_options=...)` and `EmbeddedEngine(options=...)` take it. Each field
names the iii worker entry it comes from, so a config loader can fill it field by field.
"""

from __future__ import annotations

import os

import msgspec


class HttpMiddlewareConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One entry of `iii-http`'s `middleware` list (§3.1): a function called before every route's handler."""

    function_id: str
    # iii has one phase; another value is refused rather than silently never run.
    phase: str = "preHandler"
    # Lower runs first; equal priorities keep their order in the list.
    priority: int = 0

    def __post_init__(self) -> None:
        if not self.function_id.strip():
            raise ValueError("middleware function_id must not be blank")
        if self.phase != "preHandler":
            raise ValueError(f"middleware phase {self.phase!r} is not supported (only 'preHandler')")


class HttpFunctionsSecurity(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`iii-http-functions.security` (§4.8): which URLs an HTTP-invoked function may point at.

    The defaults are the safe ones: any host, but only over HTTPS and never to a private, loopback or link-local
    address (so a worker cannot make the engine call into the network it sits in).
    """

    # Host names or patterns (`*.example.com`, `*` for any host); a URL whose host matches none is refused.
    url_allowlist: list[str] = msgspec.field(default_factory=lambda: ["*"])
    block_private_ips: bool = True
    require_https: bool = True


def _grace_ms() -> int:
    try:
        return int(os.environ.get("III_NAMESPACE_GRACE_MS", "5000"))
    except ValueError:
        return 5000


class EngineOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Everything configurable about the embedded engine's protocol side."""

    # `iii-http` `middleware`: run, by priority, before each route's own `middleware_function_ids`.
    http_middleware: tuple[HttpMiddlewareConfig, ...] = ()
    # How long one middleware call may take before the request is answered 504 MIDDLEWARE_TIMEOUT (§3.1).
    http_middleware_timeout_ms: int = 30_000
    # `iii-http-functions` `security`.
    http_functions: HttpFunctionsSecurity = HttpFunctionsSecurity()
    # How long a worker's registrations wait for `engine::workers::register` to name its namespace before they
    # go to `default` (§1.3; iii's `registration_namespace_grace_ms`, env `III_NAMESPACE_GRACE_MS`).
    namespace_grace_ms: int = msgspec.field(default_factory=_grace_ms)


__all__ = ["EngineOptions", "HttpFunctionsSecurity", "HttpMiddlewareConfig"]
