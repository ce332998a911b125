"""RedisTokenStore for real: TTLs, a server that dies, processes that race, services that share it."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from buttress.auth import (
    AuthUnavailableError,
    KeySet,
    RedisTokenStore,
    RefreshTokenReusedError,
    RevokedTokenError,
    SigningKey,
    TokenService,
)
from buttress.testing import RedisServer

pytestmark = pytest.mark.redis

RACER = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
from buttress.auth import RedisTokenStore

async def main():
    url, prefix, jti = sys.argv[1:4]
    async with RedisTokenStore.from_url(url, prefix=prefix) as store:
        won = await store.revoke(jti, expires_at=datetime.now(UTC) + timedelta(minutes=5))
    print("won" if won else "lost")

asyncio.run(main())
"""


async def test_a_revocation_lives_as_long_as_the_token(redis_url: str, redis_prefix: str) -> None:
    async with RedisTokenStore.from_url(redis_url, prefix=redis_prefix) as store:
        await store.revoke("t-1", expires_at=datetime.now(UTC) + timedelta(seconds=100))
        async with Redis.from_url(redis_url) as raw:
            ttl = await raw.pttl(f"{redis_prefix}jti:t-1")
        assert 95_000 < ttl <= 100_000


async def test_processes_racing_to_revoke_one_jti_let_exactly_one_win(
    redis_url: str, redis_prefix: str
) -> None:
    racers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", RACER, redis_url, redis_prefix, "shared-jti", stdout=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    outputs = [(await racer.communicate())[0].decode().strip() for racer in racers]
    assert sorted(outputs) == ["lost", "lost", "won"]


async def test_refresh_reuse_is_caught_across_instances(redis_url: str, redis_prefix: str) -> None:
    keys = KeySet(SigningKey.generate("EdDSA"))
    async with (
        RedisTokenStore.from_url(redis_url, prefix=redis_prefix) as store_a,
        RedisTokenStore.from_url(redis_url, prefix=redis_prefix) as store_b,
    ):
        a = TokenService(keys, issuer="https://id.example", audience="api", store=store_a)
        b = TokenService(keys, issuer="https://id.example", audience="api", store=store_b)
        pair = await a.issue_pair("user-1")
        renewed = await a.refresh(pair.refresh_token)
        with pytest.raises(RefreshTokenReusedError):
            await b.refresh(pair.refresh_token)  # the stolen copy, presented elsewhere
        with pytest.raises(RevokedTokenError):
            await a.verify(renewed.access_token)  # the family is gone everywhere
        with pytest.raises(RevokedTokenError):
            await a.refresh(renewed.refresh_token)


async def test_a_dead_server_is_unavailable_then_recovers(redis_server: RedisServer) -> None:
    later = datetime.now(UTC) + timedelta(minutes=5)
    async with RedisTokenStore.from_url(redis_server.url, prefix="auth-fault:", socket_timeout=0.5) as store:
        assert await store.revoke("before", expires_at=later)
        redis_server.kill()
        with pytest.raises(AuthUnavailableError) as caught:
            await store.is_revoked("before", user_id="u", issued_at=datetime.now(UTC))
        assert "auth-fault" not in str(caught.value)
        with pytest.raises(AuthUnavailableError):
            await store.revoke("during", expires_at=later)
        with pytest.raises(AuthUnavailableError):
            await store.revoke_all_for_user("u", cutoff=datetime.now(UTC), expires_at=later)
        redis_server.start()
        assert await store.revoke("after", expires_at=later)
