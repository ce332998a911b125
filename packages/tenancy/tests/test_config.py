"""TenantConfig: typed per-tenant settings, cached, invalidated on demand, never another tenant's."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from pydantic import BaseModel

from buttress.tenancy import (
    InvalidTenantSettingsError,
    NoTenantError,
    TenancyConfigurationError,
    TenancyTypeError,
    TenantConfig,
    TenantNotFoundError,
    tenant_scope,
)
from buttress.testing import FakeClock


class Settings(BaseModel):
    owner: str
    max_users: int = 10


class Store:
    """The settings as the application stores them, counting loads."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, object]] = {}
        self.loads = 0
        self.started = asyncio.Event()
        self.gate: asyncio.Event | None = None

    async def load(self, tenant_id: str) -> Mapping[str, object] | None:
        self.loads += 1
        row = self.rows.get(tenant_id)
        found = None if row is None else dict(row)
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)
        return found


async def test_settings_are_validated_and_cached(fake_clock: FakeClock) -> None:
    store = Store()
    store.rows["acme"] = {"owner": "acme", "max_users": 5}
    config = TenantConfig(Settings, store.load, ttl=60.0, clock=fake_clock)
    async with tenant_scope("acme"):
        first = await config.get()
        second = await config.get()
    assert first == Settings(owner="acme", max_users=5)
    assert second is first
    assert store.loads == 1
    fake_clock.advance(61)
    await config.get("acme")
    assert store.loads == 2


async def test_concurrent_gets_share_one_load() -> None:
    store = Store()
    store.rows["acme"] = {"owner": "acme"}
    config = TenantConfig(Settings, store.load)
    results = await asyncio.gather(*(config.get("acme") for _ in range(20)))
    assert {result.owner for result in results} == {"acme"}
    assert store.loads == 1


async def test_invalidate_reloads_and_calls_the_hooks() -> None:
    store = Store()
    store.rows["acme"] = {"owner": "acme", "max_users": 1}
    config = TenantConfig(Settings, store.load, ttl=None)
    heard: list[str | None] = []
    config.on_invalidate(heard.append)
    assert (await config.get("acme")).max_users == 1
    store.rows["acme"]["max_users"] = 2
    assert (await config.get("acme")).max_users == 1  # cached until told
    config.invalidate("acme")
    assert (await config.get("acme")).max_users == 2
    config.invalidate()
    assert len(config) == 0
    assert heard == ["acme", None]


async def test_a_load_overtaken_by_an_invalidation_is_not_cached() -> None:
    store = Store()
    store.rows["acme"] = {"owner": "acme", "max_users": 1}
    config = TenantConfig(Settings, store.load)
    store.gate = asyncio.Event()
    pending = asyncio.ensure_future(config.get("acme"))
    await store.started.wait()  # the load has read the row
    store.rows["acme"]["max_users"] = 2
    config.invalidate("acme")
    store.gate.set()
    assert (await pending).max_users == 1  # what it read, returned to its caller
    assert (await config.get("acme")).max_users == 2  # but not kept


async def test_errors_are_typed_and_quote_no_stored_value() -> None:
    store = Store()
    store.rows["acme"] = {"owner": "acme", "max_users": "s3cret-not-a-number"}
    config = TenantConfig(Settings, store.load)
    with pytest.raises(InvalidTenantSettingsError) as caught:
        await config.get("acme")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(TenantNotFoundError):
        await config.get("hooli")
    with pytest.raises(NoTenantError):
        await config.get()
    with pytest.raises(TenancyConfigurationError):
        await config.get("not a tenant")


def test_arguments_are_checked() -> None:
    store = Store()
    with pytest.raises(TenancyTypeError):
        TenantConfig(dict, store.load)  # type: ignore[arg-type]
    with pytest.raises(TenancyTypeError):
        TenantConfig(Settings, "load")  # type: ignore[arg-type]
    with pytest.raises(TenancyConfigurationError):
        TenantConfig(Settings, store.load, ttl=-1)
    with pytest.raises(TenancyConfigurationError):
        TenantConfig(Settings, store.load, max_entries=0)
    with pytest.raises(TenancyTypeError):
        TenantConfig(Settings, store.load).on_invalidate("hook")  # type: ignore[arg-type]


async def test_the_cache_is_bounded() -> None:
    store = Store()
    for index in range(5):
        store.rows[f"t{index}"] = {"owner": f"t{index}"}
    config = TenantConfig(Settings, store.load, max_entries=3)
    for index in range(5):
        await config.get(f"t{index}")
    assert len(config) == 3


TENANTS = ["acme", "globex", "initech"]


@settings(max_examples=40, stateful_step_count=25)
class TenantConfigMachine(RuleBasedStateMachine):
    """Property: TenantConfig Isolation and Freshness.

    Whatever the order of writes, invalidations and reads, a tenant's settings are never another
    tenant's, and after an invalidation a read returns what is stored.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.store = Store()
        self.config = TenantConfig(Settings, self.store.load, ttl=None)
        self.fresh: dict[str, bool] = dict.fromkeys(TENANTS, True)
        for tenant in TENANTS:
            self.store.rows[tenant] = {"owner": tenant, "max_users": 0}

    def teardown(self) -> None:
        self.loop.close()

    @rule(tenant=st.sampled_from(TENANTS), value=st.integers(0, 100))
    def write(self, tenant: str, value: int) -> None:
        self.store.rows[tenant] = {"owner": tenant, "max_users": value}
        self.fresh[tenant] = False

    @rule(tenant=st.sampled_from(TENANTS))
    def invalidate_one(self, tenant: str) -> None:
        self.config.invalidate(tenant)
        self.fresh[tenant] = True

    @rule()
    def invalidate_all(self) -> None:
        self.config.invalidate()
        self.fresh = dict.fromkeys(TENANTS, True)

    @rule(tenant=st.sampled_from(TENANTS))
    def read(self, tenant: str) -> None:
        got = self.loop.run_until_complete(self.config.get(tenant))
        assert got.owner == tenant
        if self.fresh[tenant]:
            assert got.max_users == self.store.rows[tenant]["max_users"]

    @rule(tenants=st.lists(st.sampled_from(TENANTS), min_size=2, max_size=6))
    def read_concurrently(self, tenants: list[str]) -> None:
        async def both() -> list[Settings]:
            return await asyncio.gather(*(self.config.get(t) for t in tenants))

        for tenant, got in zip(tenants, self.loop.run_until_complete(both()), strict=True):
            assert got.owner == tenant

    @invariant()
    def bounded(self) -> None:
        assert len(self.config) <= len(TENANTS)


TestTenantConfigMachine = TenantConfigMachine.TestCase
