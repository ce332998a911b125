"""Every public entry point of buttress-fuzzing answers hostile arguments with its typed errors."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from buttress.fuzzing import (
    AsgiTarget,
    Corpus,
    CrashSignature,
    CrashStore,
    Frame,
    Fuzzer,
    FuzzingConfig,
    Mutator,
    SignatureBuilder,
    assert_no_crashes,
    format_table,
    load_target,
    structured,
)
from buttress.testing import check_hostile, hostile_values

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


def test_config() -> None:
    check_hostile(FuzzingConfig, max_iterations=10, seed=1, values=VALUES, keep={"clock"})


def test_fuzzer() -> None:
    config = FuzzingConfig(max_iterations=5)
    check_hostile(Fuzzer, parse, config, values=VALUES)
    fuzzer = Fuzzer(parse, config)
    check_hostile(fuzzer.reproduce, b"x", values=VALUES)
    check_hostile(fuzzer.signature, ValueError("x"), values=VALUES)


def test_assert_no_crashes() -> None:
    # max_iterations stays: a huge but valid budget would run for as long as it says.
    check_hostile(
        assert_no_crashes, parse, None, max_iterations=5, keep={"target", "max_iterations"}, values=VALUES
    )


def test_mutator() -> None:
    check_hostile(Mutator, random.Random(1), values=VALUES)
    mutator = Mutator(random.Random(1))
    check_hostile(mutator.mutate, b"abc", b"def", values=VALUES)


def test_signatures() -> None:
    check_hostile(SignatureBuilder, max_frames=3, values=VALUES)
    check_hostile(CrashSignature, "ValueError", (Frame("a.py", "f"),), values=VALUES)
    check_hostile(Frame, "a.py", "f", 3, values=VALUES)
    check_hostile(SignatureBuilder().signature, ValueError("x"), values=VALUES)


def test_stores(tmp_path: Path) -> None:
    check_hostile(Corpus, "corpus", values=VALUES)
    corpus = Corpus(tmp_path / "corpus")
    check_hostile(corpus.add, b"seed", values=VALUES)
    check_hostile(corpus.load, 4096, values=VALUES)
    check_hostile(CrashStore, "crashes", values=VALUES)
    store = CrashStore(tmp_path / "crashes")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    check_hostile(store.record, SIGNATURE, b"x", when=when, message="m", values=VALUES)
    check_hostile(store.get, SIGNATURE, values=VALUES)
    check_hostile(store.by_digest, "0" * 16, values=VALUES)
    check_hostile(format_table, [], values=VALUES)


def test_targets() -> None:
    check_hostile(load_target, "json:loads", values=VALUES)
    check_hostile(structured, parse, st.binary(), values=VALUES)
    check_hostile(AsgiTarget, app, ["/items/{id}"], values=VALUES)
    target = AsgiTarget(app, ["/items/{id}"])
    check_hostile(target.request, b"abc", values=VALUES)
