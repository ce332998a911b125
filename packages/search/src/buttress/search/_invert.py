"""The numpy engine's bulk write (extra ``fast``): a batch of ASCII texts inverted without token strs.

The default `Analyzer` turns ASCII text into tokens by one byte table (a word byte lowered, any
other byte a space) and a split on spaces. Here the whole batch goes through that table at once and
numpy finds the words in the bytes: each word is read as up to ``8 x width`` bytes (little-endian
``uint64`` columns, masked past its end), so two words are equal exactly when their columns are. The
columns are mixed into one sort key (a hash, with the word's position in its low bits), and one sort
groups equal words together, each group in order of position, which is document order. Every group
is then checked against its first word column by column: a hash collision between two different
words is detected, never merged, and the caller falls back to counting token by token (`None`).

A str is made for each distinct word only, not for each occurrence: that, and no hash or dict insert
per token, is what the batch saves over tokenising and counting document by document. The postings
come out as the counting way builds them: per term, the holders in ascending order with the term's
frequency in each; stop words are dropped before anything is counted.
"""

from __future__ import annotations

from collections.abc import Set

import numpy as np
import numpy.typing as npt

from ._analysis import _ASCII_FOLD

__all__ = ["Inverted", "Postings", "invert_ascii"]


class Postings:
    """A batch's document-term pairs in term order: term ``i``'s are ``edges[i]:edges[i + 1]``.

    A term's lists are made when they are first asked for (`take`), so a term never read costs
    no list objects.
    """

    __slots__ = ("_edges", "_frequencies", "_holders")

    def __init__(
        self, edges: list[int], holders: npt.NDArray[np.int64], frequencies: npt.NDArray[np.int64]
    ) -> None:
        self._edges = edges
        self._holders = holders
        self._frequencies = frequencies

    def take(self, position: int) -> tuple[list[int], list[int]]:
        """The holders (ascending) of the batch's term ``position`` and its frequency in each."""
        start, end = self._edges[position], self._edges[position + 1]
        return self._holders[start:end].tolist(), self._frequencies[start:end].tolist()

    def lists(self) -> tuple[list[int], list[int], list[int]]:
        """The edges, every pair's holder and every pair's frequency, as lists (to take many terms)."""
        return self._edges, self._holders.tolist(), self._frequencies.tolist()


type Inverted = tuple[list[int], list[int], list[str], Postings, list[int]]
"""``(numbers, lengths, terms, postings, distinct)``: the documents that hold a token with their
token counts, the batch's terms, their postings (term ``i`` at position ``i``), and per document
(in ``numbers``' order) how many distinct terms it holds."""

_SPACE = 32
_MAX_WIDTH = 8
"""Words longer than ``8 x 8`` bytes in a batch: the batch is counted token by token instead."""
_MASKS = np.array([(1 << (8 * size)) - 1 for size in range(9)], np.uint64)
"""``_MASKS[n]`` keeps the low ``n`` bytes of a ``uint64`` (a word's first ``n`` bytes)."""
_MIX = np.array(
    [
        *(0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93),
        *(0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9),
    ],
    np.uint64,
)
"""Odd multipliers, one per column: the hash that orders the words (any collision is caught)."""


def invert_ascii(nums: list[int], texts: list[str], stop_words: Set[str]) -> Inverted | None:
    """Tokenise and invert ``texts`` (documents ``nums``, ascending) as the default `Analyzer` would.

    Returns None when the batch is not for this path (a text is not ASCII, a word is longer than 64
    bytes, more than 2**31 bytes) or two different words collided in the hash: the caller then
    tokenises and counts document by document, with the same result.
    """
    joined = " ".join(texts)
    if not joined.isascii() or len(joined) >= 2**31:
        return None
    folded = joined.encode("ascii").translate(_ASCII_FOLD)
    size = len(folded)
    word = np.frombuffer(folded, np.uint8) != _SPACE
    edges = np.empty(size + 1, np.bool_)
    edges[0] = word[0] if size else False
    np.not_equal(word[1:], word[:-1], out=edges[1:size])
    edges[size] = word[-1] if size else False
    bounds = edges.nonzero()[0]
    starts, ends = bounds[0::2], bounds[1::2]
    if not len(starts):
        return None
    lengths = ends - starts
    width = (int(lengths.max()) + 7) // 8
    if width > _MAX_WIDTH:
        return None
    # Text i ends where text i + 1 starts, after a separator: its words are those starting before.
    offsets = np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1)
    before = starts.searchsorted(offsets)
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), np.diff(before, prepend=0))
    columns = _columns(folded, starts, lengths, width)
    grouped = _group(columns, len(starts))
    if grouped is None:
        return None
    return _postings(nums, folded, (starts, ends, owner), grouped, stop_words)


