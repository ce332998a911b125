"""Every public function and constructor of buttress-testing, driven with hostile arguments.

Only typed errors come out.

buttress-testing is one of the suite's packages, so its own API follows the suite's rule. Servers are
never started from hostile input: ``start_throwaway`` is kept (or driven only with values that are
not ``True``), constructors are wrapped so that whatever they build is closed at once, and every
discovery result is checked for a throwaway server, which would fail the test.

``FakeClock.now``, ``FakeClock.monotonic``, ``free_port`` and ``register_profiles`` take no argument,
so there is nothing to replace; they are called after the hostile runs, to show those left nothing
broken behind.
"""

from __future__ import annotations

import functools
import math
import pickle
import shutil
import types
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import buttress.testing as testing
from buttress.core import ArgumentTypeError, ButtressError, ConfigurationError
from buttress.testing import (
    CONFORMANCE_ENV,
    POSTGRES_ENV,
    REDIS_ENV,
    Failover,
    FakeClock,
    HostileTarget,
    HostileTargets,
    MetricPoint,
    MissingExtraError,
    PostgresSchema,
    PostgresServer,
    PostgresService,
    RecordedMetrics,
    RecordedSpans,
    RedisClusterServer,
    RedisServer,
    RedisService,
    ServerError,
    ServiceUnavailable,
    SpanRecord,
    TestingConfigurationError,
    TestingError,
    TestingTypeError,
    acheck_hostile,
    check_hostile,
    closing_factory,
    discover_postgres,
    discover_redis,
    eventually,
    find_conformance_dir,
    free_port,
    hostile_values,
    open_connections,
    register_profiles,
    through_failover,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
LAST_DAY = datetime(9999, 12, 31, tzinfo=UTC)
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
NOT_TRUE = hostile_values().filter(lambda value: value is not True)

TARGETS = HostileTargets()
TARGETS.add(hostile_values, relative_paths=True)
TARGETS.add(open_connections, 6379)
TARGETS.add(MetricPoint, "buttress.x.hits", "{hit}", "counter", {"x.kind": "a"}, 1.0, None)
TARGETS.add(SpanRecord, "span", {"x.kind": "a"}, False, (), 1, None)
TARGETS.add(RecordedMetrics, keep=())  # a reader of the wrong kind is refused before it is read
TARGETS.add(RecordedSpans, keep=())  # the same for an exporter
TARGETS.add(HostileTarget, len, ("k",), {}, frozenset(), (), None, None, 1.0, "len", id="len")


# --- the error tree -------------------------------------------------------------------------------


def test_every_error_is_rooted_in_testing_error_and_the_matching_builtin() -> None:
    assert issubclass(TestingError, ButtressError)
    assert issubclass(TestingConfigurationError, TestingError)
    assert issubclass(TestingConfigurationError, ConfigurationError)
    assert issubclass(TestingConfigurationError, ValueError)
    assert issubclass(TestingTypeError, TestingError)
    assert issubclass(TestingTypeError, ArgumentTypeError)
    assert issubclass(TestingTypeError, TypeError)
    assert issubclass(ServerError, TestingError)
    assert issubclass(ServerError, RuntimeError)
    assert issubclass(MissingExtraError, TestingError)
    assert issubclass(MissingExtraError, ImportError)


def test_server_error_keeps_its_message_and_survives_pickling() -> None:
    error = ServerError("redis-server is not on PATH")
    assert str(error) == "redis-server is not on PATH"
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert type(copy) is ServerError
    assert str(copy) == str(error)


ERRORS: list[tuple[Callable[..., object], tuple[object, ...]]] = [
    (TestingError, ("message",)),
    (TestingConfigurationError, ("port", 0, "must be from 1 to 65535")),
    (TestingTypeError, ("binary", "a str", 5)),
    (ServerError, ("redis-server exited with 1",)),
    (MissingExtraError, ("the metric_reader fixture", "telemetry")),
]


@TARGETS.drives(
    "TestingError", "TestingConfigurationError", "TestingTypeError", "ServerError", "MissingExtraError"
)
@pytest.mark.parametrize(("error", "args"), ERRORS, ids=[e.__name__ for e, _ in ERRORS])
def test_error_constructors_raise_only_typed_errors(
    error: Callable[..., object], args: tuple[object, ...]
) -> None:
    check_hostile(error, *args)


# --- FakeClock ------------------------------------------------------------------------------------


def _readings_are_sane(clock: FakeClock, before: float) -> None:
    now, monotonic = clock.now(), clock.monotonic()
    if now.tzinfo is not UTC or not math.isfinite(monotonic) or monotonic < before:
        raise AssertionError(f"clock left broken: now={now!r}, monotonic={monotonic!r}")


@TARGETS.drives("FakeClock", "FakeClock.advance", "FakeClock.set")
def test_fake_clock_constructor_raises_only_typed_errors() -> None:
    check_hostile(FakeClock, START, monotonic_start=0.0)


@pytest.mark.parametrize("start", [START, LAST_DAY], ids=["2026", "year-9999"])
def test_advance_raises_only_typed_errors_and_leaves_the_clock_sane(start: datetime) -> None:
    def advance(seconds: object) -> None:
        clock = FakeClock(start, monotonic_start=1.0)
        try:
            clock.advance(seconds)  # type: ignore[arg-type]
        except TestingError:
            if (clock.now(), clock.monotonic()) != (start, 1.0):
                raise AssertionError("a refused advance moved the clock") from None
            raise
        _readings_are_sane(clock, 1.0)

    check_hostile(advance, 1.0)


def test_set_raises_only_typed_errors_and_leaves_the_clock_sane() -> None:
    def set_(when: object) -> None:
        clock = FakeClock()
        clock.set(when)  # type: ignore[arg-type]
        _readings_are_sane(clock, 0.0)

    check_hostile(set_, START + timedelta(hours=1))


def test_a_bound_clock_survives_hostile_calls() -> None:
    clock = FakeClock()
    check_hostile(clock.advance, 1.0)
    check_hostile(clock.set, START)
    _readings_are_sane(clock, 0.0)


@pytest.mark.parametrize(
    "when",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime.min.replace(tzinfo=timezone(timedelta(hours=1))),
    ],
    ids=["year-1-east-of-utc", "datetime-min-east-of-utc"],
)
def test_a_time_before_year_1_in_utc_is_a_typed_error(when: datetime) -> None:
    with pytest.raises(TestingConfigurationError, match="start"):
        FakeClock(when)
    with pytest.raises(TestingConfigurationError, match="when"):
        FakeClock().set(when)


