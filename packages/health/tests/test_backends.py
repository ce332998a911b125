"""The server checks against real servers: readiness fails when one stops and recovers when it returns."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from sqlalchemy.ext.asyncio import create_async_engine

from buttress.health import (
    HealthApp,
    HealthConfigurationError,
    HealthRegistry,
    HealthTypeError,
    HealthUnavailableError,
    HTTPCheck,
    PostgresCheck,
    RedisCheck,
    ServiceInfo,
    SQLAlchemyCheck,
    Status,
)
from buttress.testing import (
    PostgresServer,
    RedisClusterServer,
    RedisServer,
    eventually,
    free_port,
    serve_asgi,
)


async def until_status(registry: HealthRegistry, status: Status) -> None:
    """Probe until readiness is ``status`` (a pool reconnects on its next use after a restart)."""

    async def probe() -> bool:
        return (await registry.ready()).status is status

    await eventually(probe, timeout=10, interval=0.1, what=f"readiness became {status.value}")


@pytest.mark.postgres
async def test_readiness_fails_without_postgresql_and_recovers(postgres_server: PostgresServer) -> None:
    registry = HealthRegistry(timeout=5)
    check = await PostgresCheck.connect(postgres_server.dsn)
    registry.add("postgresql:responseTime", check)
    try:
        report = await registry.ready()
        assert report.status is Status.PASS
        assert report.checks[0].result.observed_unit == "s"
        postgres_server.stop()
        await until_status(registry, Status.FAIL)
        failed = (await registry.ready()).checks[0].result
        assert failed.output is not None
        assert "postgres@" not in failed.output or "***" not in failed.output
        postgres_server.start()
        await until_status(registry, Status.PASS)
    finally:
        await check.aclose()
    assert check.pool._closed  # owned: closed with the check


@pytest.mark.postgres
async def test_a_borrowed_pool_is_left_open(postgres_pool: Any) -> None:
    check = PostgresCheck(postgres_pool, query="SELECT 2")
    assert (await check.check()).status is Status.PASS
    assert not check.owns_pool
    await check.aclose()
    assert await postgres_pool.fetchval("SELECT 1") == 1


async def test_postgres_connect_to_nothing_is_unavailable_and_bad_input_is_typed() -> None:
    with pytest.raises(HealthUnavailableError):
        await PostgresCheck.connect(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    with pytest.raises(HealthConfigurationError):
        await PostgresCheck.connect("mysql://nope")
    with pytest.raises(HealthTypeError):
        PostgresCheck(object())


@pytest.mark.postgres
async def test_sqlalchemy_readiness_fails_and_recovers(postgres_server: PostgresServer) -> None:
    url = postgres_server.dsn.replace("postgresql://", "postgresql+asyncpg://")
    engine = create_async_engine(url, pool_pre_ping=True)
    registry = HealthRegistry()
    registry.add("postgresql:responseTime", SQLAlchemyCheck(engine))
    try:
        assert (await registry.ready()).status is Status.PASS
        postgres_server.stop()
        await until_status(registry, Status.FAIL)
        output = (await registry.ready()).checks[0].result.output or ""
        assert "127.0.0.1" not in output
        assert "SELECT" not in output
        postgres_server.start()
        await until_status(registry, Status.PASS)
    finally:
        await engine.dispose()


@pytest.mark.redis
async def test_readiness_fails_without_redis_and_recovers(redis_server: RedisServer) -> None:
    registry = HealthRegistry(timeout=3)
    check = RedisCheck.from_url(redis_server.url, socket_timeout=1)
    registry.add("redis:responseTime", check)
    try:
        assert (await registry.ready()).status is Status.PASS
        redis_server.stop()
        await until_status(registry, Status.FAIL)
        output = (await registry.ready()).checks[0].result.output or ""
        assert output.startswith("redis at redis://127.0.0.1")
        redis_server.start()
        await until_status(registry, Status.PASS)
    finally:
        await check.aclose()


@pytest.mark.redis
async def test_a_borrowed_redis_client_is_left_open(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    check = RedisCheck(client=client)
    try:
        assert (await check.check()).status is Status.PASS
        await check.aclose()
        assert await client.ping()
    finally:
        await client.aclose()


def test_redis_from_url_checks_the_url() -> None:
    for bad in ("http://x", "", "redis://h:99999999/0"):
        with pytest.raises(HealthConfigurationError):
            RedisCheck.from_url(bad)
    with pytest.raises(HealthTypeError):
        RedisCheck(client="redis://localhost")  # type: ignore[arg-type]


def upstream(status: int, body: bytes, content_type: bytes) -> Callable[..., Awaitable[None]]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.mark.parametrize(
    ("status", "body", "content_type", "expected"),
    [
        (200, b"ok", b"text/plain", Status.PASS),
        (301, b"", b"text/plain", Status.PASS),
        (500, b"boom", b"text/plain", Status.FAIL),
        (404, b"", b"text/plain", Status.FAIL),
        (200, b'{"status": "warn"}', b"application/health+json", Status.WARN),
        (200, b'{"status": "DOWN"}', b"application/health+json; charset=utf-8", Status.FAIL),
        (200, b"not json", b"application/health+json", Status.PASS),
    ],
)
async def test_an_http_dependency(status: int, body: bytes, content_type: bytes, expected: Status) -> None:
    with serve_asgi(upstream(status, body, content_type)) as base:
        async with HTTPCheck(f"{base}/health") as check:
            assert (await check.check()).status is expected


async def test_an_http_dependency_that_is_ours_and_goes_away() -> None:
    registry = HealthRegistry()
    upstream_registry = HealthRegistry()
    with serve_asgi(HealthApp(upstream_registry, service=ServiceInfo(version="1"))) as base:
        check = HTTPCheck(f"{base}/ready", timeout=2)
        registry.add("billing:responseTime", check)
        assert (await registry.ready()).status is Status.PASS
    await until_status(registry, Status.FAIL)
    output = (await registry.ready()).checks[0].result.output or ""
    assert output.startswith("http at http://127.0.0.1")
    await check.aclose()


async def test_a_borrowed_http_client_is_left_open() -> None:
    with serve_asgi(upstream(200, b"ok", b"text/plain")) as base:
        async with httpx.AsyncClient() as client:
            check = HTTPCheck(base, client=client)
            await check.aclose()
            assert (await client.get(base)).status_code == 200


def test_http_check_checks_its_arguments() -> None:
    for bad in ("ftp://x", "", "http://", "not a url", "http://user:secret@\x00"):
        with pytest.raises(HealthConfigurationError) as caught:
            HTTPCheck(bad)
        assert "secret" not in str(caught.value)
    with pytest.raises(HealthTypeError):
        HTTPCheck("http://x", client=object())  # type: ignore[arg-type]


def test_sqlalchemy_check_checks_its_arguments() -> None:
    with pytest.raises(HealthTypeError):
        SQLAlchemyCheck(object())  # type: ignore[arg-type]


async def test_asyncpg_is_the_postgres_driver() -> None:
    assert PostgresCheck.errors.unavailable is HealthUnavailableError
    assert asyncpg.Pool is not None


@pytest.mark.postgres
async def test_a_connection_cut_by_the_server_fails_one_probe_at_most_then_recovers(
    postgres_dsn: str,
) -> None:
    name = f"bt_health_{uuid.uuid4().hex[:12]}"
    pool = await asyncpg.create_pool(
        postgres_dsn, min_size=1, max_size=1, server_settings={"application_name": name}
    )
    registry = HealthRegistry()
    registry.add("postgresql:responseTime", PostgresCheck(pool))
    try:
        assert (await registry.ready()).status is Status.PASS
        killer = await asyncpg.connect(postgres_dsn)
        try:
            killed = await killer.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                name,
            )
        finally:
            await killer.close()
        assert killed == 1
        statuses = [(await registry.ready()).status for _ in range(3)]
        assert statuses[-1] is Status.PASS, statuses
        assert statuses.count(Status.FAIL) <= 1, "the pool replaced the cut connection"
    finally:
        await pool.close()


@pytest.mark.redis
async def test_redis_check_on_a_cluster_pings_every_primary(redis_cluster_url: str) -> None:
    check = RedisCheck.from_url(redis_cluster_url, cluster=True)
    try:
        result = await check.check()
        assert result.status is Status.PASS
    finally:
        await check.aclose()
    client = RedisCluster.from_url(redis_cluster_url)
    try:
        assert (await RedisCheck(client=client).check()).status is Status.PASS  # borrowed, left open
        assert await client.ping()
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_redis_check_through_a_failover_then_without_a_replica_to_take_over(
    redis_failover_cluster: RedisClusterServer,
) -> None:
    """While a primary dies and its replica takes over, the check passes (the client's retry) or fails
    (typed, address redacted), then passes; a primary that dies with no replica left fails it."""
    cluster = redis_failover_cluster
    check = RedisCheck.from_url(cluster.url, cluster=True, socket_timeout=1)
    try:
        assert (await check.check()).status is Status.PASS
        victim = cluster.primary_for("any")
        (replica,) = cluster.replicas_of(victim)
        victim.kill()
        for _ in range(200):
            result = await check.check()
            if result.status is Status.PASS:
                break
            assert result.status is Status.FAIL
            assert (result.output or "").startswith("redis at redis://127.0.0.1")
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the check still fails after the replica took over")
        cluster.wait_for_failover()
        assert cluster.primary_for("any") is replica
        replica.kill()  # its former primary is dead too: no one can take its slots over
        failed = await check.check()
        assert failed.status is Status.FAIL
        assert (failed.output or "").startswith("redis at redis://127.0.0.1")
        replica.start()  # back with its data and its slots (nodes.conf): the check passes again
        cluster.wait_for_failover()
        for _ in range(200):
            if (await check.check()).status is Status.PASS:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the check still fails after the primary came back")
    finally:
        await check.aclose()
