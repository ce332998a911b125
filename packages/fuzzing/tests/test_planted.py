"""Planted bugs: coverage guidance finds them in a bounded number of executions; random inputs do not."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from buttress.fuzzing import CrashStore, Fuzzer, FuzzingConfig

BUDGET = 40_000


def _config(**overrides: object) -> FuzzingConfig:
    settings: dict[str, object] = {"max_iterations": BUDGET, "seed": 0, "max_input_size": 64}
    settings.update(overrides)
    return FuzzingConfig(**settings)  # type: ignore[arg-type]


def test_coverage_guidance_finds_all_three_bugs_where_random_finds_none(planted: ModuleType) -> None:
    """Three bugs behind magic bytes / nested checks: found within the budget with guidance only."""
    guided = Fuzzer(planted.parse, _config()).run()
    random = Fuzzer(planted.parse, _config(coverage=False)).run()

    assert guided.executions == BUDGET
    assert random.executions == BUDGET
    assert sorted(s.exception_type for s in guided.signatures) == [
        "IndexError",
        "OverflowError",
        "ZeroDivisionError",
    ]
    assert all(1 <= n <= BUDGET for n in guided.first_found.values())
    assert random.crashes == ()
    assert guided.corpus_size > random.corpus_size == 1
    assert guided.coverage > 0
    assert random.coverage == 0


def test_three_bugs_are_three_signatures_with_minimised_reproducers(
    planted: ModuleType, tmp_path: Path
) -> None:
    """Each bug is stored once, with a reproducer that still gives the same signature."""
    crashes = tmp_path / "crashes"
    fuzzer = Fuzzer(planted.parse, _config(crashes_dir=crashes))
    report = fuzzer.run()

    assert len(report.crashes) == 3
    assert len({r.signature.digest for r in report.crashes}) == 3
    functions = {r.signature.frames[0].function for r in report.crashes}
    assert functions == {"_run_length", "_scaled", "_header"}
    for record in report.crashes:
        assert all(
            f.function in {"parse", "_run_length", "_scaled", "_header"} for f in record.signature.frames
        )
        assert record.signature.frames[-1].function == "parse"
        assert record.reproducer is not None
        data = (crashes / record.reproducer).read_bytes()
        assert len(data) == record.size <= 6  # minimised: the magic bytes and little else
        assert fuzzer.reproduce(data).signature == record.signature
        assert (crashes / f"{record.reproducer}.txt").read_text().startswith(str(record.signature))
        assert record.count == report.crash_counts[record.signature.digest]
    assert sum(report.crash_counts.values()) == sum(r.count for r in CrashStore(crashes).records())


def test_one_bug_through_many_inputs_is_one_signature_with_the_right_count(tmp_path: Path) -> None:
    """Different inputs and messages, one raise site: one signature counting every crashing input."""
    seen: list[bytes] = []

    def target(data: bytes) -> None:
        seen.append(data)
        if data and data[0] % 2 == 0:
            raise ValueError(f"even first byte in {data!r}")

    # No minimisation, so every call the target sees is one of the campaign's executions.
    config = FuzzingConfig(max_iterations=3_000, seed=7, crashes_dir=tmp_path, minimize_budget=0)
    report = Fuzzer(target, config).run()

    assert len(seen) == report.executions == 3_000
    crashing = [d for d in seen if d and d[0] % 2 == 0]
    assert len({bytes(d) for d in crashing}) > 100
    assert len(report.crashes) == 1
    (record,) = report.crashes
    assert record.signature.exception_type == "ValueError"
    assert record.count == len(crashing) == report.crash_counts[record.signature.digest]
    assert CrashStore(tmp_path).records()[0].count == len(crashing)


def test_a_campaign_is_reproducible_from_its_seed(planted: ModuleType) -> None:
    """Same seed, same target, same budget: the same corpus, coverage and first finds."""
    first = Fuzzer(planted.parse, _config(max_iterations=15_000, seed=3)).run()
    second = Fuzzer(planted.parse, _config(max_iterations=15_000, seed=3)).run()
    other = Fuzzer(planted.parse, _config(max_iterations=15_000, seed=4)).run()

    assert (first.corpus_size, first.coverage, dict(first.first_found), dict(first.crash_counts)) == (
        second.corpus_size,
        second.coverage,
        dict(second.first_found),
        dict(second.crash_counts),
    )
    assert dict(first.first_found) != dict(other.first_found) or first.corpus_size != other.corpus_size


def test_corpus_dir_receives_new_coverage_and_seeds_the_next_run(planted: ModuleType, tmp_path: Path) -> None:
    """Inputs that found coverage are written; the next run starts from them and re-finds bugs faster."""
    corpus = tmp_path / "corpus"
    first = Fuzzer(planted.parse, _config(corpus_dir=corpus)).run()
    files = sorted(corpus.iterdir())
    assert len(files) == first.corpus_size - 1  # every entry but the empty start input
    second = Fuzzer(
        planted.parse, _config(corpus_dir=corpus, seed=11, max_iterations=len(files) + 20_000)
    ).run()
    assert len(second.crashes) == 3
    assert max(second.first_found.values()) < max(first.first_found.values())
