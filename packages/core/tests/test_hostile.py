"""Every public entry point of buttress-core, driven with hostile arguments: only typed errors come out."""

from __future__ import annotations

import io
import logging

import pytest

import buttress.core as core
from buttress.core import (
    MISSING,
    ArgumentTypeError,
    BackendErrors,
    BackendUnavailableError,
    BackgroundTask,
    ButtressError,
    ClientDisconnectedError,
    ConfigurationError,
    ConflictError,
    Counter,
    Histogram,
    JsonSerializer,
    LoopThread,
    Missing,
    MissingExtraError,
    NotFoundError,
    Owned,
    PostgresBackend,
    RedisBackend,
    SerializationError,
    TableName,
    Telemetry,
    UnreadableBodyError,
    UpDownCounter,
    check_count,
    check_pool_size,
    check_seconds,
    check_text,
    connection_errors,
    declared_length,
    lazy_exports,
    open_pool,
    open_redis,
    read_body,
    read_wsgi_body,
    redact_url,
    respond,
    safe_repr,
    scope_state,
    unavailable_on,
    wsgi_headers,
    wsgi_respond,
)
from buttress.testing import HostileTarget, HostileTargets, closing_factory


async def _nothing() -> None:
    return None


async def _send(message: object) -> None:
    return None


def _start_response(status: str, headers: list[tuple[str, str]]) -> None:
    return None


async def _receive() -> dict[str, object]:
    return {"type": "http.request", "body": b"abc"}


