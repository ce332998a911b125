"""HealthRegistry: concurrent checks, lone timeouts, exceptions as failures, one shared run, cache, events."""

from __future__ import annotations

import asyncio
import logging

import pytest

from buttress.health import (
    CheckResult,
    FunctionCheck,
    HealthConfigurationError,
    HealthRegistry,
    HealthTypeError,
    RegistryClosedError,
    Status,
    StatusChange,
)
from buttress.testing import FakeClock


class Counting:
    """A check that counts its runs and answers what it is told, when it is told."""

    def __init__(self, status: Status = Status.PASS) -> None:
        self.status = status
        self.runs = 0
        self.gate: asyncio.Event | None = None

    async def check(self) -> CheckResult:
        self.runs += 1
        if self.gate is not None:
            await self.gate.wait()
        return CheckResult(self.status, output=None if self.status is Status.PASS else "told to")


class Hanging:
    """A check that never answers: only its timeout ends it."""

    def __init__(self) -> None:
        self.cancelled = False

    async def check(self) -> CheckResult:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")


class Raising:
    async def check(self) -> CheckResult:
        raise RuntimeError("the connection string was wrong")


class Downstream(Counting):
    downstream = True


async def test_no_checks_pass() -> None:
    report = await HealthRegistry().ready()
    assert report.status is Status.PASS
    assert report.checks == ()
    assert report.http_status == 200


async def test_a_hanging_check_times_out_alone_while_the_others_answer() -> None:
    registry = HealthRegistry()
    finished: list[str] = []

    class Recording(Counting):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        async def check(self) -> CheckResult:
            result = await super().check()
            finished.append(self.name)
            return result

    hanging = Hanging()
    registry.add("slow", hanging, timeout=0.2)
    for name in ("a", "b", "c", "d"):
        registry.add(name, Recording(name))
    report = await registry.ready()
    by_name = {check.name: check for check in report.checks}
    assert by_name["slow"].status is Status.FAIL
    assert by_name["slow"].result.output == "timed out after 0.2 s"
    assert hanging.cancelled, "the timed-out run was cancelled, not left behind"
    assert [by_name[n].status for n in "abcd"] == [Status.PASS] * 4
    assert sorted(finished) == ["a", "b", "c", "d"], "the fast checks answered; none waited for the slow one"
    assert report.status is Status.FAIL
    assert [c.name for c in report.checks] == ["slow", "a", "b", "c", "d"], "registration order"


async def test_the_checks_run_concurrently() -> None:
    registry = HealthRegistry()
    gate = asyncio.Event()
    checks = [Counting() for _ in range(5)]
    for index, check in enumerate(checks):
        check.gate = gate
        registry.add(f"c{index}", check)
    probe = asyncio.ensure_future(registry.ready())
    await asyncio.sleep(0.05)
    assert [check.runs for check in checks] == [1] * 5, "every check started before any finished"
    gate.set()
    assert (await probe).status is Status.PASS


async def test_an_exception_is_a_failed_check_never_a_failed_probe() -> None:
    registry = HealthRegistry()
    registry.add("db", Raising())
    registry.add("disk", Counting())
    report = await registry.ready()
    db = report.checks[0]
    assert db.status is Status.FAIL
    assert db.result.output == "RuntimeError: the connection string was wrong"
    assert report.checks[1].status is Status.PASS


async def test_a_wrong_answer_is_a_failed_check() -> None:
    class Wrong:
        async def check(self) -> object:
            return "fine"

    registry = HealthRegistry()
    registry.add("odd", Wrong())  # type: ignore[arg-type]
    report = await registry.ready()
    assert report.checks[0].status is Status.FAIL
    assert "returned a str" in (report.checks[0].result.output or "")


async def test_a_non_critical_failure_only_warns() -> None:
    registry = HealthRegistry()
    registry.add("cache", Counting(Status.FAIL), critical=False)
    registry.add("db", Counting())
    report = await registry.ready()
    assert report.status is Status.WARN
    assert report.http_status == 200
    assert report.checks[0].effect is Status.WARN


async def test_concurrent_probes_share_one_run() -> None:
    registry = HealthRegistry()
    check = Counting()
    check.gate = asyncio.Event()
    registry.add("db", check)
    probes = [asyncio.ensure_future(registry.ready()) for _ in range(20)]
    await asyncio.sleep(0.05)
    check.gate.set()
    reports = await asyncio.gather(*probes)
    assert check.runs == 1
    assert len({id(report.checks[0]) for report in reports}) == 1, "every probe got the same run's report"


async def test_a_probe_that_goes_away_leaves_the_shared_run_to_the_others() -> None:
    registry = HealthRegistry()
    check = Counting()
    check.gate = asyncio.Event()
    registry.add("db", check)
    first = asyncio.ensure_future(registry.ready())
    second = asyncio.ensure_future(registry.ready())
    await asyncio.sleep(0.02)
    first.cancel()
    await asyncio.sleep(0)
    check.gate.set()
    assert (await second).status is Status.PASS
    assert check.runs == 1


async def test_results_are_reused_for_their_ttl(fake_clock: FakeClock) -> None:
    registry = HealthRegistry(clock=fake_clock, cache_ttl=10)
    check = Counting()
    registry.add("db", check)
    first = await registry.ready()
    fake_clock.advance(9)
    second = await registry.ready()
    assert check.runs == 1
    assert second.checks[0].cached
    assert not first.checks[0].cached
    fake_clock.advance(2)
    await registry.ready()
    assert check.runs == 2


