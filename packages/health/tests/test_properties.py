"""Properties of status aggregation and of the health+json rendering, and the standard's own vectors."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.health import (
    CheckReport,
    CheckResult,
    FunctionCheck,
    HealthRegistry,
    HealthReport,
    HealthResponseError,
    ServiceInfo,
    Status,
    aggregate,
    parse_status,
    render_health,
)

statuses = st.sampled_from(list(Status))
pairs = st.lists(st.tuples(statuses, st.booleans()), max_size=20)
words = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,15}", fullmatch=True)
names = st.one_of(words, st.tuples(words, words).map(":".join))
observed = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20),
)
outputs = st.one_of(st.none(), st.text(max_size=60))
results = st.builds(
    CheckResult,
    status=statuses,
    observed_value=observed,
    observed_unit=st.one_of(st.none(), st.sampled_from(["s", "percent", "{item}"])),
    output=outputs,
    component_type=st.one_of(st.none(), st.sampled_from(["datastore", "component", "system"])),
)
reports = st.lists(
    st.builds(
        CheckReport,
        name=names,
        result=results,
        critical=st.booleans(),
        time=st.datetimes(timezones=st.just(UTC)),
        duration=st.floats(min_value=0, max_value=10),
    ),
    max_size=8,
    unique_by=lambda report: report.name,
)


def report_of(checks: list[CheckReport]) -> HealthReport:
    return HealthReport("ready", aggregate((c.status, c.critical) for c in checks), tuple(checks))


@given(pairs)
def test_aggregate_is_the_worst_contribution(checks: list[tuple[Status, bool]]) -> None:
    """Property 15a: the probe's status is the worst check's, a non-critical failure counting as a warning."""
    expected = max(
        (Status.WARN if s is Status.FAIL and not critical else s for s, critical in checks),
        key=lambda s: s.severity,
        default=Status.PASS,
    )
    assert aggregate(checks) is expected


@given(pairs, st.randoms())
def test_aggregate_ignores_order(checks: list[tuple[Status, bool]], random: st.Random) -> None:
    """Property 15b: the order checks are registered in does not change the probe's status."""
    shuffled = list(checks)
    random.shuffle(shuffled)
    assert aggregate(shuffled) is aggregate(checks)


@given(pairs, st.tuples(statuses, st.booleans()))
def test_aggregate_never_improves_with_another_check(
    checks: list[tuple[Status, bool]], extra: tuple[Status, bool]
) -> None:
    """Property 15c: adding a check can only keep or worsen the status (monotonic)."""
    assert aggregate([*checks, extra]).severity >= aggregate(checks).severity


@given(pairs)
def test_only_a_critical_failure_fails_the_probe(checks: list[tuple[Status, bool]]) -> None:
    """Property 15d: the probe answers 503 exactly when a critical check fails."""
    failing = any(s is Status.FAIL and critical for s, critical in checks)
    assert (aggregate(checks) is Status.FAIL) is failing
    assert (aggregate(checks).http_status == 503) is failing


@given(reports, st.booleans())
def test_rendering_is_health_json(checks: list[CheckReport], details: bool) -> None:
    """Property 15e: every rendering is a JSON object with the report's status; parse_status reads it."""
    report = report_of(checks)
    body = render_health(report, details=details)
    document = json.loads(body)
    assert document["status"] == report.status.value
    assert parse_status(body) is report.status
    status_code = report.http_status
    assert (200 <= status_code < 400) is (report.status in (Status.PASS, Status.WARN)), "the draft's 2xx-3xx"
    assert (400 <= status_code < 600) is (report.status is Status.FAIL), "the draft's 4xx-5xx"


@given(reports)
def test_without_details_nothing_but_the_status_leaves(checks: list[CheckReport]) -> None:
    """Property 15f: no check name, output or observed value reaches a caller without details."""
    body = render_health(report_of(checks), details=False)
    assert set(json.loads(body)) == {"status"}


@given(reports)
def test_details_show_every_check_under_its_key(checks: list[CheckReport]) -> None:
    """Property 15g: with details, each check is a one-element array under its key, its status its own."""
    document = json.loads(render_health(report_of(checks), details=True))
    rendered = document.get("checks", {})
    assert list(rendered) == [c.name for c in checks]
    for check in checks:
        (entry,) = rendered[check.name]
        assert entry["status"] == check.status.value
        assert ("output" in entry) is (check.status is not Status.PASS and check.result.output is not None)
        if check.result.observed_value is not None:
            assert entry["observedValue"] == check.result.observed_value
        assert datetime.fromisoformat(entry["time"]) == check.time


