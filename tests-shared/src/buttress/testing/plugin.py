"""The buttress pytest plugin, registered through the ``pytest11`` entry point.

Installing buttress-testing makes these fixtures available to every test, with no ``conftest.py``:

==========================  ========  ===========================================================
fixture                     scope     gives
==========================  ========  ===========================================================
``redis_service``           session   the Redis server found for the session (`RedisService`)
``redis_url``               function  its ``redis://`` URL
``redis_prefix``            function  a key prefix unique to the test; its keys are deleted after
``redis_server``            function  a private `RedisServer` the test may stop, kill and restart
``redis_cluster_url``       session   a private Redis Cluster: 3 primaries, a replica each
                                      (`RedisClusterServer`)
``redis_failover_cluster``  function  a private `RedisClusterServer` like it, failing a silent node
                                      within 0.5 s: for a test that kills a primary
``postgres_service``        session   the PostgreSQL server found for the session
``postgres_dsn``            session   its DSN
``postgres_schema``         module    a fresh schema (`PostgresSchema`), dropped after the module
``postgres_pool``           function  an asyncpg pool (1..12) on ``postgres_schema`` (extra ``postgres``)
``postgres_table``          function  a table name unique to the test, for ``table=``
``postgres_server``         function  a private `PostgresServer` the test may stop and restart
``fake_clock``              function  a `FakeClock`
``metric_reader``           function  the OpenTelemetry metrics recorded during the test
                                      (`RecordedMetrics`; extra ``telemetry``)
``span_recorder``           function  the OpenTelemetry spans finished during the test
                                      (`RecordedSpans`; extra ``telemetry``)
``conformance_dir``         session   the folder of third-party conformance suites (see below)
``unavailable``             function  ``unavailable(reason)``: skip for want of an outside tool
==========================  ========  ===========================================================

``--explore`` runs only the property and state-machine tests (those hypothesis drives) under the
random ``explore`` profile; ``nox -s explore`` uses it with a new ``--hypothesis-seed`` on each run.

A service that cannot be found skips the test with a reason, or fails it when the run is started
with ``--require-services`` or ``BUTTRESS_REQUIRE_SERVICES=1`` (as CI is).

Third-party conformance suites (the Unleash client specification, the OpenFeature Gherkin suites) are
not copied into the repository: ``conformance_dir`` finds them in ``BUTTRESS_CONFORMANCE_DIR`` or in
``../shared/conformance`` beside the checkout, and is treated like a required service: missing, it
skips, or fails when services are required.
"""

from __future__ import annotations

import importlib
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
from hypothesis import settings

from ._clock import FakeClock
from ._discovery import (
    REQUIRE_ENV,
    PostgresService,
    RedisService,
    ServiceUnavailable,
    discover_postgres,
    discover_redis,
    run_async,
)
from ._hypothesis import CI_PROFILE, DEV_PROFILE, EXPLORE_PROFILE, register_profiles
from ._metrics import RecordedMetrics
from ._resp import RespClient
from ._servers import PostgresServer, RedisClusterServer, RedisServer, checked_text
from ._spans import RecordedSpans
from .exceptions import ServerError, TestingConfigurationError, TestingTypeError

FAILOVER_NODE_TIMEOUT = 0.5
"""Seconds of silence after which ``redis_failover_cluster`` fails a node (a replica takes over)."""

__all__ = ["CONFORMANCE_ENV", "PostgresSchema", "find_conformance_dir"]

CONFORMANCE_ENV = "BUTTRESS_CONFORMANCE_DIR"

# Registered on import, before any pytest_configure: hypothesis's own plugin loads the profile named by
# --hypothesis-profile in its pytest_configure, and has a built-in "ci" of its own to shadow.
register_profiles()

_REQUIRE_OPTION = "--require-services"
_EXPLORE_OPTION = "--explore"


@dataclass(frozen=True)
class PostgresSchema:
    """A PostgreSQL schema that belongs to one test module.

    Attributes:
        dsn: The server's DSN.
        name: The schema's name; unique per module, safe to interpolate as an identifier: lower-case
            ASCII letters, digits and ``_``, not starting with a digit, at most 63 characters.
        server_settings: Connection settings that make the schema the ``search_path``; pass them to
            ``asyncpg.connect(..., server_settings=...)`` or ``asyncpg.create_pool``.

    Raises:
        TestingTypeError: An attribute has the wrong type.
        TestingConfigurationError: ``name`` is not such an identifier, or a str holds NUL or a lone
            surrogate.
    """

    dsn: str
    name: str
    server_settings: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checked_text("dsn", self.dsn, show_value=False)
        name = checked_text("name", self.name)
        if not _SCHEMA_NAME.fullmatch(name):
            raise TestingConfigurationError(
                "name",
                name,
                "must be lower-case ASCII letters, digits and _, not starting with a digit, up to 63",
            )
        settings = self.server_settings
        if not isinstance(settings, Mapping):
            raise TestingTypeError("server_settings", "a dict of str to str", settings)
        checked = {
            checked_text("server_settings key", key): checked_text(
                f"server_settings[{key!r}]", value, allow_empty=True
            )
            for key, value in settings.items()
        }
        object.__setattr__(self, "server_settings", checked)


