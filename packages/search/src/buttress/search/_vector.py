"""`MemorySearch`'s numpy scorer (extra ``fast``): each term's BM25 contributions as arrays.

A term's contributions are kept as two arrays (document numbers and values) or, for a term most
documents hold, as one dense vector over every document number. A query adds its terms' arrays into
one score vector, in the query's order, so every document's sum is formed in the same order, with
the same float64 operations, as the pure-Python scorer's: the scores are identical, not close. Every
contribution is > 0 (weights > 0, IDF > 0, a held term's frequency > 0), so a document matches
exactly when its score is not zero; a term whose contribution rounds to 0.0 is refused (`None`)
and the caller scores the query the pure-Python way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

import numpy as np
import numpy.typing as npt

__all__ = ["VectorScorer", "as_dict"]

type Scores = npt.NDArray[np.float64]
type Entry = tuple[npt.NDArray[np.intp], Scores, Scores | None] | None
"""A term's holders and contributions, with the dense vector of a common term; None: refused."""

_LACKS, _UNKNOWN, _ABSENT, _PRESENT = 0, 1, 2, 3
"""A document and a phrase: it lacks one of the words; holds them all, not yet checked; checked."""

_PHRASE_BYTES = 64 * 1024 * 1024
"""At most this many bytes of kept phrase answers (one byte per document and phrase)."""

_DENSE = 4
"""A term held by more than 1/_DENSE of the documents is kept dense (at most 4x its sparse size)."""


_FEW_HITS = 5
"""Fewer hits than 1/_FEW_HITS of the documents are gathered before the top-k partition."""


type Postings = list[tuple[str, float, list[int], list[int]]]
"""A term's holders per searchable field: ``(field, weight x IDF, document numbers, frequencies)``."""

type Norms = Callable[[str], tuple[float, float, dict[int, int]]]
"""A field's BM25 length normalisation: ``(k1 x (1 - b), k1 x b / average length, lengths)``."""


