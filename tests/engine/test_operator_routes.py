"""The operator routes (`/__motia/...`) answer the operator's tools, not web pages: a foreign `Host` (DNS
rebinding) is refused, a write must be JSON (so a browser has to preflight it) and the preflight is refused,
and CORS never applies to them."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from motia import get, on

events: list[int] = []


@on("ops.checked")
async def record(data: int) -> None:
    events.append(data)


@get("/hello")
async def hello() -> dict:
    return {"hello": True}


EVIL = {"Host": "rebind.evil.example", "Origin": "http://rebind.evil.example"}


@pytest.fixture
def client(serve: Callable[..., httpx.Client]) -> httpx.Client:
    return serve(record, hello, cors_origins=["*"])


def test_a_simple_cross_origin_post_does_not_emit(client: httpx.Client) -> None:
    events.clear()
    # What a form or fetch(..., {mode: "no-cors"}) on any page can send without a preflight.
    response = client.post("/__motia/emit", content=b'{"topic": "ops.checked", "data": 1}',
                           headers={"Content-Type": "text/plain", "Origin": "http://attacker.example"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    response = client.post("/__motia/dlq/redrive", content=b"{}", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert client.post("/__motia/emit", json={"topic": "ops.checked", "data": 2}).status_code == 202
    deadline = time.monotonic() + 10
    while 2 not in events and time.monotonic() < deadline:  # delivered after the refused one would have been
        time.sleep(0.02)
    assert events == [2]


def test_a_write_without_a_content_type_is_refused(client: httpx.Client) -> None:
    client.put("/__motia/state/ops/k", json="kept")
    assert client.delete("/__motia/state/ops/k").status_code == 415
    assert client.get("/__motia/state/ops/k").json() == "kept"
    assert client.delete("/__motia/state/ops/k", headers={"Content-Type": "application/json"}).json() == {
        "deleted": True}


def test_a_foreign_host_is_refused_for_reads_and_writes(client: httpx.Client) -> None:
    assert client.put("/__motia/state/ops/k", json="mine").status_code == 200
    write = client.put("/__motia/state/ops/k", json="theirs", headers=EVIL)
    assert write.status_code == 403
    assert write.json()["error"]["code"] == "FORBIDDEN"
    assert client.get("/__motia/state/ops/k", headers=EVIL).status_code == 403
    assert client.get("/__motia/graph", headers=EVIL).status_code == 403
    assert client.get("/__motia/state/ops/k").json() == "mine"


@pytest.mark.parametrize("host", ["localhost:3111", "127.0.0.1", "127.1.2.3:80", "[::1]:3111", "LOCALHOST"])
def test_loopback_host_names_are_served(client: httpx.Client, host: str) -> None:
    assert client.get("/__motia/state", headers={"Host": host}).status_code == 200


def test_health_answers_under_any_host(client: httpx.Client) -> None:
    assert client.get("/__motia/health", headers=EVIL).status_code == 200


def test_cors_never_applies_to_operator_routes(client: httpx.Client) -> None:
    client.put("/__motia/state/ops/secret", json="s3cret")
    read = client.get("/__motia/state/ops/secret", headers={"Origin": "http://attacker.example"})
    assert read.status_code == 200
    assert not [name for name in read.headers if name.startswith("access-control-")]
    preflight = client.options("/__motia/state/ops/secret", headers={
        "Origin": "http://attacker.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type",
    })
    assert preflight.status_code == 403
    assert not [name for name in preflight.headers if name.startswith("access-control-")]
    # The app's own routes still get CORS as configured.
    assert client.get("/hello", headers={"Origin": "http://attacker.example"}).headers[
        "access-control-allow-origin"] == "*"


def test_the_router_s_path_forms_are_guarded_too(client: httpx.Client) -> None:
    # The router ignores empty segments, so `//__motia//state` is the state route: the guard sees it as one.
    url = urlsplit(str(client.base_url))
    for host, status in ((b"127.0.0.1", b" 200 "), (b"rebind.evil.example", b" 403 ")):
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=10) as sock:
            sock.sendall(b"GET //__motia//state HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
            assert status in sock.recv(65536).split(b"\r\n", 1)[0]


def test_a_configured_operator_host_is_served(serve: Callable[..., httpx.Client]) -> None:
    client = serve(hello, operator_hosts=["ops.internal"])
    assert client.put("/__motia/state/ops/k", json=1, headers={"Host": "ops.internal:8080"}).status_code == 200
    assert client.get("/__motia/state/ops/k", headers={"Host": "other.internal"}).status_code == 403
