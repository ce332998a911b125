"""Our token stores pass buttress-testing's TokenStoreContract: in memory, on Redis and on Redis Cluster."""

from __future__ import annotations

import uuid

import pytest

from buttress.auth import MemoryTokenStore, RedisTokenStore
from buttress.testing import TokenStoreContract


class TestMemoryTokenStore(TokenStoreContract):
    async def make_store(self) -> MemoryTokenStore:
        return MemoryTokenStore()


class TestRedisTokenStore(TokenStoreContract):
    @pytest.fixture(autouse=True)
    def _redis(self, redis_url: str, redis_prefix: str) -> None:
        self.url, self.prefix = redis_url, redis_prefix

    async def make_store(self) -> RedisTokenStore:
        return RedisTokenStore.from_url(self.url, prefix=self.prefix)


class TestRedisTokenStoreOnCluster(TokenStoreContract):
    @pytest.fixture(autouse=True)
    def _redis(self, redis_cluster_url: str) -> None:
        self.url = redis_cluster_url

    async def make_store(self) -> RedisTokenStore:
        return RedisTokenStore.from_url(self.url, prefix=f"auth-{uuid.uuid4().hex}:", cluster=True)