def test_service_fields_use_the_drafts_names() -> None:
    service = ServiceInfo(version="1", release_id="1.2.2", service_id="authz", description="health of authz")
    body = json.loads(render_health(HealthReport("ready", Status.PASS), service=service))
    assert body == {
        "status": "pass",
        "version": "1",
        "releaseId": "1.2.2",
        "serviceId": "authz",
        "description": "health of authz",
    }


# The example response of draft-inadarei-api-health-check-06, section 5 (abridged to its structure), and
# the status aliases of its section 3.1: the standard's own vectors.
DRAFT_EXAMPLE = b"""{
  "status": "pass", "version": "1", "releaseId": "1.2.2", "notes": [""], "output": "",
  "serviceId": "f03e522f-1f44-4062-9b55-9587f91c9c41", "description": "health of authz service",
  "checks": {
    "cassandra:responseTime": [{"componentId": "dfd6cf2b-1b6e-4412-a0b8-f6f7797a60d2",
      "componentType": "datastore", "observedValue": 250, "observedUnit": "ms", "status": "pass",
      "time": "2018-01-17T03:36:48Z", "output": ""}],
    "cassandra:connections": [{"componentType": "datastore", "observedValue": 75, "status": "warn",
      "time": "2018-01-17T03:36:48Z", "output": "",
      "links": {"self": "http://api.example.com/dbnode/dfd6cf2b/health"}}],
    "uptime": [{"componentType": "system", "observedValue": 1209600.245, "observedUnit": "s",
      "status": "pass", "time": "2018-01-17T03:36:48Z"}]
  },
  "links": {"about": "http://api.example.com/about/authz"}
}"""


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pass", Status.PASS),
        ("ok", Status.PASS),
        ("up", Status.PASS),
        ("UP", Status.PASS),
        ("Pass", Status.PASS),
        ("warn", Status.WARN),
        ("WARN", Status.WARN),
        ("fail", Status.FAIL),
        ("error", Status.FAIL),
        ("down", Status.FAIL),
        ("DOWN", Status.FAIL),
    ],
)
def test_the_drafts_statuses_and_aliases_are_read(status: str, expected: Status) -> None:
    assert parse_status(json.dumps({"status": status})) is expected


def test_the_drafts_example_is_read_and_our_keys_follow_it() -> None:
    assert parse_status(DRAFT_EXAMPLE) is Status.PASS
    example = json.loads(DRAFT_EXAMPLE)
    check = CheckReport(
        "cassandra:responseTime",
        CheckResult(Status.PASS, observed_value=250, observed_unit="ms", component_type="datastore"),
        critical=True,
        time=datetime(2018, 1, 17, 3, 36, 48, tzinfo=UTC),
        duration=0.25,
    )
    ours = json.loads(render_health(report_of([check]), details=True))
    theirs = example["checks"]["cassandra:responseTime"][0]
    (entry,) = ours["checks"]["cassandra:responseTime"]
    shared = {key: theirs[key] for key in entry}
    assert entry == shared, "every key we write is the draft's, with the draft's value"


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b'"pass"', b"{}", b'{"status": 1}', b'{"status": "green"}', b"\xff", b"[" * 100_000],
)
def test_a_document_without_a_known_status_is_refused(body: bytes) -> None:
    with pytest.raises(HealthResponseError):
        parse_status(body)


@given(st.lists(st.tuples(statuses, st.booleans(), st.booleans()), min_size=1, max_size=6))
def test_a_check_past_its_timeout_fails_alone(checks: list[tuple[Status, bool, bool]]) -> None:
    """Property 15h: a check that does not answer within its timeout is a failure of its own; every
    other check keeps its status, and the probe's status is the aggregate of what each reported."""

    async def probe() -> HealthReport:
        registry = HealthRegistry()
        for index, (status, hangs, critical) in enumerate(checks):

            async def check(status: Status = status, hangs: bool = hangs) -> CheckResult:
                if hangs:
                    await asyncio.Event().wait()
                return CheckResult(status)

            registry.add(f"c{index}", FunctionCheck(check), timeout=0.005, critical=critical)
        try:
            return await registry.ready()
        finally:
            await registry.aclose()

    report = asyncio.run(probe())
    expected = [Status.FAIL if hangs else status for status, hangs, _ in checks]
    assert [c.status for c in report.checks] == expected
    for check, (_, hangs, _) in zip(report.checks, checks, strict=True):
        assert (check.result.output == "timed out after 0.005 s") is hangs
    assert report.status is aggregate((s, c) for s, (_, _, c) in zip(expected, checks, strict=True))
