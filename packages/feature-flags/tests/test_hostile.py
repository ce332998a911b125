"""Every public entry point of buttress-feature-flags, driven with hostile arguments: only typed errors.

Each function, constructor and method of the public surface (``buttress.feature_flags.__all__``) is
called with hypothesis-generated hostile values (wrong types, ``10**400``, NaN, NUL, lone surrogates,
CR/LF, non-UTF-8 bytes, very long strings) in place of its arguments; anything but a
``ButtressError`` fails. `test_every_public_name_and_method_is_driven` fails when a name or a method
is added without being driven here.

The Redis and PostgreSQL backends are driven against the real servers; there, bad input must also
never be reported as the backend being unavailable (`FeatureFlagsUnavailableError`): the server is
up, so only the input can be wrong. Definitions and audit events are dataclasses that check nothing
when built, so their fields are driven too, through the writers that store them.

Evaluation (``is_enabled``, ``get_variant``, ``evaluate``) never raises at all: a key or context of
the wrong kind is an unknown flag or an invalid context.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from openfeature.evaluation_context import EvaluationContext
from redis.asyncio import Redis

import buttress.feature_flags as ff
from buttress.core import ButtressError
from buttress.feature_flags import (
    AuditAction,
    Constraint,
    Context,
    Dependency,
    FeatureFlagsConfigurationError,
    FeatureFlagsUnavailableError,
    FileFlagSource,
    FlagAuditEvent,
    FlagClient,
    FlagDefinition,
    FlagDefinitionError,
    FlagManager,
    FlagProvider,
    FlagSet,
    MemoryAuditSink,
    MemoryFlagSource,
    MemoryStickyStore,
    Operator,
    PostgresAuditSink,
    PostgresFlagSource,
    RedisFlagSource,
    RedisStickyStore,
    Segment,
    Snapshot,
    Strategy,
    Variant,
    compile_flag_set,
    flag_from_dict,
    flag_set_to_dict,
    flag_to_dict,
    validate_flag,
)
from buttress.feature_flags._write import flag_to_json
from buttress.testing import (
    FakeClock,
    HostileTarget,
    HostileTargets,
    PostgresSchema,
    acheck_hostile,
    check_hostile,
    closing_factory,
    hostile_values,
)

FLAG = flag_from_dict(
    {
        "name": "f",
        "strategies": [
            {
                "name": "flexibleRollout",
                "parameters": {"rollout": "50", "stickiness": "default"},
                "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}],
            }
        ],
        "variants": [{"name": "a", "weight": 1, "value": {"x": 1}}, {"name": "b", "weight": 1}],
    }
)
SEGMENT = Segment(1, "s")
FLAG_SET = FlagSet(flags={"f": FLAG}, segments={1: SEGMENT})
NOW = datetime(2025, 1, 1, tzinfo=UTC)
EVENT = FlagAuditEvent("ann", AuditAction.MODIFY, "f", FLAG, FLAG, NOW)
BACKEND_EXAMPLES = 50
EVALUATION = {"is_enabled", "get_variant", "evaluate"}


def _blocks(value: object) -> bool:
    """Whether ``value`` is a timeout ``wait_for_change`` accepts and would wait out (up to a day)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.05 < value <= 86_400


NON_BLOCKING = hostile_values().filter(lambda value: not _blocks(value))
"""Hostile values without the valid timeouts that would make ``wait_for_change`` wait for them."""


# --- Definitions, segments and events built by hand: their fields are driven too ---------------


