"""The uvicorn internals `motia.engine.http_server.DeadlineProtocol` relies on, checked against the installed
uvicorn: the names it reads, and what they say while a request head and body arrive over a real socket.

DeadlineProtocol subclasses uvicorn's private `HttpToolsProtocol`, so a uvicorn release may break it without
notice; pyproject.toml pins uvicorn to the range these tests passed with. When one fails, the message names the
internal that changed: adapt DeadlineProtocol to that uvicorn (or keep the pin) before widening the range.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import uvicorn

from motia.engine.http import HttpLimits
from tests.conftest import ROOT

httptools_impl = pytest.importorskip("uvicorn.protocols.http.httptools_impl")
from motia.engine.http_server import DeadlineProtocol, protocol_class  # noqa: E402  (needs httptools)

pytestmark = pytest.mark.anyio

# What DeadlineProtocol reads or writes on uvicorn's objects (the protocol, its request cycle, its server state).
PROTOCOL_ATTRIBUTES = ("app", "client", "config", "connections", "cycle", "flow", "loop", "pipeline", "scope",
                       "server_state", "tasks", "transport")
CYCLE_ATTRIBUTES = ("access_log", "default_headers", "disconnected", "keep_alive", "logger", "message_event",
                    "more_body", "on_response", "response_complete", "response_started", "scope", "transport",
                    "waiting_for_100_continue")


def broken(internal: str, detail: str) -> str:
    return (f"uvicorn {uvicorn.__version__} changed `{internal}`, which motia.engine.http_server.DeadlineProtocol "
            f"relies on: {detail}. Adapt DeadlineProtocol to this uvicorn, or keep pyproject.toml's uvicorn pin "
            f"below it.")


def pinned_range() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """pyproject.toml's `uvicorn>=A,<B` as two version tuples."""
    found = re.search(r'"uvicorn>=([\d.]+),<([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert found, "pyproject.toml pins uvicorn as a range `uvicorn>=A,<B` (the range http_server is tested with)"
    low, high = found.groups()
    return tuple(map(int, low.split("."))), tuple(map(int, high.split(".")))


def test_the_installed_uvicorn_is_in_the_pinned_range():
    low, high = pinned_range()
    version = tuple(int(part) for part in re.findall(r"\d+", uvicorn.__version__)[:3])
    assert low <= version < high, (f"uvicorn {uvicorn.__version__} is outside pyproject.toml's tested range; "
                                   f"run tests/engine/test_uvicorn_internals.py against it before widening the pin")


def test_the_module_level_names_are_there():
    assert isinstance(getattr(httptools_impl, "HttpToolsProtocol", None), type), \
        broken("httptools_impl.HttpToolsProtocol", "the class is gone")
    status_line = getattr(httptools_impl, "STATUS_LINE", {})
    assert status_line.get(408, b"").startswith(b"HTTP/1.1 408"), \
        broken("httptools_impl.STATUS_LINE", "no status line for 408 (DeadlineProtocol._send_408 writes it)")
    for method in ("connection_made", "connection_lost", "_start_asgi_task", "on_response_complete"):
        assert callable(getattr(httptools_impl.HttpToolsProtocol, method, None)), \
            broken(f"HttpToolsProtocol.{method}", "DeadlineProtocol overrides it (the fast lane, the idle timer)")
    for method in ("send", "receive", "send_500_response"):
        assert callable(getattr(httptools_impl.RequestResponseCycle, method, None)), \
            broken(f"RequestResponseCycle.{method}", "the fast lane's OneWrite calls it")
    for pattern in ("HEADER_RE", "HEADER_VALUE_RE"):
        assert getattr(getattr(httptools_impl, pattern, None), "search", None) is not None, \
            broken(f"httptools_impl.{pattern}", "OneWrite checks response headers with it, as uvicorn's send does")


# --- a real connection ------------------------------------------------------------------------------------


class _Server(uvicorn.Server):
    # The test's process owns the signals.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # the name before uvicorn 0.29's capture_signals
        pass


async def echo_length(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body, then answers with its length."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[tuple[int, list[DeadlineProtocol]]]:
    """uvicorn serving with DeadlineProtocol (long deadlines: no tick interferes), and its connections."""
    made: list[DeadlineProtocol] = []
    base = protocol_class(HttpLimits(header_timeout=60, body_timeout=60))

    class Recording(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            made.append(self)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(echo_length, http=Recording, ws="none", lifespan="off", log_level="warning")
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), task.result()
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1], made
    finally:
        server.should_exit = True
        await task
        sock.close()


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for the server side to reach a state (it processes our bytes on the same loop)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(what)


async def test_the_protocol_shows_a_head_then_a_body_arriving_the_way_deadline_protocol_reads_it():
    async with serving() as (port, made):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await until(lambda: len(made) == 1, "no connection was made")
        protocol = made[0]
        for name in PROTOCOL_ATTRIBUTES:
            assert hasattr(protocol, name), broken(f"HttpToolsProtocol.{name}", "the attribute is gone")
        assert protocol in protocol.connections, broken("HttpToolsProtocol.connections",
                                                        "no longer the set of open connections")
        assert isinstance(protocol.server_state.default_headers, list), \
            broken("ServerState.default_headers", "not a list of (name, value) pairs")
        assert protocol.flow.read_paused is False, broken("FlowControl.read_paused", "not False while reading")
        assert protocol.scope is None and protocol.cycle is None, \
            broken("HttpToolsProtocol.scope/cycle", "set before any byte of a request arrived")

        writer.write(b"POST /upload HTTP/1.1\r\nhost: x\r\n")  # a head, in part
        await writer.drain()
        await until(lambda: protocol.scope is not None,
                    broken("HttpToolsProtocol.scope", "not made on the first byte of a request head"))
        assert protocol.cycle is None, broken("HttpToolsProtocol.cycle", "made before the head was complete")

        writer.write(b"content-length: 10\r\n\r\n0123")  # the rest of the head, and a body in part
        await writer.drain()
        await until(lambda: protocol.cycle is not None,
                    broken("HttpToolsProtocol.cycle", "not made when the head was complete"))
        cycle = protocol.cycle
        for name in CYCLE_ATTRIBUTES:
            assert hasattr(cycle, name), broken(f"RequestResponseCycle.{name}", "the attribute is gone")
        assert cycle.scope is protocol.scope, broken("RequestResponseCycle.scope", "not the protocol's scope")
        assert cycle.more_body is True, broken("RequestResponseCycle.more_body", "not True while a body arrives")
        assert cycle.response_started is False and cycle.response_complete is False, \
            broken("RequestResponseCycle.response_started/response_complete", "set before the app answered")
        assert isinstance(cycle.message_event, asyncio.Event), \
            broken("RequestResponseCycle.message_event", "not an asyncio.Event the app's receive() waits on")

        writer.write(b"456789")
        await writer.drain()
        response = await reader.readuntil(b"\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 200") and await reader.readexactly(2) == b"10"
        assert cycle.response_complete is True, \
            broken("RequestResponseCycle.response_complete", "not True once the response was sent")
        writer.close()
        await until(lambda: protocol not in protocol.connections,
                    broken("HttpToolsProtocol.connections", "a closed connection stays in the set"))
