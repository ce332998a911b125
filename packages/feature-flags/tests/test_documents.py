"""Every flag-document parser turns garbage into a typed error that says what was wrong.

Documents come from files (JSON, YAML), Redis and PostgreSQL, and in the Unleash client-API shapes
(``/client/features``, the delta-API events). Whatever the bytes, a load raises `FlagDocumentError`
(the document cannot be read: bad content, not an outage) or `FlagDefinitionError` (it reads, but a
flag in it is malformed), never ``UnicodeDecodeError``, ``RecursionError``, ``ValueError`` or ``TypeError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buttress.feature_flags import (
    FileFlagSource,
    FlagDefinitionError,
    FlagDocumentError,
    flag_from_dict,
    flag_set_from_dict,
    segment_from_dict,
)

TYPED = (FlagDocumentError, FlagDefinitionError)


def load(path: Path) -> object:
    return asyncio.run(FileFlagSource(path).load())


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_file_that_is_not_utf8_is_a_document_error_not_an_outage(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"flags{suffix}"
    path.write_bytes(b'{"features": [{"name": "caf\xe9"}]}')
    with pytest.raises(FlagDocumentError, match="not UTF-8") as raised:
        load(path)
    assert not isinstance(raised.value, ConnectionError)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    ("suffix", "text", "reason"),
    [
        (".json", "[" * 100_000, "nested too deeply"),
        (".yaml", "[" * 100_000, "not valid YAML"),
        (".yaml", "when: 2024-13-45", "not valid YAML"),
        (".yaml", "a: &a [*a]\nfeatures: [{name: f, variants: [{name: v, value: *a}]}]", "nests deeper"),
        (
            ".json",
            '{"features": [{"name": "f", "strategies": [{"name": "x", "parameters": {"1": 1e999}}]}]}',
            "parameters",
        ),
    ],
)
def test_garbage_documents_are_typed_errors(tmp_path: Path, suffix: str, text: str, reason: str) -> None:
    path = tmp_path / f"flags{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TYPED, match=reason):
        load(path)


@settings(max_examples=300)
@given(data=st.binary(max_size=300))
def test_any_bytes_in_a_json_file_load_or_fail_typed(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("flags") / "flags.json"
    path.write_bytes(data)
    with contextlib.suppress(*TYPED):
        load(path)


@settings(max_examples=300)
@given(data=st.binary(max_size=300))
def test_any_bytes_in_a_yaml_file_load_or_fail_typed(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("flags") / "flags.yaml"
    path.write_bytes(data)
    with contextlib.suppress(*TYPED):
        load(path)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.builds(lambda: 10**5000),
    st.floats(),
    st.text(max_size=8),
    st.binary(max_size=4),
    st.sampled_from(["IN", "NUM_GT", "flexibleRollout", "default", "hydration", "feature-updated", "name"]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(
                st.sampled_from(
                    [
                        "name",
                        "features",
                        "strategies",
                        "constraints",
                        "variants",
                        "segments",
                        "parameters",
                        "events",
                        "type",
                        "feature",
                        "segment",
                        "value",
                        "values",
                        "operator",
                        "contextName",
                        "weight",
                        "payload",
                        "overrides",
                        "dependencies",
                        "metadata",
                        "defaultVariant",
                        "id",
                        "enabled",
                        "stickiness",
                    ]
                ),
                st.integers(),
            ),
            children,
            max_size=6,
        ),
    ),
    max_leaves=40,
)


@settings(max_examples=500)
@given(document=documents)
def test_unleash_documents_read_or_fail_typed(document: Any) -> None:
    for read in (flag_set_from_dict, flag_from_dict, segment_from_dict):
        with contextlib.suppress(FlagDefinitionError):
            read(document)


def test_a_self_referencing_value_is_a_definition_error() -> None:
    value: list[object] = []
    value.append(value)
    with pytest.raises(FlagDefinitionError, match="nests deeper"):
        flag_from_dict({"name": "f", "variants": [{"name": "v", "value": value}]})


def test_json_round_trip_of_the_errors_message_is_plain_text() -> None:
    with pytest.raises(FlagDefinitionError) as caught:
        flag_from_dict({"name": "f", "strategies": [{"name": "x", "parameters": {1: "a"}}]})
    assert json.dumps(str(caught.value))