def built_flag(
    key: object = "built",
    *,
    enabled: object = True,
    description: object = "d",
    strategy: object = "flexibleRollout",
    parameters: object = None,
    context_name: object = "plan",
    operator: object = Operator.IN,
    values: object = ("pro",),
    segments: object = (),
    variant: object = "a",
    weight: object = 1,
    value: object = None,
    dependency: object = "p",
    metadata: object = None,
) -> FlagDefinition:
    """A definition whose every field may be hostile (a dataclass checks nothing when built)."""
    rule = Strategy(
        strategy,  # type: ignore[arg-type]
        parameters={"rollout": "50"} if parameters is None else parameters,  # type: ignore[arg-type]
        constraints=(Constraint(context_name, operator, values),),  # type: ignore[arg-type]
        segments=segments,  # type: ignore[arg-type]
    )
    return FlagDefinition(
        key,  # type: ignore[arg-type]
        enabled=enabled,  # type: ignore[arg-type]
        strategies=(rule,),
        variants=(Variant(variant, weight=weight, value=value),),  # type: ignore[arg-type]
        dependencies=(Dependency(dependency),),  # type: ignore[arg-type]
        description=description,  # type: ignore[arg-type]
        metadata={"team": "core"} if metadata is None else metadata,  # type: ignore[arg-type]
    )


def built_segment(
    id: object = 1,
    name: object = "s",
    *,
    context_name: object = "plan",
    operator: object = Operator.IN,
    values: object = ("pro",),
) -> Segment:
    """A segment whose every field may be hostile."""
    constraint = Constraint(context_name, operator, values)  # type: ignore[arg-type]
    return Segment(id, name, (constraint,))  # type: ignore[arg-type]


def built_event(
    actor: object = "ann",
    action: object = AuditAction.MODIFY,
    flag_key: object = "f",
    before: object = None,
    after: object = FLAG,
    timestamp: object = NOW,
) -> FlagAuditEvent:
    """An audit event whose every field may be hostile."""
    return FlagAuditEvent(actor, action, flag_key, before, after, timestamp)  # type: ignore[arg-type]


def through[T, R](builder: Callable[..., T], use: Callable[[T], R]) -> Callable[..., R]:
    """``use(builder(...))``, with the builder's signature, so the helper drives the built fields."""

    @functools.wraps(builder)
    def call(*args: object, **kwargs: object) -> R:
        return use(builder(*args, **kwargs))

    return call


