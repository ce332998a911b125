"""`MemorySearch`: the embedded engine (inverted index, BM25, exact facets, file persistence)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import heapq
import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from itertools import chain
from operator import itemgetter
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final, Literal, Self

from ._analysis import Analyzer
from ._cursor import decode_cursor, encode_cursor, encode_score_cursor
from ._filters import check_number
from ._highlight import Highlighter
from ._metrics import DOCUMENTS_INDEXED, INDEX_DURATION, QUERIES, QUERY_DURATION, timed
from ._plan import TextPlan
from ._query import And, Exists, Filter, Not, Or, Range, SearchQuery, Sort, Term, Terms
from ._schema import Schema, check_ids
from ._types import FacetCount, NumericStats, SearchHit, SearchResult, make_hit, make_plain_hits, make_result
from .exceptions import (
    IndexFileError,
    MissingExtraError,
    SearchConfigurationError,
    SearchError,
    SearchTypeError,
)

if TYPE_CHECKING:
    from ._invert import Postings
    from ._vector import Scores, VectorScorer

__all__ = ["MemorySearch"]

try:  # the C helper behind Counter, without Counter's per-call overhead
    from collections import _count_elements as _count  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - other Python implementations

    def _count(mapping: dict[str, int], tokens: Iterable[str]) -> None:
        for token in tokens:
            mapping[token] = mapping.get(token, 0) + 1


FORMAT = "buttress-search-memory-index"
FORMAT_VERSION = 1

type Document = dict[str, Any]
type Engine = Literal["auto", "python", "numpy"]


_ANALYSED_SIZE: Final = 65_536
"""How many analysed query words and phrases a `MemorySearch` remembers (then it starts over)."""
_ANALYSED_LENGTH: Final = 64
"""The longest query part (in characters) that is remembered once analysed."""

_INVERT_BYTES: Final = 131_072
"""A numpy-engine write of at least this many characters of text is inverted in numpy as one batch.