class VectorScorer:
    """The numpy arrays of the terms queried since the last write, and the sums over them.

    A term's contributions are computed here, vectorised, with the pure-Python scorer's operations
    in its order (``weight x IDF x tf / (tf + norm)`` per field, fields summed in schema order), so
    they are the same floats.

    Args:
        size: How many document numbers there are (dead ones included).
        postings: A term's live holders per field (see `Postings`).
        norms: A field's length normalisation (see `Norms`).
    """

    __slots__ = ("_norm_of", "_norms", "_phrases", "_postings", "_size", "_terms")

    def __init__(self, size: int, postings: Callable[[str], Postings], norms: Norms) -> None:
        self._size = size
        self._postings = postings
        self._norm_of = norms
        self._norms: dict[str, Scores] = {}
        self._terms: dict[str, Entry] = {}
        self._phrases: dict[tuple[str, ...], npt.NDArray[np.int8]] = {}

    def _norm(self, name: str) -> Scores:
        """``k1 x (1 - b + b x length / average)`` of field ``name`` per document number."""
        norm = self._norms.get(name)
        if norm is None:
            base, slope, lengths = self._norm_of(name)
            count = len(lengths)
            numbers = np.fromiter(lengths.keys(), np.intp, count)
            norm = self._norms[name] = np.zeros(self._size, np.float64)
            norm[numbers] = base + slope * np.fromiter(lengths.values(), np.float64, count)
        return norm

    def _contributions(self, term: str) -> tuple[npt.NDArray[np.intp], Scores]:
        fields = self._postings(term)
        parts = []
        for name, factor, holders, frequencies in fields:
            numbers = np.array(holders, np.intp)
            tf = np.array(frequencies, np.float64)
            parts.append((numbers, factor * tf / (tf + self._norm(name)[numbers])))
        if not parts:
            return np.zeros(0, np.intp), np.zeros(0, np.float64)
        if len(parts) == 1:
            return parts[0]
        # Several fields: summed in schema order from 0.0, as the pure-Python scorer does.
        total = np.zeros(self._size, np.float64)
        held = np.zeros(self._size, np.bool_)
        for numbers, values in parts:
            total[numbers] += values
            held[numbers] = True
        numbers = np.flatnonzero(held)
        return numbers, total[numbers]

    def _entry(self, term: str) -> Entry:
        try:
            return self._terms[term]
        except KeyError:
            pass
        numbers, values = self._contributions(term)
        count = len(numbers)
        entry: Entry
        if count and not values.min() > 0.0:
            entry = None  # a contribution of 0.0 (a weight near the smallest float): not representable
        elif count * _DENSE > self._size:
            dense = np.zeros(self._size, np.float64)
            dense[numbers] = values
            entry = (numbers, values, dense)
        else:
            entry = (numbers, values, None)
        self._terms[term] = entry
        return entry

    def scores(self, terms: Iterable[str]) -> Scores | None:
        """The sum of ``terms``' contributions per document number (0.0: holds none); None: refused."""
        total = np.zeros(self._size, np.float64)
        known, add = self._terms, np.add
        for term in terms:
            entry = known[term] if term in known else self._entry(term)
            if entry is None:
                return None
            numbers, values, dense = entry
            if dense is not None:
                add(total, dense, out=total)
            elif len(numbers):
                total[numbers] += values
        return total

    def holders(self, term: str) -> npt.NDArray[np.intp]:
        """The numbers of the documents holding ``term`` (call after `scores` accepted it)."""
        entry = self._entry(term)
        if entry is None:  # pragma: no cover - `scores` refused the query first
            raise LookupError(term)
        return entry[0]

    def restrict(
        self,
        scores: Scores,
        groups: Iterable[tuple[str, ...]],
        phrase: Callable[[list[str], list[int]], list[int]],
    ) -> None:
        """Zero the scores of the documents holding none of ``groups`` (a term, or a phrase).

        ``phrase(tokens, candidates)`` returns those of ``candidates`` (documents holding every
        token) that hold the phrase; it is asked only about documents no term or earlier phrase has
        matched already, and about each document once per phrase: the answers are kept (a scorer
        lives until the next write).
        """
        groups = list(groups)
        size = self._size
        terms = [self.holders(tokens[0]) for tokens in groups if len(tokens) == 1]
        if terms:
            outside = np.bincount(np.concatenate(terms), minlength=size) == 0
        else:
            outside = np.ones(size, np.bool_)
        for tokens in groups:
            if len(tokens) > 1:
                state = self._phrase_state(tokens)
                # Only a document holding every token can be unknown or present: no need to mask
                # the others out first (and clearing a False entry changes nothing).
                unknown = (outside & (state == _UNKNOWN)).nonzero()[0]
                if len(unknown):
                    state[unknown] = _ABSENT
                    found = phrase(list(tokens), unknown.tolist())
                    if found:
                        state[found] = _PRESENT
                outside &= state != _PRESENT
        scores[outside] = 0.0

    def _phrase_state(self, tokens: tuple[str, ...]) -> npt.NDArray[np.int8]:
        """What is known of each document and the phrase ``tokens`` (kept until the next write)."""
        state = self._phrases.get(tokens)
        if state is None:
            if (len(self._phrases) + 1) * self._size > _PHRASE_BYTES:
                self._phrases.clear()  # bounded: start over rather than grow
            distinct = list(dict.fromkeys(tokens))
            holding = np.concatenate([self.holders(token) for token in distinct])
            every = np.bincount(holding, minlength=self._size) == len(distinct)
            state = np.where(every, _UNKNOWN, _LACKS).astype(np.int8)
            self._phrases[tokens] = state
        return state

    def keep(self, scores: Scores, allowed: Collection[int]) -> None:
        """Zero the scores of every document number not in ``allowed``."""
        mask = np.ones(self._size, np.bool_)
        if allowed:
            mask[np.fromiter(allowed, np.intp, len(allowed))] = False
        scores[mask] = 0.0

    def drop(self, scores: Scores, excluded: Collection[int]) -> None:
        """Zero the scores of the document numbers in ``excluded``."""
        if excluded:
            scores[np.fromiter(excluded, np.intp, len(excluded))] = 0.0

    @staticmethod
    def top(scores: Scores, count: int) -> tuple[int, list[int], list[float]]:
        """How many documents are hits, and the numbers and scores of the ``count`` best of them.

        Every hit scoring as much as the count-th best is returned (ties at the cut): the caller
        settles ties by id. With many hits the cut comes from partitioning the whole vector (every
        hit scores above 0.0, so the cut is a hit's score), cheaper than gathering the hits first;
        with few, the hits are gathered and partitioned (a partition of mostly equal zeros is slow).
        """
        total = int(np.count_nonzero(scores))
        if count <= 0 or not total:
            return total, [], []
        # The array methods, not numpy's module-level wrappers (np.partition copies, then calls the
        # method; np.flatnonzero ravels, then calls nonzero): a few µs less on every query.
        if count < total and total * _FEW_HITS >= len(scores):
            last = len(scores) - count
            ordered = scores.copy()
            ordered.partition(last)
            numbers = (scores >= ordered[last]).nonzero()[0]
            return total, numbers.tolist(), scores[numbers].tolist()
        numbers = scores.nonzero()[0]
        values = scores[numbers]
        if count < total:
            ordered = values.copy()
            ordered.partition(total - count)
            keep = values >= ordered[total - count]
            numbers, values = numbers[keep], values[keep]
        return total, numbers.tolist(), values.tolist()


def as_dict(scores: Scores) -> dict[int, float]:
    """The hits as ``{document number: score}``."""
    numbers = scores.nonzero()[0]
    return dict(zip(numbers.tolist(), scores[numbers].tolist(), strict=True))
