"""FlagClient: evaluation details, snapshots, background refresh, staleness and recovery."""

from __future__ import annotations

import asyncio

import pytest

from buttress.feature_flags import (
    ClientClosedError,
    ClientStatus,
    Constraint,
    Context,
    ErrorCode,
    FeatureFlagsConfigurationError,
    FeatureFlagsTypeError,
    FlagClient,
    FlagDefinition,
    FlagSet,
    MemoryFlagSource,
    MemoryStickyStore,
    Operator,
    Reason,
    Segment,
    Strategy,
    Variant,
    flag_from_dict,
)
from buttress.testing import FakeClock

from .conftest import FlakySource, rollout_flag

TYPED = flag_from_dict(
    {
        "name": "typed",
        "variants": [
            {"name": "small", "weight": 0, "value": 3},
            {"name": "big", "weight": 0, "value": 30},
        ],
        "defaultVariant": "small",
        "strategies": [
            {
                "name": "default",
                "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}],
                "variants": [{"name": "big", "weight": 1, "value": 30}],
            }
        ],
        "metadata": {"owner": "growth", "ticket": 42},
    }
)


def client_with(*flags: FlagDefinition, **kwargs: object) -> FlagClient:
    return FlagClient(
        MemoryFlagSource(), bootstrap=FlagSet(flags={flag.key: flag for flag in flags}), **kwargs
    )  # type: ignore[arg-type]


def test_an_unknown_flag_gives_the_default_with_flag_not_found() -> None:
    details = client_with().evaluate("nope", "fallback", Context(user_id="1"))
    assert details.value == "fallback"
    assert details.reason is Reason.ERROR
    assert details.error_code is ErrorCode.FLAG_NOT_FOUND
    assert client_with().is_enabled("nope") is False
    assert client_with().is_enabled("nope", default=True) is True
    assert client_with().get_variant("nope").name == "disabled"


def test_reasons_follow_the_rule_that_decided() -> None:
    client = client_with(TYPED, FlagDefinition("static"), FlagDefinition("off", enabled=False))
    assert client.evaluate("static", False).reason is Reason.STATIC
    assert client.evaluate("static", False).value is True
    pro = client.evaluate("typed", 0, Context(properties={"plan": "pro"}))
    assert (pro.value, pro.variant, pro.reason) == (30, "big", Reason.TARGETING_MATCH)
    free = client.evaluate("typed", 0, Context(properties={"plan": "free"}))
    assert (free.value, free.variant, free.reason) == (3, "small", Reason.DEFAULT)
    off = client.evaluate("off", True)
    assert (off.value, off.reason) == (True, Reason.DISABLED)
    assert pro.flag_metadata == {"owner": "growth", "ticket": 42}


def test_a_split_reports_split() -> None:
    flag = flag_from_dict(
        {
            "name": "ab",
            "variants": [
                {"name": "a", "weight": 50, "value": "A"},
                {"name": "b", "weight": 50, "value": "B"},
            ],
        }
    )
    client = client_with(flag)
    results = {client.evaluate("ab", "", Context(user_id=str(user))).value for user in range(50)}
    assert results == {"A", "B"}
    assert client.evaluate("ab", "", Context(user_id="1")).reason is Reason.SPLIT


def test_an_object_value_handed_out_is_the_callers_own_copy() -> None:
    flag = flag_from_dict(
        {"name": "layout", "variants": [{"name": "grid", "weight": 1, "value": {"columns": [1, 2]}}]}
    )
    client = client_with(flag)
    first = client.evaluate("layout", {}, Context(user_id="1"))
    assert first.value == {"columns": [1, 2]}
    first.value["columns"].append(3)
    first.value["rows"] = 9
    assert client.evaluate("layout", {}, Context(user_id="1")).value == {"columns": [1, 2]}
    variant = client.get_variant("layout", Context(user_id="1"))
    assert isinstance(variant.value, dict)
    variant.value["columns"] = []
    assert client.get_variant("layout", Context(user_id="1")).value == {"columns": [1, 2]}


def test_a_value_of_another_type_is_a_type_mismatch() -> None:
    details = client_with(TYPED).evaluate("typed", "text")
    assert (details.value, details.reason, details.error_code) == (
        "text",
        Reason.ERROR,
        ErrorCode.TYPE_MISMATCH,
    )
    assert client_with(TYPED).evaluate("typed", 1.5).value == 3.0  # ints widen to floats
    assert client_with(FlagDefinition("b")).evaluate("b", 0).error_code is ErrorCode.TYPE_MISMATCH


def test_a_client_without_a_snapshot_is_not_ready() -> None:
    client = FlagClient(MemoryFlagSource())
    assert client.status is ClientStatus.NOT_READY
    details = client.evaluate("x", 1)
    assert (details.value, details.error_code) == (1, ErrorCode.PROVIDER_NOT_READY)


