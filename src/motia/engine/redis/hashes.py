"""Groups of JSON values kept as Redis hashes (a state scope, a stream group): one key per group, and a few
Lua scripts so that a write can return the value it replaced and an update cannot lose a concurrent write.

An update reads the value, computes the new one here (the update ops are Python, `engine/ops.py`) and writes
it only if the value is still the one it read (compare-and-set in one script); a lost race retries with the
value the script returned. Updates of one key on this node wait for each other, so only other nodes can make
an update retry.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..state import Change
from .connection import answering

_SET = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return old
"""
_DELETE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then redis.call('HDEL', KEYS[1], ARGV[1]) end
return old
"""
_CLEAR = """
local all = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return all
"""
# ARGV: field, new value, '1' if a value was read (then ARGV[4] is it) or '0' if there was none.
# Returns {1} when written, {0} when the field is gone since, {0, current} when it changed.
_COMPARE_AND_SET = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (ARGV[3] == '1' and current == ARGV[4]) or (ARGV[3] == '0' and not current) then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    return {1}
end
if not current then return {0} end
return {0, current}
"""


class RedisHashes:
    """The operations of `StateBackend` (and of stream items) over one Redis hash per group. Redis not
    answering is the STORE_UNAVAILABLE refusal (`connection.answering`)."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url
        self._set = client.register_script(_SET)
        self._delete = client.register_script(_DELETE)
        self._clear = client.register_script(_CLEAR)
        self._compare_and_set = client.register_script(_COMPARE_AND_SET)
        # (hash, field) -> [lock, holders]: this node's updates of one key run one at a time.
        self._updating: dict[tuple[str, str], list[Any]] = {}

    async def get(self, group: str, field: str) -> bytes | None:
        with answering(self.url):
            value: bytes | None = await self.client.hget(group, field)
        return value

    async def set(self, group: str, field: str, value: bytes) -> bytes | None:
        with answering(self.url):
            old: bytes | None = await self._set(keys=[group], args=[field, value])
        return old

    async def delete(self, group: str, field: str) -> bytes | None:
        with answering(self.url):
            old: bytes | None = await self._delete(keys=[group], args=[field])
        return old

    async def update(self, group: str, field: str, change: Change) -> tuple[bytes | None, bytes]:
        entry = self._updating.setdefault((group, field), [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                return await self._update(group, field, change)
        finally:
            entry[1] -= 1
            if not entry[1]:
                del self._updating[(group, field)]

    async def _update(self, group: str, field: str, change: Change) -> tuple[bytes | None, bytes]:
        with answering(self.url):
            old = await self.client.hget(group, field)
            while True:
                new = change(old)
                args = [field, new, b"0"] if old is None else [field, new, b"1", old]
                reply = await self._compare_and_set(keys=[group], args=args)
                if reply[0] == 1:
                    return old, new
                old = reply[1] if len(reply) > 1 else None  # another node wrote first: again from its value

    async def items(self, group: str) -> list[tuple[str, bytes]]:
        with answering(self.url):
            found = await self.client.hgetall(group)
        return sorted((field.decode(), value) for field, value in found.items())

    async def clear(self, group: str) -> list[tuple[str, bytes]]:
        with answering(self.url):
            flat = await self._clear(keys=[group])
        return sorted((flat[i].decode(), flat[i + 1]) for i in range(0, len(flat), 2))

    async def members(self, index: str) -> list[bytes]:
        with answering(self.url):
            found = await self.client.smembers(index)
        return list(found)

    async def add_member(self, index: str, name: str) -> None:
        with answering(self.url):
            await self.client.sadd(index, name)

    async def non_empty(self, groups: dict[str, str]) -> list[str]:
        """The names (of name -> hash) whose hash holds something, ordered; one EXISTS per hash (cluster-safe)."""
        names = sorted(groups)
        with answering(self.url):
            async with self.client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.exists(groups[name])
                found = await pipe.execute()
        return [name for name, exists in zip(names, found, strict=True) if exists]
