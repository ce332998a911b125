"""Service discovery and the Redis / PostgreSQL fixtures, against real servers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from buttress.testing import (
    POSTGRES_ENV,
    REDIS_ENV,
    PostgresSchema,
    PostgresServer,
    RedisClusterServer,
    RedisServer,
    ServerError,
    ServiceUnavailable,
    TestingConfigurationError,
    TestingError,
    TestingTypeError,
    discover_postgres,
    discover_redis,
    free_port,
    open_connections,
)
from buttress.testing._resp import RespClient, ping


def test_redis_fixture_gives_a_live_server(redis_url: str) -> None:
    assert ping(redis_url) is None


def test_redis_prefix_is_unique_and_its_keys_are_deleted_after(
    pytester: pytest.Pytester, run_inner: Callable[..., pytest.RunResult], redis_url: str
) -> None:
    record = pytester.path / "prefixes.txt"
    pytester.makepyfile(
        f"""
        from buttress.testing._resp import RespClient

        def test_one(redis_url, redis_prefix):
            with open({str(record)!r}, "a") as f:
                f.write(redis_prefix + "\\n")
            with RespClient(redis_url) as client:
                for i in range(700):  # more than one SCAN batch
                    client.execute("SET", f"{{redis_prefix}}{{i}}", i)
                client.execute("SET", f"{{redis_prefix}}glob*[x]?", "odd name")

        def test_two(redis_prefix):
            with open({str(record)!r}, "a") as f:
                f.write(redis_prefix + "\\n")
        """
    )
    run_inner().assert_outcomes(passed=2)
    first, second = record.read_text().split()
    assert first != second
    assert first.startswith("bt:test_one:")
    with RespClient(redis_url) as client:
        reply = client.execute("SCAN", 0, "MATCH", f"{first}*", "COUNT", 100_000)
        assert isinstance(reply, list)
        assert reply[1] == [], "keys under the prefix survived the test"


def test_discovery_prefers_the_environment(redis_url: str) -> None:
    found = discover_redis({REDIS_ENV: redis_url})
    assert not isinstance(found, ServiceUnavailable)
    assert (found.url, found.origin) == (redis_url, "env")


def test_a_configured_but_dead_redis_is_reported_not_replaced() -> None:
    dead = f"redis://:secret@127.0.0.1:{free_port()}/0"
    found = discover_redis({REDIS_ENV: dead})
    assert isinstance(found, ServiceUnavailable)
    assert REDIS_ENV in found.message()
    assert "secret" not in found.message()


@pytest.mark.slow
def test_throwaway_redis_when_nothing_is_configured_or_listening() -> None:
    found = discover_redis({}, local_url=f"redis://127.0.0.1:{free_port()}/0")
    assert not isinstance(found, ServiceUnavailable)
    assert found.origin == "throwaway"
    assert found.server is not None
    try:
        assert ping(found.url) is None
    finally:
        found.server.close()
    assert ping(found.url) is not None


def test_no_redis_anywhere_says_how_to_provide_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    found = discover_redis({}, local_url=f"redis://127.0.0.1:{free_port()}/0")
    assert isinstance(found, ServiceUnavailable)
    message = found.message()
    assert "redis-server is not on PATH" in message
    assert f"set {REDIS_ENV}=" in message


async def test_postgres_schema_is_private_to_the_module(postgres_schema: PostgresSchema) -> None:
    conn = await asyncpg.connect(postgres_schema.dsn, server_settings=postgres_schema.server_settings)
    try:
        assert await conn.fetchval("SELECT current_schema()") == postgres_schema.name
        await conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        await conn.execute("INSERT INTO t VALUES (1)")
        table = await conn.fetchval("SELECT to_regclass($1)", f"{postgres_schema.name}.t")
        assert table is not None
    finally:
        await conn.close()


async def test_postgres_schema_is_shared_within_the_module(postgres_schema: PostgresSchema) -> None:
    conn = await asyncpg.connect(postgres_schema.dsn, server_settings=postgres_schema.server_settings)
    try:
        # The table made by the test above is still here: one schema per module.
        assert await conn.fetchval("SELECT count(*) FROM t") == 1
    finally:
        await conn.close()


def test_postgres_discovery_prefers_the_environment(postgres_dsn: str) -> None:
    found = discover_postgres({POSTGRES_ENV: postgres_dsn})
    assert not isinstance(found, ServiceUnavailable)
    assert found.origin == "env"


def test_a_configured_but_dead_postgres_is_reported() -> None:
    found = discover_postgres({POSTGRES_ENV: f"postgresql://u:pw123@127.0.0.1:{free_port()}/x"})
    assert isinstance(found, ServiceUnavailable)
    assert POSTGRES_ENV in found.message()
    assert "pw123" not in found.message()


@pytest.mark.slow
def test_throwaway_postgres_when_nothing_is_configured_or_listening() -> None:
    found = discover_postgres({}, local_dsn=f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    assert not isinstance(found, ServiceUnavailable)
    assert found.origin == "throwaway"
    assert found.server is not None
    try:

        async def query() -> int:
            conn = await asyncpg.connect(found.dsn)
            try:
                value: int = await conn.fetchval("SELECT 40 + 2")
                return value
            finally:
                await conn.close()

        assert asyncio.run(query()) == 42
    finally:
        found.server.close()
    assert not found.server.running


async def test_private_redis_survives_stop_and_start_on_the_same_port(redis_server: RedisServer) -> None:
    with RespClient(redis_server.url) as client:
        client.execute("SET", "k", "v")
    port = redis_server.port
    redis_server.stop()
    assert not redis_server.running
    assert ping(redis_server.url) is not None
    redis_server.start()
    assert redis_server.port == port
    assert ping(redis_server.url) is None
    with RespClient(redis_server.url) as client:
        assert client.execute("GET", "k") is None  # nothing is persisted: a restart is a cold cache


def test_private_redis_kill_is_abrupt(redis_server: RedisServer) -> None:
    client = RespClient(redis_server.url)
    try:
        redis_server.kill()
        with pytest.raises(ConnectionError):
            client.execute("PING")
    finally:
        client.close()


@pytest.mark.slow
async def test_private_postgres_restart_keeps_data_and_kill_drops_connections(
    postgres_server: PostgresServer,
) -> None:
    conn = await asyncpg.connect(postgres_server.dsn)
    await conn.execute("CREATE TABLE kept (v text)")
    await conn.execute("INSERT INTO kept VALUES ('durable')")
    postgres_server.kill()
    with pytest.raises((asyncpg.PostgresError, OSError, asyncpg.InterfaceError)):
        await conn.fetchval("SELECT 1")
    conn.terminate()
    postgres_server.start()
    conn = await asyncpg.connect(postgres_server.dsn)
    try:
        assert await conn.fetchval("SELECT v FROM kept") == "durable"
    finally:
        await conn.close()


def test_no_postgres_binaries_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    found = discover_postgres({}, local_dsn=f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    assert isinstance(found, ServiceUnavailable)
    assert "initdb and pg_ctl are not on PATH" in found.message()


def test_discovery_reads_only_the_mapping_it_is_given() -> None:
    found = discover_redis({}, local_url=None, start_throwaway=False)
    assert isinstance(found, ServiceUnavailable)
    assert f"{REDIS_ENV} is not set" in found.message()


def test_redis_cluster_fixture_gives_a_healthy_three_master_cluster(redis_cluster_url: str) -> None:
    with RespClient(redis_cluster_url) as client:
        info = client.execute("CLUSTER", "INFO")
        assert isinstance(info, bytes)
        assert b"cluster_state:ok" in info
        assert b"cluster_known_nodes:6" in info
        assert b"cluster_size:3" in info
        assert b"cluster_slots_assigned:16384" in info


def test_a_killed_primary_is_replaced_by_its_replica_with_what_it_had_replicated(
    redis_failover_cluster: RedisClusterServer,
) -> None:
    cluster = redis_failover_cluster
    assert len(cluster.nodes) == 6
    victim = cluster.primary_for("order:17")
    (replica,) = cluster.replicas_of(victim)
    assert replica is not victim
    with RespClient(victim.url) as client:
        client.execute("SET", "order:17", "kept")
    cluster.wait_for_replicas()
    with RespClient(replica.url) as client:
        client.execute("READONLY")
        assert client.execute("GET", "order:17") == b"kept"  # the replica has it before the primary dies
    victim.kill()
    cluster.wait_for_failover()
    assert cluster.primary_for("order:17") is replica
    assert victim.url not in cluster.urls
    with RespClient(replica.url) as client:
        assert client.execute("GET", "order:17") == b"kept"
    with pytest.raises(TestingTypeError, match="key"):
        cluster.primary_for(b"order:17")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"replicas": -1}, TestingConfigurationError),
        ({"replicas": 6}, TestingConfigurationError),
        ({"nodes": 51, "replicas": 1}, TestingConfigurationError),
        ({"replicas": True}, TestingTypeError),
        ({"node_timeout": 0.01}, TestingConfigurationError),
        ({"node_timeout": float("nan")}, TestingConfigurationError),
        ({"node_timeout": "2"}, TestingError),
    ],
)
def test_replicas_and_node_timeout_are_checked_before_any_node_is_made(
    options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        RedisClusterServer(**options)  # type: ignore[arg-type]


def test_a_cluster_needs_three_masters() -> None:
    with pytest.raises(ServerError, match="at least 3"):
        RedisClusterServer(nodes=2)


def test_open_connections_counts_the_sockets_this_process_holds_to_a_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert open_connections(port) == 0
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        accepted = [listener.accept()[0] for _ in clients]  # their local port is ``port``: not counted
        try:
            assert open_connections(port) == 3
            clients[0].close()
            assert open_connections(port) == 2
        finally:
            for sock in clients + accepted:
                sock.close()
        assert open_connections(port) == 0


def test_a_cluster_never_puts_two_nodes_on_one_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in CI: free_port handed out one port twice (nothing holds it), two nodes got it, and the
    cluster never formed."""
    from buttress.testing import _servers  # noqa: PLC0415 - the private port picker under test

    # the second pick repeats the first; 30001's bus port would be the first node's port
    handed = iter([40001, 40001, 30002, 40001, 30002, 30001, 40003])
    monkeypatch.setattr(_servers, "free_port", lambda: next(handed))
    monkeypatch.setattr(_servers, "_port_open", lambda port: False)
    taken: set[int] = set()
    assert [_servers._cluster_port(taken) for _ in range(3)] == [40001, 30002, 40003]
    assert taken == {40001, 50001, 30002, 40002, 40003, 50003}
