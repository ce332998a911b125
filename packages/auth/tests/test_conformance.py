"""Our token stores pass buttress-testing's TokenStoreContract."""

from __future__ import annotations

from buttress.auth import MemoryTokenStore
from buttress.testing import TokenStoreContract


class TestMemoryTokenStore(TokenStoreContract):
    async def make_store(self) -> MemoryTokenStore:
        return MemoryTokenStore()