async def test_start_loads_and_the_refresher_follows_changes() -> None:
    source = MemoryFlagSource([FlagDefinition("a")])
    async with FlagClient(source, refresh_interval=60) as client:
        assert client.status is ClientStatus.NOT_READY  # entering does no I/O: start() loads
        await client.start()
        await client.start()  # once
        assert client.status is ClientStatus.READY
        assert client.is_enabled("a")
        await source.put(FlagDefinition("a", enabled=False))
        for _ in range(100):  # the memory source is watchable: no need to wait the 60 s interval
            if not client.is_enabled("a"):
                break
            await asyncio.sleep(0.01)
        assert not client.is_enabled("a")
    assert client.status is ClientStatus.FATAL
    with pytest.raises(ClientClosedError):
        await client.refresh()
    with pytest.raises(ClientClosedError):
        await client.start()
    await client.aclose()  # idempotent


async def test_a_failing_source_keeps_the_last_good_snapshot_then_goes_stale_and_recovers(
    fake_clock: FakeClock,
) -> None:
    source = FlakySource(FlagDefinition("a"))
    client = FlagClient(source, refresh_interval=10, stale_after=30, clock=fake_clock)
    seen: list[ClientStatus] = []
    client.add_listener(lambda status, _snapshot: seen.append(status))
    assert await client.refresh() is True
    source.failing = True
    fake_clock.advance(10)
    assert await client.refresh() is False
    assert isinstance(client.last_error, ConnectionError)
    assert client.status is ClientStatus.READY
    assert client.evaluate("a", False).reason is Reason.STATIC  # still fresh enough
    fake_clock.advance(25)
    assert await client.refresh() is False
    assert client.status is ClientStatus.STALE
    details = client.evaluate("a", False)
    assert (details.value, details.reason) == (True, Reason.STALE)  # last good value, flagged stale
    source.failing = False
    source.flags["a"] = FlagDefinition("a", enabled=False)
    assert await client.refresh() is True
    assert client.status is ClientStatus.READY
    assert client.evaluate("a", True).reason is Reason.DISABLED
    assert seen == [ClientStatus.READY, ClientStatus.STALE, ClientStatus.READY]


async def test_a_source_failing_from_the_start_is_error_then_recovers() -> None:
    source = FlakySource(FlagDefinition("a"))
    source.failing = True
    client = FlagClient(source, refresh_interval=0.01)
    await client.start()
    try:
        assert client.status is ClientStatus.ERROR
        assert client.evaluate("a", False).error_code is ErrorCode.PROVIDER_NOT_READY
        source.failing = False
        for _ in range(200):
            if client.status is ClientStatus.READY:
                break
            await asyncio.sleep(0.01)
        assert client.is_enabled("a")
    finally:
        await client.aclose()


async def test_malformed_data_from_a_source_keeps_the_last_good_snapshot() -> None:
    class BadOnce(FlakySource):
        async def load(self) -> FlagSet:
            if self.failing:
                return flag_from_dict({"name": "x", "strategies": "nope"})  # type: ignore[return-value]
            return await super().load()

    source = BadOnce(FlagDefinition("a"))
    client = FlagClient(source)
    assert await client.refresh()
    source.failing = True
    assert not await client.refresh()
    assert client.is_enabled("a")
    assert "strategies" in str(client.last_error)


async def test_an_evaluation_never_sees_a_half_updated_set() -> None:
    """A reload swaps the whole set: flags written together always agree."""
    source = MemoryFlagSource([FlagDefinition("left"), FlagDefinition("right")])
    client = FlagClient(source, refresh_interval=60)
    await client.refresh()
    mismatches = 0

    async def writer() -> None:
        for index in range(200):
            state = index % 2 == 0
            await source.replace(
                FlagSet(
                    flags={
                        "left": FlagDefinition("left", enabled=state),
                        "right": FlagDefinition("right", enabled=state),
                    }
                )
            )
            await client.refresh()

    async def reader() -> None:
        nonlocal mismatches
        for _ in range(2000):
            snapshot = client.snapshot
            assert snapshot is not None
            mismatches += snapshot.get("left").enabled != snapshot.get("right").enabled  # type: ignore[union-attr]
            await asyncio.sleep(0)

    await asyncio.gather(writer(), reader())
    assert mismatches == 0


def test_a_sticky_store_keeps_a_users_assignment_when_the_rollout_shrinks() -> None:
    store = MemoryStickyStore()
    client = client_with(rollout_flag("beta", 100), sticky_store=store)
    users = [Context(user_id=str(user)) for user in range(200)]
    assert all(client.is_enabled("beta", user) for user in users)
    shrunk = client_with(rollout_flag("beta", 10), sticky_store=store)
    assert all(shrunk.is_enabled("beta", user) for user in users)
    assert shrunk.evaluate("beta", False, users[0]).reason is Reason.CACHED
    fresh = client_with(rollout_flag("beta", 10))
    assert sum(fresh.is_enabled("beta", user) for user in users) < 60
    killed = client_with(FlagDefinition("beta", enabled=False), sticky_store=store)
    assert not killed.is_enabled("beta", users[0])  # the kill switch beats stickiness