async def test_a_ttl_per_check_overrides_the_default(fake_clock: FakeClock) -> None:
    registry = HealthRegistry(clock=fake_clock)
    fresh, cached = Counting(), Counting()
    registry.add("fresh", fresh)
    registry.add("cached", cached, cache_ttl=60)
    for _ in range(3):
        await registry.ready()
    assert (fresh.runs, cached.runs) == (3, 1)


async def test_groups_choose_the_probe() -> None:
    registry = HealthRegistry()
    loop_lag, db, migrations = Counting(), Counting(), Counting()
    registry.add("loop", loop_lag, groups=("live", "ready"))
    registry.add("db", db)
    registry.add("migrations", migrations, groups=("startup",))
    assert [c.name for c in (await registry.live()).checks] == ["loop"]
    assert [c.name for c in (await registry.ready()).checks] == ["loop", "db"]
    assert [c.name for c in (await registry.startup()).checks] == ["migrations"]
    registry.add("queue", Counting(), groups=("workers",))
    assert [c.name for c in (await registry.run("workers")).checks] == ["queue"]
    assert "workers" in registry.groups()


async def test_liveness_refuses_a_downstream_check() -> None:
    registry = HealthRegistry()
    with pytest.raises(HealthConfigurationError, match="liveness must not depend"):
        registry.add("db", Downstream(), groups=("live",))
    registry.add("db", Downstream(), groups=("ready",))
    with pytest.raises(HealthConfigurationError, match="liveness"):
        registry.add("api", FunctionCheck(Counting().check, downstream=True), groups=("live", "ready"))


async def test_draining_fails_every_probe_but_liveness_without_running_checks() -> None:
    registry = HealthRegistry()
    ready, live = Counting(), Counting()
    registry.add("db", ready)
    registry.add("loop", live, groups=("live",))
    registry.drain()
    report = await registry.ready()
    assert report.status is Status.FAIL
    assert report.output == "shutting down"
    assert ready.runs == 0
    assert (await registry.startup()).status is Status.FAIL
    assert (await registry.live()).status is Status.PASS
    assert live.runs == 1


async def test_status_changes_are_reported_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    registry = HealthRegistry()
    check = Counting()
    registry.add("db", check)
    changes: list[StatusChange] = []
    unsubscribe = registry.subscribe(changes.append)
    caplog.set_level(logging.INFO, logger="buttress.health")
    await registry.ready()
    await registry.ready()
    check.status = Status.FAIL
    await registry.ready()
    await registry.ready()
    check.status = Status.PASS
    await registry.ready()
    assert [(c.previous, c.current) for c in changes] == [
        (None, Status.PASS),
        (Status.PASS, Status.FAIL),
        (Status.FAIL, Status.PASS),
    ]
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert "db: pass -> fail" in caplog.records[0].getMessage()
    unsubscribe()
    check.status = Status.WARN
    await registry.ready()
    assert len(changes) == 3


async def test_a_failing_listener_is_logged_and_kept(caplog: pytest.LogCaptureFixture) -> None:
    registry = HealthRegistry()
    registry.add("db", Counting())
    calls: list[StatusChange] = []

    def broken(change: StatusChange) -> None:
        calls.append(change)
        raise ValueError("listener bug")

    registry.subscribe(broken)
    report = await registry.ready()
    assert report.status is Status.PASS
    assert calls
    assert "listener failed" in caplog.text


async def test_function_checks() -> None:
    async def ok() -> bool:
        return True

    async def down() -> bool:
        return False

    async def measured() -> CheckResult:
        return CheckResult(Status.WARN, observed_value=3, observed_unit="{item}")

    registry = HealthRegistry()
    registry.add("ok", FunctionCheck(ok))
    registry.add("down", FunctionCheck(down), critical=False)
    registry.add("measured", FunctionCheck(measured))
    report = await registry.ready()
    assert [c.status for c in report.checks] == [Status.PASS, Status.FAIL, Status.WARN]
    with pytest.raises(HealthTypeError):
        FunctionCheck(lambda: True)  # type: ignore[arg-type, return-value]


async def test_names_and_settings_are_checked_at_registration() -> None:
    registry = HealthRegistry()
    for bad in ("", "a:b:c", "db name", ":x", "x:", "a" * 65):
        with pytest.raises(HealthConfigurationError):
            registry.add(bad, Counting())
    with pytest.raises(HealthTypeError):
        registry.add("db", object())  # type: ignore[arg-type]
    with pytest.raises(HealthConfigurationError):
        registry.add("db", Counting(), timeout=0)
    with pytest.raises(HealthConfigurationError):
        registry.add("db", Counting(), groups=())
    with pytest.raises(HealthConfigurationError):
        registry.add("db", Counting(), groups=("Ready",))
    registry.add("postgresql:responseTime", Counting())
    with pytest.raises(HealthConfigurationError, match="registered already"):
        registry.add("postgresql:responseTime", Counting())
    assert registry.remove("postgresql:responseTime") is True
    assert registry.remove("postgresql:responseTime") is False
    assert registry.names == ()
    with pytest.raises(HealthConfigurationError):
        await registry.run("no such group!")


async def test_a_closed_registry_cancels_its_runs_and_refuses_more() -> None:
    registry = HealthRegistry()
    hanging = Hanging()
    registry.add("slow", hanging)
    probe = asyncio.ensure_future(registry.ready())
    await asyncio.sleep(0.02)
    await registry.aclose()
    assert hanging.cancelled
    with pytest.raises(asyncio.CancelledError):
        await probe
    with pytest.raises(RegistryClosedError):
        await registry.ready()
