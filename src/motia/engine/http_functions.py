"""HTTP-invoked functions (`docs/protocol.md` §4.8): a worker registers a function with an `invocation` URL and
the engine calls that URL for every invocation and trigger fire, instead of sending the worker a frame.

The URL is checked against `iii-http-functions.security` (`HttpFunctionsSecurity`) on every call, after
resolving its host, so a name that later points somewhere private is refused too.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import hashlib
import hmac
import ipaddress
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any, Literal, Protocol, Union
from urllib.parse import urlsplit

import msgspec

from ..protocol import ErrorBody, HttpRequestData, InvocationResult, new_id, wire_http_request
from .options import HttpFunctionsSecurity

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("motia.engine.http_functions")

DEFAULT_TIMEOUT_MS = 30_000


class FiredTrigger(Protocol):
    """What a call says of the trigger that fired it (the engine's `TriggerEntry`)."""

    id: str
    type: str


class HmacAuth(msgspec.Struct, tag="hmac", tag_field="type", forbid_unknown_fields=True):
    """`x-iii-Signature: sha256=<HMAC-SHA256(secret, "<timestamp>:<base64 body>")>`; the secret is read from
    the engine's environment variable named `secret_key`."""

    secret_key: str


class BearerAuth(msgspec.Struct, tag="bearer", tag_field="type", forbid_unknown_fields=True):
    """`Authorization: Bearer <token>`, the token read from the environment variable named `token_key`."""

    token_key: str


class ApiKeyAuth(msgspec.Struct, tag="api_key", tag_field="type", forbid_unknown_fields=True):
    """`<header>: <key>`, the key read from the environment variable named `value_key`."""

    header: str
    value_key: str


HttpAuth = Union[HmacAuth, BearerAuth, ApiKeyAuth]


class HttpInvocation(msgspec.Struct, frozen=True):
    """`registerfunction.invocation`: where and how the engine calls the function."""

    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    timeout_ms: int | None = None
    headers: dict[str, str] = {}
    auth: HttpAuth | None = None


class InvalidInvocation(ValueError):
    """A `registerfunction.invocation` that cannot be used; the message says which field and why."""


def parse_invocation(raw: Any) -> HttpInvocation:
    """Decode and check `registerfunction.invocation` (method case-insensitive, an absolute http(s) URL)."""
    if isinstance(raw, dict) and isinstance(raw.get("method"), str):
        raw = {**raw, "method": raw["method"].upper()}
    try:
        invocation = msgspec.convert(raw, HttpInvocation)
    except msgspec.ValidationError as exc:
        raise InvalidInvocation(str(exc)) from None
    parts = urlsplit(invocation.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInvocation(f"url must be an absolute http:// or https:// URL, got {invocation.url!r}")
    if invocation.timeout_ms is not None and invocation.timeout_ms <= 0:
        raise InvalidInvocation(f"timeout_ms must be positive, got {invocation.timeout_ms}")
    return invocation


class HttpFunctions:
    """Calls HTTP-invoked functions through one pooled client, under one security policy."""

    def __init__(self, security: HttpFunctionsSecurity) -> None:
        self.security = security
        self._client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def refusal(self, url: str) -> str | None:
        """Why `security` forbids calling `url`, or None when it may be called."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if self.security.require_https and parts.scheme != "https":
            return f"{url} is not https (iii-http-functions.security.require_https)"
        if not any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in self.security.url_allowlist):
            return f"host {host!r} is not in iii-http-functions.security.url_allowlist"
        if self.security.block_private_ips:
            for address in await _addresses(host, parts.port or (443 if parts.scheme == "https" else 80)):
                if not address.is_global:
                    return (f"host {host!r} resolves to the non-public address {address} "
                            "(iii-http-functions.security.block_private_ips)")
        return None

    async def call(
        self,
        function_id: str,
        invocation: HttpInvocation,
        data: Any,
        *,
        traceparent: str | None = None,
        trigger: FiredTrigger | None = None,
    ) -> InvocationResult:
        """One invocation as one HTTP request; the response becomes the result or the error (§4.8)."""
        refused = await self.refusal(invocation.url)
        if refused is not None:
            log.warning("HTTP function %s not called: %s", function_id, refused)
            return _failed(function_id, "url_not_allowed", refused)
        body = _encode(data)
        timestamp = str(int(time.time()))
        headers = {**invocation.headers, "content-type": "application/json",
                   "x-iii-Function-Path": function_id, "x-iii-Invocation-ID": new_id(),
                   "x-iii-Timestamp": timestamp}
        if traceparent is not None and traceparent.count("-") >= 3:
            headers["x-iii-Trace-ID"] = traceparent.split("-")[1]
        if trigger is not None:
            headers["x-iii-Trigger-Type"] = trigger.type
            headers["x-iii-Trigger-ID"] = trigger.id
        try:
            headers.update(_auth_headers(invocation.auth, timestamp, body))
        except KeyError as exc:
            message = f"environment variable {exc.args[0]} (auth of HTTP function {function_id}) is not set"
            return _failed(function_id, "http_auth_missing", message)
        timeout = (invocation.timeout_ms or DEFAULT_TIMEOUT_MS) / 1000
        import httpx

        if self._client is None:
            # Redirects are not followed: a 3xx is an answer, and following it would step around the allowlist.
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        try:
            response = await self._client.request(
                invocation.method, invocation.url, content=body, headers=headers, timeout=timeout
            )
        except httpx.TimeoutException:
            return _failed(function_id, "timeout", f"HTTP function {function_id} did not answer within "
                                                   f"{invocation.timeout_ms or DEFAULT_TIMEOUT_MS} ms")
        except httpx.HTTPError as exc:
            return _failed(function_id, "http_request_failed", f"calling HTTP function {function_id}: {exc}")
        return _result(function_id, response.status_code, response.content)


async def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []  # the request itself will fail with a clear connection error
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def _encode(data: Any) -> bytes:
    if type(data) is HttpRequestData:  # an http trigger's request, in-process form: sent in its wire form
        data = wire_http_request(data)
    return _encoder.encode(data)


def _auth_headers(auth: HttpAuth | None, timestamp: str, body: bytes) -> dict[str, str]:
    """Raises KeyError(variable name) when the environment variable holding the secret is not set."""
    if auth is None:
        return {}
    if isinstance(auth, BearerAuth):
        return {"authorization": f"Bearer {os.environ[auth.token_key]}"}
    if isinstance(auth, ApiKeyAuth):
        return {auth.header: os.environ[auth.value_key]}
    secret = os.environ[auth.secret_key].encode()
    signed = f"{timestamp}:{base64.b64encode(body).decode()}".encode()
    return {"x-iii-Signature": "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()}


def _result(function_id: str, status: int, content: bytes) -> InvocationResult:
    value: Any = None
    decoded = True
    if content.strip():
        try:
            value = _decoder.decode(content)
        except msgspec.DecodeError:
            decoded = False
    if status < 400:
        if not decoded:
            return _failed(function_id, "invalid_response",
                           f"HTTP function {function_id} answered {status} with a body that is not JSON")
        return InvocationResult(function_id=function_id, result=value)
    error = value.get("error") if isinstance(value, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str) and isinstance(error.get("message"), str):
        return _failed(function_id, error["code"], error["message"])
    return _failed(function_id, "http_error", f"HTTP {status}")


def _failed(function_id: str, code: str, message: str) -> InvocationResult:
    return InvocationResult(function_id=function_id, error=ErrorBody(code, message))


__all__ = ["HttpFunctions", "HttpInvocation", "InvalidInvocation", "parse_invocation"]
