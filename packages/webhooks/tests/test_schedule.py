"""The retry schedule and the outcome rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.webhooks import (
    DEFAULT_DELAYS,
    DeliveryStatus,
    RetrySchedule,
    WebhooksConfigurationError,
    parse_retry_after,
)
from buttress.webhooks._delivery import RETRY_AFTER_STATUSES, decide

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_default_schedule_is_svix_like() -> None:
    schedule = RetrySchedule()
    assert schedule.delays == (0, 5, 300, 1800, 7200, 18000, 36000, 36000) == DEFAULT_DELAYS
    assert schedule.attempts == 8
    assert schedule.first_delay == 0
    assert schedule.delay_after(8) is None
    assert schedule.delay_after(0) is None


@given(attempt=st.integers(1, 7), seed=st.integers(0, 2**32))
def test_jitter_stays_within_its_bounds(attempt: int, seed: int) -> None:
    """Property: each jittered delay lies within ±jitter of the schedule's delay."""
    schedule = RetrySchedule(jitter=0.2, rng=random.Random(seed))
    delay = schedule.delay_after(attempt)
    base = DEFAULT_DELAYS[attempt]
    assert delay is not None
    assert base * 0.8 <= delay <= base * 1.2


def test_exponential_and_timedelta_schedules() -> None:
    schedule = RetrySchedule.exponential(first=1, factor=3, attempts=5, cap=20, jitter=0)
    assert schedule.delays == (0, 1, 3, 9, 20)
    assert RetrySchedule([timedelta(minutes=1)]).delays == (60.0,)
    for bad in ([], "5", [-1], [float("inf")], [True]):
        with pytest.raises(WebhooksConfigurationError):
            RetrySchedule(bad)  # type: ignore[arg-type]
    with pytest.raises(WebhooksConfigurationError):
        RetrySchedule(jitter=2)
    with pytest.raises(WebhooksConfigurationError):
        RetrySchedule.exponential(attempts=0)
    with pytest.raises(WebhooksConfigurationError):
        RetrySchedule.exponential(factor=0.5)


def test_retry_after_forms() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after(" 7 ", NOW) == 7
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", NOW) == 60
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", NOW) == 0
    for junk in (None, "", "soon", "-5", "1.5", "\uff19"):
        assert parse_retry_after(junk, NOW) is None


@given(
    status=st.one_of(st.none(), st.integers(100, 599)),
    attempt=st.integers(1, 10),
    retry_after=st.one_of(st.none(), st.integers(0, 10**7).map(str), st.text(max_size=10)),
)
def test_the_outcome_rules(status: int | None, attempt: int, retry_after: str | None) -> None:
    """Property: 2xx delivers, 410 cancels, others retry (schedule or Retry-After) until the last attempt."""
    schedule = RetrySchedule((0, 5, 300, 1800), jitter=0)
    decision = decide(
        status_code=status,
        retry_after=retry_after,
        attempt=attempt,
        schedule=schedule,
        now=NOW,
        max_retry_after=3600,
    )
    if status is not None and 200 <= status < 300:
        assert decision.status is DeliveryStatus.DELIVERED
    elif status == 410:
        assert decision.status is DeliveryStatus.CANCELLED
        assert decision.outcome == "gone"
    elif attempt >= schedule.attempts:
        assert decision.status is DeliveryStatus.DEAD
        assert decision.next_attempt_at is None
    else:
        assert decision.status is DeliveryStatus.PENDING
        assert decision.next_attempt_at is not None
        wait = (decision.next_attempt_at - NOW).total_seconds()
        asked = parse_retry_after(retry_after, NOW)
        if status in RETRY_AFTER_STATUSES and asked is not None:
            assert wait == min(asked, 3600)
        else:
            assert wait == schedule.delays[attempt]
