"""State on Redis: one hash per scope (`keys.state_scope`), shared by every node.

State triggers fire on the node that made the change (`engine/state.py`), not on every node: N identical
nodes all carry the same triggers, so firing where the change happened runs each trigger once per change.
"""

from __future__ import annotations

from ..state import Change, StateBackend
from . import keys
from .hashes import RedisHashes


class RedisState(StateBackend):
    def __init__(self, hashes: RedisHashes) -> None:
        self.hashes = hashes
        self._indexed: set[str] = set()  # scopes this node already added to the index

    async def get(self, scope: str, key: str) -> bytes | None:
        return await self.hashes.get(keys.state_scope(scope), key)

    async def set(self, scope: str, key: str, value: bytes) -> bytes | None:
        await self._index(scope)
        return await self.hashes.set(keys.state_scope(scope), key, value)

    async def delete(self, scope: str, key: str) -> bytes | None:
        return await self.hashes.delete(keys.state_scope(scope), key)

    async def update(self, scope: str, key: str, change: Change) -> tuple[bytes | None, bytes]:
        await self._index(scope)
        return await self.hashes.update(keys.state_scope(scope), key, change)

    async def items(self, scope: str) -> list[tuple[str, bytes]]:
        return await self.hashes.items(keys.state_scope(scope))

    async def scopes(self) -> list[str]:
        names = [name.decode() for name in await self.hashes.members(keys.STATE_SCOPES)]
        return await self.hashes.non_empty({name: keys.state_scope(name) for name in names})

    async def clear(self, scope: str) -> list[tuple[str, bytes]]:
        return await self.hashes.clear(keys.state_scope(scope))

    async def _index(self, scope: str) -> None:
        # Before the write: a scope listed while still empty is filtered out by `scopes()`; a scope written but
        # not yet listed would be missed. Never removed: an emptied scope is filtered out the same way.
        if scope not in self._indexed:
            self._indexed.add(scope)  # first, so that concurrent writes to a new scope send one SADD
            try:
                await self.hashes.add_member(keys.STATE_SCOPES, scope)
            except BaseException:
                self._indexed.discard(scope)
                raise
