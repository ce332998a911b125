"""Hostile input: every public entry point raises only typed errors, and the middleware never answers 5xx.

The regression tests first (issue 17): ``10**400`` as a duration, a non-str principal, ``methods=5``,
and Idempotency-Key headers with NUL, non-ASCII, overlong and malformed sf-strings. Then the
hostile-argument helper over every function, constructor, store method and the middleware.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import string
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis

import buttress.idempotency as idempotency
from buttress.core import ButtressError
from buttress.idempotency import (
    Claim,
    ClaimOutcome,
    FingerprintMismatchError,
    IdempotencyConfigurationError,
    IdempotencyError,
    IdempotencyMiddleware,
    IdempotencySlot,
    IdempotencyTypeError,
    IdempotencyUnavailableError,
    InvalidKeyError,
    KeyInFlightError,
    LeaseLostError,
    MemoryStore,
    MissingExtraError,
    PostgresStore,
    RedisStore,
    StoredRecordError,
    StoredResponse,
    decode_response,
    default_store_status,
    encode_response,
    execute,
    idempotent,
    parse_idempotency_key,
    request_fingerprint,
    schema_sql,
    scope_key,
)
from buttress.testing import (
    FakeClock,
    HostileTarget,
    HostileTargets,
    acheck_hostile,
    check_hostile_asgi,
    closing_factory,
)

HUGE = 10**400


async def benign(scope: Any, receive: Any, send: Any) -> None:
    """An application that reads the body and answers 200: any 5xx is the middleware's."""
    while (await receive()).get("more_body", False):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def call(
    app: Any,
    headers: list[tuple[bytes, bytes]],
    method: str = "POST",
    messages: list[dict[str, Any]] | None = None,
) -> tuple[int, bytes]:
    """Send one request straight into ``app``, headers as given (no client library cleans them); the
    client leaves after ``messages`` (by default one whole body)."""
    scope = {"type": "http", "method": method, "path": "/orders", "query_string": b"", "headers": headers}
    if messages is None:
        messages = [{"type": "http.request", "body": b"{}", "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def test_a_body_cut_short_is_a_400_and_claims_nothing() -> None:
    """Found by the hostile run: the middleware ended without answering a body cut short (the WSGI
    twin, the webhook endpoint and the CSP report receiver answer 400); the key stays unclaimed."""
    runs: list[int] = []

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        runs.append(1)
        await benign(scope, receive, send)

    app = IdempotencyMiddleware(counting, MemoryStore())
    cut_short = [{"type": "http.request", "body": b"{", "more_body": True}]
    status, body = await call(app, [(b"idempotency-key", b"k")], messages=cut_short)
    assert status == 400
    assert json.loads(body)["type"].endswith("bad-body")
    assert runs == []
    assert await call(app, [(b"idempotency-key", b"k")]) == (200, b"ok")
    assert runs == [1]


# --- the listed defects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: idempotent(MemoryStore(), "k", "fp", lease=HUGE),
        lambda: idempotent(MemoryStore(), "k", "fp", retention=HUGE),
        lambda: idempotent(MemoryStore(), "k", "fp", heartbeat=HUGE),
        lambda: IdempotencyMiddleware(benign, MemoryStore(), lease=HUGE),
        lambda: IdempotencyMiddleware(benign, MemoryStore(), retention=HUGE),
        lambda: RedisStore.from_url("redis://localhost:6379/0", socket_timeout=HUGE),
        lambda: RedisStore.from_url("redis://localhost:6379/0", pool_timeout=HUGE),
    ],
)
def test_a_huge_duration_is_a_configuration_error_not_an_overflow(make: Callable[[], object]) -> None:
    with pytest.raises(IdempotencyConfigurationError, match="at most 3155760000"):
        make()


