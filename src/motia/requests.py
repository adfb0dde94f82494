"""What an HTTP handler receives (`ApiRequest[Body]`) and may return (`ApiResponse[T]`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

BodyT = TypeVar("BodyT")
QueryT = TypeVar("QueryT")
T = TypeVar("T")


class Headers(Mapping[str, str]):
    """Request headers with case-insensitive lookup (`req.headers["Authorization"]`)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = {k.lower(): v for k, v in items.items()} if items else {}

    @classmethod
    def _from_lower(cls, items: dict[str, str]) -> Headers:
        # The engine already lower-cases names (ASGI does); skip the copy on the hot path.
        headers = cls.__new__(cls)
        headers._items = items
        return headers

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class ApiRequest(Generic[BodyT]):
    """An HTTP request as a handler sees it.

    `ApiRequest[User]` declares (and validates) a `User` body; `ApiRequest[None]` declares no body.
    `query` holds the decoded query Struct when the trigger declares `query=SomeStruct`.
    """

    __slots__ = ("body", "headers", "method", "path", "path_params", "query", "query_params", "raw_body")

    def __init__(
        self,
        path_params: Mapping[str, str] | None = None,
        query_params: Mapping[str, str | list[str]] | None = None,
        body: BodyT = None,  # type: ignore[assignment]
        headers: Mapping[str, str] | None = None,
        method: str = "GET",
        *,
        path: str = "",
        query: Any = None,
        raw_body: bytes = b"",
    ) -> None:
        self.path_params = dict(path_params or {})
        self.query_params = dict(query_params or {})
        self.body = body
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.method = method
        self.path = path
        self.query = query
        self.raw_body = raw_body

    # Motia 1.x code reads the request like a dict (`req.get("body")`, `req["path_params"]`).
    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, _REQUEST_ALIASES.get(key, key), default)

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, _REQUEST_ALIASES.get(key, key))
        except AttributeError:
            raise KeyError(key) from None

    @property
    def request_body(self) -> bytes:
        return self.raw_body

    def __repr__(self) -> str:
        return f"ApiRequest(method={self.method!r}, path={self.path!r}, path_params={self.path_params!r})"


_REQUEST_ALIASES = {
    "pathParams": "path_params",
    "queryParams": "query_params",
    "requestBody": "raw_body",
    "request_body": "raw_body",
}


class ApiResponse(Generic[T]):
    """A response with an explicit status and headers. `ApiResponse[User]` documents the body type."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int = 200, body: T = None, headers: Mapping[str, str] | None = None) -> None:  # type: ignore[assignment]
        self.status = status
        self.body = body
        self.headers = dict(headers) if headers else {}

    @property
    def status_code(self) -> int:
        return self.status

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiResponse):
            return NotImplemented
        return (self.status, self.body, self.headers) == (other.status, other.body, other.headers)

    def __repr__(self) -> str:
        return f"ApiResponse(status={self.status}, body={self.body!r}, headers={self.headers!r})"
