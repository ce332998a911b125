"""The tour runs, on embedded defaults and with the real servers configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TOUR = Path(__file__).with_name("tour.py")


def run_tour(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOUR), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BUTTRESS_")}


def test_tour_on_embedded_defaults() -> None:
    result = run_tour(clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "== buttress-core" in result.stdout
    assert "a duplicate add is refused: ConflictError" in result.stdout
    assert "Redis: not set: embedded defaults only" in result.stdout
    assert "500 concurrent misses of one key -> loader ran 1x" in result.stdout
    assert "set BUTTRESS_REDIS_URL to run them" in result.stdout
    assert "never more than max_size=4" in result.stdout
    assert "after close: 0 left" in result.stdout
    assert "a fresh nonce per request: True" in result.stdout
    assert "parse() reads the header back to the same policy: True" in result.stdout
    assert "an unquoted keyword is refused" in result.stdout
    assert "WSGI middleware: the page's nonce is in its header: True" in result.stdout
    assert "same browser, new cookie values and address -> same fingerprint: True" in result.stdout
    assert "a fingerprint made before rotation still verifies: True" in result.stdout
    assert "memory: a message delivered 3 times ran 1 time(s)" in result.stdout
    assert "memory: a POST, its retry, the key reused for another body -> [201, 201, 422]" in result.stdout
    assert "an unknown flag -> 'fallback', ERROR/FLAG_NOT_FOUND" in result.stdout
    assert "validation: ['EXTERNAL_UNUSED'] (User.name)" in result.stdout
    assert "_entities: 100 users in 1 resolver call" in result.stdout
    assert "memory: a stale save is refused: expected=7, actual=8" in result.stdout
    assert "ASGI endpoint: 204, then 200 to its replay; handled 1" in result.stdout
    assert "SSRF guard: 169.254.169.254 -> cloud metadata service" in result.stdout
    assert "the same seed replays the campaign: True" in result.stdout
    assert "memory: ['p1', 'p2'], brands [('Peak', 1), ('Swift', 1)]" in result.stdout
    assert "email at 23:30 Berlin: hold, released 05:00 UTC" in result.stdout
    assert "critical SMS after an SMS opt-out: suppress" in result.stdout
    assert "memory outbox: sent ['Order A-42 shipped'], statuses {'batched': 3, 'sent': 1}" in result.stdout
    assert "tour finished" in result.stdout


def test_tour_with_real_backends(redis_url: str, postgres_dsn: str) -> None:
    env = {**clean_env(), "BUTTRESS_REDIS_URL": redis_url, "BUTTRESS_POSTGRES_DSN": postgres_dsn}
    result = run_tour(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Redis: {redis_url}" in result.stdout
    assert "RedisCache: 200 concurrent misses -> loader ran 1x" in result.stdout
    assert "b's L1 copy was evicted: {'text': 'bonjour'}" in result.stdout
    assert "AsyncpgFactory: PostgreSQL" in result.stdout
    for store in ("redis", "postgres"):
        assert f"{store}: a message delivered 3 times ran 1 time(s)" in result.stdout
        assert f"{store}: a POST, its retry, the key reused for another body -> [201, 201, 422]" in (
            result.stdout
        )
    assert "Redis pub/sub reached the client at once: True" in result.stdout
    assert "PostgreSQL audit trail of tour-checkout: ['create', 'disable']" in result.stdout
    assert "PostgreSQL: 1000 entities from one SELECT" in result.stdout
    assert "postgres: a stale save is refused: expected=7, actual=8" in result.stdout
    assert "postgres: snapshot v7 + tail -> balance 128" in result.stdout
    assert "RedisReplayGuard: a copy arriving while the first is handled is told to retry" in result.stdout
    assert "RedisReplayGuard: once handled, a copy is a replay in every process" in result.stdout
    assert "outbox: sent in the caller's transaction, delivered with status 204" in result.stdout
    assert "postgres: ['p1', 'p2'], the same facets: True" in result.stdout
    assert "primary down: degraded=True" in result.stdout
    assert "postgres outbox: sent ['Order A-42 shipped'], statuses {'batched': 3, 'sent': 1}" in result.stdout
    assert "waits [0, 0, 30] s" in result.stdout


def test_tour_rejects_an_unknown_section() -> None:
    result = run_tour(clean_env(), "buttress-nope")
    assert result.returncode == 2
    assert "unknown section" in result.stdout


@pytest.mark.parametrize(
    "section",
    [
        "buttress-core",
        "buttress-caching",
        "buttress-pooling",
        "buttress-csp",
        "buttress-fingerprint",
        "buttress-idempotency",
        "buttress-feature-flags",
        "buttress-event-sourcing",
        "buttress-webhooks",
        "buttress-federation",
        "buttress-fuzzing",
        "buttress-search",
        "buttress-notifications",
    ],
)
def test_each_section_runs_alone(section: str) -> None:
    result = run_tour(clean_env(), section)
    assert result.returncode == 0, result.stderr
    assert f"== {section}" in result.stdout