Below it, numpy's cost per call and per term (a batch of a few hundred short documents holds few
pairs per term) outweighs counting document by document."""

_PROVIDER: Final = {"search.provider": "memory"}
_INDEX: Final = {"search.provider": "memory", "search.operation": "index"}
_DELETE: Final = {"search.provider": "memory", "search.operation": "delete"}


class _Descending:
    """Wraps a str so that it sorts in reverse (for a descending keyword sort)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:  # noqa: ANN401 - any comparable value
        self.value = value

    def __lt__(self, other: _Descending) -> bool:
        return bool(self.value > other.value)

    def __gt__(self, other: _Descending) -> bool:
        return bool(self.value < other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash(self.value)


def _component(value: object, descending: bool) -> tuple[int, Any]:
    """One ascending-comparable part of a sort key; a missing value sorts last either way."""
    if value is None:
        return (1, 0)
    if isinstance(value, str):
        return (0, _Descending(value) if descending else value)
    number = float(value)  # type: ignore[arg-type]
    return (0, -number if descending else number)


class MemorySearch:
    """An in-process search index: BM25 over an inverted index, exact facets, persistence to a file.

    **Scoring.** Each searchable field has its own inverted index and its own BM25 statistics; a
    document's score is the weighted sum over fields of the field's BM25 score (the "most fields"
    combination, not BM25F's pooled term frequency), with Lucene's formula::

        idf(t)   = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))
        bm25(t)  = idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl))

    where, per field, ``N`` is the number of documents holding the field, ``n(t)`` of those holding
    ``t``, ``dl`` the document's token count and ``avgdl`` the mean over ``N``. Unlike Lucene, ``dl``
    is exact rather than a one-byte approximation. A query term repeated counts as many times.

    **Matching.** ``match="all"`` keeps documents holding every term (in any searchable field) and
    every phrase (as consecutive tokens within one field); ``"any"`` keeps those holding at least one.
    A term the analyzer splits into several tokens (``e-mail``) acts as a phrase. Excluded terms and
    phrases remove documents. A query whose words are all stop words matches nothing. Ties in score
    are broken by id, so pages and cursors are stable. With a `Sort`, ties in the sort fields are
    broken by id alone, so a cursor over a sorted query is stable under concurrent writes; a cursor
    over relevance order carries the last score, and writes in between change BM25's statistics
    (and so the scores): such pages may then repeat or skip a hit, as with any relevance cursor.

    **Speed.** The per-term, per-document BM25 contributions are computed once after a write (lazily,
    term by term, at a term's first query) and kept. The ``"python"`` engine merges them as dicts and
    ranks with `heapq`; the ``"numpy"`` engine (extra ``fast``) keeps each term's contributions as
    arrays (a dense vector for a term most documents hold), so a query of any length is one vector
    sum in the query's order plus a partition: the same float64 operations in the same order, so
    both engines return identical scores, hits, totals and cursors. The numpy engine answers the
    queries that match ``"any"`` group; ``match="all"``, a minimum above one and text-less queries
    take the dict path on either engine. A phrase is checked in a candidate document by analysing
    its stored text again, once: the tokens are then kept (the index's own strings) until the
    document is replaced or deleted, and the numpy engine keeps each phrase's answers until the next
    write (at most 64 MiB of them, a byte per document and phrase). A query's words are analysed
    once and remembered (up to 65,536 of them, then it starts over). Writes and queries run on the
    event loop without awaiting, so each is atomic with respect to other tasks.

    Args:
        schema: The fields and their uses.
        analyzer: How text becomes tokens (default: NFKC, case folding, Unicode words).
        k1: BM25 term-frequency saturation (Lucene's default 1.2).
        b: BM25 length normalisation, 0..1 (Lucene's default 0.75).
        marks: The strings put around a highlighted word.
        escape_html: Whether highlight fragments are HTML-escaped (the marks are not), so they can be
            inserted in a page as they are.
        fragment_size: About how many characters a highlight fragment has.
        max_fragments: At most this many fragments per field.
        engine: ``"auto"`` (default): ``"numpy"`` when numpy is installed (extra ``fast``), else
            ``"python"``; ``"numpy"`` raises `MissingExtraError` without it. The chosen one is
            ``engine`` on the instance.

    Raises:
        SearchConfigurationError: A bad ``k1``, ``b``, highlight option or ``engine``.
        MissingExtraError: ``engine="numpy"`` without numpy.
    """

    def __init__(
        self,
        schema: Schema,
        *,
        analyzer: Analyzer | None = None,
        k1: float = 1.2,
        b: float = 0.75,
        marks: tuple[str, str] = ("<mark>", "</mark>"),
        fragment_size: int = 160,
        max_fragments: int = 3,
        escape_html: bool = False,
        engine: Engine = "auto",
    ) -> None:
        if not isinstance(schema, Schema):
            raise SearchTypeError("schema", "a Schema", schema)
        analyzer = Analyzer() if analyzer is None else analyzer
        if not isinstance(analyzer, Analyzer):
            raise SearchTypeError("analyzer", "an Analyzer", analyzer)
        if check_number("k1", k1) < 0:
            raise SearchConfigurationError("k1", k1, "must be a finite number >= 0")
        if not 0 <= check_number("b", b) <= 1:
            raise SearchConfigurationError("b", b, "must be between 0 and 1")
        self._highlighter = Highlighter(
            analyzer,
            marks=marks,
            fragment_size=fragment_size,
            max_fragments=max_fragments,
            escape_html=escape_html,
        )
        self.schema = schema
        self.analyzer = analyzer
        self.k1 = float(k1)
        self.b = float(b)
        self.marks = self._highlighter.marks
        self.escape_html = escape_html
        self.fragment_size = self._highlighter.fragment_size
        self.max_fragments = self._highlighter.max_fragments
        self._weights = dict(schema.searchable)
        self.engine = _engine(engine)
        self._columnar = self.engine == "numpy"
        self._analysed: dict[str, tuple[str, ...]] = {}
        self._clear()

    def _analyse(self, part: str) -> tuple[str, ...]:
        """``analyzer.tokens(part)`` for a query's word or phrase, remembered (the analyzer is fixed)."""
        found = self._analysed.get(part)
        if found is None:
            found = tuple(self.analyzer.tokens(part))
            if len(part) <= _ANALYSED_LENGTH:
                if len(self._analysed) >= _ANALYSED_SIZE:
                    self._analysed.clear()  # a vocabulary this large: start over rather than grow
                self._analysed[part] = found
        return found

    def _plan(self, query: SearchQuery) -> TextPlan:
        """``plan_text(query, self.analyzer)``, from the remembered analyses (the same plan)."""
        parsed, known, analyse = query.parsed, self._analysed.get, self._analyse
        # A stop word's () is falsy: it is looked up again (remembered too), then dropped.
        positive = tuple([found for part in parsed.positive if (found := known(part) or analyse(part))])
        excluded = tuple([found for part in parsed.excluded if (found := known(part) or analyse(part))])
        if query.match == "any" and query.minimum_should_match is None:
            required = 1 if positive else 0  # `SearchQuery.required`'s rule for this case
        else:
            required = query.required(len(positive))
        return TextPlan(bool(parsed.terms or parsed.phrases), positive, excluded, required)

    def _clear(self) -> None:
        self._num: dict[str, int] = {}
        self._ids: list[str] = []
        self._docs: list[Document | None] = []
        self._live: set[int] = set()
        # Token counts per field and document. Phrases are verified by analysing the stored text
        # again (only for candidates holding every word) and keeping its tokens: no positions are
        # stored at indexing.
        self._lengths: dict[str, dict[int, int]] = {name: {} for name in self._weights}
        # Postings are lists of document numbers, appended to on writes; a delete leaves its numbers
        # behind (counted in _garbage) and readers skip them, compacting a list as they read it and
        # every list once half of all entries are dead. A document counted on its own keeps its
        # term frequencies (_freqs, the counts made anyway). The numpy engine also keeps them
        # beside the postings (_tfs): a batch inverted at once in numpy gives them as whole lists
        # and keeps no per-document counts, only how many distinct terms each document holds
        # (_distinct). A term's _tfs list covers the first numbers of its postings; the rest are
        # looked up in _freqs when the term is read (see _complete).
        self._postings: dict[str, dict[str, list[int]]] = {name: {} for name in self._weights}
        self._freqs: dict[str, dict[int, dict[str, int]]] = {name: {} for name in self._weights}
        self._tfs: dict[str, dict[str, list[int]]] = {name: {} for name in self._weights}
        self._distinct: dict[str, dict[int, int]] = {name: {} for name in self._weights}
        # The numpy engine's last batch inverted at once: the terms it brought to a field are in
        # _lazy (term -> position in the batch) until read or written again (see _settle).
        self._lazy: dict[str, dict[str, int]] = {name: {} for name in self._weights}
        self._pending: dict[str, Postings | None] = dict.fromkeys(self._weights)
        # The token sequences of the documents a phrase was checked in (see _sequence).
        self._sequences: dict[str, dict[int, list[str]]] = {name: {} for name in self._weights}
        self._entries = 0
        self._garbage = 0
        self._length_sum: dict[str, int] = dict.fromkeys(self._weights, 0)
        self._values: dict[str, dict[int, Any]] = {name: {} for name in self.schema.fields}
        self._value_index: dict[str, dict[Any, set[int]]] = {name: {} for name in self.schema.fields}
        self._invalidate()

    def _invalidate(self) -> None:
        self._impacts: dict[str, dict[int, float]] = {}
        self._norms: dict[str, dict[int, float]] = {}
        self._vectors: VectorScorer | None = None

    def __len__(self) -> int:
        """The number of documents in the index."""
        return len(self._live)

    # -- writes --------------------------------------------------------------------------------

    async def index(self, documents: Iterable[Mapping[str, Any]]) -> None:
        """Add or replace documents by id; all or nothing (a bad document raises, none is written).

        Raises:
            InvalidDocumentError: A document lacks its id or holds a value of the wrong type.
        """
        self.index_now(documents)

    def index_now(self, documents: Iterable[Mapping[str, Any]]) -> None:
        """`index`, synchronously (for loading and for code that is not async)."""
        with timed(INDEX_DURATION, _INDEX):
            added = self._index(documents)
        DOCUMENTS_INDEXED.add(added, _PROVIDER)

    def _index(self, documents: Iterable[Mapping[str, Any]]) -> int:
        if isinstance(documents, Mapping) or not isinstance(documents, Iterable):
            raise SearchTypeError("documents", "an iterable of documents", documents)
        split = self.schema.split
        prepared = [(split(document), document) for document in documents]
        if not prepared:
            return 0
        latest: dict[str, int] = {}
        for position, ((doc_id, _, _), _) in enumerate(prepared):
            latest[doc_id] = position
        ids, docs, numbers, live = self._ids, self._docs, self._num, self._live
        added: list[tuple[int, dict[str, str]]] = []
        for position, ((doc_id, texts, values), document) in enumerate(prepared):
            if latest[doc_id] != position:
                continue  # a later document in the same call replaces it
            old = numbers.get(doc_id)
            if old is not None:
                self._remove(old)
            num = len(ids)
            ids.append(doc_id)
            docs.append(dict(document))
            numbers[doc_id] = num
            live.add(num)
            added.append((num, texts))
            if values:
                self._add_values(num, values)
        if (
            self._columnar
            and sum(len(text) for _, texts in added for text in texts.values()) >= _INVERT_BYTES
        ):
            # A large write: each field's texts are tokenised and inverted together (_add_texts).
            gathered: dict[str, tuple[list[int], list[str]]] = {name: ([], []) for name in self._weights}
            for num, texts in added:
                for name, text in texts.items():
                    nums, batch = gathered[name]
                    nums.append(num)
                    batch.append(text)
            entries = sum(
                self._add_texts(name, nums, batch) for name, (nums, batch) in gathered.items() if nums
            )
        else:
            entries = self._add_counted(added)
        self._entries += entries
        self._invalidate()
        self._collect()
        return len(latest)

    def _add_texts(self, name: str, nums: list[int], texts: list[str]) -> int:
        """The numpy engine's large write of field ``name``: documents ``nums`` (ascending), ``texts``.

        ASCII text under the default analysis (any stop words, no stemmer) is tokenised and
        inverted at once in numpy (`invert_ascii`); anything else is counted document by document
        (`_add_counted`). Either way each term's postings get the same numbers in the same
        (ascending) order, with the same frequencies. The terms new to the field wait in _lazy
        until read or written again. Returns how many document-term pairs were added.
        """
        analyzer = self.analyzer
        inverted = None
        if analyzer.stemmer is None and type(analyzer).tokens is Analyzer.tokens:
            from ._invert import invert_ascii  # noqa: PLC0415 - numpy is an optional extra

            inverted = invert_ascii(nums, texts, analyzer.stop_words)
        if inverted is None:
            return self._add_counted([(num, {name: text}) for num, text in zip(nums, texts, strict=True)])
        held, lengths, terms, batch, distinct = inverted
        self._lengths[name].update(zip(held, lengths, strict=True))
        self._length_sum[name] += sum(lengths)
        self._distinct[name].update(zip(held, distinct, strict=True))
        self._settle_all(name)  # the previous batch's terms first: postings stay in order
        postings, lazy = self._postings[name], self._lazy[name]
        self._pending[name] = batch
        if postings.keys().isdisjoint(terms):  # every term new to the field (a first load): in C
            lazy.update(zip(terms, range(len(terms)), strict=True))
            return sum(distinct)
        edges, holders, frequencies = batch.lists()
        get, known_of = postings.get, self._tfs[name].get
        for position, term in enumerate(terms):
            found = get(term)
            if found is None:
                lazy[term] = position
                continue
            known = known_of(term)
            if known is None or len(known) < len(found):
                known = self._complete(name, term, found)
            start, end = edges[position], edges[position + 1]
            found += holders[start:end]
            known += frequencies[start:end]
        return sum(distinct)

    def _settle(self, name: str, term: str) -> list[int] | None:
        """Make the lists of a term of the last batch inverted at once; None: not such a term."""
        lazy = self._lazy[name]
        position = lazy.pop(term, None)
        batch = self._pending[name]
        if position is None or batch is None:
            return None
        holders, self._tfs[name][term] = batch.take(position)
        self._postings[name][term] = holders
        if not lazy:
            self._pending[name] = None
        return holders

    def _settle_all(self, name: str) -> None:
        """`_settle` every term still waiting in field ``name``."""
        lazy, batch = self._lazy[name], self._pending[name]
        if batch is not None and lazy:
            postings, tfs = self._postings[name], self._tfs[name]
            edges, holders, frequencies = batch.lists()
            for term, position in lazy.items():
                start, end = edges[position], edges[position + 1]
                postings[term], tfs[term] = holders[start:end], frequencies[start:end]
        lazy.clear()
        self._pending[name] = None

    def _complete(self, name: str, term: str, found: list[int]) -> list[int]:
        """The numpy engine's frequencies of ``term`` for all of ``found`` (its postings), kept.

        The numbers written by counting have theirs in _freqs; a dead one (no longer there) gets
        0, and compaction drops it with its number.
        """
        tfs = self._tfs[name]
        known = tfs.get(term)
        if known is None:
            known = tfs[term] = []
        if len(known) < len(found):
            freqs = self._freqs[name]
            known += [freqs[num][term] if num in freqs else 0 for num in found[len(known) :]]
        return known

    def _add_counted(self, added: list[tuple[int, dict[str, str]]]) -> int:
        """A write document by document: each one's terms counted, its number appended to theirs.

        Returns how many document-term pairs were added.
        """
        tokenize = self.analyzer.tokens
        lengths_of, postings_of, freqs_of, length_sum, lazy_of = (
            self._lengths,
            self._postings,
            self._freqs,
            self._length_sum,
            self._lazy,
        )
        entries = 0
        for num, texts in added:
            for name, text in texts.items():
                tokens = tokenize(text)
                if not tokens:
                    continue
                lengths_of[name][num] = length = len(tokens)
                length_sum[name] += length
                get, lazy = postings_of[name].get, lazy_of[name]
                frequencies: dict[str, int] = {}
                _count(frequencies, tokens)
                freqs_of[name][num] = frequencies
                entries += len(frequencies)
                for term in frequencies:
                    holders = get(term)
                    # A term of the numpy engine's last large write gets its lists first.
                    if holders is None and (not lazy or (holders := self._settle(name, term)) is None):
                        postings_of[name][term] = [num]
                    else:
                        holders.append(num)
        return entries

    def _add_values(self, num: int, values: dict[str, Any]) -> None:
        for name, value in values.items():
            self._values[name][num] = value
            index = self._value_index[name]
            for item in value if isinstance(value, list) else (value,):
                index.setdefault(item, set()).add(num)

    async def delete(self, ids: Iterable[str]) -> int:
        """Remove documents by id; return how many existed.

        Raises:
            SearchTypeError: ``ids`` is not an iterable of str.
            SearchConfigurationError: An id could never be a document's (see `Schema.split`).
        """
        return self.delete_now(ids)

    def delete_now(self, ids: Iterable[str]) -> int:
        """`delete`, synchronously."""
        with timed(INDEX_DURATION, _DELETE):
            return self._delete(ids)

    def _delete(self, ids: Iterable[str]) -> int:
        wanted = check_ids(ids)
        removed = 0
        for doc_id in wanted:
            num = self._num.get(doc_id)
            if num is not None:
                self._remove(num)
                removed += 1
        if removed:
            self._invalidate()
            self._collect()
        return removed

    def _remove(self, num: int) -> None:
        del self._num[self._ids[num]]
        self._docs[num] = None
        self._live.discard(num)
        for name, by_doc in self._lengths.items():
            length = by_doc.pop(num, None)
            if length is None:
                continue
            self._length_sum[name] -= length
            counted = self._distinct[name].pop(num, None)
            self._garbage += counted if counted is not None else len(self._freqs[name].pop(num))
            self._sequences[name].pop(num, None)
        for name, values in self._values.items():
            value = values.pop(num, None)
            if value is None:
                continue
            index = self._value_index[name]
            for item in value if isinstance(value, list) else (value,):
                holders = index[item]
                holders.discard(num)
                if not holders:
                    del index[item]

    def _collect(self) -> None:
        """Drop dead numbers from every postings list once they are half of all entries."""
        if self._garbage * 2 <= self._entries:
            return
        for name, postings in self._postings.items():
            self._settle_all(name)
            lengths = self._lengths[name]
            for term in list(postings):
                if self._columnar:
                    self._compact(name, term)
                    continue
                live = [num for num in postings[term] if num in lengths]
                if live:
                    postings[term] = live
                else:
                    del postings[term]
        self._entries -= self._garbage
        self._garbage = 0

    def _compact(self, name: str, term: str) -> int:
        """Drop a term's dead numbers and their frequencies (numpy engine); return how many went."""
        postings, tfs, lengths = self._postings[name], self._tfs[name], self._lengths[name]
        found = postings[term]
        frequencies = self._complete(name, term, found)
        kept = [(num, tf) for num, tf in zip(found, frequencies, strict=True) if num in lengths]
        dropped = len(found) - len(kept)
        if not kept:
            del postings[term], tfs[term]
        elif dropped:
            live, counts = zip(*kept, strict=True)
            postings[term], tfs[term] = list(live), list(counts)
        return dropped

    def _live_pairs(self, name: str, term: str) -> tuple[list[int], list[int]] | None:
        """The numpy engine's `_live_postings` with the frequencies, in the same order."""
        postings = self._postings[name]
        found = postings.get(term)
        if found is None and (found := self._settle(name, term)) is None:
            return None
        if self._garbage:
            dropped = self._compact(name, term)
            self._garbage -= dropped
            self._entries -= dropped
            if term not in postings:
                return None
            found = postings[term]
        return found, self._complete(name, term, found)

    def _live_postings(self, name: str, term: str) -> list[int] | None:
        """The numbers of the live documents whose field ``name`` holds ``term`` (None: none)."""
        if self._columnar:
            pairs = self._live_pairs(name, term)
            return None if pairs is None else pairs[0]
        postings = self._postings[name]
        found = postings.get(term)
        if found is None or not self._garbage:
            return found
        lengths = self._lengths[name]
        live = [num for num in found if num in lengths]
        if len(live) != len(found):
            self._garbage -= len(found) - len(live)
            self._entries -= len(found) - len(live)
            if not live:
                del postings[term]
                return None
            postings[term] = live
        return live

    # -- scoring -------------------------------------------------------------------------------

    def _norm(self, name: str) -> dict[int, float]:
        norms = self._norms.get(name)
        if norms is None:
            base, slope, by_doc = self._norm_terms(name)
            norms = self._norms[name] = {num: base + slope * length for num, length in by_doc.items()}
        return norms

    def _norm_terms(self, name: str) -> tuple[float, float, dict[int, int]]:
        """A field's BM25 length norm is ``base + slope * length``: ``(base, slope, lengths)``."""
        by_doc = self._lengths[name]
        average = self._length_sum[name] / len(by_doc) if by_doc else 1.0
        return self.k1 * (1 - self.b), self.k1 * self.b / average, by_doc

    def _term_postings(self, term: str) -> list[tuple[str, float, list[int], list[int]]]:
        """Per searchable field holding ``term``: its name, weight x IDF, holders and frequencies."""
        found = []
        for name, weight in self._weights.items():
            pairs = self._pairs(name, term)
            if pairs is None:
                continue
            postings, frequencies = pairs
            total, holding = len(self._lengths[name]), len(postings)
            factor = weight * math.log(1 + (total - holding + 0.5) / (holding + 0.5))
            found.append((name, factor, postings, frequencies))
        return found

    def _pairs(self, name: str, term: str) -> tuple[list[int], list[int]] | None:
        """The live holders of ``term`` in field ``name`` and its frequency in each (None: none)."""
        if self._columnar:
            return self._live_pairs(name, term)
        postings = self._live_postings(name, term)
        if not postings:
            return None
        return postings, list(map(itemgetter(term), map(self._freqs[name].__getitem__, postings)))

    def _impact(self, term: str) -> dict[int, float]:
        """Every document holding ``term`` with its weighted BM25 contribution (cached until a write)."""
        impact = self._impacts.get(term)
        if impact is None:
            impact = self._impacts[term] = self._compute_impact(term)
        return impact

    def _compute_impact(self, term: str) -> dict[int, float]:
        """`_impact`, computed afresh (the numpy scorer computes arrays instead)."""
        impact: dict[int, float] = {}
        for name, weight in self._weights.items():
            pairs = self._pairs(name, term)
            if pairs is None:
                continue
            postings, frequencies = pairs
            total, holding = len(self._lengths[name]), len(postings)
            factor = weight * math.log(1 + (total - holding + 0.5) / (holding + 0.5))
            norms = self._norm(name)
            if not impact:
                impact = {
                    num: factor * tf / (tf + norms[num])
                    for num, tf in zip(postings, frequencies, strict=True)
                }
                continue
            for num, tf in zip(postings, frequencies, strict=True):
                impact[num] = impact.get(num, 0.0) + factor * tf / (tf + norms[num])
        return impact

    def _phrase(self, tokens: list[str], unsettled: Callable[[set[int]], set[int]] | None = None) -> set[int]:
        """Documents holding ``tokens`` consecutively within one searchable field.

        With ``unsettled``, only the candidates it returns are verified (and can be found): the
        caller already knows the others match.
        """
        found: set[int] = set()
        for name in self._weights:
            lists = [self._live_postings(name, token) for token in tokens]
            if any(item is None for item in lists):
                continue
            candidates = set.intersection(*(set(item) for item in lists if item is not None))
            if unsettled is not None:
                candidates = unsettled(candidates)
            found.update(num for num in candidates - found if self._holds(num, name, tokens))
        return found

    def _holds(self, num: int, name: str, tokens: list[str]) -> bool:
        """Whether document ``num``'s field ``name`` holds ``tokens`` consecutively."""
        sequence = self._sequence(num, name)
        first, width = tokens[0], len(tokens)
        end = len(sequence) - width + 1
        start = 0
        while start < end:
            try:
                start = sequence.index(first, start, end)
            except ValueError:
                return False
            if sequence[start : start + width] == tokens:
                return True
            start += 1
        return False

    def _sequence(self, num: int, name: str) -> list[str]:
        """Document ``num``'s tokens in field ``name``, analysed at the first phrase check and kept.

        The tokens are the index's own strings (those of the document's term frequencies), so a
        kept sequence costs a pointer per token; a document of a large write inverted in numpy
        has no per-document terms, and its tokens are kept as analysed. It is dropped when the
        document is.
        """
        kept = self._sequences[name]
        sequence = kept.get(num)
        if sequence is None:
            tokens = self.analyzer.tokens((self._docs[num] or {})[name])
            held = self._freqs[name].get(num)
            if held is None:  # inverted in numpy: no per-document terms
                sequence = kept[num] = tokens
            else:
                canonical = dict(zip(held, held, strict=True))
                sequence = kept[num] = list(map(canonical.__getitem__, tokens))
        return sequence

    def _phrase_among(self, tokens: list[str], candidates: list[int]) -> list[int]:
        """Those of ``candidates`` (each holding every token somewhere) that hold the phrase."""
        lengths = self._lengths
        return [
            num
            for num in candidates
            if any(num in lengths[name] and self._holds(num, name, tokens) for name in self._weights)
        ]

    def _holders(self, tokens: tuple[str, ...]) -> set[int] | dict[int, float]:
        return self._impact(tokens[0]) if len(tokens) == 1 else self._phrase(list(tokens))

    def _match(self, plan: TextPlan) -> dict[int, float]:
        """The matching documents with their scores (0.0 without text), before the filter."""
        groups = plan.positive
        scores: dict[int, float]
        if not plan.has_text:
            scores = dict.fromkeys(self._live, 0.0)
        elif not groups:
            scores = {}
        elif plan.required == 1:
            scores = self._any(groups)
        else:
            scores = self._at_least(groups, plan.required)
        for tokens in plan.excluded:
            if scores:
                excluded = self._holders(tokens)
                scores = {num: score for num, score in scores.items() if num not in excluded}
        return scores

    def _any(self, groups: tuple[tuple[str, ...], ...]) -> dict[int, float]:
        """Documents holding at least one group, scored by every token they hold."""
        scores: dict[int, float] = {}
        for tokens in groups:
            for token in tokens:
                for num, value in self._impact(token).items():
                    scores[num] = scores.get(num, 0.0) + value
        if any(len(tokens) > 1 for tokens in groups):
            # The terms' holders match; a phrase is verified only where no term settled it already.
            allowed: set[int] = set()
            for tokens in groups:
                if len(tokens) == 1:
                    allowed.update(self._impact(tokens[0]))
            for tokens in groups:
                if len(tokens) > 1:
                    allowed.update(self._phrase(list(tokens), lambda found: found - allowed))
            scores = {num: score for num, score in scores.items() if num in allowed}
        return scores

    def _at_least(self, groups: tuple[tuple[str, ...], ...], required: int) -> dict[int, float]:
        """Documents holding ``required`` groups or more (all of them at most), scored like `_any`."""
        holders = [self._holders(tokens) for tokens in groups]
        if required >= len(groups):
            ordered = sorted(holders, key=len)
            candidates = set(ordered[0]).intersection(*ordered[1:])
        else:
            held: Counter[int] = Counter()
            for found in holders:
                held.update(iter(found))  # a Mapping would add its values, not count its keys
            candidates = {num for num, count in held.items() if count >= required}
        scores = dict.fromkeys(candidates, 0.0)
        for tokens in groups:
            for token in tokens:
                impact = self._impact(token)
                for num in candidates:
                    scores[num] += impact.get(num, 0.0)
        return scores

    # -- filters -------------------------------------------------------------------------------

    def _filter(self, item: Filter) -> set[int]:  # noqa: PLR0911 - one return per filter kind
        match item:
            case Term(field=name, value=value):
                return set(self._value_index[name].get(value, ()))
            case Terms(field=name, values=values):
                index = self._value_index[name]
                return set().union(*(index.get(value, ()) for value in values))
            case Range(field=name):
                return {num for num, value in self._values[name].items() if item.contains(value)}
            case Exists(field=name):
                return set(self._values[name])
            case And(filters=items):
                return set(self._live).intersection(*(self._filter(sub) for sub in items))
            case Or(filters=items):
                return set().union(*(self._filter(sub) for sub in items))
            case Not(filter=sub):
                return self._live - self._filter(sub)
        raise SearchTypeError("filter", "a filter", item)  # pragma: no cover - checked by the schema

    # -- search --------------------------------------------------------------------------------

    async def search(self, query: SearchQuery) -> SearchResult[Document]:
        """Run ``query``: hits, exact total, facets and stats over the whole filtered hit set.

        Raises:
            UnknownFieldError: The query filters, facets, sorts or asks stats on an undeclared field.
            SearchConfigurationError: A bad cursor.
        """
        return self.search_now(query)

    def search_now(self, query: SearchQuery) -> SearchResult[Document]:
        """`search`, synchronously."""
        QUERIES.add(1, _PROVIDER)
        start = perf_counter()  # `timed`, inline: a query is short enough for its cost to show
        try:
            return self._search(query)
        finally:
            QUERY_DURATION.record(perf_counter() - start, _PROVIDER)

    def _search(self, query: SearchQuery) -> SearchResult[Document]:
        self.schema.check_query(query)
        cursor = decode_cursor(query, self.schema)
        plan = self._plan(query)
        vector = self._vector_scores(plan, query.filter)
        if vector is not None:
            if cursor is None and not (query.sort or query.facets or query.stats):
                return self._vector_search(query, plan, vector)
            from ._vector import as_dict  # noqa: PLC0415 - numpy is an optional extra

            scores = as_dict(vector)
        else:
            scores = self._match(plan)
            if query.filter is not None and scores:
                allowed = self._filter(query.filter)
                if len(allowed) < len(scores):
                    scores = {num: scores[num] for num in allowed if num in scores}
                else:
                    scores = {num: score for num, score in scores.items() if num in allowed}
        total = len(scores)
        facets = {name: self._facet(name, scores) for name in query.facets}
        stats = {name: self._stats(name, scores) for name in query.stats}
        key = self._key_function(query.sort, scores)
        before = 0
        if cursor is not None:
            after = self._cursor_key(query.sort, cursor)
            remaining = {num: score for num, score in scores.items() if key(num) > after}
            before = total - len(remaining)
            page = self._top(remaining, key, query.limit, query.sort)
            more = len(remaining) > query.limit
        else:
            before = query.offset
            page = self._top(scores, key, query.offset + query.limit, query.sort)[query.offset :]
            more = query.offset + query.limit < total
        next_cursor = None
        if more and page:
            next_cursor = encode_cursor(query, self._raw_key(query.sort, page[-1], scores))
        return SearchResult(
            hits=self._hits(((num, scores[num]) for num in page), plan, query.highlight),
            total=total,
            facets=facets,
            stats=stats,
            offset=before,
            limit=query.limit,
            next_cursor=next_cursor,
        )

    def _hits(
        self, page: Iterable[tuple[int, float]], plan: TextPlan, highlight: bool
    ) -> tuple[SearchHit[Document], ...]:
        terms = plan.tokens if highlight else set()
        highlights = self._highlighter.highlights
        docs, ids, weights = self._docs, self._ids, self._weights
        if not terms:
            return make_plain_hits([(ids[num], score, dict(docs[num] or {})) for num, score in page])
        return tuple(
            [
                make_hit(ids[num], score, dict(docs[num] or {}), highlights(docs[num] or {}, weights, terms))
                for num, score in page
            ]
        )

    def _vector_scores(self, plan: TextPlan, where: Filter | None) -> Scores | None:
        """The numpy engine's scores of an "any" query (0.0: not a hit); None: the dict path answers."""
        if self.engine != "numpy" or plan.required != 1 or not plan.positive:
            return None
        vectors = self._vectors
        if vectors is None:
            from ._vector import VectorScorer  # noqa: PLC0415 - numpy is an optional extra

            vectors = self._vectors = VectorScorer(len(self._ids), self._term_postings, self._norm_terms)
        groups = plan.positive
        scores = vectors.scores(chain.from_iterable(groups))
        if scores is None:
            return None
        if max(map(len, groups)) > 1:
            vectors.restrict(scores, groups, self._phrase_among)
        for tokens in plan.excluded:
            vectors.drop(scores, self._holders(tokens))
        if where is not None:
            vectors.keep(scores, self._filter(where))
        return scores

    def _vector_search(self, query: SearchQuery, plan: TextPlan, scores: Scores) -> SearchResult[Document]:
        """A relevance-ordered page without facets, stats or cursor, straight from the score vector."""
        vectors = self._vectors
        assert vectors is not None  # noqa: S101 - _vector_scores made it
        count = query.offset + query.limit
        total, numbers, values = vectors.top(scores, count)
        page: list[tuple[int, float]] = []
        ids = self._ids
        if numbers:
            # Tuples compare in C: best score first (negated exactly), then the id settles ties.
            keys = zip([-value for value in values], [ids[num] for num in numbers], numbers, strict=True)
            ranked = sorted(keys)
            page = [(num, -negated) for negated, _, num in ranked[query.offset : count]]
        next_cursor = None
        if count < total and page:
            last, score = page[-1]
            next_cursor = encode_score_cursor(query, score, ids[last])
        return make_result(
            self._hits(page, plan, query.highlight), total, query.offset, query.limit, next_cursor
        )

    async def count(self, query: SearchQuery | None = None) -> int:
        """Return how many documents match ``query`` (all documents when ``None``)."""
        if query is None:
            return len(self._live)
        if not isinstance(query, SearchQuery):
            raise SearchTypeError("query", "a SearchQuery or None", query)
        return self.search_now(dataclasses.replace(query, limit=0, offset=0, cursor=None)).total

    def _key_function(
        self, sort: tuple[Sort, ...], scores: dict[int, float]
    ) -> Callable[[int], tuple[Any, ...]]:
        ids = self._ids
        if not sort:
            return lambda num: (-scores[num], ids[num])
        columns = [(self._values[item.field], item.descending) for item in sort]
        return lambda num: (
            *(_component(values.get(num), descending) for values, descending in columns),
            ids[num],
        )

    def _cursor_key(self, sort: tuple[Sort, ...], raw: list[Any]) -> tuple[Any, ...]:
        parts = [_component(value, item.descending) for value, item in zip(raw, sort, strict=False)]
        if sort:
            return (*parts, raw[-1])
        return (-float(raw[-2]), raw[-1])

    def _raw_key(self, sort: tuple[Sort, ...], num: int, scores: dict[int, float]) -> list[Any]:
        return [*(self._values[item.field].get(num) for item in sort), scores[num], self._ids[num]]

    def _top(
        self,
        scores: dict[int, float],
        key: Callable[[int], tuple[Any, ...]],
        count: int,
        sort: tuple[Sort, ...],
    ) -> list[int]:
        if count <= 0 or not scores:
            return []
        if sort or count >= len(scores):
            return heapq.nsmallest(count, scores, key=key)
        # Relevance order: the count-th best score is the cut; every document at or above it is a
        # candidate, and ties at the cut are settled by id.
        cut = heapq.nlargest(count, scores.values())[-1]
        return sorted((num for num, score in scores.items() if score >= cut), key=key)[:count]

    # -- facets and stats ----------------------------------------------------------------------

    def _facet(self, name: str, scores: dict[int, float]) -> tuple[FacetCount, ...]:
        values = self._values[name]
        counts: Counter[Any] = Counter()
        if len(scores) > 4 * len(self._value_index[name]):
            # Few distinct values, many hits: count each value's holders among the hits.
            for value, holders in self._value_index[name].items():
                found = sum(1 for num in holders if num in scores)
                if found:
                    counts[value] = found
        else:
            for num in scores:
                value = values.get(num)
                if value is None:
                    continue
                if isinstance(value, list):
                    counts.update(value)
                else:
                    counts[value] += 1
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return tuple(FacetCount(value, count) for value, count in ordered)

    def _stats(self, name: str, scores: dict[int, float]) -> NumericStats:
        values = self._values[name]
        numbers = [values[num] for num in scores if num in values]
        if not numbers:
            return NumericStats(count=0, min=None, max=None, sum=0, avg=None)
        try:
            total = math.fsum(numbers)
            average = total / len(numbers)
        except OverflowError:  # the sum passes the largest float: ±inf, as PostgreSQL's numeric gives
            exact = sum(map(Fraction, numbers), Fraction(0))
            total = _to_float(exact)
            average = _to_float(exact / len(numbers))
        return NumericStats(count=len(numbers), min=min(numbers), max=max(numbers), sum=total, avg=average)

    # -- persistence ---------------------------------------------------------------------------

    async def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` atomically (a temporary file, fsync, then rename).

        The file holds a versioned header with a SHA-256 of the payload, then the schema, the
        analyzer, the BM25 parameters and the documents as JSON; `load` re-indexes them.

        Raises:
            IndexFileError: A document holds a value JSON cannot encode, or the write failed.
        """
        target = _path(path)
        payload = self._payload(str(target))
        await asyncio.to_thread(_write_atomically, target, payload)

    def _payload(self, path: str) -> bytes:
        body = {
            "schema": self.schema.to_dict(),
            "analyzer": self.analyzer.to_dict(),
            "k1": self.k1,
            "b": self.b,
            "documents": [document for document in self._docs if document is not None],
        }
        try:
            data = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise IndexFileError(
                path, f"a document cannot be saved as JSON: {exc}", operation="save"
            ) from exc
        header = {"format": FORMAT, "version": FORMAT_VERSION, "sha256": hashlib.sha256(data).hexdigest()}
        return json.dumps(header).encode() + b"\n" + data

    @classmethod
    async def load(
        cls,
        path: str | os.PathLike[str],
        *,
        marks: tuple[str, str] = ("<mark>", "</mark>"),
        fragment_size: int = 160,
        max_fragments: int = 3,
        escape_html: bool = False,
    ) -> Self:
        """Read an index written by `save`.

        Args:
            path: The file.
            marks: As for `MemorySearch`; the schema, analyzer, ``k1`` and ``b`` come from the file.
            fragment_size: As for `MemorySearch`.
            max_fragments: As for `MemorySearch`.
            escape_html: As for `MemorySearch`.

        Raises:
            IndexFileError: The file is missing, truncated, corrupt, not an index, or of a newer
                format version.
        """
        target = _path(path)
        # The caller's own options are checked first, so a bad one is its error, not the file's.
        Highlighter(
            Analyzer(),
            marks=marks,
            fragment_size=fragment_size,
            max_fragments=max_fragments,
            escape_html=escape_html,
        )
        raw = await asyncio.to_thread(_read, target)
        body = _decode(str(target), raw)
        try:
            schema = Schema.from_dict(body["schema"])
            analyzer = Analyzer.from_dict(body["analyzer"])
            k1, b, documents = body["k1"], body["b"], body["documents"]
            search = cls(
                schema,
                analyzer=analyzer,
                k1=k1,
                b=b,
                marks=marks,
                fragment_size=fragment_size,
                max_fragments=max_fragments,
                escape_html=escape_html,
            )
        except (KeyError, SearchError) as exc:
            raise IndexFileError(str(target), f"the index content is invalid: {exc}") from exc
        if not isinstance(documents, list):
            raise IndexFileError(str(target), "the index content is invalid: documents are not a list")
        try:
            search.index_now(documents)
        except SearchError as exc:
            raise IndexFileError(str(target), f"a saved document is invalid: {exc}") from exc
        return search


def _engine(engine: object) -> Literal["python", "numpy"]:
    if engine not in ("auto", "python", "numpy"):
        raise SearchConfigurationError("engine", engine, "must be 'auto', 'python' or 'numpy'")
    if engine == "python":
        return "python"
    try:
        import numpy  # noqa: F401, PLC0415 - the optional extra ``fast``
    except ImportError as exc:
        if engine == "numpy":
            raise MissingExtraError("MemorySearch(engine='numpy')", "fast") from exc
        return "python"
    return "numpy"


def _to_float(exact: Fraction) -> float:
    try:
        return float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


def _path(path: object) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise SearchTypeError("path", "a str or os.PathLike", path)
    name = os.fspath(path)
    if not isinstance(name, str):
        raise SearchTypeError("path", "a str path", name)
    if not name:
        raise SearchConfigurationError("path", name, "must not be empty")
    return Path(name)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IndexFileError(str(path), f"cannot be read: {exc.strerror or exc}") from exc
    except ValueError as exc:  # NUL, or a name the file system cannot encode
        raise IndexFileError(str(path), f"is not a valid path: {exc}") from exc


def _decode(path: str, raw: bytes) -> dict[str, Any]:
    head, newline, data = raw.partition(b"\n")
    try:
        header = json.loads(head)
    except ValueError as exc:
        raise IndexFileError(path, "not a buttress-search index (bad header)") from exc
    if not newline or not isinstance(header, dict) or header.get("format") != FORMAT:
        raise IndexFileError(path, "not a buttress-search index (bad header)")
    version = header.get("version")
    if version != FORMAT_VERSION:
        raise IndexFileError(path, f"format version {version!r}; this release reads version {FORMAT_VERSION}")
    if hashlib.sha256(data).hexdigest() != header.get("sha256"):
        raise IndexFileError(path, "the checksum does not match: the file is truncated or corrupt")
    try:
        body = json.loads(data)
    except ValueError as exc:  # pragma: no cover - the checksum catches damage first
        raise IndexFileError(path, "the payload is not JSON") from exc
    if not isinstance(body, dict):
        raise IndexFileError(path, "the payload is not an index")
    return body


def _write_atomically(path: Path, payload: bytes) -> None:
    directory = path.parent if str(path.parent) else Path()
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise IndexFileError(
            str(path), f"cannot be written: {exc.strerror or exc}", operation="save"
        ) from exc
    except ValueError as exc:  # NUL, or a name the file system cannot encode
        raise IndexFileError(str(path), f"is not a valid path: {exc}", operation="save") from exc
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise IndexFileError(
            str(path), f"cannot be written: {exc.strerror or exc}", operation="save"
        ) from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
