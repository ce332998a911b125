"""The crash store: restarts, merges, corrupt indexes (never overwritten), and a stateful model."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from buttress.fuzzing import (
    CorruptCrashIndexError,
    CrashSignature,
    CrashStore,
    Frame,
    Fuzzer,
    FuzzingConfig,
    FuzzingError,
)
from buttress.testing import FakeClock


def _crashing(data: bytes) -> None:
    if data[:1] == b"x":
        raise LookupError("x first")


def test_index_survives_restarts_and_merges_runs(tmp_path: Path, fake_clock: FakeClock) -> None:
    """A second run adds its counts to the first's, keeps first_seen and moves last_seen."""
    config = FuzzingConfig(
        max_iterations=2_000, seed=1, crashes_dir=tmp_path, clock=fake_clock, dictionary=[b"x"]
    )
    first = Fuzzer(_crashing, config).run()
    (record,) = first.crashes
    start = fake_clock.now()
    assert record.first_seen == record.last_seen == start

    fake_clock.advance(timedelta(hours=2))
    second = Fuzzer(_crashing, FuzzingConfig(**{**_fields(config), "seed": 2})).run()
    (merged,) = second.crashes
    assert second.new_crashes == ()
    assert (
        merged.count
        == first.crash_counts[record.signature.digest] + second.crash_counts[record.signature.digest]
    )
    assert merged.first_seen == start
    assert merged.last_seen == start + timedelta(hours=2)
    assert CrashStore(tmp_path).records() == [merged]
    assert merged.target is not None
    assert merged.target.endswith(":_crashing")
    assert (tmp_path / "index.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["index.json", f"crash-{merged.signature.id}", f"crash-{merged.signature.id}.txt"]
    )


def _fields(config: FuzzingConfig) -> dict[str, object]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


def test_two_stores_flushing_into_one_directory_add_up(tmp_path: Path, fake_clock: FakeClock) -> None:
    """Side-by-side runs: each flush re-reads the index, so neither overwrites the other's counts."""
    signature = CrashSignature("ValueError", (Frame("app.py", "f"),))
    left, right = CrashStore(tmp_path), CrashStore(tmp_path)
    for _ in range(3):
        left.record(signature, b"abc", when=fake_clock.now(), message="m")
    for _ in range(4):
        right.record(signature, b"ab", when=fake_clock.now(), message="m")
    left.flush()
    right.flush()
    (record,) = CrashStore(tmp_path).records()
    assert record.count == 7
    assert record.size == 2
    assert (tmp_path / f"crash-{signature.id}").read_bytes() == b"ab"


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"format": "something-else", "crashes": {}}',
        b'{"format": "buttress-fuzzing-crashes/1", "crashes": {"abc": {"count": 1}}}',
    ],
)
def test_corrupt_index_is_a_clear_error_and_is_preserved(tmp_path: Path, content: bytes) -> None:
    """A corrupt index.json raises CorruptCrashIndexError before any input runs; the file is untouched."""
    index = tmp_path / "index.json"
    index.write_bytes(content)
    calls: list[bytes] = []

    with pytest.raises(CorruptCrashIndexError) as caught:
        Fuzzer(calls.append, FuzzingConfig(max_iterations=100, crashes_dir=tmp_path)).run()
    assert isinstance(caught.value, FuzzingError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.path == index
    assert "left untouched" in str(caught.value)
    assert calls == []
    assert index.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.json"]


def test_an_index_whose_digest_does_not_match_is_corrupt(tmp_path: Path, fake_clock: FakeClock) -> None:
    """Entries are keyed by their signature's digest; a mismatch (hand edit, tampering) is refused."""
    store = CrashStore(tmp_path)
    store.record(CrashSignature("E", ()), b"", when=fake_clock.now(), message="")
    store.flush()
    raw = json.loads((tmp_path / "index.json").read_text())
    raw["crashes"]["0" * 64] = raw["crashes"].popitem()[1]
    (tmp_path / "index.json").write_text(json.dumps(raw))
    with pytest.raises(CorruptCrashIndexError, match="does not match"):
        CrashStore(tmp_path)


SIGNATURES = [CrashSignature(t, (Frame("m.py", f),)) for t in ("ValueError", "KeyError") for f in ("a", "b")]


class CrashStoreMachine(RuleBasedStateMachine):
    """Stateful: counts, smallest reproducers and first/last seen match a model across flushes and reopens."""

    @initialize()
    def open(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="buttress-fuzz-store-"))
        self.clock = FakeClock()
        self.store = CrashStore(self.directory)
        self.model: dict[str, tuple[int, bytes]] = {}

    @rule(index=st.integers(0, len(SIGNATURES) - 1), data=st.binary(max_size=12))
    def record(self, index: int, data: bytes) -> None:
        signature = SIGNATURES[index]
        self.clock.advance(1)
        _, is_new = self.store.record(signature, data, when=self.clock.now(), message="boom")
        assert is_new == (signature.digest not in self.model)
        count, smallest = self.model.get(signature.digest, (0, data))
        self.model[signature.digest] = (count + 1, data if len(data) < len(smallest) else smallest)

    @rule()
    def flush(self) -> None:
        self.store.flush()

    @rule()
    def reopen(self) -> None:
        self.store.flush()
        self.store = CrashStore(self.directory)

    @invariant()
    def matches_model(self) -> None:
        records = {r.signature.digest: r for r in self.store.records()}
        assert set(records) == set(self.model)
        for digest, (count, smallest) in self.model.items():
            record = records[digest]
            assert record.count == count
            assert record.size == len(smallest)
            assert record.first_seen <= record.last_seen
            assert record.reproducer is not None
            assert (self.directory / record.reproducer).read_bytes() == smallest

    def teardown(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


TestCrashStoreMachine = CrashStoreMachine.TestCase
# Each step touches the disk: enough runs to mix records, flushes and reopens, not hundreds.
TestCrashStoreMachine.settings = settings(max_examples=40, stateful_step_count=20)
