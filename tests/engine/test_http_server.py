"""The HTTP server's own answers, over real sockets: request heads over the size or header-count limit get 431,
a malformed request gets 400, a handler's invalid response gets 500 (each in the error envelope), repeated
headers are merged in linear time, and a client that stops reading its response is cut off."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from motia import ApiRequest, ApiResponse, get, post
from motia.engine.http import HttpLimits
from tests.conftest import MotiaProcess


@get("/ping")
async def ping() -> dict:
    return {"pong": True}


@post("/echo-headers")
async def echo_headers(req: ApiRequest[dict]) -> dict:
    return {"x-dup": req.headers.get("x-dup"), "x-one": req.headers.get("x-one")}


@get("/big")
async def big() -> ApiResponse:
    return ApiResponse(200, body=b"x" * (8 * 1024 * 1024), headers={"content-type": "application/octet-stream"})


@get("/bad/:kind")
async def bad(req: ApiRequest) -> ApiResponse:
    kind = req.path_params["kind"]
    if kind == "crlf":
        return ApiResponse(200, body={"ok": True}, headers={"x-injected": "a\r\nset-cookie: evil=1"})
    if kind == "status":
        return ApiResponse(600, body={"ok": True})
    if kind == "latin1":
        return ApiResponse(200, body={"ok": True}, headers={"x-name": "\u2603 snowman"})
    if kind == "name":
        return ApiResponse(200, body={"ok": True}, headers={"bad name": "v"})
    return ApiResponse(200, body={"ok": True}, headers={"x-fine": "caf\u00e9"})


def connect(client: httpx.Client) -> socket.socket:
    url = urlsplit(str(client.base_url))
    return socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=10)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
    return data


def send_and_read(client: httpx.Client, raw: bytes) -> bytes:
    sock = connect(client)
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)  # the server may answer and close before taking all of it
        return read_all(sock)
    finally:
        sock.close()


def status_and_error(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["error"]


# --- request heads ---------------------------------------------------------------------------------------


def test_a_head_with_too_many_headers_gets_431_in_the_envelope(serve: Callable[..., httpx.Client]) -> None:
    client = serve(ping, limits=HttpLimits(max_headers=20))
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(25))
    answer = send_and_read(client, b"GET /ping HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n")
    status, error = status_and_error(answer)
    assert status == 431
    assert error["code"] == "HEADERS_TOO_LARGE"
    assert "20" in error["message"]
    assert client.get("/ping").status_code == 200


def test_a_head_just_under_the_header_count_limit_is_served(serve: Callable[..., httpx.Client]) -> None:
    client = serve(ping, limits=HttpLimits(max_headers=20))
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(18))  # with Host and Connection: 20
    answer = send_and_read(client, b"GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + headers + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("chunks", [1, 40], ids=["in-one-write", "trickled"])
def test_a_head_over_the_size_limit_gets_431(serve: Callable[..., httpx.Client], chunks: int) -> None:
    client = serve(ping, limits=HttpLimits(max_head_size=16 * 1024))
    value = b"a" * (2 * 1024 * 1024)  # one 2 MiB header: refused long before it is all sent
    raw = b"GET /ping HTTP/1.1\r\nHost: t\r\nX-Big: " + value + b"\r\n\r\n"
    sock = connect(client)
    try:
        step = len(raw) // chunks + 1
        try:
            for start in range(0, len(raw), step):
                sock.sendall(raw[start:start + step])
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_all(sock)
    finally:
        sock.close()
    status, error = status_and_error(answer)
    assert status == 431
    assert error["code"] == "HEADERS_TOO_LARGE"


def test_a_long_url_counts_towards_the_head_size(serve: Callable[..., httpx.Client]) -> None:
    client = serve(ping, limits=HttpLimits(max_head_size=4096))
    answer = send_and_read(client, b"GET /ping?q=" + b"z" * 8000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status_and_error(answer)[0] == 431


def test_the_default_head_limits_take_a_browser_sized_head(serve: Callable[..., httpx.Client]) -> None:
    client = serve(ping)
    cookies = "; ".join(f"c{i}={'v' * 100}" for i in range(40))  # a 4 KB cookie and 60 headers
    headers = {f"x-h{i}": "v" * 50 for i in range(60)}
    assert client.get("/ping", headers={**headers, "cookie": cookies}).status_code == 200


def test_repeated_headers_are_joined_in_order(serve: Callable[..., httpx.Client]) -> None:
    client = serve(echo_headers)
    answer = send_and_read(client, b"POST /echo-headers HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                                   b"X-Dup: a\r\nX-One: 1\r\nX-Dup: b\r\nX-Dup: c\r\nContent-Length: 2\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == {"x-dup": "a, b, c", "x-one": "1"}


def test_many_repeated_headers_are_merged_without_stalling_the_server(serve: Callable[..., httpx.Client]) -> None:
    # 20,000 copies of one header (a 0.5 MB head, allowed here): merged by joining once, not by re-copying the
    # growing value per copy (quadratic: ~5 GB of copying for these 20,000).
    count = 20_000
    client = serve(echo_headers, limits=HttpLimits(max_headers=count + 10, max_head_size=4 * 1024 * 1024))
    raw = (b"POST /echo-headers HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n"
           + b"X-Dup: 0123456789abcdef\r\n" * count + b"\r\n{}")
    answer = send_and_read(client, raw)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["x-dup"] == ", ".join(["0123456789abcdef"] * count)


# --- the parser's own errors ----------------------------------------------------------------------------


def test_a_malformed_request_gets_400_in_the_envelope(serve: Callable[..., httpx.Client]) -> None:
    client = serve(ping)
    answer = send_and_read(client, b"GET /ping HTTP/1.1\r\nHost: t\r\nBad Header Line\r\n\r\n")
    status, error = status_and_error(answer)
    assert status == 400
    assert error["code"] == "BAD_REQUEST"
    assert b"connection: close" in answer.lower()


# --- a handler's invalid response ----------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "reason"), [
    ("crlf", "x-injected"),
    ("status", "600"),
    ("latin1", "x-name"),
    ("name", "bad name"),
])
def test_an_invalid_response_from_a_handler_is_a_500_in_the_envelope_with_the_reason_logged(
    serve: Callable[..., httpx.Client], caplog: pytest.LogCaptureFixture, kind: str, reason: str,
) -> None:
    client = serve(bad)
    with caplog.at_level(logging.ERROR, logger="motia.engine.http"):
        response = client.get(f"/bad/{kind}")
    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    error = response.json()["error"]
    assert error["code"] == "INTERNAL_ERROR"
    logged = [r.getMessage() for r in caplog.records if error["error_id"] in r.getMessage()]
    assert logged and reason in logged[0]
    fine = client.get("/bad/fine")
    assert (fine.status_code, fine.headers["x-fine"]) == (200, "caf\u00e9")  # latin-1 is a valid header value


# --- a client that does not read ------------------------------------------------------------------------


def test_a_client_that_stops_reading_is_cut_off_and_its_slot_freed(serve: Callable[..., httpx.Client]) -> None:
    client = serve(big, ping, limits=HttpLimits(write_timeout=0.5, max_connections=3))
    stalled = []
    for _ in range(3):  # every slot held by a client that asked for 8 MiB and reads none of it
        sock = connect(client)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        stalled.append(sock)
    fresh: list[socket.socket] = []
    try:
        assert request_ping(connect(client)).startswith(b"HTTP/1.1 503 ")  # the cap is reached
        deadline = time.monotonic() + 15
        while len(fresh) < 3 and time.monotonic() < deadline:
            # Three new kept-alive connections served at once: every stalled one was cut off and its slot freed,
            # though their sockets are still open on this side.
            sock = connect(client)
            if request_ping(sock).startswith(b"HTTP/1.1 200 "):
                fresh.append(sock)
            else:
                sock.close()
                time.sleep(0.1)
        assert len(fresh) == 3
    finally:
        for sock in stalled + fresh:
            sock.close()


def request_ping(sock: socket.socket) -> bytes:
    """GET /ping on a kept-alive connection: the response (its head and its Content-Length body)."""
    sock.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = int(next(line.split(b":")[1] for line in lines if line.startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return data


def test_a_slow_reader_that_keeps_reading_gets_its_whole_response(serve: Callable[..., httpx.Client]) -> None:
    client = serve(big, limits=HttpLimits(write_timeout=0.5))
    sock = connect(client)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    received = b""
    try:
        while True:  # ~1.5 s in all: slower than the write timeout end to end, but never still for that long
            chunk = sock.recv(1024 * 1024)
            if not chunk:
                break
            received += chunk
            time.sleep(0.02)
    finally:
        sock.close()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert len(body) == 8 * 1024 * 1024


# --- the options of `motia run` -------------------------------------------------------------------------


def test_motia_run_takes_the_head_limits_and_operator_hosts_as_options(
    tmp_path: Path, motia_run: Callable[..., MotiaProcess],
) -> None:
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "ping_step.py").write_text(
        "from motia import get\n@get('/ping')\nasync def ping():\n    return {'pong': True}\n")
    process = motia_run(tmp_path, "--stream-port", "0", "--memory", "--max-headers", "5", "--max-head-size", "2048",
                        "--write-timeout", "5", "--operator-host", "ops.internal")
    six = b"".join(b"X-H%d: v\r\n" % i for i in range(5))
    assert status_and_error(send_and_read(process.client, b"GET /ping HTTP/1.1\r\nHost: t\r\n" + six + b"\r\n"))[
        0] == 431
    assert process.client.get("/ping", headers={"x-big": "b" * 3000}).status_code == 431
    assert process.client.get("/ping").json() == {"pong": True}
    assert process.client.get("/__motia/state", headers={"Host": "ops.internal"}).status_code == 200
    assert process.client.get("/__motia/state", headers={"Host": "elsewhere.example"}).status_code == 403


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--write-timeout", "0", "--write-timeout must be a positive number of seconds"),
    ("--max-head-size", "100", "--max-head-size must be at least 1024 bytes"),
    ("--max-headers", "0", "--max-headers must be 1 or more"),
])
def test_a_head_limit_out_of_range_is_refused(tmp_path: Path, option: str, value: str, message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "motia.cli", "run", "--memory", option, value],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert message in result.stderr