def test_a_sticky_store_keeps_variants_and_forgets_removed_ones() -> None:
    store = MemoryStickyStore(max_entries=2)
    two = FlagDefinition("v", variants=(Variant("a", 1, value="A"), Variant("b", 1, value="B")))
    client = client_with(two, sticky_store=store)
    first = client.get_variant("v", Context(user_id="7"))
    only_other = FlagDefinition("v", variants=(Variant("a" if first.name == "b" else "b", 1),))
    moved = client_with(only_other, sticky_store=store)
    assert moved.get_variant("v", Context(user_id="7")).name != first.name  # its variant is gone
    store.set("x", "1", "a")
    store.set("y", "1", "a")
    assert len(store) == 2
    store.forget("x")
    assert store.get("x", "1") is None


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("refresh_interval", 0),
        ("refresh_interval", "1"),
        ("stale_after", -1),
        ("bootstrap", {"features": []}),
    ],
)
def test_bad_client_arguments_are_rejected(argument: str, value: object) -> None:
    with pytest.raises((FeatureFlagsConfigurationError, FeatureFlagsTypeError), match=argument):
        FlagClient(MemoryFlagSource(), **{argument: value})  # type: ignore[arg-type]


def test_a_source_without_load_is_rejected() -> None:
    with pytest.raises(FeatureFlagsTypeError, match="source"):
        FlagClient(object())  # type: ignore[arg-type]
    with pytest.raises(FeatureFlagsConfigurationError, match="max_entries"):
        MemoryStickyStore(max_entries=0)


def test_date_constraints_read_the_client_clock(fake_clock: FakeClock) -> None:
    flag = flag_from_dict(
        {
            "name": "launch",
            "strategies": [
                {
                    "name": "default",
                    "constraints": [
                        {
                            "contextName": "currentTime",
                            "operator": "DATE_AFTER",
                            "value": "2026-01-02T00:00:00Z",
                        }
                    ],
                }
            ],
        }
    )
    client = client_with(flag, clock=fake_clock)
    assert not client.is_enabled("launch")
    fake_clock.advance(2 * 86400)
    assert client.is_enabled("launch")


def test_strategies_are_or_and_constraints_are_and() -> None:
    flag = FlagDefinition(
        "f",
        strategies=(
            Strategy("userWithId", {"userIds": "a, b"}),
            Strategy("remoteAddress", {"IPs": "10.0.0.0/8"}),
        ),
    )
    client = client_with(flag)
    assert client.is_enabled("f", Context(user_id="b"))
    assert client.is_enabled("f", Context(remote_address="10.1.2.3"))
    assert not client.is_enabled("f", Context(user_id="c", remote_address="11.0.0.1"))


def test_details_never_carry_another_callers_default() -> None:
    gated = flag_from_dict(
        {
            "name": "gated",
            "strategies": [
                {
                    "name": "default",
                    "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}],
                }
            ],
        }
    )
    client = client_with(gated, TYPED, FlagDefinition("off", enabled=False))
    for default in ("first", "second", "third"):
        assert client.evaluate("gated", default, Context()).value == default  # off, no default variant
        assert client.evaluate("typed", default).value == default  # type mismatch
        assert client.evaluate("off", default).value == default  # disabled
    assert client.evaluate("typed", 0, Context(properties={"plan": "pro"})).value == 30
    assert client.evaluate("typed", 7, Context(properties={"plan": "pro"})).value == 30


async def test_a_reload_reuses_unchanged_flags_and_recompiles_changed_ones() -> None:
    segment_flag = flag_from_dict({"name": "s", "strategies": [{"name": "default", "segments": [1]}]})
    source = MemoryFlagSource(
        [FlagDefinition("same"), FlagDefinition("changing"), segment_flag, FlagDefinition("cold")]
    )
    await source.put_segment(Segment(1, "all", ()))
    client = FlagClient(source)
    await client.refresh()
    first = client.snapshot
    assert first is not None
    assert first.compiled_keys() == frozenset()  # flags compile on first use...
    for key in ("same", "changing", "s"):
        assert client.is_enabled(key)
    assert first.compiled_keys() == {"same", "changing", "s"}
    await source.put(FlagDefinition("changing", enabled=False))
    await source.put_segment(Segment(1, "pro", (Constraint("plan", Operator.IN, ("pro",)),)))
    await client.refresh()
    second = client.snapshot
    assert second is not None
    assert second.get("same") is first.get("same")
    assert second.get("changing") is not first.get("changing")
    assert second.get("s") is not first.get("s")  # its segment changed
    assert second.compiled_keys() == {"same", "changing", "s"}  # ...and the hot set is compiled on reload
    assert not client.is_enabled("changing")
    assert not client.is_enabled("s", Context(properties={"plan": "free"}))
    assert client.is_enabled("s", Context(properties={"plan": "pro"}))
