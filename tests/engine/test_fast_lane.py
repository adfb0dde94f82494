"""The HTTP server's fast lane (`motia.engine.http_server`: a complete request's call stepped at once, a task only
if it suspends, the response in one write), over real sockets: pipelined requests in one TCP write answered in
order, handlers that suspend and handlers that do not, a client that leaves while its handler runs, a graceful
stop with a request in flight, HTTP/1.0 without keep-alive, HEAD, and bodies that arrive with their head or
after it."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from motia import ApiRequest, get, post
from motia.assembly import ServedApp
from tests.conftest import eventually, registry_of

# Set by a handler before it suspends: the next request on the connection must not see it.
_seen: contextvars.ContextVar[str | None] = contextvars.ContextVar("fast_lane_seen", default=None)
started = threading.Event()
finished: list[str] = []


@get("/now/:name")
async def now(req: ApiRequest) -> dict:
    """Awaits nothing: answered without a task."""
    return {"name": req.path_params["name"], "seen": _seen.get()}


@get("/later/:name")
async def later(req: ApiRequest) -> dict:
    """Suspends (a task takes over) after setting a context variable."""
    _seen.set(req.path_params["name"])
    await asyncio.sleep(0.01)
    return {"name": req.path_params["name"], "seen": _seen.get()}


@get("/slow/:name")
async def slow(req: ApiRequest) -> dict:
    started.set()
    await asyncio.sleep(0.5)
    finished.append(req.path_params["name"])
    return {"name": req.path_params["name"]}


@post("/echo")
async def echo(req: ApiRequest[dict]) -> dict:
    return {"got": req.body}


HANDLERS = (now, later, slow, echo)


@pytest.fixture
def client(serve: Callable[..., httpx.Client]) -> httpx.Client:
    started.clear()
    finished.clear()
    return serve(*HANDLERS)


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10)


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[bytes, dict[str, str], bytes]:
    """One response off the connection (content-length framed): status line, headers, body."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before a response head; got {bytes(buffer)!r}"
        buffer += chunk
    head = bytes(buffer).partition(b"\r\n\r\n")[0]
    status, *lines = head.split(b"\r\n")
    headers = {k.decode().lower(): v.decode().strip() for k, _, v in (line.partition(b":") for line in lines)}
    size = int(headers.get("content-length", "0"))
    del buffer[:len(head) + 4]
    while len(buffer) < size:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside a response body"
        buffer += chunk
    body = bytes(buffer[:size])
    del buffer[:size]
    return status, headers, body


def closed_by_server(sock: socket.socket) -> bool:
    with contextlib.suppress(ConnectionResetError):
        return sock.recv(1) == b""
    return True


def test_pipelined_requests_in_one_write_are_answered_in_order(client: httpx.Client) -> None:
    kinds = [kind for _ in range(12) for kind in ("now", "later")]  # handlers that suspend between the others
    names = [f"{kind}{i}" for i, kind in enumerate(kinds)]
    raw = b"".join(f"GET /{kind}/{name} HTTP/1.1\r\nhost: x\r\n\r\n".encode()
                   for kind, name in zip(kinds, names, strict=True))
    raw += b'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 8\r\n\r\n{"a": 1}'
    with connect(str(client.base_url)) as sock:
        sock.sendall(raw)  # one write: the server parses them all in one read
        buffer = bytearray()
        answered = []
        for _ in names:
            status, _, body = read_response(sock, buffer)
            assert status == b"HTTP/1.1 200 OK"
            answered.append(json.loads(body)["name"])
        status, _, body = read_response(sock, buffer)
    assert answered == names
    assert (status, json.loads(body)) == (b"HTTP/1.1 200 OK", {"got": {"a": 1}})


def test_a_handler_that_suspends_and_one_that_does_not_both_answer_on_one_connection(client: httpx.Client) -> None:
    with connect(str(client.base_url)) as sock:
        buffer = bytearray()
        for path in ("/later/a", "/now/b", "/later/c", "/now/d"):
            sock.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
            status, headers, body = read_response(sock, buffer)
            assert status == b"HTTP/1.1 200 OK" and headers["content-type"] == "application/json"
            assert "date" in headers  # uvicorn's default headers, as on its own path
            answer = json.loads(body)
            assert answer["name"] == path.rsplit("/", 1)[1]
            # A context variable set by the suspended handler stays in its own request.
            assert answer["seen"] == (answer["name"] if path.startswith("/later") else None)


