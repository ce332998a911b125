"""Reading definitions: malformed input is rejected with errors naming the flag and the field."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from buttress.feature_flags import (
    FeatureFlagsConfigurationError,
    FeatureFlagsError,
    FeatureFlagsUnavailableError,
    FileFlagSource,
    FlagClient,
    FlagDefinitionError,
    FlagDocumentError,
    FlagManager,
    MemoryAuditSink,
    MemoryFlagSource,
    Operator,
    flag_from_dict,
    flag_set_from_dict,
    flag_set_to_dict,
    normalized_hash,
    segment_from_dict,
    validate_flag,
)

GOOD: dict[str, Any] = {"name": "f", "strategies": [{"name": "default"}]}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"enabled": True}, "name"),
        ({"name": "f", "enabled": "yes"}, "enabled"),
        ({"name": "f", "strategies": {"name": "default"}}, "strategies"),
        ({"name": "f", "strategies": [{"parameters": {}}]}, "strategies[0].name"),
        (
            {"name": "f", "strategies": [{"name": "default", "constraints": [{"operator": "IN"}]}]},
            "strategies[0].constraints[0].contextName",
        ),
        (
            {"name": "f", "strategies": [{"name": "default", "constraints": [{"contextName": "a"}]}]},
            "strategies[0].constraints[0].operator",
        ),
        (
            {
                "name": "f",
                "strategies": [
                    {
                        "name": "default",
                        "constraints": [{"contextName": "a", "operator": "IN", "values": "x"}],
                    }
                ],
            },
            "strategies[0].constraints[0].values",
        ),
        (
            {"name": "f", "strategies": [{"name": "default", "segments": ["one"]}]},
            "strategies[0].segments[0]",
        ),
        ({"name": "f", "variants": [{"name": "a", "weight": -1}]}, "variants[0].weight"),
        ({"name": "f", "variants": [{"name": "a"}, {"name": "a"}]}, "variants[1].name"),
        (
            {"name": "f", "variants": [{"name": "a", "payload": {"type": "string"}}]},
            "variants[0].payload.value",
        ),
        ({"name": "f", "variants": [{"name": "a", "value": float("nan")}]}, "variants[0].value"),
        ({"name": "f", "variants": [{"name": "a"}], "defaultVariant": "b"}, "defaultVariant"),
        ({"name": "f", "dependencies": [{"enabled": True}]}, "dependencies[0].feature"),
        ({"name": "f", "metadata": {"a": [1]}}, "metadata.a"),
    ],
)
def test_a_malformed_flag_names_the_flag_and_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(FlagDefinitionError) as caught:
        flag_from_dict(data)
    assert caught.value.field == field
    assert caught.value.flag in (data.get("name"), "?")
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, FeatureFlagsError)
    assert field in str(caught.value)


def test_non_objects_are_rejected() -> None:
    with pytest.raises(FlagDefinitionError):
        flag_from_dict(["name"])
    with pytest.raises(FlagDefinitionError):
        flag_set_from_dict("features")
    with pytest.raises(FlagDefinitionError, match="id"):
        segment_from_dict({"id": "x"})
    with pytest.raises(FlagDefinitionError, match="repeats"):
        flag_set_from_dict({"features": [GOOD, GOOD]})
    with pytest.raises(FlagDefinitionError, match="type"):
        flag_set_from_dict({"events": [{"type": "feature-exploded"}]})


def test_an_unknown_operator_is_kept_and_never_matches() -> None:
    flag = flag_from_dict(
        {
            "name": "f",
            "strategies": [
                {"name": "default", "constraints": [{"contextName": "a", "operator": "SOUNDS_LIKE"}]}
            ],
        }
    )
    assert flag.strategies[0].constraints[0].operator is Operator.UNKNOWN


def test_a_flag_set_round_trips_with_segments() -> None:
    data = {
        "version": 2,
        "segments": [
            {
                "id": 1,
                "name": "beta",
                "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}],
            }
        ],
        "features": [
            {
                "name": "f",
                "strategies": [{"name": "default", "segments": [1]}],
                "variants": [{"name": "a", "payload": {"type": "json", "value": "{}"}}],
            }
        ],
    }
    flag_set = flag_set_from_dict(data)
    assert flag_set_from_dict(flag_set_to_dict(flag_set)) == flag_set


async def test_file_source_errors(tmp_path: Path) -> None:
    with pytest.raises(FeatureFlagsUnavailableError, match=r"missing\.json"):
        await FileFlagSource(tmp_path / "missing.json").load()
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(FlagDocumentError, match="JSON"):
        await FileFlagSource(bad).load()
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("features: [", encoding="utf-8")
    with pytest.raises(FlagDocumentError, match="YAML"):
        await FileFlagSource(bad_yaml).load()
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"features": [{"name": "x", "enabled": 1}]}), encoding="utf-8")
    with pytest.raises(FlagDefinitionError, match="enabled"):
        await FileFlagSource(wrong).load()


def test_the_hash_matches_the_unleash_reference_values() -> None:
    # Reference buckets every Unleash SDK computes for these inputs.
    assert normalized_hash("123", "gr1") == 73
    assert normalized_hash("999", "groupX") == 25


async def test_a_file_edit_reaches_a_running_client(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps({"features": [{"name": "f", "enabled": False}]}), encoding="utf-8")
    client = FlagClient(FileFlagSource(path, poll_interval=0.02), refresh_interval=60)
    await client.start()
    try:
        assert not client.is_enabled("f")
        replacement = tmp_path / "flags.json.new"
        replacement.write_text(json.dumps({"features": [{"name": "f", "enabled": True}]}), encoding="utf-8")
        replacement.replace(path)  # an atomic replace, as deploy tools do
        for _ in range(300):
            if client.is_enabled("f"):
                break
            await asyncio.sleep(0.01)
        assert client.is_enabled("f")
    finally:
        await client.aclose()


def test_file_source_arguments_are_checked() -> None:
    with pytest.raises(FeatureFlagsConfigurationError, match="poll_interval"):
        FileFlagSource("flags.json", poll_interval=0)
    with pytest.raises(FeatureFlagsConfigurationError, match="path"):
        FileFlagSource("")


def _one_constraint(constraint: dict[str, Any]) -> dict[str, Any]:
    return {"name": "strict", "strategies": [{"name": "default", "constraints": [constraint]}]}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            _one_constraint({"contextName": "a", "operator": "SOUNDS_LIKE"}),
            "strategies[0].constraints[0].operator",
        ),
        (_one_constraint({"contextName": "a", "operator": "IN"}), "strategies[0].constraints[0].values"),
        (
            _one_constraint({"contextName": "a", "operator": "NUM_GT", "value": "ten"}),
            "strategies[0].constraints[0].value",
        ),
        (_one_constraint({"contextName": "a", "operator": "NUM_GT"}), "strategies[0].constraints[0].value"),
        (
            _one_constraint({"contextName": "a", "operator": "DATE_AFTER", "value": "May"}),
            "strategies[0].constraints[0].value",
        ),
        (
            _one_constraint({"contextName": "a", "operator": "SEMVER_GT", "value": "1.2"}),
            "strategies[0].constraints[0].value",
        ),
        (
            _one_constraint({"contextName": "a", "operator": "REGEX", "value": "(a"}),
            "strategies[0].constraints[0].value",
        ),
        (
            _one_constraint({"contextName": "a", "operator": "REGEX", "value": "(?=a)"}),
            "strategies[0].constraints[0].value",
        ),
        (
            _one_constraint({"contextName": "a", "operator": "IN_CIDR", "values": ["10.0.0.0/8", "ten"]}),
            "strategies[0].constraints[0].values[1]",
        ),
        ({"name": "strict", "strategies": [{"name": "everyoneButBob"}]}, "strategies[0].name"),
        ({"name": "strict", "strategies": [{"name": "flexibleRollout"}]}, "strategies[0].parameters.rollout"),
        (
            {"name": "strict", "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "150"}}]},
            "strategies[0].parameters.rollout",
        ),
        (
            {
                "name": "strict",
                "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "half"}}],
            },
            "strategies[0].parameters.rollout",
        ),
        (
            {
                "name": "strict",
                "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "5", "groupId": 'a"b'}}],
            },
            "strategies[0].parameters.groupId",
        ),
        (
            _one_constraint({"contextName": "n", "operator": "NUM_GT", "value": "1_000"}),
            "strategies[0].constraints[0].value",
        ),
        (
            _one_constraint({"contextName": "t", "operator": "DATE_AFTER", "value": "2024-01-01"}),
            "strategies[0].constraints[0].value",
        ),
        ({"name": "strict", "variants": [{"name": "a", "weight": 0}]}, "variants"),
        ({"name": "strict", "dependencies": [{"feature": "strict"}]}, "dependencies[0].feature"),
    ],
)
async def test_the_management_api_rejects_what_would_never_match(data: dict[str, Any], field: str) -> None:
    flag = flag_from_dict(data)  # reading is lenient, as in every Unleash SDK...
    with pytest.raises(FlagDefinitionError) as caught:
        validate_flag(flag)
    assert (caught.value.flag, caught.value.field) == ("strict", field)
    source, sink = MemoryFlagSource(), MemoryAuditSink()
    with pytest.raises(FlagDefinitionError):  # ...writing through the manager is strict
        await FlagManager(source, sink).create(flag, actor="ann")
    assert await source.get("strict") is None
    assert await sink.history("strict") == ()


def test_valid_definitions_pass_strict_validation() -> None:
    for constraint in (
        {"contextName": "v", "operator": "SEMVER_GTE", "value": "1.2.3-beta.1"},
        {"contextName": "t", "operator": "DATE_BEFORE", "value": "2030-01-01T00:00:00Z"},
        {"contextName": "n", "operator": "NUM_LTE", "value": "3.5"},
        {"contextName": "r", "operator": "REGEX", "value": "^[[:alpha:]]+$"},
        {"contextName": "ip", "operator": "IN_CIDR", "values": ["10.0.0.0/8", "::1"]},
    ):
        validate_flag(flag_from_dict(_one_constraint(constraint)))
