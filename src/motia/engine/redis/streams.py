"""Stream items on Redis: one hash per stream group (`keys.stream_group`), shared by every node.

A change reaches this node's sockets at once and the other nodes' through Redis pub/sub (`bus.py`); stream
triggers fire on the node that made the change, like state triggers.
"""

from __future__ import annotations

from ..state import Change
from ..streams import StreamBackend
from . import keys
from .hashes import RedisHashes


class RedisStreams(StreamBackend):
    def __init__(self, hashes: RedisHashes) -> None:
        self.hashes = hashes
        self._indexed: set[tuple[str, str]] = set()  # groups this node already added to the indexes

    async def get(self, stream: str, group: str, item: str) -> bytes | None:
        return await self.hashes.get(keys.stream_group(stream, group), item)

    async def set(self, stream: str, group: str, item: str, value: bytes) -> bytes | None:
        await self._index(stream, group)
        return await self.hashes.set(keys.stream_group(stream, group), item, value)

    async def delete(self, stream: str, group: str, item: str) -> bytes | None:
        return await self.hashes.delete(keys.stream_group(stream, group), item)

    async def update(self, stream: str, group: str, item: str,
                     change: Change) -> tuple[bytes | None, bytes]:
        await self._index(stream, group)
        return await self.hashes.update(keys.stream_group(stream, group), item, change)

    async def items(self, stream: str, group: str) -> list[tuple[str, bytes]]:
        return await self.hashes.items(keys.stream_group(stream, group))

    async def groups(self, stream: str) -> list[str]:
        names = [name.decode() for name in await self.hashes.members(keys.stream_groups(stream))]
        return await self.hashes.non_empty({name: keys.stream_group(stream, name) for name in names})

    async def names(self) -> list[str]:
        names = sorted(name.decode() for name in await self.hashes.members(keys.STREAM_NAMES))
        return [name for name in names if await self.groups(name)]

    async def _index(self, stream: str, group: str) -> None:
        # Before the write, never removed: `groups()` and `names()` leave out what is empty (see state.py).
        if (stream, group) not in self._indexed:
            self._indexed.add((stream, group))  # first, so that concurrent writes to a new group index it once
            try:
                await self.hashes.add_member(keys.STREAM_NAMES, stream)
                await self.hashes.add_member(keys.stream_groups(stream), group)
            except BaseException:
                self._indexed.discard((stream, group))
                raise
