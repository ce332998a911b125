"""The mutator: sizes within limits, replayable from a seed, every operation reachable."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from buttress.fuzzing import INTERESTING_INTEGERS, Mutator


@given(
    seed=st.integers(0, 2**32),
    data=st.binary(max_size=80),
    other=st.none() | st.binary(max_size=80),
    bounds=st.tuples(st.integers(0, 16), st.integers(1, 64)).filter(lambda b: b[0] <= b[1]),
    tokens=st.lists(st.binary(min_size=1, max_size=70), max_size=3),
)
def test_mutations_respect_size_limits_and_replay(
    seed: int, data: bytes, other: bytes | None, bounds: tuple[int, int], tokens: list[bytes]
) -> None:
    """Every mutated input is within [min_size, max_size]; the same seed gives the same inputs."""
    low, high = bounds

    def run() -> list[bytes]:
        mutator = Mutator(random.Random(seed), tokens, min_size=low, max_size=high)
        return [mutator.mutate(data, other) for _ in range(20)] + [mutator.random_input()]

    first = run()
    assert first == run()
    assert all(low <= len(out) <= high for out in first)


def test_mutations_cover_bit_flips_tokens_and_interesting_integers() -> None:
    """Over many mutations of one input, single-bit flips, tokens and boundary integers all appear."""
    mutator = Mutator(random.Random(1), [b"MAGIC"], max_size=64, max_mutations=1)
    base = bytes(16)
    outputs = [mutator.mutate(base) for _ in range(3_000)]
    assert any(len(o) == 16 and sum(bin(b).count("1") for b in o) == 1 for o in outputs)
    assert any(b"MAGIC" in o for o in outputs)
    assert any((65535).to_bytes(2, "big") in o for o in outputs)
    assert any(len(o) < 16 for o in outputs)
    assert any(len(o) > 16 for o in outputs)
    assert -1 in INTERESTING_INTEGERS
