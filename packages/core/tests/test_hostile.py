"""Every public entry point of buttress-core, driven with hostile arguments: only typed errors come out."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from buttress.core import (
    ArgumentTypeError,
    BackendErrors,
    BackendUnavailableError,
    BackgroundTask,
    ButtressError,
    ConfigurationError,
    ConflictError,
    JsonSerializer,
    MissingExtraError,
    NotFoundError,
    Owned,
    SerializationError,
    Telemetry,
    check_count,
    check_seconds,
    check_text,
    connection_errors,
    lazy_exports,
    read_body,
    redact_url,
    respond,
    safe_repr,
    unavailable_on,
)
from buttress.testing import acheck_hostile, check_hostile


async def _nothing() -> None:
    return None


async def _send(message: object) -> None:
    return None


async def _receive() -> dict[str, object]:
    return {"type": "http.request", "body": b"abc"}


TARGETS: list[tuple[Callable[..., object], tuple[object, ...], dict[str, object]]] = [
    (JsonSerializer, (), {"sort_keys": True}),
    (JsonSerializer[object]().dumps, ({"a": [1, "b"]},), {}),
    (JsonSerializer[object](sort_keys=True).dumps, ({"a": 1, "b": None},), {}),
    (JsonSerializer[object]().loads, (b'{"a": 1}',), {}),
    (redact_url, ("redis://user:pw@cache:6379/0",), {}),
    (safe_repr, ("value",), {}),
    (check_seconds, ("timeout", 5.0), {"allow_zero": False, "maximum": 60.0}),
    (check_count, ("max_size", 10), {"minimum": 1, "maximum": 100}),
    (check_text, ("key", "order-7"), {"allow_empty": False, "max_bytes": 64, "show_value": False}),
    (ButtressError, ("message",), {}),
    (ConfigurationError, ("max_size", 0, "must be at least 1"), {"show_value": True}),
    (ArgumentTypeError, ("header", "a str", b"raw"), {}),
    (BackendUnavailableError, ("redis", "redis://u:p@cache:6379", "refused"), {}),
    (SerializationError, ("json", "dumps", "bad"), {"type_name": "set"}),
    (NotFoundError, ("entity", 42), {}),
    (ConflictError, ("entity", "a-1", "exists"), {}),
    (MissingExtraError, ("RedisCache", "redis"), {}),
    (Telemetry, ("buttress.caching", "1.0"), {}),
    (
        Telemetry("buttress.hostile_a").counter,
        ("buttress.hostile.counter",),
        {"unit": "1", "description": ""},
    ),
    (Telemetry("buttress.hostile_b").histogram, ("buttress.hostile.histogram",), {"unit": "s"}),
    (Telemetry("buttress.hostile_c").up_down_counter, ("buttress.hostile.updown",), {}),
    (Telemetry("buttress.hostile_d").observe, ("buttress.hostile.gauge", list), {"kind": "gauge"}),
    (Owned, ("pool", _nothing), {}),
    (BackgroundTask, ("worker", _nothing), {"logger": logging.getLogger("x"), "restart_delay": 1.0}),
    (connection_errors, ("redis", "asyncpg"), {}),
    (unavailable_on, ((OSError,),), {"backend": "redis", "address": "redis://h"}),
    (lazy_exports, ("buttress.core", {"Telemetry": "_telemetry"}), {}),
    (BackendErrors, (), {}),
]


@pytest.mark.parametrize(
    ("target", "args", "kwargs"), TARGETS, ids=[getattr(t, "__qualname__", repr(t)) for t, _, _ in TARGETS]
)
def test_public_entry_points_raise_only_typed_errors(
    target: Callable[..., object], args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    """Property: no argument makes a public function or constructor of buttress-core raise untyped errors."""
    check_hostile(target, *args, **kwargs)


async def test_asgi_helpers_raise_only_typed_errors() -> None:
    """Property: read_body and respond answer bad arguments with typed errors."""
    await acheck_hostile(read_body, _receive, limit=10, keep={"receive"})
    await acheck_hostile(respond, _send, 200, headers=[(b"a", b"b")], body=b"x", keep={"send"})


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