def test_advancing_past_year_9999_is_a_typed_error_and_moves_nothing() -> None:
    clock = FakeClock(LAST_DAY)
    with pytest.raises(TestingConfigurationError, match="seconds"):
        clock.advance(2 * 86400)
    assert clock.now() == LAST_DAY
    assert clock.monotonic() == 0.0


@pytest.mark.parametrize("seconds", [math.nan, math.inf, 10**400, True, "5", None])
def test_advance_refuses_what_is_not_a_finite_number_of_seconds(seconds: object) -> None:
    clock = FakeClock()
    with pytest.raises(TestingError, match="seconds"):
        clock.advance(seconds)  # type: ignore[arg-type]
    assert clock.monotonic() == 0.0


@pytest.mark.parametrize("start", [math.nan, -math.inf, 10**400, "0", True])
def test_monotonic_start_must_be_a_finite_number(start: object) -> None:
    with pytest.raises(TestingError, match="monotonic_start"):
        FakeClock(monotonic_start=start)  # type: ignore[arg-type]


def test_the_errors_are_also_the_configuration_errors_they_were() -> None:
    """The clock raised buttress.core's ConfigurationError before: ``except ConfigurationError`` works."""
    with pytest.raises(ConfigurationError):
        FakeClock().advance(-1)
    with pytest.raises(ConfigurationError):
        FakeClock(datetime(2026, 1, 1))  # naive on purpose


# --- conformance suites' folder -------------------------------------------------------------------


@TARGETS.drives("find_conformance_dir")
def test_find_conformance_dir_raises_only_typed_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(CONFORMANCE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    check_hostile(find_conformance_dir, tmp_path)


@pytest.mark.parametrize("start", ["a\x00b", "\ud800", "", b"/tmp", 5])
def test_find_conformance_dir_names_a_bad_start(start: object) -> None:
    with pytest.raises(TestingError, match="start"):
        find_conformance_dir(start)  # type: ignore[arg-type]


def test_find_conformance_dir_takes_a_str_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFORMANCE_ENV, raising=False)
    suites = tmp_path / "shared" / "conformance"
    suites.mkdir(parents=True)
    assert find_conformance_dir(str(tmp_path / "checkout" / "packages")) == suites


