"""Answers that follow Unleash's reference engine (yggdrasil), case by case.

Each expected value below was read from UnleashClient 6.9 (yggdrasil 0.21) with the same flag and
context; `test_unleash_differential.py` keeps comparing the two engines on random flags.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from buttress.feature_flags import Context, FlagClient, MemoryFlagSource, flag_set_from_dict, normalized_hash


def client(*features: dict[str, Any], segments: list[dict[str, Any]] | None = None) -> FlagClient:
    state = {"features": list(features), "segments": segments or []}
    return FlagClient(MemoryFlagSource(), bootstrap=flag_set_from_dict(state))


def constrained(constraint: dict[str, Any], name: str = "f") -> dict[str, Any]:
    return {"name": name, "strategies": [{"name": "default", "constraints": [constraint]}]}


@pytest.mark.parametrize(
    "current_time",
    [
        "garbage",
        "2024-01-01",  # a date alone
        "2024-01-01T00:00:00",  # naive: no offset
        datetime(2024, 1, 1),
        "2024-02-30T00:00:00Z",  # no such day
    ],
)
def test_a_current_time_that_is_not_rfc_3339_fails_date_constraints(current_time: object) -> None:
    """(a) Not RFC 3339 → DATE_* fails (its inversion holds), never "now" or a guessed time."""
    flags = client(
        constrained(
            {"contextName": "currentTime", "operator": "DATE_AFTER", "value": "2000-01-01T00:00:00Z"}
        ),
        constrained(
            {
                "contextName": "currentTime",
                "operator": "DATE_AFTER",
                "value": "2000-01-01T00:00:00Z",
                "inverted": True,
            },
            name="inverted",
        ),
    )
    context = Context.from_mapping({"currentTime": current_time})
    assert flags.is_enabled("f", context) is False
    assert flags.is_enabled("inverted", context) is True


@pytest.mark.parametrize(
    ("current_time", "after_2000"),
    [
        ("2024-01-01T00:00:00Z", True),
        ("2024-01-01 00:00:00+02:00", True),  # chrono's relaxed RFC 3339: a space, an offset
        ("1999-12-31t23:59:59z", False),
        ("2024-01-01T00:00:00.123456789Z", True),
        (datetime(2024, 1, 1, tzinfo=UTC), True),
    ],
)
def test_an_rfc_3339_current_time_is_compared(current_time: object, after_2000: bool) -> None:
    flags = client(
        constrained({"contextName": "currentTime", "operator": "DATE_AFTER", "value": "2000-01-01T00:00:00Z"})
    )
    assert flags.is_enabled("f", Context.from_mapping({"currentTime": current_time})) is after_2000


@pytest.mark.parametrize(
    ("operator", "operand", "value", "expected"),
    [
        ("NUM_EQ", "21", " 21", False),  # Rust reads no spaces...
        ("NUM_EQ", "21", "21 ", False),
        ("NUM_EQ", "1000", "1_000", False),  # ...and no underscores
        ("NUM_GT", "5", "inf", True),  # but reads infinities
        ("NUM_GT", "5", "Infinity", True),
        ("NUM_EQ", "1e400", "inf", False),  # inf - inf is NaN, not below epsilon
        ("NUM_LTE", "1e400", "inf", True),
        ("NUM_EQ", "5", "5.", True),
        ("NUM_EQ", "5", "+5", True),
        ("NUM_EQ", "0.5", ".5", True),
        ("NUM_EQ", " 5", "5", True),  # the operand is pasted into the rule: spaces around it are fine
        ("NUM_EQ", "1.2.3", "1.2.3", True),  # ...and an operand that looks like a version compares as one
    ],
)
def test_numbers_are_read_as_rust_reads_them(operator: str, operand: str, value: str, expected: bool) -> None:
    """(b) Context numbers parse as Rust's f64; operands as Unleash's rule grammar reads them."""
    flags = client(constrained({"contextName": "n", "operator": operator, "value": operand}))
    assert flags.is_enabled("f", Context(properties={"n": value})) is expected


@pytest.mark.parametrize("operand", [".5", "0x10", "abc", "1_000"])
def test_a_number_operand_the_grammar_cannot_read_turns_the_flag_off(operand: str) -> None:
    """An operand Unleash's rule grammar cannot read turns the whole flag off, inversion or not."""
    flags = client(
        {
            "name": "f",
            "strategies": [
                {
                    "name": "default",
                    "constraints": [
                        {"contextName": "n", "operator": "NUM_EQ", "value": operand, "inverted": True}
                    ],
                },
                {"name": "default"},
            ],
        }
    )
    assert flags.is_enabled("f", Context(properties={"n": "1"})) is False


