"""Each OpenTelemetry instrument of buttress-feature-flags, read back with the metric_reader fixture."""

from __future__ import annotations

import asyncio

import pytest
from openfeature.evaluation_context import EvaluationContext

from buttress.feature_flags import (
    Context,
    FlagClient,
    FlagDefinition,
    FlagProvider,
    FlagSet,
    MemoryFlagSource,
    MemoryStickyStore,
    RedisStickyStore,
    Strategy,
    flag_from_dict,
)
from buttress.testing import FakeClock, RecordedMetrics, RedisServer, check_bound_when_made

from .conftest import FlakySource, rollout_flag

EVALUATIONS = "buttress.feature_flags.evaluations"
ERRORS = "buttress.feature_flags.evaluation.errors"
REFRESHES = "buttress.feature_flags.source.refreshes"
DURATION = "buttress.feature_flags.source.refresh.duration"
FAILURES = "buttress.feature_flags.source.failures"
CHANGES = "buttress.feature_flags.source.changes"
STICKY = "buttress.feature_flags.sticky.write_failures"

USER = Context(user_id="u", properties={"plan": "pro"})
SPLIT = flag_from_dict(
    {
        "name": "split",
        "strategies": [{"name": "default"}],
        "variants": [
            {"name": "blue", "weight": 1, "stickiness": "userId", "payload": {"type": "string", "value": "b"}}
        ],
    }
)
TARGETED = flag_from_dict(
    {
        "name": "targeted",
        "strategies": [
            {
                "name": "default",
                "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}],
            }
        ],
    }
)


def reason(key: str | None, value: str, variant: str | None = None) -> dict[str, str]:
    found = {"feature_flag.result.reason": value}
    if key is not None:
        found["feature_flag.key"] = key
    if variant is not None:
        found["feature_flag.result.variant"] = variant
    return found


def client_with(*flags: FlagDefinition, **options: object) -> FlagClient:
    return FlagClient(
        MemoryFlagSource(), bootstrap=FlagSet(flags={flag.key: flag for flag in flags}), **options
    )  # type: ignore[arg-type]


def test_evaluations_are_counted_by_reason_variant_and_defined_key(metric_reader: RecordedMetrics) -> None:
    client = client_with(FlagDefinition("static"), FlagDefinition("off", enabled=False), SPLIT, TARGETED)
    assert client.is_enabled("static", USER)
    assert not client.is_enabled("off", USER)
    assert client.is_enabled("targeted", USER)
    assert not client.is_enabled("targeted", Context(user_id="free"))
    assert client.get_variant("split", USER).name == "blue"
    assert client.evaluate("split", "x", USER).variant == "blue"
    assert client.evaluate("static", False, USER).value is True

    assert metric_reader.value(EVALUATIONS, reason("static", "static")) == 2
    assert metric_reader.value(EVALUATIONS, reason("off", "disabled")) == 1
    assert metric_reader.value(EVALUATIONS, reason("targeted", "targeting_match")) == 1
    assert metric_reader.value(EVALUATIONS, reason("targeted", "default")) == 1
    blue = [p for p in metric_reader.points(EVALUATIONS, {"feature_flag.key": "split"}) if p.value]
    assert sum(point.value for point in blue) == 2
    assert {point.attributes.get("feature_flag.result.variant") for point in blue} == {"blue"}
    assert {p.unit for p in metric_reader.points(EVALUATIONS)} == {"{evaluation}"}


def test_evaluations_through_the_provider_are_each_counted(metric_reader: RecordedMetrics) -> None:
    """The provider's resolution details are shared per outcome; its evaluations are still each counted."""
    provider = FlagProvider(client_with(FlagDefinition("static"), SPLIT, TARGETED))
    for user in ("a", "b", "c"):
        assert provider.resolve_boolean_details("static", False, EvaluationContext(user)).value is True
        details = provider.resolve_string_details("split", "x", EvaluationContext(user))
        assert (details.value, details.variant) == ("b", "blue")
    free = EvaluationContext("f", {"plan": "free"})
    assert provider.resolve_boolean_details("targeted", True, free).value is False
    assert provider.resolve_boolean_details("targeted", True, free).value is False
    assert provider.resolve_boolean_details("targeted", False, EvaluationContext("p", {"plan": "pro"})).value
    assert provider.resolve_integer_details("static", 1, EvaluationContext("a")).value == 1

    assert metric_reader.value(EVALUATIONS, reason("static", "static")) == 3
    blue = [p for p in metric_reader.points(EVALUATIONS, {"feature_flag.key": "split"}) if p.value]
    assert sum(point.value for point in blue) == 3
    assert {point.attributes.get("feature_flag.result.variant") for point in blue} == {"blue"}
    assert metric_reader.value(EVALUATIONS, reason("targeted", "default")) == 2
    assert metric_reader.value(EVALUATIONS, reason("targeted", "targeting_match")) == 1
    assert metric_reader.value(ERRORS, {"error.type": "type_mismatch", "feature_flag.key": "static"}) == 1