_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--require-services``."""
    group = parser.getgroup("buttress")
    group.addoption(
        _REQUIRE_OPTION,
        action="store_true",
        default=False,
        help=f"fail, not skip, a test whose Redis or PostgreSQL cannot be found (also {REQUIRE_ENV}=1)",
    )
    group.addoption(
        _EXPLORE_OPTION,
        action="store_true",
        default=False,
        help="run only hypothesis-driven tests under the random 'explore' profile (with --hypothesis-seed)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register markers and the hypothesis profiles; load ``ci`` on CI unless a profile was chosen."""
    config.addinivalue_line("markers", "redis: needs a Redis server (from buttress-testing's fixtures)")
    config.addinivalue_line(
        "markers", "postgres: needs a PostgreSQL server (from buttress-testing's fixtures)"
    )
    if config.getoption(_EXPLORE_OPTION):
        settings.load_profile(EXPLORE_PROFILE)
    elif config.getoption("hypothesis_profile", None) is None:
        on_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
        settings.load_profile(CI_PROFILE if on_ci else DEV_PROFILE)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--explore``, keep only the tests hypothesis drives (``@given`` and state machines)."""
    if not config.getoption(_EXPLORE_OPTION):
        return
    kept = [item for item in items if _driven_by_hypothesis(item)]
    dropped = [item for item in items if not _driven_by_hypothesis(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _driven_by_hypothesis(item: pytest.Item) -> bool:
    function = getattr(item, "obj", None)
    return bool(getattr(function, "is_hypothesis_test", False))


def services_required(config: pytest.Config) -> bool:
    """Whether a missing service fails the test instead of skipping it."""
    return bool(config.getoption(_REQUIRE_OPTION)) or os.environ.get(REQUIRE_ENV, "") == "1"


def _unavailable(config: pytest.Config, reason: str) -> NoReturn:
    if services_required(config):
        pytest.fail(f"{reason} [services are required: {_REQUIRE_OPTION} or {REQUIRE_ENV}=1]", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_service(request: pytest.FixtureRequest) -> Iterator[RedisService]:
    """The Redis server for this session: from ``BUTTRESS_REDIS_URL``, port 6379, or a throwaway one."""
    found = discover_redis(os.environ)
    if isinstance(found, ServiceUnavailable):
        _unavailable(request.config, found.message())
    try:
        yield found
    finally:
        if found.server is not None:
            found.server.close()


@pytest.fixture
def redis_url(redis_service: RedisService) -> str:
    """The session's Redis URL."""
    return redis_service.url


@pytest.fixture
def redis_prefix(redis_service: RedisService, request: pytest.FixtureRequest) -> Iterator[str]:
    """A key prefix unique to this test (``bt:<test>:<random>:``); every key under it is deleted after."""
    prefix = f"bt:{_slug(request.node.name)}:{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        with RespClient(redis_service.url) as client:
            client.scan_delete(f"{_glob_escape(prefix)}*")


@pytest.fixture
def redis_server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A private, running redis-server for this test alone; stop, kill and restart it at will."""
    try:
        server = RedisServer()
        server.start()
    except ServerError as exc:
        _unavailable(request.config, f"cannot start a private redis-server: {exc}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_cluster_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A private Redis Cluster for the session (3 primaries, a replica each), from ``redis-server`` on PATH.

    Its first node's URL. Tests share it: isolate them with ``redis_prefix``, as on a single server,
    and never kill its nodes (``redis_failover_cluster`` is for that).
    """
    cluster = RedisClusterServer(replicas=1)
    try:
        cluster.start()
    except ServerError as exc:
        cluster.close()
        _unavailable(request.config, f"cannot start a private Redis Cluster: {exc}")
    try:
        yield cluster.url
    finally:
        cluster.close()


@pytest.fixture
def redis_failover_cluster(request: pytest.FixtureRequest) -> Iterator[RedisClusterServer]:
    """A private Redis Cluster of 3 primaries, each with a replica, for one test that kills a primary.

    Nodes are failed after 0.5 s without an answer, so a replica takes over within about two
    seconds: kill ``cluster.primary_for(key)``, then ``cluster.wait_for_failover()``.
    """
    cluster = RedisClusterServer(replicas=1, node_timeout=FAILOVER_NODE_TIMEOUT)
    try:
        cluster.start()
    except ServerError as exc:
        cluster.close()
        _unavailable(request.config, f"cannot start a private Redis Cluster with replicas: {exc}")
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def postgres_service(request: pytest.FixtureRequest) -> Iterator[PostgresService]:
    """The PostgreSQL server for this session: ``BUTTRESS_POSTGRES_DSN``, port 5432, or a throwaway one."""
    found = discover_postgres(os.environ)
    if isinstance(found, ServiceUnavailable):
        _unavailable(request.config, found.message())
    try:
        yield found
    finally:
        if found.server is not None:
            found.server.close()