def test_an_empty_user_id_is_hashed_under_default_stickiness() -> None:
    """(c) ``userId=""`` is an id: it is hashed, not passed over for ``sessionId``."""
    rollout = {
        "name": "f",
        "strategies": [
            {
                "name": "flexibleRollout",
                "parameters": {"rollout": "50", "stickiness": "default", "groupId": "g"},
            }
        ],
    }
    flags = client(rollout)
    # The empty id's bucket in "g" decides, whatever the session id's bucket is.
    on_for_empty = normalized_hash("", "g") <= 50
    sessions = [f"s{n}" for n in range(40)]
    assert {flags.is_enabled("f", Context(user_id="", session_id=session)) for session in sessions} == {
        on_for_empty
    }
    assert {normalized_hash(session, "g") <= 50 for session in sessions} == {True, False}


def test_default_variant_stickiness_never_reads_the_remote_address() -> None:
    """(d) Default stickiness for variants is userId, then sessionId, then a random draw."""
    variants = [{"name": "a", "weight": 50}, {"name": "b", "weight": 50}]
    flags = client({"name": "f", "strategies": [{"name": "default"}], "variants": variants})
    # With a fixed remote address and no ids, the variant is random: both show up.
    seen = {flags.get_variant("f", Context(remote_address="10.0.0.1")).name for _ in range(64)}
    assert seen == {"a", "b"}


def test_a_missing_custom_variant_stickiness_field_draws_at_random() -> None:
    """(d) A variant stickiness field the context lacks gives a random draw, not another field."""
    variants = [{"name": "a", "weight": 50, "stickiness": "tenant"}, {"name": "b", "weight": 50}]
    flags = client({"name": "f", "strategies": [{"name": "default"}], "variants": variants})
    seen = {flags.get_variant("f", Context(user_id="7")).name for _ in range(64)}
    assert seen == {"a", "b"}
    pinned = {
        flags.get_variant("f", Context(user_id=str(n), properties={"tenant": "acme"})).name for n in range(20)
    }
    assert len(pinned) == 1


def test_a_missing_custom_rollout_stickiness_field_is_off() -> None:
    rollout = {
        "name": "f",
        "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "100", "stickiness": "tenant"}}],
    }
    flags = client(rollout)
    assert flags.is_enabled("f", Context(user_id="7")) is False
    assert flags.is_enabled("f", Context(user_id="7", properties={"tenant": "acme"})) is True


@pytest.mark.parametrize(
    "strategy",
    [
        {
            "name": "default",
            "constraints": [{"contextName": "x", "operator": "NOT_AN_OPERATOR", "value": "1"}],
        },
        {"name": "default", "segments": [404]},
        {"name": "default", "constraints": [{"contextName": "x", "operator": "NUM_GT"}]},
        {"name": "flexibleRollout", "parameters": {"rollout": "150"}},
        {"name": "flexibleRollout", "parameters": {"rollout": "50", "groupId": 'a"b'}},
    ],
)
def test_what_unleash_cannot_compile_turns_the_whole_flag_off(strategy: dict[str, Any]) -> None:
    flags = client({"name": "f", "strategies": [strategy, {"name": "default"}]})
    assert flags.is_enabled("f", Context(user_id="1")) is False


@pytest.mark.parametrize(
    ("operand", "version", "expected"),
    [
        ("1.2.3", "1.2.3-beta", False),
        ("1.2.3-beta.2", "1.2.3-beta.11", True),
        ("1.2.3-alpha", "1.2.3-alpha.1", True),
        ("1.2.3", "01.2.3", False),  # leading zeros are not semver
        ("1.2.3", "1.2.3+build", False),  # build metadata is ignored: equal, not greater
    ],
)
def test_semver_precedence(operand: str, version: str, expected: bool) -> None:
    flags = client(constrained({"contextName": "v", "operator": "SEMVER_GT", "value": operand}))
    assert flags.is_enabled("f", Context(properties={"v": version})) is expected


def test_a_v_prefixed_semver_operand_is_false_even_inverted() -> None:
    flags = client(
        constrained({"contextName": "v", "operator": "SEMVER_EQ", "value": "v1.2.3", "inverted": True})
    )
    assert flags.is_enabled("f", Context(properties={"v": "9.9.9"})) is False


def test_feature_enabled_of_get_variant_is_is_enabled() -> None:
    """Zero weights make Unleash's variant lookup fail: the disabled variant, feature off."""
    flags = client(
        {"name": "f", "strategies": [{"name": "default"}], "variants": [{"name": "a", "weight": 0}]}
    )
    assert flags.is_enabled("f", Context(user_id="1")) is True
    variant = flags.get_variant("f", Context(user_id="1"))
    assert (variant.name, variant.enabled, variant.feature_enabled) == ("disabled", False, False)


def test_a_parent_rollout_without_group_id_hashes_with_the_childs_name() -> None:
    parent = {"name": "parent", "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "50"}}]}
    child = {"name": "child", "strategies": [{"name": "default"}], "dependencies": [{"feature": "parent"}]}
    flags = client(parent, child)
    for n in range(50):
        user = str(n)
        assert flags.is_enabled("child", Context(user_id=user)) is (normalized_hash(user, "child") <= 50)