def test_a_huge_count_is_a_configuration_error_not_an_overflow() -> None:
    # str(10**5000) raises ValueError past Python's digit limit: Retry-After was built with it.
    with pytest.raises(IdempotencyConfigurationError, match="retry_after"):
        IdempotencyMiddleware(benign, MemoryStore(), retry_after=10**5000)
    with pytest.raises(IdempotencyConfigurationError, match="max_connections"):
        RedisStore.from_url("redis://localhost:6379/0", max_connections=HUGE)


async def test_a_huge_duration_or_count_at_connect_is_a_configuration_error() -> None:
    with pytest.raises(IdempotencyConfigurationError, match="at most 3155760000"):
        await PostgresStore.connect("postgresql://localhost/db", command_timeout=HUGE)
    with pytest.raises(IdempotencyConfigurationError, match="max_size"):
        await PostgresStore.connect("postgresql://localhost/db", max_size=HUGE)


async def test_a_huge_lease_or_retention_at_a_store_is_a_configuration_error() -> None:
    store = MemoryStore()
    with pytest.raises(IdempotencyConfigurationError):
        await store.claim("k", "fp", lease=HUGE)
    claim = await store.claim("k", "fp", lease=30)
    assert claim.token is not None
    with pytest.raises(IdempotencyConfigurationError):
        await store.complete("k", claim.token, StoredResponse(), retention=HUGE)
    with pytest.raises(IdempotencyConfigurationError):
        await store.renew("k", claim.token, lease=float("inf"))
    assert await store.complete("k", claim.token, StoredResponse(), retention=60) is True


@pytest.mark.parametrize("principal", [None, 5, b"alice", ["alice"]])
def test_scope_key_with_a_non_str_principal_is_a_type_error(principal: object) -> None:
    with pytest.raises(IdempotencyTypeError, match="principal must be a str"):
        scope_key("k", principal=principal, route="/orders")  # type: ignore[arg-type]


def test_scope_key_takes_any_str_and_keeps_distinct_strs_apart() -> None:
    keys = {scope_key("k", principal=p, route="/\x00\ud800") for p in ("\ud800", "\udfff", "\x00", "")}
    assert len(keys) == 4


@pytest.mark.parametrize(
    ("options", "parameter"),
    [
        ({"methods": 5}, "methods"),
        ({"methods": "POST"}, "methods"),
        ({"methods": [b"POST"]}, "methods"),
        ({"methods": ["PO ST"]}, "methods"),
        ({"header": "Idempotency Key"}, "header"),
        ({"header": "clé"}, "header"),
        ({"replayed_header": "x\r\ny"}, "replayed_header"),
        ({"fingerprint_headers": 5}, "fingerprint_headers"),
        ({"fingerprint_headers": ["content\x00type"]}, "fingerprint_headers"),
        ({"fail_open": "no"}, "fail_open"),
        ({"heartbeat": True}, "heartbeat"),
        ({"problem_type": "urn:\x00"}, "problem_type"),
    ],
)
def test_middleware_settings_are_typed_errors(options: dict[str, object], parameter: str) -> None:
    with pytest.raises(IdempotencyError, match=parameter) as info:
        IdempotencyMiddleware(benign, MemoryStore(), **options)  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError | ValueError)


@pytest.mark.parametrize(
    "value",
    [
        b"k\x00ey",
        b'"k\x00ey"',
        b"cl\xc3\xa9",
        b"\xff\xfe",
        b"a" * 256,
        b'"' + b"a" * 100_000 + b'"',
        b"a" * 100_000,
        b'"unterminated',
        b'"bad escape \\n"',
        b'"k" trailing',
        b'"k"x',
        b'""',
        b"",
        b"   ",
        b'"\\',
        b"k\r\nInjected: 1",
        b'"\xed\xa0\x80"',
    ],
)
async def test_a_malformed_key_header_is_a_400_problem_and_never_reaches_the_store(value: bytes) -> None:
    store = MemoryStore()
    app = IdempotencyMiddleware(benign, store)
    status, body = await call(app, [(b"idempotency-key", value)])
    assert status == 400
    assert json.loads(body)["type"] == "urn:buttress:idempotency:invalid-key"
    assert len(store) == 0  # nothing claimed, nothing counted against the store


