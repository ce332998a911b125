"""The ready-made factories pass buttress-testing's ResourceFactoryContract against real servers."""

from __future__ import annotations

from typing import Any

import pytest

from buttress.pooling import AsyncpgFactory, RedisFactory
from buttress.testing import ResourceFactoryContract


class TestAsyncpgFactory(ResourceFactoryContract):
    @pytest.fixture(autouse=True)
    def _dsn(self, postgres_dsn: str) -> None:
        self.dsn = postgres_dsn

    async def make_factory(self) -> Any:
        return AsyncpgFactory(self.dsn)


class TestRedisFactory(ResourceFactoryContract):
    @pytest.fixture(autouse=True)
    def _url(self, redis_url: str) -> None:
        self.url = redis_url

    async def make_factory(self) -> Any:
        return RedisFactory(self.url)
