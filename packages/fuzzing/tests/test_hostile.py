"""Every public entry point of buttress-fuzzing answers hostile arguments with its typed errors."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

import buttress.fuzzing as fuzzing
from buttress.fuzzing import (
    AsgiTarget,
    Corpus,
    CorpusMinimization,
    CorruptCrashIndexError,
    CoverageUnavailableError,
    CrashesFoundError,
    CrashRecord,
    CrashSignature,
    CrashStore,
    Frame,
    Fuzzer,
    FuzzingConfig,
    FuzzingConfigurationError,
    FuzzingError,
    FuzzingTypeError,
    FuzzReport,
    HttpRequest,
    InputTimeout,
    MissingExtraError,
    Mutator,
    Reproduction,
    ServerErrorResponse,
    SignatureBuilder,
    StructuredTarget,
    TargetError,
    assert_no_crashes,
    assert_no_crashes_async,
    format_table,
    load_target,
    structured,
)
from buttress.testing import HostileTarget, HostileTargets, hostile_values

# Paths stay under the test's working directory (a fresh tmp_path): nothing absolute, nothing climbing out.
VALUES = hostile_values(relative_paths=True)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def parse(data: bytes) -> None:
    data.decode("ascii", "ignore")


async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


SIGNATURE = CrashSignature("ValueError", (Frame("pkg/mod.py", "parse"),))


WHEN = datetime(2026, 1, 1, tzinfo=UTC)
RECORD = CrashRecord(SIGNATURE, 1, WHEN, WHEN, None, 1, "m")

TARGETS = HostileTargets(values=VALUES)
TARGETS.add(FuzzingConfig, max_iterations=10, seed=1, keep={"clock"})
TARGETS.add(Fuzzer, parse, FuzzingConfig(max_iterations=5))
TARGETS.add(Fuzzer(parse, FuzzingConfig(max_iterations=5)).reproduce, b"x")
TARGETS.add(Fuzzer(parse, FuzzingConfig(max_iterations=5)).signature, ValueError("x"))
# max_iterations stays: a huge but valid budget would run for as long as it says.
TARGETS.add(assert_no_crashes, parse, None, max_iterations=5, keep={"target", "max_iterations"})
TARGETS.add(assert_no_crashes_async, parse, None, max_iterations=5, keep={"target", "max_iterations"})
TARGETS.add(Mutator, random.Random(1))
TARGETS.add(Mutator(random.Random(1)).mutate, b"abc", b"def")
TARGETS.add(SignatureBuilder, max_frames=3)
TARGETS.add(SignatureBuilder().signature, ValueError("x"))
TARGETS.add(CrashSignature, "ValueError", (Frame("a.py", "f"),))
TARGETS.add(Frame, "a.py", "f", 3)
TARGETS.add(format_table, [])
TARGETS.add(load_target, "json:loads")
TARGETS.add(structured, parse, st.binary())
TARGETS.add(StructuredTarget, parse, st.binary())
TARGETS.add(AsgiTarget, app, ["/items/{id}"])
TARGETS.add(AsgiTarget(app, ["/items/{id}"]).request, b"abc")
# Records and errors.
TARGETS.add(CrashRecord, SIGNATURE, 1, WHEN, WHEN, None, 1, "m", target="json:loads")
TARGETS.add(CorpusMinimization, 3, (b"x",), 2, 1)
TARGETS.add(FuzzReport, 10, 0, (RECORD,), (), {}, {}, 1, 1, 0, 0.5, interrupted=False)
TARGETS.add(HttpRequest, "GET", "/items/{id}", "/items/1", b"", [], b"")
TARGETS.add(Reproduction, SIGNATURE, ValueError("x"))
TARGETS.add(FuzzingError, "message")
TARGETS.add(FuzzingConfigurationError, "max_iterations", 0, "must be at least 1", show_value=True)
TARGETS.add(FuzzingTypeError, "seed", "an int", "x")
TARGETS.add(TargetError, "json:loads", "not found")
TARGETS.add(CorruptCrashIndexError, Path("crashes/index.json"), "truncated")
TARGETS.add(CoverageUnavailableError, {1: "another tracer"})
TARGETS.add(CrashesFoundError, [RECORD], "table")
TARGETS.add(InputTimeout, 1.0)
TARGETS.add(ServerErrorResponse, 500, "GET", "/items/{id}")
TARGETS.add(MissingExtraError, "AsgiTarget", "asgi")


@TARGETS.parametrize()
def test_public_entry_points_raise_only_typed_errors(target: HostileTarget) -> None:
    """Property: no argument makes a function, constructor or method of buttress-fuzzing fail untyped."""
    target.check()


@TARGETS.drives("Corpus", "CrashStore")
def test_stores(tmp_path: Path) -> None:
    """Property: the stores answer hostile arguments with typed errors (they write below ``tmp_path``)."""
    corpus = Corpus(tmp_path / "corpus")
    store = CrashStore(tmp_path / "crashes")
    calls = HostileTargets(values=VALUES)
    calls.add(Corpus, "corpus")
    calls.add(corpus.add, b"seed")
    calls.add(corpus.load, 4096)
    calls.add(CrashStore, "crashes")
    calls.add(store.record, SIGNATURE, b"x", when=WHEN, message="m")
    calls.add(store.get, SIGNATURE)
    calls.add(store.by_digest, "0" * 16)
    calls.check_all()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(fuzzing)


def test_errors_first_driven_by_the_coverage_guard_are_typed_or_render() -> None:
    """Found when every public name was first driven: each raised an untyped error while being built."""
    with pytest.raises(FuzzingTypeError, match="holders"):
        CoverageUnavailableError("")  # type: ignore[arg-type]  # was AttributeError
    with pytest.raises(FuzzingTypeError, match="records"):
        CrashesFoundError(0, "table")  # type: ignore[arg-type]  # was TypeError from len()
    with pytest.raises(FuzzingTypeError, match="table"):
        CrashesFoundError([RECORD], None)  # type: ignore[arg-type]
    assert str(InputTimeout("")) == "input ran longer than ''s"  # type: ignore[arg-type]  # was ValueError
    assert str(InputTimeout(10**400)).startswith("input ran longer than 1000")
    assert str(InputTimeout(0.5)) == "input ran longer than 0.5s"
