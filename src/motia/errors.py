"""Errors a user can cause, each pointing at the step file and line, and the HTTP error envelope."""

from __future__ import annotations

import difflib

import msgspec


class MotiaError(Exception):
    """Base of motia's own errors."""


class InvocationClosed(MotiaError):
    """A state, stream or emit call from a sync handler's thread after the handler ran past its time limit: its
    caller has been answered (504, a failed attempt), so what the thread still does is refused."""


class StoreUnavailable(MotiaError):
    """A state, stream or emit call the shared store (Redis) did not answer: the HTTP request it served is
    answered 503, and the same call succeeds again once the store is back."""


class StepError(MotiaError):
    """A step that cannot be loaded or registered: where it is, what is wrong, how to fix it."""

    def __init__(self, message: str, location: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(self.render())

    def render(self, root: str | None = None) -> str:
        return _render(self.location, self.message, self.hint, root)


class StepWarning:
    """A step that loads but is probably a mistake (`motia.checks`): where it is, what is odd, how to fix it."""

    __slots__ = ("hint", "location", "message")

    def __init__(self, message: str, location: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.location = location
        self.hint = hint

    def render(self, root: str | None = None) -> str:
        return _render(self.location, self.message, self.hint, root)

    def __repr__(self) -> str:
        return f"StepWarning({self.render()!r})"


def _render(location: str | None, message: str, hint: str | None, root: str | None) -> str:
    """`file:line: message` and the hint on its own line; with `root`, files under it are named relative to it
    (what a user in the project directory types), in the location, the message and the hint alike."""
    text = f"{location}: {message}" if location else message
    if hint:
        text += f"\n  hint: {hint}"
    return text.replace(root.rstrip("/") + "/", "") if root else text


def did_you_mean(name: str, known: list[str], most: int = 3) -> str | None:
    """`did you mean 'a' or 'b'?` naming the known names closest to a mistyped one; None when none is close."""
    close = [repr(found) for found in difflib.get_close_matches(name, known, n=most)]
    if not close:
        return None
    return f"did you mean {close[0] if len(close) == 1 else ', '.join(close[:-1]) + ' or ' + close[-1]}?"


class ErrorDetail(msgspec.Struct, omit_defaults=True):
    """One failing field: `path` is a JSON path such as `$.age`."""

    message: str
    path: str | None = None


class ErrorInfo(msgspec.Struct, omit_defaults=True):
    code: str
    message: str
    error_id: str | None = None
    details: list[ErrorDetail] | None = None


class ErrorEnvelope(msgspec.Struct, omit_defaults=True):
    """Every error response body: `{"error": {"code", "message", "error_id"?, "details"?}}`.

    The same shape the iii engine uses for its own errors (NOT_FOUND, CONDITION_NOT_MET, ...), so a
    client sees one envelope whichever engine serves the app. `skipped` is set on 422 condition misses.
    """

    error: ErrorInfo
    skipped: bool = False


# Error codes, with the HTTP status each one is answered with.
FORBIDDEN = "FORBIDDEN"  # 403 (an operator route called under a foreign Host, or a preflight to one)
NOT_FOUND = "NOT_FOUND"  # 404
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"  # 405
INVALID_JSON = "INVALID_JSON"  # 400
BAD_REQUEST = "BAD_REQUEST"  # 400 (a request the HTTP parser refuses, or a credential header sent twice)
VALIDATION_ERROR = "VALIDATION_ERROR"  # 400
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"  # 408 (the request head or body did not arrive in time)
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"  # 413
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"  # 415 (a write to an operator route that is not JSON)
HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"  # 431 (a request head over --max-head-size or --max-headers)
CONDITION_NOT_MET = "CONDITION_NOT_MET"  # 422
INTERNAL_ERROR = "INTERNAL_ERROR"  # 500
FUNCTION_NOT_FOUND = "function_not_found"  # 500 (a route whose function is gone)
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"  # 503 (more connections than the server takes)
STORE_UNAVAILABLE = "STORE_UNAVAILABLE"  # 503 (the shared store, Redis, does not answer: try again)
TIMEOUT = "TIMEOUT"  # 504
# A queue payload that does not match its subscriber's type: the same bytes never will, so the queue dead-letters
# it at once instead of retrying.
INVALID_PAYLOAD = "invalid_payload"

_encoder = msgspec.json.Encoder()


def error_body(
    code: str,
    message: str,
    *,
    error_id: str | None = None,
    details: list[ErrorDetail] | None = None,
    skipped: bool = False,
) -> bytes:
    """The encoded envelope."""
    return _encoder.encode(ErrorEnvelope(ErrorInfo(code, message, error_id, details), skipped))


def store_unavailable_body() -> bytes:
    """The envelope of a 503 for a request whose store (Redis) did not answer; sent with `Retry-After: 1`."""
    return error_body(STORE_UNAVAILABLE, "The data store is unavailable; try again shortly")
