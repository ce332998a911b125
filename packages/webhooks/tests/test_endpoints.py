"""Endpoints: validation, management operations, and both stores against the conformance suite."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from buttress.testing import FakeClock, PostgresSchema, PostgresServer
from buttress.webhooks import (
    Endpoint,
    EndpointConflictError,
    EndpointNotFoundError,
    Endpoints,
    EndpointStore,
    InvalidSecretError,
    MemoryEndpointStore,
    PostgresEndpointStore,
    PostgresOutbox,
    WebhooksConfigurationError,
    WebhooksTypeError,
    WebhooksUnavailableError,
    generate_secret,
    generate_signing_keypair,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the spec's published test secret


def test_endpoint_validation() -> None:
    good = Endpoint("https://hooks.example.com/x", (SECRET,))
    assert good.id.startswith("ep_")
    assert good.enabled
    assert good.accepts("anything")
    assert SECRET not in repr(good)
    bad: list[dict[str, Any]] = [
        {"url": "ftp://x/"},
        {"url": "https:///nohost"},
        {"url": "http://a b/"},
        {"url": "http://x:0/"},
        {"url": "http://x:99999/"},
        {"url": 5},
        {"url": "https://x/" + "a" * 3000},
        {"event_types": frozenset()},
        {"event_types": "one.string"},
        {"event_types": frozenset({""})},
        {"rate_limit": 0},
        {"rate_limit": True},
        {"headers": {"webhook-id": "x"}},
        {"headers": {"Content-Type": "x"}},
        {"headers": {"bad name": "x"}},
        {"headers": {"X-Ok": "line\r\nbreak"}},
        {"headers": ["x"]},
        {"id": ""},
        {"id": "ü"},
        {"enabled": "yes"},
        {"description": 3},
        {"created_at": datetime(2026, 1, 1)},
    ]
    for fields in bad:
        with pytest.raises(WebhooksConfigurationError):
            Endpoint(**{"url": "https://x.example/", "secrets": (SECRET,), **fields})
    for secrets in ((), ("nope!",), (5,), (generate_signing_keypair()[1],)):
        with pytest.raises(InvalidSecretError):
            Endpoint("https://x.example/", secrets)  # type: ignore[arg-type]
    assert Endpoint("https://x.example/", SECRET).secrets == (SECRET,)  # type: ignore[arg-type]
    assert Endpoint("https://x.example/", (generate_signing_keypair()[0],)).secrets


def test_signing_secrets_drop_the_previous_ones_when_they_expire() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    endpoint = Endpoint("https://x.example/", ("whsec_" + "A" * 32, SECRET), previous_secrets_expire_at=now)
    assert endpoint.signing_secrets(now - timedelta(seconds=1)) == endpoint.secrets
    assert endpoint.signing_secrets(now) == endpoint.secrets[:1]


async def test_management_operations() -> None:
    clock = FakeClock()
    endpoints = Endpoints(MemoryEndpointStore(), clock=clock)
    assert isinstance(endpoints.store, EndpointStore)
    created = await endpoints.create("https://x.example/", event_types=["a"], headers={"X-K": "v"})
    assert created.secrets[0].startswith("whsec_")
    assert created.created_at == clock.now()
    clock.advance(10)
    updated = await endpoints.update(created.id, url="https://y.example/", event_types=None, rate_limit=3)
    assert (updated.url, updated.event_types, updated.rate_limit) == ("https://y.example/", None, 3)
    assert updated.updated_at == clock.now()
    assert updated.created_at == created.created_at
    kept = await endpoints.update(created.id, description="d")
    assert kept.rate_limit == 3
    assert kept.description == "d"

    rotated = await endpoints.rotate_secret(created.id, grace=timedelta(hours=1))
    assert rotated.secrets[1] == created.secrets[0]
    assert rotated.secrets[0] != created.secrets[0]
    assert rotated.signing_secrets(clock.now()) == rotated.secrets
    clock.advance(3600)
    assert rotated.signing_secrets(clock.now()) == rotated.secrets[:1]
    again = await endpoints.rotate_secret(created.id, new_secret=SECRET, grace=timedelta(0))
    assert again.secrets == (SECRET,)
    assert again.previous_secrets_expire_at is None

    disabled = await endpoints.disable(created.id, reason="maintenance")
    assert not disabled.enabled
    assert disabled.disabled_reason == "maintenance"
    assert await endpoints.list(enabled=True) == []
    enabled = await endpoints.enable(created.id)
    assert enabled.enabled
    assert enabled.disabled_reason is None
    assert [e.id for e in await endpoints.list()] == [created.id]
    assert (await endpoints.get(created.id)).secrets == (SECRET,)
    assert await endpoints.delete(created.id) is True
    with pytest.raises(EndpointNotFoundError):
        await endpoints.disable(created.id)
    with pytest.raises(WebhooksConfigurationError):
        await endpoints.rotate_secret("x", grace=timedelta(seconds=-1))


async def test_memory_store_rejects_non_endpoints_and_duplicates() -> None:
    endpoint = Endpoint("https://x.example/", (SECRET,), id="ep_1")
    with pytest.raises(EndpointConflictError):
        MemoryEndpointStore([endpoint, endpoint])
    store = MemoryEndpointStore([endpoint])
    with pytest.raises(WebhooksTypeError):
        await store.create("nope")  # type: ignore[arg-type]
    with pytest.raises(WebhooksTypeError):
        await store.update(replace)  # type: ignore[arg-type]


@pytest.mark.postgres
async def test_postgres_store_outage_raises_store_unavailable(postgres_server: PostgresServer) -> None:
    store = await PostgresEndpointStore.connect(postgres_server.dsn)
    try:
        await store.create_schema()
        await store.create(Endpoint("https://x.example/", (generate_secret(),), id="ep_1"))
        postgres_server.stop()
        with pytest.raises(WebhooksUnavailableError) as caught:
            await store.get("ep_1")
        assert isinstance(caught.value, ConnectionError)
        postgres_server.start()
        assert (await store.get("ep_1")).id == "ep_1"
    finally:
        await store.aclose()


async def test_bad_postgres_arguments(postgres_schema: PostgresSchema) -> None:
    with pytest.raises(WebhooksTypeError):
        PostgresEndpointStore("not a pool")  # type: ignore[arg-type]
    pool = await asyncpg.create_pool(postgres_schema.dsn, min_size=1, max_size=1)
    try:
        with pytest.raises(WebhooksConfigurationError):
            PostgresEndpointStore(pool, table="Robert'); DROP TABLE x;--")
    finally:
        await pool.close()
    with pytest.raises(WebhooksConfigurationError):
        await PostgresEndpointStore.connect("")


@pytest.mark.postgres
async def test_a_database_the_server_refuses_is_configuration_not_an_outage(
    postgres_schema: PostgresSchema,
) -> None:
    """An unknown database is the application's input, which no retry fixes: never an outage."""
    dsn = postgres_schema.dsn.rsplit("/", 1)[0] + "/no_such_database_webhooks"
    for connect in (
        lambda: PostgresEndpointStore.connect(dsn),
        lambda: PostgresOutbox.connect(dsn, MemoryEndpointStore()),
    ):
        with pytest.raises(WebhooksConfigurationError, match="dsn") as caught:
            await connect()
        assert not isinstance(caught.value, WebhooksUnavailableError)


@pytest.mark.postgres
async def test_table_names_leave_room_for_the_names_derived_from_them(
    postgres_pool: asyncpg.Pool[Any],
) -> None:
    """A store's table is at most 48 characters; the outbox's stem 43 (``<stem>_deliveries_finished``)."""
    store = PostgresEndpointStore(postgres_pool, table="s" * 48)
    outbox = PostgresOutbox(postgres_pool, store, table="o" * 43)
    for bad in (lambda: PostgresEndpointStore(postgres_pool, table="s" * 49),
                lambda: PostgresOutbox(postgres_pool, store, table="o" * 44)):  # fmt: skip
        with pytest.raises(WebhooksConfigurationError, match="table"):
            bad()
    try:
        await store.create_schema()
        await outbox.create_schema()
        wanted = [
            "o" * 43 + suffix for suffix in ("_attempts_message", "_deliveries_due", "_deliveries_finished")
        ]
        found = await postgres_pool.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE indexname = ANY($1::text[])", wanted
        )
        assert found == len(wanted)  # each named in full: none cut at 63 bytes
    finally:
        await outbox.drop_schema()
        await store.drop_schema()
