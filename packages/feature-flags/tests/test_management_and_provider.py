"""The management API with the memory backends, and the OpenFeature provider's events and context."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent
from openfeature.exception import ErrorCode as OFErrorCode
from openfeature.provider import ProviderStatus

from buttress.feature_flags import (
    AuditAction,
    Constraint,
    Context,
    FeatureFlagsConfigurationError,
    FeatureFlagsError,
    FeatureFlagsTypeError,
    FlagClient,
    FlagDefinition,
    FlagExistsError,
    FlagManager,
    FlagNotFoundError,
    FlagProvider,
    FlagSet,
    MemoryAuditSink,
    MemoryFlagSource,
    Operator,
    Strategy,
    context_from_openfeature,
)
from buttress.testing import FakeClock

from .conftest import rollout_flag


async def test_management_calls_emit_events_and_reach_clients() -> None:
    clock = FakeClock(datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    source, sink = MemoryFlagSource(), MemoryAuditSink()
    manager = FlagManager(source, sink, clock=clock)
    client = FlagClient(source)
    created = await manager.create(rollout_flag("promo", 100), actor="ann")
    assert created.action is AuditAction.CREATE
    assert created.before is None
    assert created.timestamp == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert created.timestamp.tzinfo is UTC
    await client.refresh()
    assert client.is_enabled("promo", Context(user_id="1"))
    disabled = await manager.disable("promo", actor="bob")
    assert disabled.before == rollout_flag("promo", 100)
    assert disabled.after is not None
    assert not disabled.after.enabled
    await client.refresh()
    assert not client.is_enabled("promo", Context(user_id="1"))
    with pytest.raises(FlagExistsError):
        await manager.create(FlagDefinition("promo"), actor="ann")
    with pytest.raises(FlagNotFoundError):
        await manager.update(FlagDefinition("ghost"), actor="ann")
    with pytest.raises(FlagNotFoundError):
        await manager.enable("ghost", actor="ann")
    with pytest.raises(FlagNotFoundError):
        await manager.delete("ghost", actor="ann")
    assert [event.action for event in await manager.history("promo")] == [
        AuditAction.CREATE,
        AuditAction.DISABLE,
    ]


async def test_concurrent_switches_of_one_flag_each_see_the_previous_state() -> None:
    source, sink = MemoryFlagSource([FlagDefinition("f")]), MemoryAuditSink()
    manager = FlagManager(source, sink)
    await asyncio.gather(
        *(
            manager.disable("f", actor=f"a{i}") if i % 2 else manager.enable("f", actor=f"a{i}")
            for i in range(10)
        )
    )
    history = await manager.history("f")
    assert len(history) == 10
    for earlier, later in itertools.pairwise(history):
        assert later.before == earlier.after


@pytest.mark.parametrize("actor", ["", "   ", None, 7])
async def test_an_actor_is_required(actor: object) -> None:
    manager = FlagManager(MemoryFlagSource([FlagDefinition("f")]), MemoryAuditSink())
    error = FeatureFlagsConfigurationError if isinstance(actor, str) else FeatureFlagsTypeError
    with pytest.raises(error, match="actor"):
        await manager.disable("f", actor=actor)  # type: ignore[arg-type]
    with pytest.raises(FeatureFlagsTypeError, match="flag"):
        await manager.create({"name": "x"}, actor="ann")  # type: ignore[arg-type]


def test_manager_and_sink_arguments_are_checked() -> None:
    with pytest.raises(FeatureFlagsTypeError, match="source"):
        FlagManager(object(), MemoryAuditSink())  # type: ignore[arg-type]
    with pytest.raises(FeatureFlagsTypeError, match="audit"):
        FlagManager(MemoryFlagSource(), object())  # type: ignore[arg-type]


async def test_sinks_reject_what_is_not_an_event() -> None:
    with pytest.raises(FeatureFlagsTypeError, match="event"):
        await MemoryAuditSink().record("created")  # type: ignore[arg-type]
    with pytest.raises(FeatureFlagsTypeError, match="flag"):
        await MemoryFlagSource().put({"name": "x"})  # type: ignore[arg-type]


def test_openfeature_context_maps_the_targeting_key_and_attributes() -> None:
    context = context_from_openfeature(
        EvaluationContext(
            targeting_key="u1",
            attributes={"sessionId": "s", "plan": "pro", "vip": True, "age": 7, "nested": {"a": 1}},
        )
    )
    assert (context.user_id, context.session_id) == ("u1", "s")
    assert dict(context.properties) == {"plan": "pro", "vip": "true", "age": "7"}
    assert context_from_openfeature(None) == Context()


def test_the_provider_uses_the_targeting_key_for_rollouts() -> None:
    client = FlagClient(MemoryFlagSource(), bootstrap=FlagSet(flags={"r": rollout_flag("r", 50)}))
    provider = FlagProvider(client)
    api.set_provider_and_wait(provider, "rollout-domain")
    try:
        of_client = api.get_client("rollout-domain")
        for user in map(str, range(30)):
            expected = client.is_enabled("r", Context(user_id=user))
            assert of_client.get_boolean_value("r", False, EvaluationContext(targeting_key=user)) is expected
    finally:
        api.clear_providers()


def test_the_provider_shares_resolution_details_only_read_only() -> None:
    """Resolution details built once per outcome are shared between calls, so none can be changed."""
    metadata: dict[str, str | int | float | bool] = {"owner": "growth"}
    flag = FlagDefinition(key="m", metadata=metadata)
    provider = FlagProvider(FlagClient(MemoryFlagSource(), bootstrap=FlagSet(flags={"m": flag})))
    first = provider.resolve_boolean_details("m", False, EvaluationContext(targeting_key="a"))
    second = provider.resolve_boolean_details("m", False, EvaluationContext(targeting_key="b"))
    assert (first.value, first.variant, first.reason, first.error_code) == (True, None, "STATIC", None)
    assert second == first
    with pytest.raises(AttributeError, match="read-only"):
        first.value = False
    with pytest.raises(AttributeError, match="read-only"):
        del first.reason
    with pytest.raises(TypeError):
        first.flag_metadata["owner"] = "someone else"  # type: ignore[index]
    metadata["owner"] = "changed after loading"
    third = provider.resolve_boolean_details("m", False, EvaluationContext(targeting_key="c"))
    assert dict(third.flag_metadata) == {"owner": "growth"}
    assert provider.resolve_boolean_details("m", False, None).value is True
    # A default of another type is resolved (and cached) apart: the mismatch is reported, not shared.
    mismatch = provider.resolve_string_details("m", "x", EvaluationContext(targeting_key="a"))
    assert (mismatch.value, mismatch.error_code) == ("x", OFErrorCode.TYPE_MISMATCH)


async def test_the_provider_mirrors_the_client_status_as_events() -> None:
    source = MemoryFlagSource([FlagDefinition("a")])
    client = FlagClient(source, refresh_interval=60)
    await client.refresh()
    provider = FlagProvider(client)
    events: list[ProviderEvent] = []
    api.set_provider_and_wait(provider, "events-domain")
    try:
        of_client = api.get_client("events-domain")
        for event in (ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, ProviderEvent.PROVIDER_ERROR):
            of_client.add_handler(event, lambda details, kind=event: events.append(kind))
        await source.put(FlagDefinition("a", enabled=False))
        await client.refresh()
        assert ProviderEvent.PROVIDER_CONFIGURATION_CHANGED in events
        assert of_client.get_boolean_value("a", True) is True  # disabled: the caller's default
        await client.aclose()
        assert of_client.get_provider_status() is ProviderStatus.FATAL
    finally:
        api.clear_providers()


def test_provider_arguments_are_checked() -> None:
    with pytest.raises(FeatureFlagsTypeError, match="client"):
        FlagProvider(object())  # type: ignore[arg-type]
    with pytest.raises(FeatureFlagsConfigurationError, match="init_timeout"):
        FlagProvider(FlagClient(MemoryFlagSource()), init_timeout=-1)


_attribute_names = st.sampled_from(
    [
        "userId",
        "sessionId",
        "remoteAddress",
        "environment",
        "appName",
        "currentTime",
        "properties",
        "plan",
        "x",
    ]
)
_attribute_values = st.one_of(
    st.text(max_size=6),
    st.just("lone \ud800 surrogate"),
    st.integers(-3, 3),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, width=16),
    st.datetimes(timezones=st.just(UTC)),
    st.lists(st.text(max_size=2), max_size=2),
)


@settings(max_examples=200)
@given(
    st.none() | st.text(max_size=6),
    st.dictionaries(_attribute_names, _attribute_values, max_size=5),
    st.sampled_from(["userId", "sessionId", "currentTime", "properties", "tenant"]),
)
def test_the_provider_reads_a_context_as_context_from_openfeature_does(
    key: str | None, attributes: dict[str, object], field: str
) -> None:
    """Property: the provider's one-pass reading of a context equals `context_from_openfeature`'s."""
    provider = FlagProvider(FlagClient(MemoryFlagSource()), targeting_key_field=field)
    context = EvaluationContext(targeting_key=key, attributes=attributes)  # type: ignore[arg-type]
    try:
        expected: object = context_from_openfeature(context, targeting_key_field=field)
    except FeatureFlagsError as exc:
        expected = type(exc)
    try:
        got: object = provider._context(context)
    except FeatureFlagsError as exc:
        got = type(exc)
    assert got == expected


class _Text(str):
    """A str subclass: text a context may carry, which the provider's usual path leaves to the general one."""

    __slots__ = ()


