"""A CPU-bound step: about 5 ms of pure Python per request (the `--workers` benchmark)."""

from motia import ApiRequest, api

ROUNDS = 50_000  # ~5 ms on the benchmark machine


@api("GET", "/work/:name")
async def work(req: ApiRequest[None]) -> dict[str, int]:
    total = 0
    for i in range(ROUNDS):
        total += i * i % 7
    return {"total": total}