def healthy[**P, R](method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """``method``, failing on `FeatureFlagsUnavailableError`: with the server up, only input is wrong."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except FeatureFlagsUnavailableError as exc:
            raise AssertionError(f"bad input was reported as the backend being unavailable: {exc}") from exc

    return call


# --- The public callables, driven synchronously; the guard compares what is driven with __all__ -----

TARGETS = HostileTargets(max_examples=60)
ERROR_ARGUMENTS: dict[str, tuple[object, ...]] = {
    "FeatureFlagsError": ("why",),
    "FeatureFlagsConfigurationError": ("p", 1, "why"),
    "FlagDefinitionError": ("f", "field", "why"),
    "FlagExistsError": ("f",),
    "FlagNotFoundError": ("f",),
    "FeatureFlagsUnavailableError": ("redis", "redis://h", "why"),
    "FeatureFlagsTypeError": ("p", "a str", 1),
    "FlagDocumentError": ("file", "flags.json", "why"),
    "MissingExtraError": ("RedisFlagSource", "redis"),
}
for _name, _arguments in ERROR_ARGUMENTS.items():
    TARGETS.add(getattr(ff, _name), *_arguments)
TARGETS.add(AuditAction, "create")
TARGETS.add(ff.ClientStatus, "READY")
TARGETS.add(ff.ErrorCode, "GENERAL")
TARGETS.add(Operator, "IN")
TARGETS.add(ff.Reason, "STATIC")
TARGETS.add(Constraint, "plan", Operator.IN, ("pro",), value=None, inverted=False)
TARGETS.add(Dependency, "p", enabled=True, variants=())
TARGETS.add(ff.EvaluationDetails, "f", True, None, ff.Reason.STATIC)
TARGETS.add(FlagDefinition, "f", enabled=True)
TARGETS.add(FlagSet, flags={"f": FLAG}, segments={}, version="1")
TARGETS.add(FlagAuditEvent, *tuple(getattr(EVENT, f) for f in EVENT.__slots__))
TARGETS.add(ff.Override, "userId", ("u",))
TARGETS.add(ff.Payload, "string", "x")
TARGETS.add(Segment, 1, "s", ())
TARGETS.add(Strategy, "default", parameters={}, constraints=(), segments=())
TARGETS.add(Variant, "a", weight=1, value=None, stickiness=None)
TARGETS.add(ff.VariantResult, "a", True, True)
TARGETS.add(
    Context,
    user_id="u",
    session_id="s",
    remote_address="10.0.0.1",
    environment="prod",
    app_name="shop",
    current_time="2025-01-01T00:00:00Z",
    properties={"plan": "pro"},
)
TARGETS.add(ff.flag_from_dict, flag_to_dict(FLAG))
TARGETS.add(ff.flag_set_from_dict, flag_set_to_dict(FLAG_SET))
TARGETS.add(ff.segment_from_dict, {"id": 1, "constraints": []})
TARGETS.add(flag_to_dict, FLAG)
TARGETS.add(flag_set_to_dict, FLAG_SET)
TARGETS.add(ff.segment_to_dict, SEGMENT)
TARGETS.add(validate_flag, FLAG)
TARGETS.add(ff.normalized_hash, "user", "group", 100, 0)
TARGETS.add(compile_flag_set, FLAG_SET, loaded_at=NOW)
TARGETS.add(Snapshot, FLAG_SET, NOW, now=lambda: NOW, rng=random.Random())
TARGETS.add(
    FlagClient,
    MemoryFlagSource(),
    refresh_interval=30.0,
    stale_after=90.0,
    clock=FakeClock(),
    sticky_store=MemoryStickyStore(),
    bootstrap=FLAG_SET,
)
TARGETS.add(MemoryFlagSource, [FLAG], [SEGMENT])
TARGETS.add(MemoryStickyStore, max_entries=10)
TARGETS.add(FlagManager, MemoryFlagSource(), MemoryAuditSink(), clock=FakeClock())
TARGETS.add(
    FlagProvider,
    FlagClient(MemoryFlagSource(), bootstrap=FLAG_SET),
    init_timeout=0.0,
    targeting_key_field="userId",
)
TARGETS.add(
    ff.context_from_openfeature, EvaluationContext("u", {"plan": "pro"}), targeting_key_field="userId"
)


# Public methods with parameters, per class: method -> (valid args, valid kwargs). Methods without
# parameters (load, aclose, flush, create_schema, ...) have nothing to replace. A class's test drives
# every entry of its table and says so with `drives`; the guard asks for every public method.
METHODS: dict[str, dict[str, tuple[tuple[object, ...], dict[str, object]]]] = {
    "Context": {"from_mapping": (({"userId": "u", "currentTime": "x"},), {}), "get": (("userId",), {})},
    "Snapshot": {
        "get": (("f",), {}),
        "is_on": (("<flag>", Context(user_id="u")), {}),
        "decide": (("<flag>", Context(user_id="u")), {}),
        "variant": (("<flag>", Context(user_id="u")), {}),
    },
    "FlagClient": {
        "add_listener": ((lambda status, snapshot: None,), {}),
        "remove_listener": ((lambda status, snapshot: None,), {}),
        "is_enabled": (("f", Context(user_id="u")), {"default": False}),
        "get_variant": (("f", Context(user_id="u")), {}),
        "evaluate": (("f", "x", Context(user_id="u")), {}),
    },
    "FlagProvider": {
        "initialize": ((EvaluationContext("u"),), {}),
        **{
            f"resolve_{kind}_details": (("f", default, EvaluationContext("u", {"plan": "pro"})), {})
            for kind, default in (
                ("boolean", False),
                ("string", "x"),
                ("integer", 1),
                ("float", 1.0),
                ("object", {"x": 1}),
            )
        },
    },
    "MemoryFlagSource": {
        "get": (("f",), {}),
        "put": ((FLAG,), {}),
        "delete": (("f",), {}),
        "put_segment": ((Segment(2, "t"),), {}),
        "replace": ((FLAG_SET,), {}),
        "wait_for_change": ((0.01,), {}),
    },
    "FileFlagSource": {"wait_for_change": ((0.01,), {})},
    "ThreadedFlagClient": {
        "start": ((), {"timeout": 5.0}),
        "refresh": ((), {"timeout": 5.0}),
        "close": ((), {"timeout": 5.0}),
        "add_listener": ((lambda status, snapshot: None,), {}),
        "remove_listener": ((lambda status, snapshot: None,), {}),
        "is_enabled": (("f", Context(user_id="u")), {"default": False}),
        "get_variant": (("f", Context(user_id="u")), {}),
        "evaluate": (("f", "x", Context(user_id="u")), {}),
    },
    "MemoryStickyStore": {
        "get": (("f", "u"), {}),
        "set": (("f", "u", "a"), {}),
        "forget": (("f", "u"), {}),
    },
    "MemoryAuditSink": {"record": ((EVENT,), {}), "history": (("f",), {"limit": 10})},
    "FlagManager": {
        "create": ((FlagDefinition("h"),), {"actor": "ann"}),
        "update": ((FlagDefinition("g"),), {"actor": "ann"}),
        "enable": (("g",), {"actor": "ann"}),
        "disable": (("g",), {"actor": "ann"}),
        "history": (("g",), {"limit": 10}),
        "delete": (("g",), {"actor": "ann"}),
    },
    "RedisFlagSource": {
        "from_url": (("<url>",), {"prefix": "<prefix>", "socket_timeout": 1.0, "max_connections": 4}),
        "get": (("f",), {}),
        "put": ((FLAG,), {}),
        "delete": (("g",), {}),
        "put_segment": ((SEGMENT,), {}),
        "wait_for_change": ((0.01,), {}),
    },
    "RedisStickyStore": {
        "from_url": (("<url>",), {"prefix": "<prefix>", "max_subjects": 10, "ttl": 60.0}),
        "prefetch": (("u",), {}),
        "get": (("f", "u"), {}),
        "set": (("f", "u", "a"), {}),
    },
    "PostgresFlagSource": {
        "connect": (
            ("<dsn>",),
            {
                "table": "hostile_flags",
                "channel": None,
                "min_size": 1,
                "max_size": 2,
                "server_settings": "<settings>",
            },
        ),
        "get": (("f",), {}),
        "put": ((FLAG,), {}),
        "delete": (("g",), {}),
        "put_segment": ((SEGMENT,), {}),
        "wait_for_change": ((0.01,), {}),
    },
    "PostgresAuditSink": {
        "connect": (
            ("<dsn>",),
            {"table": "hostile_audit", "min_size": 1, "max_size": 2, "server_settings": "<settings>"},
        ),
        "record": ((EVENT,), {}),
        "history": (("f",), {"limit": 5}),
    },
}
# What a method's options to the helper are, where the defaults would not do.
OPTIONS: dict[str, dict[str, Any]] = {"wait_for_change": {"values": NON_BLOCKING}}


def driving(*owners: str) -> list[str]:
    """The names a test drives through the tables below: each class and its methods."""
    return [name for owner in owners for name in (owner, *(f"{owner}.{m}" for m in METHODS[owner]))]


def test_every_public_name_and_method_is_driven() -> None:
    """A public name, or a public method of a public class, added without a hostile check fails here."""
    TARGETS.assert_covers(
        ff,
        # Its methods are listed above, all the same: that test drives them from this table.
        exempt={"ThreadedFlagClient": "owns a thread: driven in tests/test_threaded.py around it"},
        methods=True,
    )


# --- Functions, constructors and in-process methods ---------------------------------------------


@TARGETS.parametrize()
def test_public_callable(target: HostileTarget) -> None:
    target.check()


def _drive_methods(owner: str, instance: object, *, skip: tuple[str, ...] = ()) -> None:
    for method, (args, kwargs) in METHODS[owner].items():
        if method not in skip:
            check_hostile(getattr(instance, method), *args, kwargs=kwargs, **OPTIONS.get(method, {}))


@TARGETS.drives(*driving("Context"))
def test_context_methods() -> None:
    _drive_methods("Context", Context(user_id="u", properties={"plan": "pro"}))


@TARGETS.drives(*driving("Snapshot"))
def test_snapshot_methods() -> None:
    snapshot = compile_flag_set(FLAG_SET)
    compiled = snapshot.get("f")
    for method, (args, kwargs) in METHODS["Snapshot"].items():
        filled = tuple(compiled if arg == "<flag>" else arg for arg in args)
        check_hostile(getattr(snapshot, method), *filled, kwargs=kwargs)


def never_raises[**P, R](function: Callable[P, R]) -> Callable[P, R]:
    """``function``, failing on a typed error too: evaluation answers, it never raises."""

    @functools.wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except ButtressError as exc:
            raise AssertionError(f"evaluation raised {type(exc).__name__}: {exc}") from exc

    return call


@TARGETS.drives(*driving("FlagClient"))
def test_client_methods_and_evaluation_never_raises() -> None:
    client = FlagClient(MemoryFlagSource([FLAG]), bootstrap=FLAG_SET, sticky_store=MemoryStickyStore())
    for method, (args, kwargs) in METHODS["FlagClient"].items():
        target = getattr(client, method)
        check_hostile(never_raises(target) if method in EVALUATION else target, *args, kwargs=kwargs)


def _evaluate(flag_set: FlagSet) -> None:
    client = FlagClient(MemoryFlagSource(), bootstrap=flag_set, sticky_store=MemoryStickyStore())
    context = Context(user_id="u", properties={"plan": "pro"})
    for key in flag_set.flags:
        client.is_enabled(key, context)
        client.get_variant(key, context)
        client.evaluate(key, "x", context)


def test_evaluation_never_raises_on_hand_built_definitions() -> None:
    """A field of the wrong type makes a flag off for everyone; a malformed segment counts as missing."""
    evaluate = never_raises(_evaluate)
    check_hostile(
        through(built_flag, lambda flag: evaluate(FlagSet(flags={"built": flag}))), max_examples=200
    )
    check_hostile(lambda flag: evaluate(FlagSet(flags={"x": flag})), FLAG, max_examples=60)
    uses_segment = built_flag(segments=(1,))
    check_hostile(
        through(built_segment, lambda segment: evaluate(FlagSet({"built": uses_segment}, {1: segment}))),
        max_examples=100,
    )
    pro = Context(user_id="u", properties={"plan": "pro"})
    client = FlagClient(MemoryFlagSource(), bootstrap=FlagSet({"x": built_flag(weight="heavy")}))
    details = client.evaluate("x", "default", pro)
    assert (details.value, details.reason) == ("default", ff.Reason.DEFAULT)
    in_segment = flag_from_dict({"name": "s", "strategies": [{"name": "default", "segments": [1]}]})
    for segment, on in ((built_segment(), True), (built_segment(values=5), False)):
        client = FlagClient(MemoryFlagSource(), bootstrap=FlagSet({"s": in_segment}, {1: segment}))
        assert client.is_enabled("s", pro) is on


@TARGETS.drives(*driving("FlagProvider"))
def test_provider_methods() -> None:
    client = FlagClient(MemoryFlagSource([FLAG]), bootstrap=FLAG_SET)
    provider = FlagProvider(client, init_timeout=0.0)
    _drive_methods("FlagProvider", provider)


def test_a_bad_context_resolves_to_invalid_context() -> None:
    provider = FlagProvider(FlagClient(MemoryFlagSource(), bootstrap=FLAG_SET), init_timeout=0.0)
    details = provider.resolve_boolean_details("f", False, "userId=1")  # type: ignore[arg-type]
    assert details.value is False
    assert details.error_code is not None
    assert details.error_code.value == "INVALID_CONTEXT"


@TARGETS.drives(*driving("MemoryFlagSource", "MemoryStickyStore", "MemoryAuditSink"))
def test_memory_sources_stores_and_sinks() -> None:
    _drive_methods("MemoryFlagSource", MemoryFlagSource([FLAG]))
    _drive_methods("MemoryStickyStore", MemoryStickyStore())
    _drive_methods("MemoryAuditSink", MemoryAuditSink())


@TARGETS.drives(*driving("FileFlagSource"))
def test_file_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "flags.json"
    path.write_text('{"features": []}', encoding="utf-8")
    check_hostile(FileFlagSource, path, poll_interval=0.01, values=hostile_values(relative_paths=True))
    _drive_methods("FileFlagSource", FileFlagSource(path))


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("inf"), 10**400, "1", None, 86_401])
def test_wait_for_change_refuses_bad_timeouts(tmp_path: Path, timeout: object) -> None:
    """The hostile runs leave out the valid timeouts that would wait; the refused ones, by name."""
    path = tmp_path / "flags.json"
    path.write_text('{"features": []}', encoding="utf-8")
    for source in (MemoryFlagSource(), FileFlagSource(path)):
        with pytest.raises(FeatureFlagsConfigurationError):
            asyncio.run(source.wait_for_change(timeout))  # type: ignore[arg-type]


@TARGETS.drives(*driving("FlagManager"))
def test_manager() -> None:
    manager = FlagManager(MemoryFlagSource(), MemoryAuditSink(), clock=FakeClock())
    asyncio.run(manager.create(FlagDefinition("g"), actor="ann"))
    _drive_methods("FlagManager", manager)  # delete comes last in the table: the flag is gone after it


def test_hand_built_definitions_and_events() -> None:
    """A field of the wrong type is a typed error wherever a definition is checked, written or kept."""
    check_hostile(through(built_flag, flag_to_dict), max_examples=150)
    check_hostile(through(built_flag, validate_flag), max_examples=150)
    check_hostile(through(built_segment, ff.segment_to_dict), max_examples=60)
    manager = FlagManager(MemoryFlagSource(), MemoryAuditSink(), clock=FakeClock())
    check_hostile(through(built_flag, lambda flag: manager.create(flag, actor="ann")), max_examples=100)
    check_hostile(through(built_event, MemoryAuditSink().record), max_examples=60)


@pytest.mark.parametrize(
    "fields",
    [
        {"values": bytearray(b"\xff")},
        {"values": range(2)},
        {"segments": b"\x01"},
        {"value": MappingProxyType({"a": (1, 2)})},
        {"metadata": {"m": float("nan")}},
        {"weight": 10**5000},
    ],
    ids=[
        "bytearray-values",
        "range-values",
        "bytes-segments",
        "mappingproxy-value",
        "nan-metadata",
        "10**5000",
    ],
)
def test_what_a_writer_returns_is_plain_json(fields: dict[str, object]) -> None:
    """``flag_to_dict`` gives JSON types or a typed error; nothing a backend then fails to encode."""
    flag = built_flag(**fields)
    try:
        data = flag_to_dict(flag)
    except FlagDefinitionError:
        return
    try:
        json.dumps(data, allow_nan=False)
    except ValueError:  # too many digits for str(): flag_to_json names it
        with pytest.raises(FlagDefinitionError, match="too large"):
            flag_to_json(flag)


# --- Redis and PostgreSQL -------------------------------------------------------------------

type Call = tuple[Callable[..., object], tuple[object, ...], dict[str, object], dict[str, Any]]


def _backend_calls(owner: str, instance: object, placeholders: dict[str, object]) -> Iterator[Call]:
    """Each table entry of ``owner`` as (target, args, kwargs, options), placeholders filled in.

    Factories close what they open; async targets fail on `FeatureFlagsUnavailableError` (see `healthy`).
    """
    for method, (args, kwargs) in METHODS[owner].items():
        target = getattr(instance, method)
        if method.startswith("from_") or method == "connect":
            target = closing_factory(target)
        if inspect.iscoroutinefunction(target):
            target = healthy(target)
        filled_args = tuple(placeholders.get(a, a) if isinstance(a, str) else a for a in args)
        filled = {k: placeholders.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
        yield target, filled_args, filled, OPTIONS.get(method, {})


async def _drive_backend(owner: str, instance: object, placeholders: dict[str, object]) -> None:
    for target, args, kwargs, options in _backend_calls(owner, instance, placeholders):
        await acheck_hostile(target, *args, kwargs=kwargs, max_examples=BACKEND_EXAMPLES, **options)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@TARGETS.drives(*driving("RedisFlagSource"))
@pytest.mark.redis
async def test_redis_flag_source(redis_client: Redis, redis_url: str, redis_prefix: str) -> None:
    await acheck_hostile(RedisFlagSource, redis_client, prefix=redis_prefix, max_examples=BACKEND_EXAMPLES)
    source = RedisFlagSource(redis_client, prefix=redis_prefix)
    await source.put(FLAG)
    try:
        await _drive_backend("RedisFlagSource", source, {"<url>": redis_url, "<prefix>": redis_prefix})
        await acheck_hostile(through(built_flag, healthy(source.put)), max_examples=100)
        await acheck_hostile(through(built_segment, healthy(source.put_segment)), max_examples=50)
        assert await source.get("f") == FLAG
    finally:
        await source.aclose()


@TARGETS.drives(*driving("RedisStickyStore"))
@pytest.mark.redis
async def test_redis_sticky_store(
    redis_client: Redis, redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    await acheck_hostile(
        RedisStickyStore,
        redis_client,
        prefix=redis_prefix,
        max_subjects=10,
        ttl=60.0,
        max_examples=BACKEND_EXAMPLES,
    )
    store = RedisStickyStore(redis_client, prefix=redis_prefix)
    try:
        with caplog.at_level(logging.WARNING, logger="buttress.feature_flags"):
            await _drive_backend("RedisStickyStore", store, {"<url>": redis_url, "<prefix>": redis_prefix})
            await store.flush()
        dropped = [record for record in caplog.records if "not written" in record.getMessage()]
        assert not dropped, "a hostile assignment reached Redis and was refused there"
    finally:
        await store.aclose()


@pytest.mark.redis
async def test_redis_sticky_store_keeps_surrogates_local(redis_client: Redis, redis_prefix: str) -> None:
    """A flag key Redis cannot carry (a lone surrogate from a flag document) is remembered locally only."""
    store = RedisStickyStore(redis_client, prefix=redis_prefix)
    other = RedisStickyStore(redis_client, prefix=redis_prefix)
    try:
        store.set("f\ud800", "u", "a")
        store.set("f", "u", "a\x00b")
        async with asyncio.timeout(30):  # a writer killed by the first write left flush() waiting forever
            await store.flush()
        assert store.get("f\ud800", "u") == "a"
        await other.prefetch("u")
        assert other.get("f\ud800", "u") is None
        assert other.get("f", "u") == "a\x00b"
    finally:
        await store.aclose()
        await other.aclose()


@TARGETS.drives(*driving("PostgresFlagSource"))
@pytest.mark.postgres
async def test_postgres_flag_source(postgres_schema: PostgresSchema) -> None:
    dsn, settings = postgres_schema.dsn, postgres_schema.server_settings
    source = await PostgresFlagSource.connect(dsn, table="hostile_flags", server_settings=settings)
    await source.put(FLAG)
    try:
        pool = source.pool
        await acheck_hostile(
            PostgresFlagSource, pool, table="hostile_flags", channel="c", max_examples=BACKEND_EXAMPLES
        )
        await _drive_backend("PostgresFlagSource", source, {"<dsn>": dsn, "<settings>": settings})
        await acheck_hostile(through(built_flag, healthy(source.put)), max_examples=100)
        await acheck_hostile(through(built_segment, healthy(source.put_segment)), max_examples=50)
        assert await source.get("f") == FLAG
    finally:
        await source.aclose()


@TARGETS.drives(*driving("PostgresAuditSink"))
@pytest.mark.postgres
async def test_postgres_audit_sink(postgres_schema: PostgresSchema) -> None:
    dsn, settings = postgres_schema.dsn, postgres_schema.server_settings
    sink = await PostgresAuditSink.connect(dsn, table="hostile_audit", server_settings=settings)
    try:
        pool = sink.pool
        await acheck_hostile(PostgresAuditSink, pool, table="hostile_audit", max_examples=BACKEND_EXAMPLES)
        await _drive_backend("PostgresAuditSink", sink, {"<dsn>": dsn, "<settings>": settings})
        record = healthy(sink.record)
        await acheck_hostile(through(built_event, record), max_examples=100)
        await acheck_hostile(
            through(built_flag, lambda flag: record(built_event(before=flag))), max_examples=100
        )
    finally:
        await sink.aclose()


@pytest.mark.postgres
async def test_postgres_manager_with_hand_built_definitions(postgres_schema: PostgresSchema) -> None:
    dsn, settings = postgres_schema.dsn, postgres_schema.server_settings
    source = await PostgresFlagSource.connect(dsn, table="hostile_managed", server_settings=settings)
    create = healthy(FlagManager(source, MemoryAuditSink(), clock=FakeClock()).create)
    try:
        await acheck_hostile(through(built_flag, lambda flag: create(flag, actor="ann")), max_examples=100)
    finally:
        await source.aclose()


@pytest.mark.postgres
async def test_postgres_server_refusals_are_configuration_errors(postgres_schema: PostgresSchema) -> None:
    """A setting, database or role the server refuses is the caller's configuration, not an outage."""
    with pytest.raises(FeatureFlagsConfigurationError, match="server_settings"):
        await PostgresFlagSource.connect(postgres_schema.dsn, server_settings={"no_such_setting": "1"})
    missing = postgres_schema.dsn.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(FeatureFlagsConfigurationError):
        await PostgresAuditSink.connect(missing)
    with pytest.raises(FeatureFlagsConfigurationError, match="dsn"):
        await PostgresAuditSink.connect("mysql://localhost/x")


async def test_postgres_arguments_are_checked_before_a_pool_is_opened() -> None:
    """Nothing listens on port 1: an argument refused after connecting would be reported unavailable."""
    nowhere = "postgresql://127.0.0.1:1/x"
    with pytest.raises(FeatureFlagsConfigurationError, match="channel"):
        await PostgresFlagSource.connect(nowhere, channel="Not An Identifier")
    with pytest.raises(FeatureFlagsConfigurationError, match="server_settings"):
        await PostgresFlagSource.connect(nowhere, server_settings={"a": "\x00"})


@pytest.mark.parametrize("seconds", [10**400, float("inf"), float("nan"), 0, -1.0])
def test_a_refresh_interval_past_100_years_or_not_finite_is_a_configuration_error(seconds: object) -> None:
    """Found by the hostile run: ``refresh_interval=10**400`` raised OverflowError from float()."""
    for option in ("refresh_interval", "stale_after"):
        with pytest.raises(FeatureFlagsConfigurationError, match=option):
            FlagClient(MemoryFlagSource(), **{option: seconds})  # type: ignore[arg-type]


@pytest.mark.parametrize("eager", [NotImplemented, 1, "yes", None])
def test_eager_must_be_a_bool(eager: object) -> None:
    """Found by the hostile run: ``eager=NotImplemented`` was tested for truth (a DeprecationWarning)."""
    with pytest.raises(ff.FeatureFlagsTypeError, match="eager"):
        compile_flag_set(FLAG_SET, eager=eager)  # type: ignore[arg-type]


@pytest.mark.parametrize("clock", [NotImplemented, 5, "now"])
def test_a_manager_clock_that_is_not_a_clock_is_a_type_error(clock: object) -> None:
    """Found by the hostile run: ``clock or SystemClock()`` tested NotImplemented for truth."""
    with pytest.raises(ff.FeatureFlagsTypeError, match="clock"):
        FlagManager(MemoryFlagSource(), MemoryAuditSink(), clock=clock)  # type: ignore[arg-type]
