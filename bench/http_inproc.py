"""CPU per request of the HTTP server's own path, in process and without a socket: bench/apps/motia_hello served
by `motia.assembly.App`'s protocol (uvicorn's httptools protocol with motia's limits and fast lane), fed requests
through `data_received` on a transport that keeps what is written. No system calls, no client on the same cores:
on a shared machine the figure moves much less than wrk's req/s, and `--profile` says where the time goes.

    python bench/http_inproc.py [--requests 20000] [--path /hello/world] [--post] [--profile] [--raw]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from motia.assembly import App, _http_protocol
from motia.discovery import discover

HERE = Path(__file__).resolve().parent


class Transport(asyncio.Transport):
    """What the protocol writes goes to a counter; it is never paused and never closes by itself."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.responses = 0
        self.closing = False

    def write(self, data: Any) -> None:
        self.written += len(data)
        self.responses += bytes(data).count(b"HTTP/1.1 ")

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 3000)}.get(name, default)

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def measure(requests: int, raw: bytes, profile: bool, ceiling: bool, warmup: int = 2000) -> None:
    app = App(discover(HERE / "apps" / "motia_hello"), port=0, stream_port=None, memory=True)
    if ceiling:  # the raw ASGI app on uvicorn's own protocol, as `run.py`'s ceiling row
        import sys

        sys.path.insert(0, str(HERE))
        from apps.raw_asgi import app as asgi

        config = uvicorn.Config(asgi, http="httptools", ws="none", lifespan="off", log_level="warning",
                                access_log=False, server_header=False, date_header=True)
    else:
        await app.start_engine()
        config = uvicorn.Config(app.http, http=_http_protocol(app.limits), ws="none", lifespan="off",
                                log_level="warning", access_log=False, server_header=False, date_header=True)
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Wed, 02 Dec 2026 00:00:00 GMT")]
    protocol = config.http_protocol_class(config=config, server_state=state, app_state={})
    transport = Transport()
    protocol.connection_made(transport)

    loop = asyncio.get_running_loop()

    async def run(n: int) -> None:
        for _ in range(n):
            loop.call_soon(protocol.data_received, raw)  # a loop callback, as a socket read is: no current task
            await asyncio.sleep(0)
            while state.tasks:  # the request's task (if it has one) runs on the next turns
                await asyncio.sleep(0)

    await run(warmup)  # warm-up
    before, responses = time.process_time(), transport.responses
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    await run(requests)
    if profiler:
        profiler.disable()
    spent = time.process_time() - before
    assert transport.responses - responses == requests, "not every request was answered"
    print(f"{spent / requests * 1e6:.1f} us CPU per request ({requests} requests, {raw.split(b' ')[0].decode()} "
          f"{raw.split(b' ')[1].decode()})")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    protocol.connection_lost(None)
    if not ceiling:
        await app.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--path", default="/hello/world")
    parser.add_argument("--post", action="store_true", help="POST /users with a valid JSON body")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured requests")
    parser.add_argument("--raw", action="store_true", help="the raw ASGI app on uvicorn's own protocol instead")
    args = parser.parse_args()
    if args.post:
        body = b'{"name": "Ada", "email": "ada@example.com", "age": 36}'
        raw = (b"POST /users HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
               % len(body)) + body
    else:
        raw = f"GET {args.path} HTTP/1.1\r\nhost: x\r\n\r\n".encode()
    try:
        import uvloop

        uvloop.run(measure(args.requests, raw, args.profile, args.raw, args.warmup))
    except ImportError:
        asyncio.run(measure(args.requests, raw, args.profile, args.raw, args.warmup))


if __name__ == "__main__":
    main()
