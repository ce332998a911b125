"""The tenant context: absent outside a scope, inherited by tasks, isolated between concurrent tasks."""

from __future__ import annotations

import asyncio
import contextvars
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buttress.tenancy import (
    MAX_TENANT_ID,
    NoTenantError,
    TenancyConfigurationError,
    TenancyTypeError,
    check_tenant_id,
    current_tenant,
    tenant_scope,
)

tenant_ids = st.text(string.ascii_letters + string.digits + "._:@-", min_size=1, max_size=40).filter(
    lambda s: s[0].isalnum()
)


def test_outside_a_scope_there_is_no_tenant() -> None:
    with pytest.raises(NoTenantError) as caught:
        current_tenant()
    assert isinstance(caught.value, LookupError)
    assert "tenant_scope" in str(caught.value)


def test_a_scope_sets_and_restores_the_tenant() -> None:
    with tenant_scope("acme") as entered:
        assert entered == "acme"
        assert current_tenant() == "acme"
        with tenant_scope("globex"):
            assert current_tenant() == "globex"
        assert current_tenant() == "acme"
    with pytest.raises(NoTenantError):
        current_tenant()


def test_a_scope_is_restored_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), tenant_scope("acme"):
        raise RuntimeError("boom")
    with pytest.raises(NoTenantError):
        current_tenant()


async def test_the_async_form_works_the_same() -> None:
    async with tenant_scope("acme"):
        assert current_tenant() == "acme"
    with pytest.raises(NoTenantError):
        current_tenant()


def test_one_scope_object_is_not_entered_twice_at_once() -> None:
    scope = tenant_scope("acme")
    with scope, pytest.raises(TenancyConfigurationError), scope:
        pass
    with scope.copy():  # a fresh one for the same tenant is fine, and so is re-entering after exit
        assert current_tenant() == "acme"
    with scope:
        assert current_tenant() == "acme"


@pytest.mark.parametrize(
    "bad", ["", " acme", "-acme", "a" * (MAX_TENANT_ID + 1), "acmé", "ac me", "a/b", "a\x00", "*", "a'b"]
)
def test_malformed_tenant_ids_are_refused(bad: str) -> None:
    with pytest.raises(TenancyConfigurationError):
        tenant_scope(bad)


@pytest.mark.parametrize("bad", [None, 7, b"acme", ["acme"]])
def test_tenant_ids_are_strings(bad: object) -> None:
    with pytest.raises(TenancyTypeError):
        check_tenant_id(bad)


@given(tenant_ids)
def test_well_formed_ids_round_trip(tenant_id: str) -> None:
    assert check_tenant_id(tenant_id) == tenant_id
    with tenant_scope(tenant_id):
        assert current_tenant() == tenant_id


@settings(max_examples=50)
@given(st.lists(tenant_ids, min_size=1, max_size=12), st.randoms(use_true_random=False))
async def test_concurrent_tasks_each_see_only_their_own_tenant(tenants: list[str], rnd: object) -> None:
    """Property 11: Tenant Context Isolation.

    Tasks running at once, each in its own scope and yielding to the others at random points, each
    read their own tenant at every step, and nothing is left set when they are done.
    """
    assert isinstance(rnd, random.Random)
    seen: list[tuple[str, str]] = []

    async def work(tenant: str, pauses: list[int]) -> None:
        async with tenant_scope(tenant):
            for pause in pauses:
                for _ in range(pause):
                    await asyncio.sleep(0)
                seen.append((tenant, current_tenant()))

    plans = [[rnd.randint(0, 3) for _ in range(rnd.randint(1, 5))] for _ in tenants]
    await asyncio.gather(*(work(tenant, plan) for tenant, plan in zip(tenants, plans, strict=True)))
    assert seen
    assert all(expected == actual for expected, actual in seen)
    with pytest.raises(NoTenantError):
        current_tenant()


@settings(max_examples=50)
@given(tenant_ids, st.integers(min_value=1, max_value=4))
async def test_tasks_created_inside_a_scope_inherit_the_tenant(tenant: str, depth: int) -> None:
    """Property 10: Tenant Context Propagation.

    A task created inside a scope (and the tasks it creates, to any depth; a TaskGroup's; a thread
    started with asyncio.to_thread) runs for that tenant, even after the creating scope has ended.
    """
    gate = asyncio.Event()

    async def nested(level: int) -> list[str]:
        await gate.wait()
        found = [current_tenant(), await asyncio.to_thread(current_tenant)]
        if level > 1:
            found += await asyncio.create_task(nested(level - 1))
        return found

    async with tenant_scope(tenant):
        task = asyncio.create_task(nested(depth))
        async with asyncio.TaskGroup() as group:
            grouped = group.create_task(asyncio.to_thread(current_tenant))
    gate.set()  # the scope is over in the parent; the children keep their copy
    assert await task == [tenant] * (2 * depth)
    assert grouped.result() == tenant
    with pytest.raises(NoTenantError):
        current_tenant()


@settings(max_examples=50)
@given(tenant_ids)
async def test_a_task_created_outside_a_scope_never_sees_a_later_one(tenant: str) -> None:
    """Property 12: No Implicit Tenant.

    A task created before the parent enters a scope keeps running with no tenant: it raises
    NoTenantError rather than borrow the parent's tenant.
    """
    gate = asyncio.Event()

    async def early() -> str | None:
        await gate.wait()
        try:
            return current_tenant()
        except NoTenantError:
            return None

    task = asyncio.create_task(early())
    async with tenant_scope(tenant):
        gate.set()
        assert await task is None


def test_a_copied_context_carries_the_tenant_into_plain_callbacks() -> None:
    with tenant_scope("acme"):
        context = contextvars.copy_context()
    assert context.run(current_tenant) == "acme"
    with pytest.raises(NoTenantError):
        current_tenant()


async def test_a_scope_left_in_another_task_leaves_no_tenant_behind() -> None:
    scope = tenant_scope("acme")
    scope.__enter__()

    async def leave() -> None:
        with pytest.raises(TenancyConfigurationError):
            scope.__exit__(None, None, None)
        with pytest.raises(NoTenantError):
            current_tenant()

    await asyncio.create_task(leave())
    assert current_tenant() == "acme"  # this test's own context: it ends with the test