def test_an_unknown_key_is_counted_without_its_name(metric_reader: RecordedMetrics) -> None:
    """Property: keys a caller makes up never become attributes (the cardinality stays bounded)."""
    client = client_with(FlagDefinition("known"))
    for index in range(20):
        client.is_enabled(f"made-up-{index}", USER)
        client.get_variant(f"other-{index}")
        client.evaluate(f"third-{index}", 1)
    points = [point for point in metric_reader.points(EVALUATIONS) if point.value]
    assert {point.attributes.get("feature_flag.key") for point in points} == {None}
    assert metric_reader.value(EVALUATIONS, reason(None, "error")) == 60
    assert metric_reader.value(ERRORS, {"error.type": "flag_not_found"}) == 60
    errors = [point for point in metric_reader.points(ERRORS) if point.value]
    assert all("feature_flag.key" not in point.attributes for point in errors)


async def test_evaluation_errors_are_counted_by_error_code(metric_reader: RecordedMetrics) -> None:
    numbers = flag_from_dict(
        {
            "name": "numbers",
            "strategies": [{"name": "default"}],
            "variants": [{"name": "n", "weight": 1, "payload": {"type": "number", "value": "5"}}],
        }
    )
    client = client_with(numbers)
    assert client.evaluate("numbers", "text", USER).error_code is not None  # a number, not a str
    client.evaluate("numbers", 1, "not a context")  # type: ignore[arg-type]
    client.is_enabled("numbers", {"userId": "u"})  # type: ignore[arg-type]
    waiting = FlagClient(MemoryFlagSource())
    waiting.evaluate("numbers", 1)
    waiting.is_enabled("numbers")
    await waiting.aclose()
    waiting.get_variant("numbers")

    assert metric_reader.value(ERRORS, {"error.type": "type_mismatch", "feature_flag.key": "numbers"}) == 1
    assert metric_reader.value(ERRORS, {"error.type": "invalid_context", "feature_flag.key": "numbers"}) == 2
    assert metric_reader.value(ERRORS, {"error.type": "provider_not_ready"}) == 2
    assert metric_reader.value(ERRORS, {"error.type": "provider_fatal"}) == 1
    assert metric_reader.value(EVALUATIONS, reason("numbers", "error")) == 3
    assert {p.unit for p in metric_reader.points(ERRORS)} == {"{error}"}


async def test_stale_and_sticky_evaluations_carry_their_reasons(metric_reader: RecordedMetrics) -> None:
    clock = FakeClock()
    source = FlakySource(rollout_flag("beta", 100))
    client = FlagClient(source, refresh_interval=10, stale_after=20, clock=clock)
    assert await client.refresh()
    source.failing = True
    clock.advance(30)
    assert not await client.refresh()
    assert client.is_enabled("beta", USER)
    assert client.evaluate("beta", False, USER).value is True
    assert metric_reader.value(EVALUATIONS, reason("beta", "stale")) == 2

    sticky = client_with(SPLIT, sticky_store=MemoryStickyStore())
    sticky.get_variant("split", USER)
    sticky.get_variant("split", USER)
    assert metric_reader.value(EVALUATIONS, reason("split", "cached", "blue")) == 1


async def test_refreshes_and_their_duration_are_measured_by_outcome(metric_reader: RecordedMetrics) -> None:
    source = FlakySource(FlagDefinition("a"))
    client = FlagClient(source, refresh_interval=60)
    assert await client.refresh()
    assert await client.refresh()
    source.failing = True
    assert not await client.refresh()
    attributes = {"feature_flag.source": "FlakySource"}
    assert metric_reader.value(REFRESHES, {**attributes, "outcome": "success"}) == 2
    assert metric_reader.value(REFRESHES, {**attributes, "outcome": "failure"}) == 1
    assert metric_reader.count(DURATION, {"outcome": "success"}) == 2
    assert metric_reader.count(DURATION, {"outcome": "failure"}) == 1
    assert metric_reader.value(DURATION) >= 0
    assert {p.unit for p in metric_reader.points(DURATION)} == {"s"}
    assert {p.unit for p in metric_reader.points(REFRESHES)} == {"{refresh}"}