TARGETS = HostileTargets()
TARGETS.add(JsonSerializer, sort_keys=True)
TARGETS.add(JsonSerializer[object]().dumps, {"a": [1, "b"]})
TARGETS.add(JsonSerializer[object](sort_keys=True).dumps, {"a": 1, "b": None})
TARGETS.add(JsonSerializer[object]().loads, b'{"a": 1}')
TARGETS.add(redact_url, "redis://user:pw@cache:6379/0")
TARGETS.add(safe_repr, "value")
TARGETS.add(check_seconds, "timeout", 5.0, allow_zero=False, maximum=60.0)
TARGETS.add(check_count, "max_size", 10, minimum=1, maximum=100)
TARGETS.add(check_text, "key", "order-7", allow_empty=False, max_bytes=64, show_value=False)
TARGETS.add(ButtressError, "message")
TARGETS.add(ConfigurationError, "max_size", 0, "must be at least 1", show_value=True)
TARGETS.add(ArgumentTypeError, "header", "a str", b"raw")
TARGETS.add(BackendUnavailableError, "redis", "redis://u:p@cache:6379", "refused")
TARGETS.add(SerializationError, "json", "dumps", "bad", type_name="set")
TARGETS.add(NotFoundError, "entity", 42)
TARGETS.add(ConflictError, "entity", "a-1", "exists")
TARGETS.add(MissingExtraError, "RedisCache", "redis")
TARGETS.add(Telemetry, "buttress.caching", "1.0")
TARGETS.add(Telemetry("buttress.hostile_a").counter, "buttress.hostile.counter", unit="1", description="")
TARGETS.add(Telemetry("buttress.hostile_b").histogram, "buttress.hostile.histogram", unit="s")
TARGETS.add(Telemetry("buttress.hostile_c").up_down_counter, "buttress.hostile.updown")
TARGETS.add(Telemetry("buttress.hostile_d").observe, "buttress.hostile.gauge", list, kind="gauge")
TARGETS.add(Telemetry("buttress.hostile_h").bind, spans=False)
TARGETS.add(Owned, "pool", _nothing)
TARGETS.add(LoopThread, "buttress-hostile")
# Never started: a valid stop returns at once (run and submit: test_loop_thread.py drives their arguments).
TARGETS.add(LoopThread("buttress-hostile").stop, 1.0)
TARGETS.add(BackgroundTask, "worker", _nothing, logger=logging.getLogger("x"), restart_delay=1.0)
TARGETS.add(connection_errors, "redis", "asyncpg")
TARGETS.add(unavailable_on, (OSError,), backend="redis", address="redis://h")
TARGETS.add(lazy_exports, "buttress.core", {"Telemetry": "_telemetry"})
TARGETS.add(BackendErrors)
TARGETS.add(BackendErrors, ConfigurationError, ArgumentTypeError, BackendUnavailableError)
TARGETS.add(ClientDisconnectedError, "the client went away")
TARGETS.add(Counter, Telemetry("buttress.hostile_e"), "buttress.hostile.c", "1", "")
TARGETS.add(Histogram, Telemetry("buttress.hostile_f"), "buttress.hostile.h", "s", "")
TARGETS.add(UpDownCounter, Telemetry("buttress.hostile_g"), "buttress.hostile.u", "1", "")
TARGETS.add(Missing, "MISSING")
TARGETS.add(TableName, "app", "orders")
TARGETS.add(TableName.parse, "app.orders", errors=BackendErrors(), max_length=48)
TARGETS.add(TableName(None, "orders").derived, "stream")
TARGETS.add(check_pool_size, 1, 10, errors=BackendErrors())
# The pool is replaced in every call: no call can be valid, so no server is needed.
TARGETS.add(PostgresBackend, object())
# Nothing listens on port 1: a valid call fails at once with BackendUnavailableError, typed.
TARGETS.add(
    closing_factory(open_pool),
    "postgresql://127.0.0.1:1/none",
    min_size=1,
    max_size=2,
    server_settings={"application_name": "hostile"},
    command_timeout=1.0,
    errors=BackendErrors(),
    reset="full",
    init=None,
)
TARGETS.add(RedisBackend, open_redis("redis://127.0.0.1:1/0"), prefix="hostile:")
# Nothing listens on port 1, and a client connects only when first used: nothing is reached.
TARGETS.add(
    closing_factory(open_redis),
    "redis://127.0.0.1:1/0",
    socket_timeout=1.0,
    max_connections=5,
    pool_timeout=1.0,
    cluster=False,
    errors=BackendErrors(),
)
TARGETS.add(UnreadableBodyError, 400, "Content-Length is not a number")
TARGETS.add(declared_length, "12")
TARGETS.add(wsgi_headers, {"HTTP_X_REQUEST_ID": "r-1", "CONTENT_TYPE": "text/plain"})
TARGETS.add(read_wsgi_body, {"CONTENT_LENGTH": "3", "wsgi.input": io.BytesIO(b"abc")}, limit=10)
TARGETS.add(wsgi_respond, _start_response, 200, headers=[("a", "b")], body=b"x", keep={"start_response"})
TARGETS.add(read_body, _receive, limit=10, keep={"receive"})
TARGETS.add(respond, _send, 200, headers=[(b"a", b"b")], body=b"x", keep={"send"})
TARGETS.add(scope_state, {"type": "http", "state": {}}, type_error=ArgumentTypeError)


@TARGETS.parametrize()
def test_public_entry_points_raise_only_typed_errors(target: HostileTarget) -> None:
    """Property: no argument makes a public function or constructor of buttress-core raise untyped errors."""
    target.check()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(core)


def test_looking_up_missing_by_another_value_is_a_typed_error() -> None:
    """Found when `Missing` was first driven: Enum's lookup raised a bare ValueError."""
    assert Missing("MISSING") is MISSING
    with pytest.raises(ConfigurationError, match="must be 'MISSING'") as raised:
        Missing("")
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    "error",
    [
        ConfigurationError("timeout", 10**5000, "too long"),
        NotFoundError("entity", 10**5000),
        ConflictError("entity", 10**5000, "exists"),
        BackendUnavailableError("redis", 5, "refused"),  # type: ignore[arg-type]
        ButtressError(10**5000),  # type: ignore[arg-type]
    ],
)
def test_errors_about_unprintable_values_can_be_built_and_printed(error: ButtressError) -> None:
    """An int past Python's digit limit (repr raises ValueError) no longer breaks the error built about it."""
    assert "<int of 16610 bits>" in str(error) or str(error) == "redis at 5 is unavailable: refused"
