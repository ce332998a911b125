"""sys.monitoring coverage: tool ids, scope, modes, corpus minimisation."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from buttress.fuzzing import CoverageUnavailableError, Fuzzer, FuzzingConfig, FuzzingError
from buttress.fuzzing._coverage import CoverageMonitor

from .conftest import HERE


@pytest.fixture
def occupied() -> Iterator[list[int]]:
    """Hold tool ids 3, 4 and 5 the way other tools would, and give them back afterwards."""
    held = []
    for tool_id in (3, 4, 5):
        if sys.monitoring.get_tool(tool_id) is None:
            sys.monitoring.use_tool_id(tool_id, f"other-tool-{tool_id}")
            held.append(tool_id)
    try:
        yield held
    finally:
        for tool_id in held:
            sys.monitoring.free_tool_id(tool_id)


@pytest.mark.usefixtures("occupied")
def test_no_free_tool_id_is_a_clear_error(planted: ModuleType) -> None:
    """Every preferred id taken: CoverageUnavailableError names the holders and the way out."""
    with pytest.raises(CoverageUnavailableError) as caught:
        Fuzzer(planted.parse, FuzzingConfig(max_iterations=10)).run()
    assert isinstance(caught.value, FuzzingError)
    assert caught.value.holders == {4: "other-tool-4", 5: "other-tool-5", 3: "other-tool-3"}
    assert "coverage=False" in str(caught.value)
    with pytest.raises(CoverageUnavailableError, match="held by 'other-tool-4'"):
        Fuzzer(planted.parse, FuzzingConfig(max_iterations=10, monitoring_tool_id=4)).run()


@pytest.mark.usefixtures("occupied")
def test_coverage_off_runs_next_to_other_tools(planted: ModuleType) -> None:
    """With coverage=False no tool id is needed."""
    report = Fuzzer(planted.parse, FuzzingConfig(max_iterations=500, coverage=False)).run()
    assert report.executions == 500


def test_another_free_id_is_used_and_every_id_is_given_back(planted: ModuleType) -> None:
    """Id 4 taken: the campaign takes 5. Afterwards both are as they were."""
    sys.monitoring.use_tool_id(4, "someone-else")
    try:
        monitor = CoverageMonitor([str(HERE / "_planted.py")])
        monitor.start()
        assert monitor.tool_id == 5
        assert sys.monitoring.get_tool(5) == "buttress-fuzzing"
        monitor.stop()
        assert sys.monitoring.get_tool(5) is None
        Fuzzer(planted.parse, FuzzingConfig(max_iterations=200)).run()
        assert sys.monitoring.get_tool(4) == "someone-else"
        assert sys.monitoring.get_tool(5) is None
    finally:
        sys.monitoring.free_tool_id(4)


def _outside(data: bytes) -> int:
    total = 0
    for byte in data:
        total = total + 1 if byte > 100 else total - 1
    return total


def test_only_code_in_scope_is_measured(planted: ModuleType) -> None:
    """Code outside the scope (this file, the stdlib) adds no features; code inside does."""
    monitor = CoverageMonitor([str(HERE / "_planted.py")])
    monitor.start()
    try:
        _outside(b"\x00\xff" * 10)
        sorted(range(100))
        assert monitor.take_new() == []
        planted.parse(b"RLE\x01")
        first = monitor.take_new()
        planted.parse(b"RLE\x01")
        assert first
        assert monitor.take_new() == []  # novelty mode: nothing new the second time
        planted.parse(b"RLE\xff" + bytes(300))
        assert monitor.take_new()  # the count > 0x80 branch's other direction
        monitor.measure_mode(True)
        planted.parse(b"RLE\x01")
        again = monitor.take_current()
        planted.parse(b"RLE\x01")
        assert monitor.take_current() == again  # measure mode: the full set, every time
        assert set(first) <= again
    finally:
        monitor.stop()


def test_corpus_minimisation_keeps_the_smallest_inputs_with_the_same_coverage(
    planted: ModuleType, tmp_path: Path
) -> None:
    """Redundant and larger inputs go; the kept set reaches every feature the whole corpus reached."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    inputs = [b"", b"ab", b"abcd", b"abcdefgh", b"RLE\x01", b"RLE\x01padding", b"SCAx", b"SCAxyz", b"HDR"]
    for number, data in enumerate(inputs):
        (corpus / f"seed-{number}").write_bytes(data)
    fuzzer = Fuzzer(planted.parse, FuzzingConfig(max_iterations=1, corpus_dir=corpus))
    result = fuzzer.minimize_corpus()

    assert result.before == len(inputs)
    assert set(result.after) == {b"", b"abcd", b"RLE\x01", b"SCAx"}
    assert result.removed_files == len(inputs) - 4  # the seed files of the inputs kept stay as they are
    assert sorted(p.read_bytes() for p in corpus.iterdir()) == sorted(result.after)
    assert result.coverage > 0

    again = Fuzzer(planted.parse, FuzzingConfig(max_iterations=1, corpus_dir=corpus)).minimize_corpus()
    assert (set(again.after), again.coverage, again.removed_files) == (set(result.after), result.coverage, 0)


def test_minimisation_needs_coverage(planted: ModuleType, tmp_path: Path) -> None:
    """Without coverage there is nothing to minimise by."""
    config = FuzzingConfig(max_iterations=1, corpus_dir=tmp_path, coverage=False)
    with pytest.raises(FuzzingError, match="coverage"):
        Fuzzer(planted.parse, config).minimize_corpus()
