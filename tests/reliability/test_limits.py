"""Slow and greedy clients against a served app, over real sockets: a client that is slow to send its request
head or body is cut off, connections above the cap are answered 503, a dead stream client is dropped, and
well-behaved clients are served throughout."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from motia import ApiRequest, get, post
from motia.assembly import ServedApp
from motia.engine.http import HttpLimits
from tests.conftest import ROOT, MotiaProcess, eventually, registry_of


@get("/ping")
async def ping() -> dict:
    return {"pong": True}


posted: list[object] = []


@post("/notes")
async def add_note(req: ApiRequest[dict]) -> dict:
    posted.append(req.body)
    return {"ok": True}


@get("/slow")
async def slow() -> dict:
    import asyncio

    await asyncio.sleep(0.8)
    return {"slow": True}


def connect(client: httpx.Client) -> socket.socket:
    url = urlsplit(str(client.base_url))
    sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=10)
    return sock


def read_until_closed(sock: socket.socket, timeout: float = 10) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed (monotonic)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic()


def request(sock: socket.socket, raw: bytes) -> bytes:
    """One request on a kept-alive connection; the response (a Content-Length body)."""
    sock.sendall(raw)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = int(next(line.split(b":")[1] for line in lines if line.startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


@contextmanager
def served_throughout(client: httpx.Client, path: str = "/ping") -> Iterator[list[int]]:
    """A well-behaved client requesting `path` in a loop while the block runs; yields the statuses it got."""
    statuses: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        with httpx.Client(base_url=client.base_url, timeout=10) as own:
            while not stop.is_set():
                try:
                    statuses.append(own.get(path).status_code)
                except httpx.HTTPError:
                    statuses.append(0)
                time.sleep(0.01)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield statuses
    finally:
        stop.set()
        thread.join(10)
    assert statuses and set(statuses) == {200}, statuses


GET_PING = b"GET /ping HTTP/1.1\r\nHost: test\r\n\r\n"


def test_a_client_trickling_its_request_head_is_cut_off_with_408(serve: Callable[..., httpx.Client]) -> None:
    client = serve(ping, limits=HttpLimits(header_timeout=0.5))
    with served_throughout(client):
        sock = connect(client)
        started = time.monotonic()
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: test\r\n")
        try:
            for byte in b"X-Slow: " + b"a" * 30:  # one byte every 0.1 s: activity does not extend the deadline
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer, closed = read_until_closed(sock)
        sock.close()
    assert 0.45 <= closed - started < 2.5
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "REQUEST_TIMEOUT"


def test_a_connection_that_sends_nothing_is_closed_silently(serve: Callable[..., httpx.Client]) -> None:
    client = serve(ping, limits=HttpLimits(header_timeout=0.4))
    with served_throughout(client):
        sock = connect(client)
        started = time.monotonic()
        answer, closed = read_until_closed(sock)
        sock.close()
    assert answer == b""
    assert 0.35 <= closed - started < 2.5


def test_a_stalled_request_body_is_answered_408_and_the_handler_never_runs(serve: Callable[..., httpx.Client]) -> None:
    client = serve(ping, add_note, limits=HttpLimits(body_timeout=0.5))
    posted.clear()
    with served_throughout(client):
        sock = connect(client)
        sock.sendall(b"POST /notes HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n" + b'{"text": "')
        started = time.monotonic()
        answer, closed = read_until_closed(sock)
        sock.close()
    assert 0.45 <= closed - started < 2.5
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer.lower()
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "REQUEST_TIMEOUT"
    assert posted == []
    assert client.post("/notes", json={"text": "whole"}).status_code == 200
    assert posted == [{"text": "whole"}]


def test_a_kept_alive_connection_gets_a_fresh_deadline_for_each_request(serve: Callable[..., httpx.Client]) -> None:
    client = serve(ping, limits=HttpLimits(header_timeout=0.3, keep_alive_timeout=5))
    sock = connect(client)
    started = time.monotonic()
    answers = []
    while time.monotonic() - started < 1.2:  # four times the head deadline, on one connection
        answers.append(request(sock, GET_PING))
        time.sleep(0.1)
    sock.close()
    assert len(answers) >= 5
    assert all(answer.startswith(b"HTTP/1.1 200 ") for answer in answers)


def test_a_slow_handler_is_not_a_slow_client(serve: Callable[..., httpx.Client]) -> None:
    client = serve(slow, limits=HttpLimits(header_timeout=0.2, body_timeout=0.2))
    sock = connect(client)
    answer = request(sock, b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
    sock.close()
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(
    serve: Callable[..., httpx.Client],
) -> None:
    client = serve(ping, limits=HttpLimits(keep_alive_timeout=0.5))
    sock = connect(client)
    assert request(sock, GET_PING).startswith(b"HTTP/1.1 200 ")
    answered = time.monotonic()
    answer, closed = read_until_closed(sock)
    sock.close()
    assert answer == b""
    assert 0.45 <= closed - answered < 2.5


def test_requests_above_the_connection_cap_get_503_until_a_connection_goes(
    serve: Callable[..., httpx.Client],
) -> None:
    client = serve(ping, limits=HttpLimits(max_connections=2))
    holders = [connect(client) for _ in range(2)]
    for holder in holders:  # two kept-alive connections: the cap is reached
        assert request(holder, GET_PING).startswith(b"HTTP/1.1 200 ")
    response = httpx.get(f"{client.base_url}/ping")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert request(holders[0], GET_PING).startswith(b"HTTP/1.1 200 ")  # those already in are still served
    holders.pop().close()
    eventually(lambda: httpx.get(f"{client.base_url}/ping").status_code == 200, timeout=5)
    for holder in holders:
        holder.close()


def test_motia_run_takes_the_limits_as_options(tmp_path: Path, motia_run: Callable[..., MotiaProcess]) -> None:
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "ping_step.py").write_text(
        "from motia import get\n@get('/ping')\nasync def ping():\n    return {'pong': True}\n")
    process = motia_run(tmp_path, "--stream-port", "0", "--memory", "--header-timeout", "0.5")
    sock = connect(process.client)
    started = time.monotonic()
    sock.sendall(b"GET /ping HTTP/1.1\r\n")
    answer, closed = read_until_closed(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert 0.45 <= closed - started < 2.5
    assert process.client.get("/ping").json() == {"pong": True}


def test_a_deadline_that_is_not_positive_is_refused(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "motia.cli", "run", "--memory", "--body-timeout", "0"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "--body-timeout must be a positive number of seconds" in result.stderr


def test_a_stream_limit_below_one_is_refused(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "motia.cli", "run", "--memory", "--stream-max-subscriptions", "0"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "--stream-max-subscriptions must be 1 or more, not 0" in result.stderr


def test_a_stream_client_that_stops_answering_pings_is_dropped() -> None:
    served = ServedApp(registry_of(ping), stream_port=0)
    streams = served.app.embedded.streams
    streams.ping_interval, streams.ping_timeout = 0.2, 0.3
    with served:
        port = served.app.stream_port
        assert port is not None
        alive, dead = _ws_handshake(port), _ws_handshake(port)
        # `alive` answers pings, as every WebSocket library does; `dead` never reads again.
        assert _answer_pings(alive, seconds=1.5) is None  # still open after several ping rounds
        frames, _ = read_until_closed(dead, timeout=2)
        alive.close()
        dead.close()
    opcodes = [opcode for opcode, _ in _frames(frames)]
    assert opcodes[0] == 0x9 and opcodes[-1] == 0x8  # pinged, then closed
    close_payload = _frames(frames)[-1][1]
    assert int.from_bytes(close_payload[:2], "big") == 1011


MiB = 1024 * 1024


def test_a_stream_client_that_stops_reading_is_closed_at_its_byte_budget(
    motia_run: Callable[..., MotiaProcess],
) -> None:
    # The reproduction: one 1 MB todo, and a socket that never reads sends 400 joins (400 syncs of 1 MB queued
    # for it: +370 MiB before the budget, and the close never came).
    process = motia_run(ROOT / "examples" / "todo", "--memory", "--stream-port", "0", "--max-body-size", str(2 * MiB),
                        "--stream-max-queued-bytes", str(4 * MiB))
    assert process.client.post("/todo", json={"description": "x" * MiB}).status_code == 201
    port = urlsplit(process.stream_url).port
    assert port is not None
    baseline = _peak_rss(process.proc.pid)
    sock = _ws_handshake(port, receive_buffer=64 * 1024)
    join = {"type": "join", "data": {"subscriptionId": "", "streamName": "todo", "groupId": "inbox"}}
    sock.sendall(b"".join(_text_frame(json.dumps({**join, "data": {**join["data"], "subscriptionId": f"s{n}"}}))
                          for n in range(400)))
    process.wait_for_output(r"stream client \S+ (does not read)")
    received, _ = read_until_closed(sock)  # read only now, once the server gave up on it
    sock.close()
    growth = _peak_rss(process.proc.pid) - baseline
    assert process.client.get("/todo").status_code == 200  # still serving
    output = process.stop()
    frames = _frames(received)
    assert frames[-1][0] == 0x8 and int.from_bytes(frames[-1][1][:2], "big") == 1008
    assert b"too slow" in frames[-1][1]
    assert len(received) < 16 * MiB  # the close came after what was in flight, not after 400 MB of syncs
    assert growth < 48 * MiB, f"peak RSS grew by {growth / MiB:.1f} MiB"
    assert output.count("does not read") == 1  # one warning line for the connection


def test_a_worker_that_stops_answering_pings_is_dropped(monkeypatch) -> None:
    from motia.engine import ws as worker_port
    from tests.protocol.conftest import RawWorker

    monkeypatch.setattr(worker_port, "PING_INTERVAL", 0.2)
    monkeypatch.setattr(worker_port, "PING_TIMEOUT", 0.3)

    def workers() -> int:
        return len(live.call("engine::workers::list")["result"]["workers"])

    with ServedApp(registry_of(ping), engine_port=0) as served:
        port = served.app.worker_server.port  # type: ignore[union-attr]
        live = RawWorker(f"ws://127.0.0.1:{port}")  # a websockets client: answers pings by itself
        dead = _ws_handshake(port)  # never reads again, like a worker whose machine is gone
        live.sync()
        before = workers()
        frames, _ = read_until_closed(dead, timeout=3)
        dead.close()
        parsed = _frames(frames)
        assert 0x9 in [opcode for opcode, _ in parsed] and parsed[-1][0] == 0x8  # pinged, then closed
        assert int.from_bytes(parsed[-1][1][:2], "big") == 1011
        eventually(lambda: workers() == before - 1, timeout=3)  # the dead worker is dropped
        live.sync()  # the live worker kept its connection through the ping rounds
        live.close()


def _ws_handshake(port: int, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket()
    if receive_buffer is not None:  # set before connecting: it sizes the TCP window the server may fill
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    assert data.startswith(b"HTTP/1.1 101"), data
    return sock


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    """Complete unmasked server frames as (opcode, payload)."""
    frames = []
    while len(data) >= 2:
        length, start = data[1] & 0x7F, 2
        if length == 126:
            length, start = int.from_bytes(data[2:4], "big"), 4
        elif length == 127:
            length, start = int.from_bytes(data[2:10], "big"), 10
        if len(data) < start + length:
            break
        frames.append((data[0] & 0x0F, data[start:start + length]))
        data = data[start + length:]
    return frames


def _text_frame(text: str) -> bytes:
    """A masked client text frame (payloads under 64 KiB)."""
    payload, mask = text.encode(), os.urandom(4)
    size = bytes([0x80 | len(payload)]) if len(payload) < 126 else bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    return bytes([0x81]) + size + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024


def _answer_pings(sock: socket.socket, seconds: float) -> float | None:
    """Read frames for `seconds`, answering each ping with a (masked) pong; when the server closed, if it did."""
    deadline = time.monotonic() + seconds
    buffer = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            break
        if not chunk:
            return time.monotonic()
        buffer += chunk
        for opcode, payload in _frames(buffer):
            buffer = buffer[2 + len(payload):]
            if opcode == 0x9:
                mask = os.urandom(4)
                sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask
                             + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            elif opcode == 0x8:
                return time.monotonic()
    return None


@pytest.fixture(autouse=True)
def _quiet_posted() -> Iterator[None]:
    yield
    posted.clear()
