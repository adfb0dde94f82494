"""The text frames of one WebSocket connection, written to its socket once per event-loop turn.

Each `websockets` `send()` serialises its frame in Python and writes it to the transport by itself: a system
call per frame (the largest single cost of a worker connection under load, `bench/ws_compare.py`). A
`FrameWriter` queues the frames sent during one loop turn and writes them all with one `transport.write` at
the end of it. The wire is unchanged: one JSON message per text frame, in the order they were sent (iii's
protocol, `docs/protocol.md` §1). Flow control is `websockets`' own: while the transport's buffer is above its
high-water mark (a slow reader), `send()` waits for it to drain before it returns, as `websockets.send` does.

Every frame of a connection must go through its writer (a frame sent with `ws.send` directly could overtake
the queued ones), and none is fragmented. A connection with an extension negotiated, or one that is not open,
takes the ordinary `ws.send` path (which raises `ConnectionClosed` as usual).
"""

from __future__ import annotations

import asyncio
import os
import struct

from websockets.asyncio.connection import Connection
from websockets.protocol import CLIENT, OPEN

try:  # the C helper `websockets` itself masks with
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - pure-Python install of websockets
    from websockets.utils import apply_mask

# Queued bytes written at once, without waiting for the end of the loop turn: a write of this size already
# costs far more than its system call.
FLUSH_AT = 64 * 1024


class FrameWriter:
    """Sends text frames on `ws`, those of one loop turn in one write."""

    __slots__ = ("_queued", "_queued_bytes", "_scheduled", "masked", "ws")

    def __init__(self, ws: Connection) -> None:
        self.ws = ws
        self.masked = ws.protocol.side is CLIENT  # a client masks every frame it sends (RFC 6455, section 5.3)
        self._queued: list[bytes] = []
        self._queued_bytes = 0
        self._scheduled = False

    async def send(self, frame: bytes) -> None:
        """Queue one text frame (UTF-8 JSON) for the end of this loop turn; wait while the peer reads slowly."""
        ws = self.ws
        if ws.protocol.state is not OPEN or ws.protocol.extensions:
            self.flush()  # keeps the order of what was queued before
            await ws.send(frame, text=True)
            return
        self._queued.append(frame)
        self._queued_bytes += len(frame)
        if self._queued_bytes >= FLUSH_AT or ws.paused:
            # Much to write (a sender that does not yield would queue without end), or the transport's buffer
            # is full (a slow reader): written now, and the sender waits for the buffer to drain.
            self.flush()
            await ws.drain()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write every queued frame now (with one transport write)."""
        self._scheduled = False
        frames, self._queued, self._queued_bytes = self._queued, [], 0
        if not frames:
            return
        ws = self.ws
        if ws.protocol.state is not OPEN or ws.transport.is_closing():
            return  # as a frame handed to a transport that then closes: the peer never gets it
        if self.masked:
            masks = os.urandom(4 * len(frames))  # one system call for the masks of the whole batch
            parts: list[bytes] = []
            for n, frame in enumerate(frames):
                mask = masks[4 * n:4 * n + 4]
                parts += (_header(len(frame), True), mask, apply_mask(frame, mask))
            data = b"".join(parts)
        else:
            data = b"".join([part for frame in frames for part in (_header(len(frame), False), frame)])
        ws.transport.write(data)


def _header(length: int, masked: bool) -> bytes:
    """A final text frame's header (RFC 6455, section 5.2) for a payload of `length` bytes."""
    mask_bit = 0x80 if masked else 0
    if length < 126:
        return bytes((0x81, mask_bit | length))
    if length < 65536:
        return struct.pack("!BBH", 0x81, mask_bit | 126, length)
    return struct.pack("!BBQ", 0x81, mask_bit | 127, length)