def _columns(
    folded: bytes, starts: npt.NDArray[np.intp], lengths: npt.NDArray[np.intp], width: int
) -> list[npt.NDArray[np.uint64]]:
    """Each word's bytes as ``width`` little-endian ``uint64`` columns, zero past the word's end."""
    padded = folded + bytes(8 * width)
    # A uint64 at every byte offset (unaligned, overlapping): word k's i-th column is one read.
    view = np.ndarray((len(folded) + 8 * (width - 1) + 1,), np.dtype("<u8"), padded, 0, (1,))
    columns = [view[starts] & _MASKS[np.minimum(lengths, 8)]]
    for column in range(1, width):
        # Only the words longer than 8 x column bytes have anything in this column.
        longer = (lengths > 8 * column).nonzero()[0]
        values = np.zeros(len(starts), np.uint64)
        left = np.minimum(lengths[longer] - 8 * column, 8)
        values[longer] = view[starts[longer] + 8 * column] & _MASKS[left]
        columns.append(values)
    return columns


def _group(
    columns: list[npt.NDArray[np.uint64]], count: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]] | None:
    """Sort the words so equal ones are adjacent, in position order.

    Returns the order, where each group starts in it, and each sorted word's group; None when two
    different words share a group (a hash collision).
    """
    shift = max(count - 1, 1).bit_length()
    mixed = columns[0] * _MIX[0]
    for column, factor in zip(columns[1:], _MIX[1:], strict=False):
        mixed ^= column * factor
    mixed ^= mixed >> np.uint64(31)
    mixed *= _MIX[4]
    mixed ^= mixed >> np.uint64(29)
    keys = (mixed >> np.uint64(shift)) << np.uint64(shift)
    keys |= np.arange(count, dtype=np.uint64)
    keys.sort()
    order = (keys & np.uint64((1 << shift) - 1)).astype(np.intp)
    hashes = keys >> np.uint64(shift)
    first = np.empty(count, np.bool_)
    first[0] = True
    np.not_equal(hashes[1:], hashes[:-1], out=first[1:])
    for column in columns:
        ordered = column[order]
        # Within a group every word equals the one before it.
        if not (first[1:] | (ordered[1:] == ordered[:-1])).all():
            return None
    group_of = first.cumsum()
    group_of -= 1
    return order, first.nonzero()[0], group_of


def _postings(
    nums: list[int],
    folded: bytes,
    words: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]],
    grouped: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]],
    stop_words: Set[str],
) -> Inverted:
    """From the grouped words: the documents' lengths and each term's holders and frequencies.

    ``words`` are each word's start, end and document position; ``grouped`` is `_group`'s answer.
    """
    starts, ends, owner = words
    order, groups, group_of = grouped
    first_word = order[groups]
    text = folded.decode("ascii")
    terms = [
        text[start:end]
        for start, end in zip(starts[first_word].tolist(), ends[first_word].tolist(), strict=True)
    ]
    documents = owner[order]
    if stop_words and not stop_words.isdisjoint(terms):
        stopped = np.fromiter(map(stop_words.__contains__, terms), np.bool_, len(terms))
        kept = ~stopped[group_of]
        group_of, documents = group_of[kept], documents[kept]
        terms = [term for term in terms if term not in stop_words]
        group_of = (np.cumsum(~stopped) - 1)[group_of]
    total = len(group_of)
    # Runs of one term in one document (the words are in position order within a term).
    pair = np.empty(total, np.bool_)
    if total:
        pair[0] = True
    np.logical_or(group_of[1:] != group_of[:-1], documents[1:] != documents[:-1], out=pair[1:])
    pair_starts = pair.nonzero()[0]
    frequencies = np.diff(pair_starts, append=total)
    pair_documents = documents[pair_starts]
    pair_terms = group_of[pair_starts]
    edges = pair_terms.searchsorted(np.arange(len(terms) + 1)).tolist()
    number = np.asarray(nums, np.int64)
    per_document = np.bincount(documents, minlength=len(nums))
    distinct = np.bincount(pair_documents, minlength=len(nums))
    present = per_document.nonzero()[0]
    return (
        number[present].tolist(),
        per_document[present].tolist(),
        terms,
        Postings(edges, number[pair_documents], frequencies),
        distinct[present].tolist(),
    )
