"""One rule for a credential header sent twice, on both ports: 400 `BAD_REQUEST`, before a handler or
`@stream_auth` sees it (before, HTTP joined the two values and `@stream_auth` saw the last)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from motia import ApiRequest, Stream, get, stream_auth
from tests.streams.conftest import serving, ws_url

seen: list[str] = []


@get("/whoami")
async def whoami(req: ApiRequest) -> dict:
    seen.append(req.headers.get("authorization", ""))
    return {"authorization": req.headers.get("authorization")}


@pytest.mark.parametrize("name", ["Authorization", "Proxy-Authorization", "Cookie"])
def test_an_http_request_with_a_credential_header_twice_is_a_400(serve: Callable[..., httpx.Client],
                                                                  name: str) -> None:
    client = serve(whoami)
    seen.clear()
    response = client.get("/whoami", headers=[(name, "Bearer admin"), (name.lower(), "Bearer guest")])
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], name.lower() in error["message"].lower()) == ("BAD_REQUEST", True)
    assert seen == []
    assert client.get("/whoami", headers={name: "Bearer admin"}).status_code == 200


def test_other_repeated_headers_are_still_joined(serve: Callable[..., httpx.Client]) -> None:
    client = serve(whoami)
    response = client.get("/whoami", headers=[("Authorization", "Bearer a"), ("Accept", "a/b"), ("Accept", "c/d")])
    assert response.json() == {"authorization": "Bearer a"}


@pytest.mark.anyio
async def test_a_stream_handshake_with_authorization_twice_is_a_400_and_stream_auth_never_runs() -> None:
    asked: list[str] = []

    @stream_auth
    def authenticate(request):  # type: ignore[no-untyped-def]
        asked.append(request.headers.get("authorization"))
        return request.headers.get("authorization") == "Bearer admin"

    async with serving(Stream[dict]("todos"), authenticate) as app:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(app), additional_headers=[("Authorization", "Bearer guest"),
                                                                ("Authorization", "Bearer admin")]):
                pass
        assert refused.value.response.status_code == 400
        assert b"BAD_REQUEST" in refused.value.response.body
        assert asked == []
        async with connect(ws_url(app), additional_headers=[("Authorization", "Bearer admin")]):
            pass
        assert asked == ["Bearer admin"]
