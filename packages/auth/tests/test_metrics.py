"""The OpenTelemetry instruments, read back through buttress-testing's metric_reader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from buttress.auth import ExpiredTokenError, KeySet, MemoryTokenStore, SigningKey, TokenService
from buttress.testing import FakeClock, RecordedMetrics, check_bound_when_made

VERIFICATIONS = "buttress.auth.verifications"


async def test_verifications_are_counted_by_type_and_outcome(
    metric_reader: RecordedMetrics, ed_key: SigningKey
) -> None:
    clock = FakeClock(datetime(2030, 1, 1, tzinfo=UTC))
    keys = KeySet(ed_key, clock=clock)
    service = TokenService(keys, issuer="https://m.example", audience="api", clock=clock)
    token = service.issue_access("user-1")
    service.decode(token)
    service.decode(token)
    clock.advance(3600)
    with pytest.raises(ExpiredTokenError):
        service.decode(token)
    ok = {"auth.token_type": "access", "auth.outcome": "ok"}
    assert metric_reader.value(VERIFICATIONS, ok) == 2
    assert metric_reader.value(VERIFICATIONS, {"auth.outcome": "expired"}) == 1


async def test_evictions_are_counted(metric_reader: RecordedMetrics) -> None:
    store = MemoryTokenStore(max_entries=2)
    later = datetime.now(UTC) + timedelta(hours=1)
    for jti in ("a", "b", "c", "d"):
        await store.revoke(jti, expires_at=later)
    assert metric_reader.value("buttress.auth.store.evictions") == 2


def test_making_the_token_store_binds_the_package_s_instruments() -> None:
    make = "from buttress.auth import RedisTokenStore; RedisTokenStore.from_url('redis://localhost')"
    assert "buttress.auth.store.evictions" in check_bound_when_made("buttress.auth._metrics:TELEMETRY", make)
