"""Protocol fuzzing: garbage frames to the worker port and the stream port. The engine drops or refuses each
bad frame (or closes only the connection that sent it), keeps serving a well-behaved connection throughout,
and does not keep memory for the garbage it was sent."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import random
import tracemalloc
import uuid
from typing import Any

import msgspec
import pytest
from websockets.exceptions import ConnectionClosed

from motia import Stream
from tests.protocol.conftest import Engine, RawWorker
from tests.streams.conftest import frame, join, raw_socket, serving

pytestmark = pytest.mark.anyio

KINDS = ("workerregistered", "registerfunction", "unregisterfunction", "registrationrejected",
         "registertriggertype", "unregistertriggertype", "registertrigger", "unregistertrigger",
         "triggerregistrationresult", "invokefunction", "invocationresult", "reattach", "ping", "pong",
         "registerservice")
WRONG = (1, -1.5, True, [], {}, [1, "x"], {"a": None}, "", "x" * 100)


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(7 if depth < 3 else 4)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice((True, False, 0, -1, 2**70, 1.5e300))
    if choice == 2:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(12)))
    if choice == 3:
        return rng.choice(KINDS)
    if choice in (4, 5):
        return {rng.choice(("type", "id", "function_id", "invocation_id", "data", "x")): _json_value(rng, depth + 1)
                for _ in range(rng.randrange(5))}
    return [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def _valid_frame(rng: random.Random) -> dict[str, Any]:
    """A frame of a random kind that names nothing the well-behaved connections use."""
    kind = rng.choice(KINDS)
    fields: dict[str, Any] = {"type": kind, "id": f"fuzz::{rng.randrange(1000)}", "function_id": "fuzz::none",
                              "trigger_type": "fuzz", "invocation_id": str(uuid.uuid4()), "worker_id": "w",
                              "code": "x", "previous_worker_id": str(uuid.uuid4()), "reattach_token": "t"}
    return fields


def garbage(rng: random.Random) -> str | bytes:
    """One bad frame: random bytes, random JSON, a wrong-typed field, an unknown type or a truncated frame."""
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 2048))
    if kind == 1:
        return json.dumps(_json_value(rng))
    if kind == 2:
        sample = _valid_frame(rng)
        field = rng.choice([k for k in sample if k != "type"])
        return json.dumps({**sample, field: rng.choice(WRONG)})
    if kind == 3:
        return json.dumps({**_valid_frame(rng), "type": rng.choice(("", "nope", "PING", "invoke", 7, None))})
    if kind == 4:
        text = json.dumps(_valid_frame(rng))
        return text[: rng.randrange(1, len(text))]
    return "".join(chr(rng.randrange(1, 0x10FFFF)) for _ in range(rng.randrange(1, 64))).encode(
        "utf-8", "surrogatepass").decode("utf-8", "replace")


@pytest.fixture
def quiet(caplog: pytest.LogCaptureFixture) -> None:
    """Every dropped frame is logged as a warning; kept records would look like a leak."""
    for name in ("motia.engine.ws", "motia.engine.streams", "motia.engine.engine", "motia"):
        caplog.set_level(logging.ERROR, logger=name)


def _still_answers(worker: RawWorker) -> bool:
    """The connection is either open and handling frames (a ping gets its pong) or closed by the engine."""
    try:
        worker.sync()
    except ConnectionClosed:
        return False
    return True


def test_garbage_on_the_worker_port_harms_nobody_else(engine: Engine, quiet: None) -> None:
    rng = random.Random(8)
    server = engine.worker()
    server.register("reliable::echo")
    server.sync()
    server.serve(lambda invocation: {"echo": invocation["data"]})
    caller = engine.worker()
    fuzzer = engine.worker()
    closed = 0
    for round_ in range(40):
        for _ in range(25):
            try:
                fuzzer.send(garbage(rng))
            except ConnectionClosed:
                break
        if not _still_answers(fuzzer):
            closed += 1
            fuzzer = engine.worker()
        assert caller.call("reliable::echo", {"round": round_})["result"]["echo"]["round"] == round_
    assert engine.http.get("/no-such-route").status_code == 404  # the HTTP side is up too


def test_invalid_utf8_in_a_text_frame_closes_only_that_connection(engine: Engine, quiet: None) -> None:
    caller = engine.worker()
    fuzzer = engine.worker()
    fuzzer.ws.send(b'{"type":"ping"\xff\xfe}', text=True)
    with pytest.raises(ConnectionClosed):
        fuzzer.recv(5)
    caller.sync()
    engine.worker().sync()  # and new connections are still accepted


def test_a_frame_that_is_not_json_closes_that_connection_with_1007(engine: Engine, quiet: None) -> None:
    caller = engine.worker()
    for bad in ('{"type": "ping"', "hello", b"\x00\x01binary"):
        fuzzer = engine.worker()
        fuzzer.send(bad)
        with pytest.raises(ConnectionClosed) as closed:
            fuzzer.recv(5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
        assert closed.value.rcvd.reason == "frame is not JSON"
    caller.sync()


def test_an_invocation_that_does_not_decode_is_answered_with_an_error(engine: Engine, quiet: None) -> None:
    worker = engine.worker()
    invocation_id = str(uuid.uuid4())
    # function_id must be a string: the frame is not a valid invokefunction, but it names its invocation.
    worker.send({"type": "invokefunction", "invocation_id": invocation_id, "function_id": 7, "data": None})
    answer = worker.expect("invocationresult", invocation_id=invocation_id)
    assert answer["error"]["code"] == "invalid_message"
    assert "function_id" in answer["error"]["message"]
    # Without a usable invocation id (or of an unknown type) the frame is dropped and the connection stays.
    worker.send({"type": "invokefunction", "invocation_id": "not-a-uuid", "function_id": "x", "data": None})
    worker.send({"type": "observe", "id": "from-a-newer-sdk"})
    worker.sync()
    assert worker.call("engine::workers::list")["result"] is not None


def test_the_worker_port_keeps_no_memory_for_garbage(engine: Engine, quiet: None) -> None:
    rng = random.Random(64)
    # The fuzzer never reads the engine's answers, so closing does not wait for a clean close handshake.
    fuzzer = engine.worker(close_timeout=0.5)

    def burst(count: int) -> None:
        nonlocal fuzzer
        for _ in range(count):
            frame_ = garbage(rng)
            if isinstance(frame_, bytes):  # binary and text frames both, without the 1007 closes
                frame_ = msgspec.json.encode(frame_.hex())
            try:
                fuzzer.send(frame_)
            except ConnectionClosed:
                fuzzer = engine.worker(close_timeout=0.5)
        if not _still_answers(fuzzer):
            fuzzer = engine.worker(close_timeout=0.5)

    burst(300)  # warm-up: caches, the first allocations of every code path
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        burst(3000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    fuzzer.close()
    assert grown < 2 * 1024 * 1024, f"{grown} bytes kept after 3000 garbage frames"


# --- the stream port ------------------------------------------------------------------------------------


async def test_garbage_on_the_stream_port_is_refused_and_harms_nobody_else(quiet: None) -> None:
    rng = random.Random(4)
    notes = Stream[dict]("notes")
    async with serving(notes) as app, raw_socket(app) as good:
        await join(good, "s1", "notes", "inbox")
        assert (await frame(good))["event"]["type"] == "sync"
        refused = closed = 0
        for round_ in range(30):
            async with raw_socket(app) as bad:
                try:
                    for _ in range(10):
                        await bad.send(garbage(rng))
                    await bad.send(json.dumps({"type": "nope"}))
                    answer = await frame(bad)
                    refused += answer.get("type") == "error"
                except ConnectionClosed:
                    closed += 1
            await notes.set("inbox", str(round_), {"round": round_})
            pushed = await frame(good)
            assert pushed["event"]["type"] in ("create", "update"), pushed
            assert pushed["event"]["data"] == {"round": round_}
    assert refused + closed == 30
    assert refused > 0


async def test_a_frame_over_64_kib_closes_only_that_stream_connection(quiet: None) -> None:
    notes = Stream[dict]("notes")
    async with serving(notes) as app, raw_socket(app) as good, raw_socket(app, max_size=None) as big:
        await join(good, "s1", "notes", "inbox")
        await frame(good)
        await big.send(json.dumps({"type": "join", "data": {"pad": "x" * (64 * 1024 + 1)}}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(big.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        await notes.set("inbox", "1", {"after": "oversized"})
        assert (await frame(good))["event"]["data"] == {"after": "oversized"}