async def test_a_key_header_that_is_not_bytes_is_a_400_problem() -> None:
    status, _ = await call(IdempotencyMiddleware(benign, MemoryStore()), [(b"idempotency-key", 5)])  # type: ignore[list-item]
    assert status == 400


@pytest.mark.parametrize(
    ("value", "key"),
    [(b'"k-1"', "k-1"), (b'  "k-1" ', "k-1"), (b'"k-1";v=1', "k-1"), (b"k-1", "k-1"), (b'"a\\\\b"', None)],
)
def test_sf_string_edge_cases(value: bytes, key: str | None) -> None:
    if key is None:
        with pytest.raises(InvalidKeyError):
            parse_idempotency_key(value)
    else:
        assert parse_idempotency_key(value) == key


@pytest.mark.parametrize("key", ["k\x00", "k\ud800", "é" * 600, ""])
async def test_a_store_key_no_store_can_hold_is_refused_before_the_store(key: str) -> None:
    with pytest.raises(IdempotencyConfigurationError) as info:
        await MemoryStore().claim(key, "fp", lease=30)
    assert key not in str(info.value) or not key


# 8,000 characters no compression shrinks: past PostgreSQL's btree row limit (2,704 bytes).
INCOMPRESSIBLE = "".join(random.Random(17).choices(string.ascii_letters + string.digits, k=8000))


@pytest.mark.parametrize(
    "key", ["k\x00", "k\ud800", "é" * 600, INCOMPRESSIBLE], ids=["nul", "surrogate", "long", "huge"]
)
async def test_redis_and_postgres_refuse_unstorable_keys_before_the_driver(
    key: str, redis_store: RedisStore, postgres_store: PostgresStore
) -> None:
    for store in (redis_store, postgres_store):
        with pytest.raises(IdempotencyConfigurationError):
            await store.claim(key, "fp", lease=30)
        with pytest.raises(IdempotencyConfigurationError):
            await store.claim("k", key, lease=30)
        with pytest.raises(IdempotencyConfigurationError):
            await store.release("k", key)
    # And the stores still work: nothing was sent, nothing counted as an outage.
    for store in (redis_store, postgres_store):
        assert (await store.claim("k", "fp", lease=30)).outcome is ClaimOutcome.CLAIMED


def test_stored_responses_are_checked_when_made() -> None:
    with pytest.raises(IdempotencyConfigurationError, match="status"):
        StoredResponse(status=70_000)
    with pytest.raises(IdempotencyConfigurationError, match="headers"):
        StoredResponse(headers=(("x", "y"),))  # type: ignore[arg-type]
    with pytest.raises(IdempotencyConfigurationError, match="body"):
        StoredResponse(body="text")  # type: ignore[arg-type]
    kept = StoredResponse(201, [(b"a", bytearray(b"b"))], memoryview(b"c"))  # type: ignore[arg-type]
    assert kept == StoredResponse(201, ((b"a", b"b"),), b"c")
    with pytest.raises(StoredRecordError):
        decode_response(b"\x01\xff\xff\x00\x00\x00\x00")  # status 65535: not a record of ours


# --- the hostile-argument helper over every public entry point ------------------------------------------


# `timeout` is never passed by name: it is the helper's own parameter. A target's `timeout` parameter is
# replaced all the same, since every keyword-able parameter of the signature is.
async def _operation() -> dict[str, int]:
    return {"amount": 100}