def test_a_body_with_its_head_and_a_body_after_its_head_are_both_read(client: httpx.Client) -> None:
    with connect(str(client.base_url)) as sock:
        buffer = bytearray()
        head = b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n"
        sock.sendall(head + b'{"n": 123}')
        assert json.loads(read_response(sock, buffer)[2]) == {"got": {"n": 123}}
        sock.sendall(head + b'{"n"')  # the body still coming when the head is parsed
        time.sleep(0.1)  # pacing, not an assertion: the head is parsed before the rest of the body comes
        sock.sendall(b': 456}')
        assert json.loads(read_response(sock, buffer)[2]) == {"got": {"n": 456}}


def test_a_client_that_leaves_while_its_handler_runs_does_not_disturb_the_server(client: httpx.Client) -> None:
    sock = connect(str(client.base_url))
    sock.sendall(b"GET /slow/gone HTTP/1.1\r\nhost: x\r\n\r\n")
    assert started.wait(10)
    sock.close()  # mid-handler
    eventually(lambda: finished == ["gone"])  # the handler ran to its end; nothing was written to a dead socket
    with connect(str(client.base_url)) as again:
        again.sendall(b"GET /now/next HTTP/1.1\r\nhost: x\r\n\r\n")
        status, _, body = read_response(again, bytearray())
    assert status == b"HTTP/1.1 200 OK" and json.loads(body)["name"] == "next"


def test_a_graceful_stop_lets_the_request_in_flight_finish() -> None:
    started.clear()
    finished.clear()
    served = ServedApp(registry_of(*HANDLERS), drain_timeout=10).__enter__()
    stopping = threading.Thread(target=served.__exit__, args=(None, None, None))
    try:
        with connect(served.url) as sock:
            sock.sendall(b"GET /slow/inflight HTTP/1.1\r\nhost: x\r\n\r\n")
            assert started.wait(10)
            stopping.start()  # while the handler sleeps
            status, headers, body = read_response(sock, bytearray())
            assert status == b"HTTP/1.1 200 OK" and json.loads(body) == {"name": "inflight"}
            assert headers.get("connection") == "close"  # the server is stopping: no keep-alive
            assert closed_by_server(sock)
    finally:
        if not stopping.is_alive() and stopping.ident is None:
            stopping.start()
        stopping.join(30)


def test_http_1_0_without_keep_alive_is_answered_then_closed(client: httpx.Client) -> None:
    for path in ("/now/old", "/later/old"):
        with connect(str(client.base_url)) as sock:
            sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
            status, headers, body = read_response(sock, bytearray())
            assert status == b"HTTP/1.1 200 OK" and json.loads(body)["name"] == "old"
            assert headers.get("connection") == "close"
            assert closed_by_server(sock)


def test_head_sends_the_get_headers_without_a_body(client: httpx.Client) -> None:
    with connect(str(client.base_url)) as sock:
        buffer = bytearray()
        sock.sendall(b"GET /now/h HTTP/1.1\r\nhost: x\r\n\r\n")
        _, get_headers, get_body = read_response(sock, buffer)
        sock.sendall(b"HEAD /now/h HTTP/1.1\r\nhost: x\r\n\r\nGET /now/after HTTP/1.1\r\nhost: x\r\n\r\n")
        while b"\r\n\r\n" not in buffer:
            buffer += sock.recv(65536)
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert f"content-length: {len(get_body)}".encode() in head.lower()
        # No body bytes follow the HEAD answer: the next bytes are the next response.
        buffer = bytearray(rest)
        status, _, body = read_response(sock, buffer)
    assert get_headers["content-length"] == str(len(get_body))
    assert status == b"HTTP/1.1 200 OK" and json.loads(body)["name"] == "after"
