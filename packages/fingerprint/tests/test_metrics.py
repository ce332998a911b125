"""Each OpenTelemetry instrument of buttress-fingerprint, read back through the metric_reader fixture."""

from __future__ import annotations

from typing import Any

import pytest

from buttress.fingerprint import Fingerprinter, IPMode, from_headers
from buttress.testing import RecordedMetrics

SECRET = b"s" * 32
OLD = b"o" * 32
HEADERS = [
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"),
    ("accept", "text/html"),
    ("accept-language", "nl-BE,nl;q=0.9"),
    ("cookie", "session=secret-value; theme=dark"),
]
SCOPE: dict[str, Any] = {
    "type": "http",
    "headers": [(name.encode(), value.encode()) for name, value in HEADERS],
    "client": ("203.0.113.9", 50000),
}
ENVIRON = {"REQUEST_METHOD": "GET"} | {f"HTTP_{n.upper().replace('-', '_')}": v for n, v in HEADERS}

COMPUTED = "buttress.fingerprint.computed"
DURATION = "buttress.fingerprint.duration"
HITS = "buttress.fingerprint.memo.hits"
MISSES = "buttress.fingerprint.memo.misses"
VERIFICATIONS = "buttress.fingerprint.verifications"


def fingerprinter(**options: Any) -> Fingerprinter:
    return Fingerprinter(SECRET, purpose="fraud-prevention", **options)


def test_each_fingerprint_is_counted_and_timed_by_source(metric_reader: RecordedMetrics) -> None:
    f = fingerprinter()
    f.from_scope(SCOPE)
    f.from_environ(ENVIRON)
    f.from_headers(HEADERS)
    f.from_headers({"user-agent": "curl/8.5"})
    f.fingerprint(from_headers(HEADERS))
    for source, made in (("scope", 1), ("environ", 1), ("headers", 2), ("components", 1)):
        attributes = {"fingerprint.source": source}
        assert metric_reader.value(COMPUTED, attributes) == made
        assert metric_reader.count(DURATION, attributes) == made
        assert metric_reader.value(DURATION, attributes) >= 0
    assert metric_reader.value(COMPUTED) == 5


def test_a_request_is_counted_once_though_it_takes_the_long_road(metric_reader: RecordedMetrics) -> None:
    """from_scope of a scope the short road refuses calls the definition inside: still one fingerprint."""
    fingerprinter().from_scope({"type": "http", "headers": [(b"user-agent", b"a"), (b"User-Agent", b"b")]})
    assert metric_reader.value(COMPUTED) == 1
    assert metric_reader.count(DURATION) == 1


def test_the_memo_counts_a_miss_then_hits(metric_reader: RecordedMetrics) -> None:
    f = fingerprinter()
    first = f.from_scope(SCOPE)
    assert f.from_scope(SCOPE) is first
    assert f.from_scope(dict(SCOPE)) is first
    assert metric_reader.value(MISSES) == 1
    assert metric_reader.value(HITS) == 2
    f.from_environ(ENVIRON)  # the same fingerprint, kept apart: its names and values are text
    f.from_environ(ENVIRON)
    assert metric_reader.value(MISSES) == 2
    assert metric_reader.value(HITS) == 3


def test_a_request_the_memo_never_holds_is_no_lookup(metric_reader: RecordedMetrics) -> None:
    """No memo (cache_size=0), the client address used, or the long road: neither hit nor miss."""
    fingerprinter(cache_size=0).from_scope(SCOPE)
    fingerprinter(ip=IPMode.FULL).from_scope(SCOPE)
    fingerprinter().fingerprint(from_headers(HEADERS))
    assert metric_reader.value(COMPUTED) == 3
    assert HITS not in metric_reader.names()
    assert MISSES not in metric_reader.names()


def test_a_full_memo_is_emptied_and_misses_again(metric_reader: RecordedMetrics) -> None:
    f = fingerprinter(cache_size=1)
    f.from_scope(SCOPE)
    f.from_scope(SCOPE)
    assert metric_reader.value(MISSES) == 2
    assert metric_reader.value(HITS) == 0


@pytest.mark.parametrize(
    ("made_with", "outcome"),
    [(SECRET, "match"), (OLD, "old_key"), (b"x" * 32, "mismatch")],
)
def test_verifications_are_counted_by_outcome(
    metric_reader: RecordedMetrics, made_with: bytes, outcome: str
) -> None:
    components = from_headers(HEADERS)
    stored = Fingerprinter(made_with, purpose="fraud-prevention").fingerprint(components)
    rotated = Fingerprinter(SECRET, purpose="fraud-prevention", previous_secrets=[OLD])
    assert rotated.verify(stored.digest, components) is (outcome != "mismatch")
    assert metric_reader.value(VERIFICATIONS, {"fingerprint.outcome": outcome}) == 1
    assert metric_reader.value(VERIFICATIONS) == 1


def test_no_attribute_carries_request_data(metric_reader: RecordedMetrics) -> None:
    f = fingerprinter(ip=IPMode.FULL)
    made = f.from_scope(SCOPE)
    f.verify(made, from_headers(HEADERS, client_ip="203.0.113.9"))
    names = metric_reader.names("buttress.fingerprint.")
    assert names == {COMPUTED, DURATION, VERIFICATIONS}
    for name in names:
        for point in metric_reader.points(name):
            if not point.value and not point.count:
                continue  # a series from an earlier test, unchanged by this one
            assert set(point.attributes) <= {"fingerprint.source", "fingerprint.outcome"}
            assert set(map(str, point.attributes.values())) <= {"scope", "match"}
