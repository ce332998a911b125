"""Static checks of the public API (run by mypy only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, assert_type

from hypothesis import strategies as st

from buttress.fuzzing import (
    AsgiTarget,
    CorpusMinimization,
    CrashRecord,
    CrashSignature,
    CrashStore,
    Frame,
    Fuzzer,
    FuzzingConfig,
    FuzzReport,
    HttpRequest,
    Reproduction,
    SignatureBuilder,
    StructuredTarget,
    assert_no_crashes,
    format_table,
    load_target,
    structured,
)


def parse(data: bytes) -> int:
    return len(data)


async def parse_async(data: bytes) -> None:
    del data


def check_order(order: dict[str, int]) -> None:
    del order


async def app(scope: object, receive: object, send: object) -> None:
    del scope, receive, send


async def check_async() -> None:
    config = FuzzingConfig(max_iterations=10, seed=1, dictionary=(b"GET",), expected_exceptions=(ValueError,))
    fuzzer = Fuzzer(parse_async, config)
    assert_type(await fuzzer.run_async(), FuzzReport)
    assert_type(await fuzzer.reproduce_async(b""), Reproduction)
    assert_type(await fuzzer.minimize_corpus_async(), CorpusMinimization)


def check_sync() -> None:
    config = FuzzingConfig(max_time=1.0)
    report = Fuzzer(parse, config).run()
    assert_type(report, FuzzReport)
    assert_type(report.crashes, tuple[CrashRecord, ...])
    assert_type(report.signatures, tuple[CrashSignature, ...])
    assert_type(report.execs_per_second, float)
    assert_type(report.table(), str)
    assert_type(Fuzzer(parse, config).reproduce(b"x").signature, CrashSignature | None)
    assert_type(assert_no_crashes(parse, max_iterations=10), FuzzReport)

    target = structured(check_order, st.fixed_dictionaries({"a": st.integers()}))
    assert_type(target, StructuredTarget)
    Fuzzer(target, config)

    asgi = AsgiTarget(app, ["/items/{id}"])
    assert_type(asgi.request(b""), HttpRequest)

    signature = CrashSignature("ValueError", (Frame("app.py", "f", None),))
    assert_type(signature.digest, str)
    assert_type(signature.id, str)
    assert_type(SignatureBuilder(max_frames=2).signature(ValueError()), CrashSignature)
    assert_type(CrashSignature.from_dict(signature.to_dict()), CrashSignature)

    store = CrashStore(None)
    assert_type(store.records(), list[CrashRecord])
    assert_type(store.get(signature), CrashRecord | None)
    assert_type(format_table(store.records()), str)
    assert_type(load_target("json:loads"), Callable[..., Any])