def test_a_name_the_system_refuses_is_not_found_rather_than_an_os_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 300-character folder name below ``start`` made ``is_dir`` raise ENAMETOOLONG."""
    monkeypatch.delenv(CONFORMANCE_ENV, raising=False)
    assert find_conformance_dir(tmp_path / ("x" * 300) / "y") is None
    monkeypatch.setenv(CONFORMANCE_ENV, str(tmp_path / ("x" * 300)))
    assert find_conformance_dir() is None


# --- discovery ------------------------------------------------------------------------------------


def _no_throwaway(found: object) -> None:
    """Fail (after cleaning up) if discovery started a server: hostile input must never do that."""
    if isinstance(found, RedisService | PostgresService) and found.server is not None:
        found.server.close()
        raise AssertionError(f"a hostile call started a throwaway server: {found!r}")


def _checked[**P](discover: Callable[P, object]) -> Callable[P, None]:
    @functools.wraps(discover)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        _no_throwaway(discover(*args, **kwargs))

    return run


@TARGETS.drives("discover_redis", "discover_postgres")
@pytest.mark.parametrize(
    ("discover", "local"),
    [(discover_redis, {"local_url": LOCAL_REDIS}), (discover_postgres, {"local_dsn": LOCAL_POSTGRES})],
    ids=["redis", "postgres"],
)
def test_discovery_raises_only_typed_errors(
    discover: Callable[..., object], local: dict[str, object]
) -> None:
    check_hostile(_checked(discover), {}, start_throwaway=False, keep={"start_throwaway"}, kwargs=local)


@pytest.mark.parametrize(
    ("discover", "variable", "value"),
    [(discover_redis, REDIS_ENV, LOCAL_REDIS), (discover_postgres, POSTGRES_ENV, LOCAL_POSTGRES)],
    ids=["redis", "postgres"],
)
def test_discovery_types_a_bad_value_in_the_environment(
    discover: Callable[..., object], variable: str, value: str
) -> None:
    def from_environment(configured: object) -> None:
        _no_throwaway(discover({variable: configured}, start_throwaway=False))

    check_hostile(from_environment, value)


@pytest.mark.parametrize(
    ("discover", "local"),
    [(discover_redis, {"local_url": None}), (discover_postgres, {"local_dsn": None})],
    ids=["redis", "postgres"],
)
def test_start_throwaway_must_be_a_bool(discover: Callable[..., object], local: dict[str, object]) -> None:
    """Anything but ``True`` and ``False`` is refused before a server could start (``True`` is not drawn)."""
    check_hostile(
        _checked(discover), {}, start_throwaway=False, keep={"environ", *local}, values=NOT_TRUE, kwargs=local
    )
    for truthy in (1, "yes", [0]):
        with pytest.raises(TestingTypeError, match="start_throwaway"):
            discover({}, start_throwaway=truthy, **local)


def test_a_local_url_never_reaches_a_reason_with_its_password() -> None:
    port = free_port()
    found = discover_redis({}, local_url=f"redis://u:hunter2@127.0.0.1:{port}/0", start_throwaway=False)
    assert isinstance(found, ServiceUnavailable)
    assert "hunter2" not in found.message()
    assert f"127.0.0.1:{port}" in found.message()
    found_pg = discover_postgres(
        {}, local_dsn=f"postgresql://u:hunter2@127.0.0.1:{port}/x", start_throwaway=False
    )
    assert isinstance(found_pg, ServiceUnavailable)
    assert "hunter2" not in found_pg.message()


@TARGETS.drives("ServiceUnavailable", "RedisService", "PostgresService")
@pytest.mark.parametrize(
    ("target", "args"),
    [
        (ServiceUnavailable, ("Redis", ("REDIS_URL is not set",))),
        (RedisService, (LOCAL_REDIS, "local")),
        (PostgresService, (LOCAL_POSTGRES, "local")),
    ],
    ids=["ServiceUnavailable", "RedisService", "PostgresService"],
)
def test_discovery_results_raise_only_typed_errors(
    target: Callable[..., object], args: tuple[object, ...]
) -> None:
    def build(*call: object, **kwargs: object) -> None:
        made = target(*call, **kwargs)
        if isinstance(made, ServiceUnavailable):
            made.message()

    check_hostile(functools.wraps(target)(build), *args)


# --- throwaway servers (constructors only: nothing is started) --------------------------------------


def _closing[**P](cls: Callable[P, RedisServer | RedisClusterServer | PostgresServer]) -> Callable[P, None]:
    """The constructor, with the same signature, closing what it built (its temporary directory)."""

    @functools.wraps(cls)
    def build(*args: P.args, **kwargs: P.kwargs) -> None:
        cls(*args, **kwargs).close()

    return build


@TARGETS.drives("RedisServer")
def test_redis_server_constructor_raises_only_typed_errors() -> None:
    check_hostile(_closing(RedisServer), binary=shutil.which("redis-server"), port=free_port(), extra_args=())


@TARGETS.drives("RedisClusterServer")
def test_redis_cluster_server_constructor_raises_only_typed_errors() -> None:
    check_hostile(
        _closing(RedisClusterServer),
        nodes=3,
        binary=shutil.which("redis-server"),
        replicas=1,
        node_timeout=0.5,
    )


@TARGETS.drives("through_failover", "Failover")
async def test_through_failover_raises_only_typed_errors() -> None:
    """Driven on a cluster that was never started: whatever passes the checks finds no node to kill."""
    cluster = RedisClusterServer(replicas=1)
    try:
        await acheck_hostile(
            through_failover,
            cluster,
            "key",
            _no_operation,
            unavailable=ConnectionError,
            kwargs={"timeout": 5.0},
        )
    finally:
        cluster.close()
    await acheck_hostile(Failover, 1, RedisServer, ())


async def _no_operation() -> None:
    return None


@TARGETS.drives("eventually")
async def test_eventually_raises_only_typed_errors() -> None:
    """The check is kept (what it raises is the caller's own); every option is replaced. With a
    check that never holds, the only failure besides a typed error is the documented AssertionError."""
    options: dict[str, object] = {"timeout": 1.0, "interval": 0.01, "what": "it holds", "ignoring": ()}
    await acheck_hostile(eventually, _holds, keep={"check"}, kwargs=options)
    await acheck_hostile(
        eventually,
        _never_holds,
        keep={"check", "timeout"},
        allowed=(AssertionError,),
        kwargs={**options, "timeout": 0.02},
    )


def _holds() -> bool:
    return True


def _never_holds() -> bool:
    return False


@TARGETS.drives("PostgresServer")
def test_postgres_server_constructor_raises_only_typed_errors() -> None:
    initdb = shutil.which("initdb")
    check_hostile(
        _closing(PostgresServer), bindir=str(Path(initdb).parent) if initdb else None, port=free_port()
    )


@pytest.fixture
def unstarted_postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except ServerError as exc:
        pytest.skip(str(exc))
    yield server
    server.close()


def test_postgres_stop_names_a_bad_mode_before_anything_runs(unstarted_postgres: PostgresServer) -> None:
    check_hostile(unstarted_postgres.stop, "fast")
    with pytest.raises(TestingConfigurationError, match="mode"):
        unstarted_postgres.stop("now")


@pytest.mark.parametrize("port", [0, -1, 65536, 10**400, True, "6379", 6379.0])
def test_a_port_must_be_an_int_from_1_to_65535(port: object) -> None:
    with pytest.raises(TestingError, match="port"):
        RedisServer(port=port)  # type: ignore[arg-type]


@pytest.mark.parametrize("nodes", [2, 10**400, 2**31, "3", 3.0, None])
def test_a_cluster_size_is_checked_before_any_node_is_made(nodes: object) -> None:
    with pytest.raises(TestingError, match="nodes"):
        RedisClusterServer(nodes=nodes)  # type: ignore[arg-type]


@pytest.mark.parametrize("extra_args", ["--port", ("--save", b"x"), ("a\x00b",), ("\ud800",), 5])
def test_extra_args_must_be_text_a_process_can_take(extra_args: object) -> None:
    with pytest.raises(TestingError, match="extra_args"):
        RedisServer(extra_args=extra_args)  # type: ignore[arg-type]


def test_a_binary_that_is_not_there_is_a_server_error_at_construction(tmp_path: Path) -> None:
    """It used to be accepted, then ``start()`` raised FileNotFoundError, which discovery did not catch."""
    with pytest.raises(ServerError, match="not an executable"):
        RedisServer(binary=str(tmp_path / "redis-server"))
    with pytest.raises(ServerError, match="initdb"):
        PostgresServer(bindir=str(tmp_path))


def _not_a_program(path: Path) -> Path:
    path.write_bytes(b"\x00\x01 not a program")
    path.chmod(0o755)
    return path


def test_a_binary_that_cannot_run_is_a_server_error_at_start(tmp_path: Path) -> None:
    """Popen's OSError (here ENOEXEC) used to escape ``start()``; discovery catches only ServerError."""
    server = RedisServer(binary=str(_not_a_program(tmp_path / "redis-server")))
    try:
        with pytest.raises(ServerError, match="could not be run"):
            server.start()
        assert not server.running
    finally:
        server.close()


def test_postgres_binaries_that_cannot_run_are_a_server_error_at_start(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _not_a_program(bindir / "initdb")
    _not_a_program(bindir / "pg_ctl")
    try:
        server = PostgresServer(bindir=str(bindir))
    except ServerError as exc:  # as root with no postgres user to run them as
        pytest.skip(str(exc))
    try:
        with pytest.raises(ServerError, match="initdb could not be run"):
            server.start()
    finally:
        server.close()


# --- the plugin's records -------------------------------------------------------------------------


@TARGETS.drives("PostgresSchema")
def test_postgres_schema_raises_only_typed_errors() -> None:
    check_hostile(
        PostgresSchema, LOCAL_POSTGRES, "bt_module_0123456789", {"search_path": "bt_module_0123456789"}
    )


@pytest.mark.parametrize("name", ['x"; DROP SCHEMA public; --', "", "1abc", "a" * 64, "Upper", "a-b"])
def test_a_schema_name_must_be_safe_to_interpolate(name: str) -> None:
    """The docstring promises the name is safe to put between double quotes: the constructor holds to it."""
    with pytest.raises(TestingConfigurationError, match="name"):
        PostgresSchema(LOCAL_POSTGRES, name)


# --- what takes no argument -----------------------------------------------------------------------


def test_argument_free_functions_still_answer() -> None:
    port = free_port()
    assert 1 <= port <= 65535
    register_profiles()
    clock = FakeClock()
    assert clock.now() == START
    assert clock.monotonic() == 0.0


# --- the table of hostile targets -----------------------------------------------------------------


def _typed(key: str) -> str:
    if not isinstance(key, str):
        raise TestingTypeError("key", "a str", key)
    return key


@TARGETS.drives("HostileTargets", "closing_factory")
def test_hostile_targets_raise_only_typed_errors() -> None:
    """`HostileTargets` and its methods refuse bad arguments with typed errors (the guard's verdict on a
    package is an AssertionError, as for any test helper)."""
    check_hostile(HostileTargets, kwargs={"keep": (), "allowed": (), "values": None, "max_examples": 10})
    table = HostileTargets()
    table.add(_typed, "k")
    options = {"keep": (), "allowed": (), "values": None, "max_examples": 5, "timeout": 1.0, "kwargs": None}
    check_hostile(HostileTargets().add, _typed, "k", covers="x", kwargs=options)
    check_hostile(table.parametrize, "target")
    check_hostile(table.drives, "Name")
    empty = types.ModuleType("empty")
    empty.__all__ = []  # type: ignore[attr-defined]
    check_hostile(table.assert_covers, empty, exempt=None, methods=False, allowed=(AssertionError,))
    check_hostile(closing_factory, FakeClock)


def test_closing_factory_wraps_any_callable() -> None:
    """Found by the hostile run: functools.wraps(type) failed on type's __type_params__ descriptor."""
    assert callable(closing_factory(type))


@TARGETS.parametrize()
def test_records_and_readers_raise_only_typed_errors(target: HostileTarget) -> None:
    target.check()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven here, needs no driving, or says where it is driven."""
    helper = "drives hypothesis itself, so it cannot run under check_hostile: tests/test_hostile.py "
    TARGETS.assert_covers(
        testing,
        exempt={
            "check_hostile": helper + "refuses each bad option by name",
            "acheck_hostile": helper + "refuses each bad option by name",
            "check_hostile_asgi": helper + "refuses a bad app, max_examples and timeout",
            "check_hostile_wsgi": helper + "refuses a bad app and max_examples",
            "serve_asgi": "driven with check_hostile in tests/test_serve_asgi.py (it starts a server)",
            "serve_wsgi": "driven with check_hostile in tests/test_serve_wsgi.py (it starts a server)",
            "django_urls": "driven with check_hostile in tests/test_serve_wsgi.py (it configures Django)",
            "check_bound_when_made": "driven with check_hostile in tests/test_bound.py (it starts an "
            "interpreter that runs its make= code, kept valid there)",
        },
    )


def test_what_the_guard_found_is_typed() -> None:
    """Found when every public name was first driven: a reader or exporter of the wrong kind raised
    AttributeError."""
    with pytest.raises(TestingTypeError, match="reader"):
        RecordedMetrics(reader=5)
    with pytest.raises(TestingTypeError, match="exporter"):
        RecordedSpans(exporter="spans")
