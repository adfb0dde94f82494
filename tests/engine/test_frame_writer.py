"""`FrameWriter` over real sockets: frames queued in one loop turn and written together still arrive one JSON
message per text frame, in send order, from either end (a client masks its frames); a peer that does not read
holds its sender back."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from motia.frames import FrameWriter

pytestmark = pytest.mark.anyio


async def _collect(ws, count: int) -> list[dict]:
    received = []
    for _ in range(count):
        frame = await ws.recv()
        assert isinstance(frame, str)  # a text frame
        received.append(json.loads(frame))  # each frame is one whole JSON message
    return received


async def test_frames_from_many_senders_in_one_turn_arrive_whole_and_in_send_order_from_the_server():
    got: asyncio.Future[list[dict]] = asyncio.get_running_loop().create_future()

    async def handler(ws) -> None:
        writer = FrameWriter(ws)
        order = []

        async def sender(lane: int) -> None:
            for n in range(50):
                order.append({"lane": lane, "n": n, "pad": "x" * (n * 37 % 300)})  # short and 2-byte-length frames
                await writer.send(json.dumps(order[-1]).encode())
                if n % 7 == 0:
                    await asyncio.sleep(0)  # across loop turns too

        await asyncio.gather(*(sender(lane) for lane in range(20)))
        got.set_result(order)
        await ws.wait_closed()

    async with websockets.serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}", compression=None) as client:
            received = await _collect(client, 1000)
    assert received == await got


async def test_a_client_masks_every_batched_frame_and_the_server_reads_them_in_order():
    received: list[dict] = []
    done = asyncio.Event()

    async def handler(ws) -> None:
        received.extend(await _collect(ws, 300))
        done.set()

    async with websockets.serve(handler, "127.0.0.1", 0, compression=None, max_size=2**20) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}", compression=None) as client:
            writer = FrameWriter(client)
            sizes = [0, 5, 125, 126, 127, 65535, 65536, 70000]  # each header length form, at its edges
            sent = [{"n": n, "pad": "y" * sizes[n % len(sizes)]} for n in range(300)]
            for message in sent:
                await writer.send(json.dumps(message).encode())
            await done.wait()
    assert received == sent  # a wrong mask or length would have failed the server's parse (and closed it)


async def test_a_peer_that_does_not_read_holds_the_sender_back_and_gets_everything_once_it_reads():
    frame_size, total = 64 * 1024, 3000  # ~190 MiB: far more than the socket buffers hold
    client_ready = asyncio.Event()
    state: dict = {}

    async def handler(ws) -> None:
        writer = FrameWriter(ws)
        state["ws"] = ws

        async def sender() -> None:
            for n in range(total):
                await writer.send(json.dumps({"n": n, "pad": "z" * frame_size}).encode())
                state["sent"] = n + 1

        state["sender"] = asyncio.ensure_future(sender())
        await client_ready.wait()
        await state["sender"]

    async with websockets.serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}", compression=None, max_size=2**20,
                                      max_queue=1) as client:
            while "ws" not in state or not state["ws"].paused:  # the server's buffer fills: it is paused
                await asyncio.sleep(0.01)
            for _ in range(20):
                await asyncio.sleep(0.01)  # loop turns to run on: it stays held back
            sender = state["sender"]
            assert not sender.done() and state.get("sent", 0) < total
            # What waits in the server's buffer is bounded by the high-water mark, not by what was sent.
            assert state["ws"].transport.get_write_buffer_size() < 4 * 1024 * 1024
            client_ready.set()
            numbers = [message["n"] for message in await _collect(client, total)]
            assert numbers == list(range(total))
            await sender
