"""The Unleash client specification: every isEnabled and getVariant case, one test id each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from buttress.feature_flags import Context, FlagClient, MemoryFlagSource, flag_set_from_dict

from ._conformance import suite_dir, suite_missing, unavailable_param

SPEC = suite_dir("unleash-client-specification")


def _cases(kind: str) -> list[Any]:
    if SPEC is None:
        return [unavailable_param()]
    cases = []
    for name in json.loads((SPEC / "index.json").read_text(encoding="utf-8")):
        spec = json.loads((SPEC / name).read_text(encoding="utf-8"))
        for index, case in enumerate(spec.get(kind, [])):
            cases.append(pytest.param((name, case), id=f"{Path(name).stem}[{index}] {case['description']}"))
    return cases


_clients: dict[str, FlagClient] = {}


def _client(name: str) -> FlagClient:
    if name not in _clients:
        assert SPEC is not None
        state = json.loads((SPEC / name).read_text(encoding="utf-8"))["state"]
        _clients[name] = FlagClient(MemoryFlagSource(), bootstrap=flag_set_from_dict(state))
    return _clients[name]


def _require(case: object) -> tuple[str, dict[str, Any]]:
    if case is None:
        suite_missing()
    return case  # type: ignore[return-value]


@pytest.mark.parametrize("case", _cases("tests"))
def test_is_enabled(case: tuple[str, dict[str, Any]] | None) -> None:
    name, spec = _require(case)
    client = _client(name)
    assert (
        client.is_enabled(spec["toggleName"], Context.from_mapping(spec["context"])) is spec["expectedResult"]
    )


@pytest.mark.parametrize("case", _cases("variantTests"))
def test_get_variant(case: tuple[str, dict[str, Any]] | None) -> None:
    name, spec = _require(case)
    variant = _client(name).get_variant(spec["toggleName"], Context.from_mapping(spec["context"]))
    got: dict[str, Any] = {
        "name": variant.name,
        "enabled": variant.enabled,
        "feature_enabled": variant.feature_enabled,
    }
    if variant.payload is not None:
        got["payload"] = {"type": variant.payload.type, "value": variant.payload.value}
    assert got == spec["expectedResult"]


def test_the_suite_is_complete() -> None:
    """All 22 files, 227 isEnabled cases and 52 variant cases are collected."""
    if SPEC is None:
        suite_missing()
    names = json.loads((SPEC / "index.json").read_text(encoding="utf-8"))
    assert len(names) == 22
    assert len(_cases("tests")) == 227
    assert len(_cases("variantTests")) == 52