TARGETS = HostileTargets()
TARGETS.add(parse_idempotency_key, '"8e03978e-40d5"')
TARGETS.add(scope_key, "k", principal="alice", route="/orders")
TARGETS.add(
    request_fingerprint, "POST", "/orders", b"{}", [(b"content-type", b"application/json")], query=b""
)
TARGETS.add(default_store_status, 201)
TARGETS.add(encode_response, StoredResponse(201, ((b"a", b"b"),), b"c"))
TARGETS.add(decode_response, encode_response(StoredResponse(201, ((b"a", b"b"),), b"c")))
TARGETS.add(StoredResponse, 201, ((b"a", b"b"),), b"c")
TARGETS.add(StoredResponse.of, 201, [("a", "b")], b"c")
TARGETS.add(Claim, ClaimOutcome.CLAIMED, token="t", response=None, retry_after=None)  # noqa: S106
TARGETS.add(ClaimOutcome, "claimed")
TARGETS.add(MemoryStore, clock=FakeClock(), max_records=10)
TARGETS.add(
    IdempotencySlot, MemoryStore(), "k", "fp", lease=30.0, retention=60.0, heartbeat=None, fail_open=False
)
TARGETS.add(idempotent, MemoryStore(), "k", "fp", lease=30.0, retention=60.0, heartbeat=None, fail_open=False)
TARGETS.add(
    IdempotencyMiddleware,
    benign,
    MemoryStore(),
    methods=("POST",),
    required=False,
    header="Idempotency-Key",
    replayed_header="Idempotent-Replayed",
    principal=None,
    route=None,
    fingerprint_headers=("content-type",),
    lease=30.0,
    heartbeat=None,
    retention=60.0,
    store_status=default_store_status,
    max_request_bytes=1024,
    max_response_bytes=1024,
    fail_open=False,
    retry_after=1,
    problem_type="urn:x:",
)
TARGETS.add(
    RedisStore.from_url,
    "redis://localhost:6379/0",
    prefix="p:",
    socket_timeout=1.0,
    max_connections=5,
    pool_timeout=1.0,
    batching=True,
)
TARGETS.add(RedisStore, client=Redis.from_url("redis://localhost:6379/0"), prefix="p:", batching=True)
TARGETS.add(schema_sql, "keys")
# The operation is kept: what it raises is its own, and reaches the caller unchanged.
TARGETS.add(
    execute,
    MemoryStore(),
    "k",
    "fp",
    _operation,
    keep=("operation",),
    serializer=None,
    lease=30.0,
    retention=60.0,
    heartbeat=None,
    fail_open=False,
)
TARGETS.add(IdempotencyError, "message")
TARGETS.add(IdempotencyConfigurationError, "lease", 0, "must be above 0", show_value=True)
TARGETS.add(IdempotencyTypeError, "store", "an IdempotencyStore", 5)
TARGETS.add(InvalidKeyError, "k\x00", "may hold only letters")
TARGETS.add(KeyInFlightError, "k", 1.5)
TARGETS.add(FingerprintMismatchError, "k")
TARGETS.add(LeaseLostError, "k")
TARGETS.add(IdempotencyUnavailableError, "redis", "redis://u:p@h", "refused")
TARGETS.add(StoredRecordError, "idempotency-record", "loads", "truncated", type_name=None)
TARGETS.add(MissingExtraError, "RedisStore", "redis")


@TARGETS.parametrize()
def test_functions_and_constructors_raise_only_typed_errors(target: HostileTarget) -> None:
    """Property: no argument makes a function or constructor of buttress-idempotency raise untyped."""
    target.check()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    in_test_wsgi = "driven with check_hostile in tests/test_wsgi.py, beside the WSGI middleware's tests"
    TARGETS.assert_covers(
        idempotency,
        exempt=dict.fromkeys(
            ("IdempotencyWSGIMiddleware", "SyncIdempotencySlot", "SyncMemoryStore"), in_test_wsgi
        ),
    )


async def _store_methods(store: Any) -> None:
    claim = await store.claim("hostile:k", "fp", lease=30.0)
    token = claim.token or "t"
    await acheck_hostile(store.claim, "hostile:k", "fp", lease=30.0)
    await acheck_hostile(store.complete, "hostile:k", token, StoredResponse(201, (), b"ok"), retention=60.0)
    await acheck_hostile(store.release, "hostile:k", token)
    await acheck_hostile(store.renew, "hostile:k", token, lease=30.0)