async def test_source_failures_are_counted_by_operation_and_error_type(
    metric_reader: RecordedMetrics,
) -> None:
    source = FlakySource(FlagDefinition("a"))
    source.failing = True
    client = FlagClient(source, refresh_interval=60)
    assert not await client.refresh()
    wanted = {"operation": "load", "error.type": "ConnectionError", "feature_flag.source": "FlakySource"}
    assert metric_reader.value(FAILURES, wanted) == 1

    class BrokenWatch(MemoryFlagSource):
        async def wait_for_change(self, timeout: float) -> bool:
            raise OSError("the channel broke")

    watched = FlagClient(BrokenWatch([FlagDefinition("a")]), refresh_interval=0.01)
    await watched.start()
    try:
        for _ in range(300):
            if metric_reader.value(FAILURES, {"operation": "watch", "error.type": "OSError"}):
                break
            await asyncio.sleep(0.01)
    finally:
        await watched.aclose()
    assert metric_reader.value(FAILURES, {"operation": "watch", "feature_flag.source": "BrokenWatch"}) >= 1
    assert {p.unit for p in metric_reader.points(FAILURES)} == {"{failure}"}


async def test_change_notifications_are_counted(metric_reader: RecordedMetrics) -> None:
    source = MemoryFlagSource([FlagDefinition("a")])
    client = FlagClient(source, refresh_interval=60)  # polling alone would take a minute
    await client.start()
    try:
        await asyncio.sleep(0.05)  # let the refresher wait for a change
        await source.put(FlagDefinition("a", enabled=False))
        for _ in range(300):
            if not client.is_enabled("a"):
                break
            await asyncio.sleep(0.01)
    finally:
        await client.aclose()
    assert metric_reader.value(CHANGES, {"feature_flag.source": "MemoryFlagSource"}) == 1
    assert {p.unit for p in metric_reader.points(CHANGES)} == {"{notification}"}


@pytest.mark.redis
async def test_sticky_writes_redis_refuses_are_counted(
    redis_server: RedisServer, metric_reader: RecordedMetrics
) -> None:
    store = RedisStickyStore.from_url(redis_server.url, prefix="s:")
    redis_server.stop()
    try:
        store.set("flag", "user", "blue")
        async with asyncio.timeout(30):
            await store.flush()
        assert store.get("flag", "user") == "blue"  # kept locally
    finally:
        await store.aclose()
    assert metric_reader.value(STICKY, {"error.type": "FeatureFlagsUnavailableError"}) == 1
    assert {p.unit for p in metric_reader.points(STICKY)} == {"{write}"}


def test_every_instrument_is_exercised_here() -> None:
    """The instruments this file reads are exactly the ones the package declares."""
    from buttress.feature_flags import _metrics  # noqa: PLC0415

    declared = {getattr(_metrics, name).name for name in _metrics.__all__ if name != "TELEMETRY"}
    assert declared == {EVALUATIONS, ERRORS, REFRESHES, DURATION, FAILURES, CHANGES, STICKY}


def test_a_targeting_flag_with_a_static_strategy_too_is_counted_as_targeting(
    metric_reader: RecordedMetrics,
) -> None:
    mixed = FlagDefinition("mixed", strategies=(*TARGETED.strategies, Strategy("default")))
    client_with(mixed).is_enabled("mixed", Context(user_id="free"))
    assert metric_reader.value(EVALUATIONS, reason("mixed", "targeting_match")) == 1


def test_the_openfeature_provider_counts_through_the_client(metric_reader: RecordedMetrics) -> None:
    from buttress.feature_flags import FlagProvider  # noqa: PLC0415 - the openfeature extra

    provider = FlagProvider(client_with(FlagDefinition("on")), init_timeout=0.0)
    assert provider.resolve_boolean_details("on", False).value is True
    provider.resolve_boolean_details("on", False, "not a context")  # type: ignore[arg-type]
    assert metric_reader.value(EVALUATIONS, reason("on", "static")) == 1
    assert metric_reader.value(ERRORS, {"error.type": "invalid_context", "feature_flag.key": "on"}) == 1


@pytest.mark.parametrize(
    ("backend", "instrument"),
    [("RedisFlagSource", "source.changes"), ("RedisStickyStore", "sticky.write_failures")],
)
def test_making_a_redis_backend_binds_the_package_s_instruments(backend: str, instrument: str) -> None:
    make = f"from buttress.feature_flags import {backend}; {backend}.from_url('redis://localhost')"
    made = check_bound_when_made("buttress.feature_flags._metrics:TELEMETRY", make)
    assert f"buttress.feature_flags.{instrument}" in made
