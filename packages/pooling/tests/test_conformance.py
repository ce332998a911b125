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

    async def make_unreachable_factory(self) -> Any:
        return AsyncpgFactory("postgresql://app:secret@127.0.0.1:1/app", timeout=2)


class TestAsyncpgFactoryRollback(TestAsyncpgFactory):
    """The ``reset="rollback"`` policy, whose ``needs_reset`` answers from the session."""

    async def make_factory(self) -> Any:
        return AsyncpgFactory(self.dsn, reset="rollback")


class TestRedisFactory(ResourceFactoryContract):
    @pytest.fixture(autouse=True)
    def _url(self, redis_url: str) -> None:
        self.url = redis_url

    async def make_factory(self) -> Any:
        return RedisFactory(self.url)

    async def make_unreachable_factory(self) -> Any:
        return RedisFactory("redis://:secret@127.0.0.1:1/0", socket_connect_timeout=2)
