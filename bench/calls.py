"""CPU per sync-style call made by a handler: `await state.set/get`, `await emit`, and writes without `await`
(started at once, applied in call order before the handler run ends, `src/motia/_pending.py`).

One HTTP request runs a handler that makes N calls of one kind and reports the process CPU time they took
(best of 5 requests); memory store, and SQLite (where a write waits for the group commit, so un-awaited
writes overlap).

    python bench/calls.py [--calls 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from motia import ApiRequest, Registry, emit, get, state
from motia.assembly import App
from motia.dsl import step_of

CALLS = 5000


async def awaited_set(n: int) -> None:
    for i in range(n):
        await state.set("bench", "k", i)


async def awaited_get(n: int) -> None:
    for _ in range(n):
        await state.get("bench", "k")


async def unawaited_set(n: int) -> None:
    for i in range(n):
        state.set("bench", "k", i)  # applied before the response, in order


async def awaited_emit(n: int) -> None:
    for i in range(n):
        await emit("bench.nobody", i)  # a topic nobody subscribes to: the publish alone


KINDS = {"await state.set": awaited_set, "await state.get": awaited_get, "state.set (not awaited)": unawaited_set,
         "await emit": awaited_emit}


@get("/calls/:kind/:n")
async def calls(req: ApiRequest[None]) -> dict[str, float]:
    started = time.process_time()
    await KINDS[req.path_params["kind"]](int(req.path_params["n"]))
    return {"started": started}


async def measure(store: str, count: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        options: dict[str, Any] = {"memory": True} if store == "memory" else {"data_dir": Path(tmp)}
        app = App(Registry([step_of(calls)]), port=0, stream_port=None, **options)  # type: ignore[list-item]
        await app.start()
        try:
            async with httpx.AsyncClient(base_url=app.url, timeout=120) as client:
                for kind in KINDS:
                    best = float("inf")
                    for _ in range(5):
                        response = await client.get(f"/calls/{kind}/{count}")
                        # The handler ran on this loop: CPU from its start to the answer (settling included).
                        best = min(best, time.process_time() - response.json()["started"])
                    figures[kind] = best / count * 1e6
        finally:
            await app.stop()
    return figures


async def main(count: int) -> None:
    print("| call | memory store | SQLite store |")
    print("|---|---|---|")
    memory, sqlite = await measure("memory", count), await measure("sqlite", count)
    for kind in KINDS:
        print(f"| `{kind}` | {memory[kind]:.1f} µs | {sqlite[kind]:.1f} µs |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=CALLS)
    asyncio.run(main(parser.parse_args().calls))