_property_names = st.sampled_from(["plan", "tenant", "x"]) | st.text(max_size=3)
_property_values = st.one_of(
    st.sampled_from(["pro", "enterprise", "free", "7", ""]),
    st.text(max_size=4),
    st.just("lone \ud800 surrogate"),
    st.integers(-3, 3),
    st.booleans(),
    st.text(max_size=3).map(_Text),
)
_usual_flag = FlagDefinition(
    key="f",
    strategies=(
        Strategy(
            name="flexibleRollout",
            parameters={"rollout": "50", "stickiness": "default", "groupId": "f"},
            constraints=(Constraint("plan", Operator.IN, ("pro", "enterprise")),),
        ),
        Strategy(
            name="flexibleRollout",
            parameters={"rollout": "30", "groupId": "g"},
            constraints=(Constraint("tenant", Operator.NOT_IN, ("a", "b")),),
        ),
    ),
)


@settings(max_examples=300)
@given(
    st.none() | st.text(max_size=6) | st.integers(0, 3) | st.text(max_size=3).map(_Text),
    st.dictionaries(_property_names | _attribute_names, _property_values | _attribute_values, max_size=4),
    st.sampled_from(["userId", "sessionId", "tenant"]),
    st.sampled_from(["f", "missing"]),
)
def test_the_provider_resolves_as_the_client_evaluates_the_general_reading(
    key: object, attributes: dict[str, object], field: str, flag_key: str
) -> None:
    """Property: `FlagProvider`'s resolution (its path for the usual context included) equals the
    client's evaluation of `context_from_openfeature`'s reading, converted; a context that cannot be
    read is an INVALID_CONTEXT error either way."""
    # Two clients drawing the same numbers: a context with no id is placed at random.
    client, twin = (
        FlagClient(MemoryFlagSource(), bootstrap=FlagSet(flags={"f": _usual_flag}), rng=random.Random(7))
        for _ in range(2)
    )
    provider = FlagProvider(twin, targeting_key_field=field)
    context = EvaluationContext(targeting_key=key, attributes=attributes)  # type: ignore[arg-type]
    got = provider.resolve_boolean_details(flag_key, False, context)
    try:
        read = context_from_openfeature(context, targeting_key_field=field)
    except FeatureFlagsError:
        assert (got.value, got.error_code, got.reason) == (False, OFErrorCode.INVALID_CONTEXT, "ERROR")
        return
    expected = client.evaluate(flag_key, False, read)
    assert (got.value, got.variant, got.reason) == (expected.value, expected.variant, expected.reason.value)
    assert got.error_code == (None if expected.error_code is None else OFErrorCode(expected.error_code.value))
    assert dict(got.flag_metadata) == dict(expected.flag_metadata)