async def test_memory_store_methods_raise_only_typed_errors() -> None:
    """Property: MemoryStore's methods refuse bad arguments with typed errors."""
    store = MemoryStore()
    await _store_methods(store)


async def test_redis_store_methods_raise_only_typed_errors(redis_store: RedisStore) -> None:
    """Property: RedisStore's methods refuse bad arguments before Redis sees them."""
    await _store_methods(redis_store)


@TARGETS.drives("PostgresStore")
async def test_postgres_store_methods_raise_only_typed_errors(postgres_store: PostgresStore) -> None:
    """Property: PostgresStore's methods refuse bad arguments before PostgreSQL sees them."""
    await _store_methods(postgres_store)
    await acheck_hostile(postgres_store.reap, batch_size=10)

    async def start_reaper(*, interval: float = 60.0, batch_size: int = 10) -> None:
        # start_reaper returns its task, which runs until cancelled: stop it, so the next can start.
        task = postgres_store.start_reaper(interval=interval, batch_size=batch_size)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    await acheck_hostile(start_reaper, interval=60.0, batch_size=10)


async def test_postgres_store_construction_raises_only_typed_errors(
    postgres_pool: Any, postgres_schema: Any
) -> None:
    """Property: PostgresStore(pool=...) and PostgresStore.connect refuse bad arguments with typed errors."""
    await acheck_hostile(PostgresStore, pool=postgres_pool, table="keys")
    await acheck_hostile(
        closing_factory(PostgresStore.connect),
        postgres_schema.dsn,
        table="keys",
        min_size=1,
        max_size=2,
        command_timeout=1.0,
        server_settings=None,
        max_examples=40,
    )


@TARGETS.drives("IdempotencySlot.complete")
async def test_slot_complete_raises_only_typed_errors() -> None:
    """Property: IdempotencySlot.complete refuses what is not a response with a typed error."""
    async with idempotent(MemoryStore(), "k", "fp") as slot:
        await acheck_hostile(slot.complete, StoredResponse())


@pytest.mark.parametrize("required", [False, True])
async def test_the_middleware_never_answers_5xx(required: bool) -> None:
    """Property: whatever a request carries, the middleware answers it without a 5xx or an exception."""
    app = IdempotencyMiddleware(
        benign,
        MemoryStore(),
        methods=("POST", "PUT", "PATCH", "DELETE", "get"),
        required=required,
        fingerprint_headers=("content-type", "user-agent"),
    )
    await check_hostile_asgi(app)


async def test_the_middleware_never_answers_5xx_on_redis(redis_store: RedisStore) -> None:
    """Property: the same over a real store: client input never reaches it raw, so it cannot fail there."""
    await check_hostile_asgi(IdempotencyMiddleware(benign, redis_store, principal=lambda scope: "tenant"))


def test_errors_are_buttress_errors() -> None:
    assert issubclass(IdempotencyError, ButtressError)


@pytest.mark.parametrize("method", [["POST"], None, b"POST"])
async def test_a_scope_method_that_is_not_a_str_passes_through(method: object) -> None:
    status, _ = await call(IdempotencyMiddleware(benign, MemoryStore()), [(b"idempotency-key", b"k")], method)  # type: ignore[arg-type]
    assert status == 200


@pytest.mark.parametrize("heartbeat", [Decimal("sNaN"), Decimal("NaN"), Decimal(0)])
def test_a_heartbeat_that_is_not_an_int_or_a_float_is_a_configuration_error(heartbeat: Decimal) -> None:
    """Found by the hostile run: ``Decimal("sNaN") == 0`` raised decimal.InvalidOperation."""
    with pytest.raises(IdempotencyConfigurationError, match="heartbeat"):
        idempotent(MemoryStore(), "k", "fp", heartbeat=heartbeat)  # type: ignore[arg-type]
    with pytest.raises(IdempotencyConfigurationError, match="heartbeat"):
        IdempotencyMiddleware(benign, MemoryStore(), heartbeat=heartbeat)  # type: ignore[arg-type]
