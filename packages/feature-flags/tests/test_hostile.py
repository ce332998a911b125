"""Every public entry point of buttress-feature-flags, driven with hostile arguments: only typed errors.

Each function, constructor and method of the public surface (``buttress.feature_flags.__all__``) is
called with hypothesis-generated hostile values in place of its arguments; anything but a
``ButtressError`` fails. Evaluation (``is_enabled``, ``get_variant``, ``evaluate``) never raises at
all: a key or context of the wrong kind is an unknown flag or an invalid context. The Protocols and
the plain data classes (whose fields are read, not checked, until a parser or the engine meets them)
are left out; so are methods without parameters.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from buttress.feature_flags import (
    Context,
    FileFlagSource,
    FlagClient,
    FlagConfigurationError,
    FlagDefinition,
    FlagManager,
    FlagSet,
    MemoryAuditSink,
    MemoryFlagSource,
    MemoryStickyStore,
    Segment,
    compile_flag_set,
    flag_from_dict,
    flag_set_from_dict,
    flag_set_to_dict,
    flag_to_dict,
    normalized_hash,
    segment_from_dict,
    segment_to_dict,
    validate_flag,
)
from buttress.testing import FakeClock, check_hostile

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
FLAG_SET = FlagSet(flags={"f": FLAG}, segments={1: Segment(1, "s")})


@pytest.fixture
def client() -> FlagClient:
    return FlagClient(MemoryFlagSource([FLAG]), bootstrap=FLAG_SET, sticky_store=MemoryStickyStore())


def test_parsers_and_writers() -> None:
    check_hostile(flag_from_dict, flag_to_dict(FLAG))
    check_hostile(flag_set_from_dict, flag_set_to_dict(FLAG_SET))
    check_hostile(segment_from_dict, {"id": 1, "constraints": []})
    check_hostile(flag_to_dict, FLAG)
    check_hostile(flag_set_to_dict, FLAG_SET)
    check_hostile(segment_to_dict, Segment(1, "s"))
    check_hostile(validate_flag, FLAG)


def test_hash_and_snapshot() -> None:
    check_hostile(normalized_hash, "user", "group", 100, 0)
    check_hostile(compile_flag_set, FLAG_SET)
    snapshot = compile_flag_set(FLAG_SET)
    check_hostile(snapshot.get, "f")


def test_context() -> None:
    check_hostile(
        Context,
        user_id="u",
        session_id="s",
        remote_address="10.0.0.1",
        environment="prod",
        app_name="shop",
        current_time="2025-01-01T00:00:00Z",
        properties={"plan": "pro"},
    )
    check_hostile(Context.from_mapping, {"userId": "u", "properties": {"plan": "pro"}, "currentTime": "x"})
    check_hostile(Context().get, "userId")


def test_evaluation_never_raises(client: FlagClient) -> None:
    context = Context(user_id="u", properties={"plan": "pro"})
    check_hostile(client.is_enabled, "f", context, default=False, allowed=())
    check_hostile(client.get_variant, "f", context)
    check_hostile(client.evaluate, "f", "x", context)


def test_client_constructor_and_listeners(client: FlagClient) -> None:
    check_hostile(
        FlagClient,
        MemoryFlagSource(),
        refresh_interval=30.0,
        stale_after=90.0,
        clock=FakeClock(),
        sticky_store=MemoryStickyStore(),
        bootstrap=FLAG_SET,
    )
    check_hostile(client.add_listener, lambda status, snapshot: None)
    check_hostile(client.remove_listener, lambda status, snapshot: None)


def test_memory_source_and_sticky_store() -> None:
    check_hostile(MemoryFlagSource, [FLAG], [Segment(1, "s")])
    source = MemoryFlagSource([FLAG])
    check_hostile(source.get, "f")
    check_hostile(source.put, FLAG)
    check_hostile(source.delete, "f")
    check_hostile(source.put_segment, Segment(2, "t"))
    check_hostile(source.replace, FLAG_SET)
    check_hostile(MemoryStickyStore, max_entries=10)
    store = MemoryStickyStore()
    check_hostile(store.get, "f", "u")
    check_hostile(store.set, "f", "u", "a")
    check_hostile(store.forget, "f", "u")


def test_file_source(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text('{"features": []}', encoding="utf-8")
    check_hostile(FileFlagSource, path, poll_interval=0.01)


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("inf"), 10**400, "1", None, 86_401])
def test_wait_for_change_refuses_bad_timeouts(tmp_path: Path, timeout: object) -> None:
    """``wait_for_change`` blocks for any valid timeout (by design), so it is checked apart."""
    path = tmp_path / "flags.json"
    path.write_text('{"features": []}', encoding="utf-8")
    for source in (MemoryFlagSource(), FileFlagSource(path)):
        with pytest.raises(FlagConfigurationError):
            asyncio.run(source.wait_for_change(timeout))  # type: ignore[arg-type]


def test_manager_and_audit() -> None:
    source, sink = MemoryFlagSource(), MemoryAuditSink()
    check_hostile(FlagManager, source, sink, clock=FakeClock())
    manager = FlagManager(source, sink, clock=FakeClock())
    asyncio.run(manager.create(FlagDefinition("g"), actor="ann"))
    check_hostile(manager.create, FlagDefinition("h"), actor="ann")
    check_hostile(manager.update, FlagDefinition("g"), actor="ann")
    check_hostile(manager.enable, "g", actor="ann")
    check_hostile(manager.disable, "g", actor="ann")
    check_hostile(manager.history, "g", limit=10)
    check_hostile(manager.delete, "g", actor="ann")
    check_hostile(sink.history, "g", limit=10)
