"""Fixtures shared by the Redis and tiered cache tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client on the shared server, to look behind the caches' backs."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