@pytest.fixture(scope="session")
def postgres_dsn(postgres_service: PostgresService) -> str:
    """The session's PostgreSQL DSN."""
    return postgres_service.dsn


@pytest.fixture(scope="module")
def postgres_schema(
    postgres_service: PostgresService, request: pytest.FixtureRequest
) -> Iterator[PostgresSchema]:
    """A fresh schema for this test module, dropped with everything in it afterwards."""
    name = f"bt_{_slug(request.module.__name__)[-30:]}_{uuid.uuid4().hex[:10]}".lower()
    _execute(postgres_service.dsn, f'CREATE SCHEMA "{name}"')
    try:
        yield PostgresSchema(postgres_service.dsn, name, {"search_path": name})
    finally:
        _execute(postgres_service.dsn, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
async def postgres_pool(
    postgres_schema: PostgresSchema, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    """An asyncpg pool (1 to 12 connections) whose ``search_path`` is this module's schema."""
    try:
        asyncpg = importlib.import_module("asyncpg")
    except ImportError:
        _unavailable(request.config, "asyncpg is not installed (install buttress-testing[postgres])")
    pool = await asyncpg.create_pool(
        postgres_schema.dsn, min_size=1, max_size=12, server_settings=postgres_schema.server_settings
    )
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def postgres_table(request: pytest.FixtureRequest) -> str:
    """A table name unique to this test (lower-case, at most 40 characters), to pass as ``table=``."""
    return f"t_{_slug(request.node.name)[:20]}_{uuid.uuid4().hex[:12]}".lower()


@pytest.fixture
def metric_reader() -> RecordedMetrics:
    """The OpenTelemetry metrics recorded from the start of this test (`RecordedMetrics`).

    The first use installs an SDK meter provider with an in-memory reader as the process's global
    provider (it can be set only once), so a package's instruments report to it.
    """
    return RecordedMetrics()


@pytest.fixture
def span_recorder() -> RecordedSpans:
    """The OpenTelemetry spans finished from the start of this test (`RecordedSpans`).

    The first use installs an SDK tracer provider with an in-memory exporter as the process's global
    provider (it can be set only once), so a package's spans reach it.
    """
    return RecordedSpans()


@pytest.fixture
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """A private, running PostgreSQL cluster for this test alone; stop, kill and restart it at will."""
    try:
        server = PostgresServer()
        server.start()
    except ServerError as exc:
        _unavailable(request.config, f"cannot start a private PostgreSQL: {exc}")
    try:
        yield server
    finally:
        server.close()


def find_conformance_dir(start: str | os.PathLike[str] | None = None) -> Path | None:
    """Find the folder of third-party conformance suites, or ``None``.

    ``BUTTRESS_CONFORMANCE_DIR`` wins when set; otherwise the first ``shared/conformance`` folder
    beside ``start`` (the working directory by default) or beside one of its parents.

    Raises:
        TestingTypeError: ``start`` is not a str or a path.
        TestingConfigurationError: ``start`` is empty or holds NUL or a lone surrogate.
    """
    given = None if start is None else _start_path(start)
    configured = os.environ.get(CONFORMANCE_ENV)
    if configured:
        path = Path(configured)
        return path if _is_dir(path) else None
    here = (given or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory.parent / "shared" / "conformance"
        if _is_dir(candidate):
            return candidate
    return None


def _start_path(start: object) -> Path:
    if not isinstance(start, str | os.PathLike):
        raise TestingTypeError("start", "a str or a path", start)
    text = os.fspath(start)
    if not isinstance(text, str):  # a bytes path (os.PathLike[bytes])
        raise TestingTypeError("start", "a str or a path", text)
    return Path(checked_text("start", text))


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a directory; a name the system refuses (too long, say) is not one."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


@pytest.fixture(scope="session")
def conformance_dir(request: pytest.FixtureRequest) -> Path:
    """Third-party conformance suites: ``BUTTRESS_CONFORMANCE_DIR`` or ``../shared/conformance``."""
    found = find_conformance_dir(request.config.rootpath)
    if found is None:
        _unavailable(
            request.config,
            f"conformance suites not found: set {CONFORMANCE_ENV} or place them in ../shared/conformance",
        )
    return found


@pytest.fixture
def unavailable(request: pytest.FixtureRequest) -> Callable[[str], NoReturn]:
    """Give up on a test whose outside tool (a browser, node, an npm package) is missing.

    ``unavailable(reason)`` skips the test with ``reason``, or fails it when services are required,
    exactly as a missing Redis or PostgreSQL does.
    """

    def give_up(reason: str) -> NoReturn:
        _unavailable(request.config, reason)

    return give_up


@pytest.fixture
def fake_clock() -> FakeClock:
    """A `FakeClock` at 2026-01-01T00:00:00Z that moves only when the test moves it."""
    return FakeClock()


def _execute(dsn: str, statement: str) -> None:
    async def run() -> None:
        import asyncpg  # noqa: PLC0415 - optional extra; discovery has checked it is installed

        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    run_async(run)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")[:40] or "test"


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
