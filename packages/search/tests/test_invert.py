"""Property: a batch inverted at once in numpy holds what tokenising and counting each document holds.

`invert_ascii` against the default `Analyzer` token by token (words up to the 64-byte limit, words
equal in their first 8 or 16 bytes, stop words, empty texts); a hash collision is caught and refused;
and `MemorySearch`'s numpy engine, with every write inverted at once, against its pure-Python engine
after any sequence of adds, replacements and deletes: the same postings, frequencies and lengths
term by term, and the same results query by query.
"""

from __future__ import annotations

import string
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buttress.search import ENGLISH_STOP_WORDS, Analyzer, MemorySearch, Schema, SearchQuery

np = pytest.importorskip("numpy")
from buttress.search import _invert, _memory  # noqa: E402 - after the numpy check

SCHEMA = Schema(
    searchable={"title": 2.0, "body": 1.0}, fields={"category": "keyword"}, facetable={"category"}
)
LONG = "aerodynamically"  # 15 bytes: two columns
STEMS = [LONG, LONG + "x", LONG[:8], LONG[:8] + "y", "a" * 16 + "b", "a" * 16 + "c", "z" * 64]
WORDS = ["alpha", "bravo", "Charlie", "the", "of", "x_1", "42", *STEMS]
SEPARATORS = [" ", "  ", ", ", "-", ".\n", "\t", "'", "/"]

words = st.one_of(
    st.sampled_from(WORDS),
    st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=20),
)


@st.composite
def texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(words, max_size=14))
    return "".join(word + draw(st.sampled_from(SEPARATORS)) for word in parts)


def reference(
    nums: list[int], batch: list[str], analyzer: Analyzer
) -> tuple[dict[int, int], dict[str, list[tuple[int, int]]], dict[int, int]]:
    """Lengths, postings with frequencies, and distinct terms per document, token by token."""
    lengths: dict[int, int] = {}
    postings: dict[str, list[tuple[int, int]]] = {}
    distinct: dict[int, int] = {}
    for num, text in zip(nums, batch, strict=True):
        tokens = analyzer.tokens(text)
        if not tokens:
            continue
        lengths[num] = len(tokens)
        counts = Counter(tokens)
        distinct[num] = len(counts)
        for term, frequency in counts.items():
            postings.setdefault(term, []).append((num, frequency))
    return lengths, postings, distinct


@given(st.lists(texts(), min_size=1, max_size=12), st.booleans(), st.integers(0, 5))
def test_inverting_a_batch_equals_counting_token_by_token(batch: list[str], stop: bool, first: int) -> None:
    """Property 1: `invert_ascii` gives every term's holders (ascending) and frequencies, as counting does."""
    analyzer = Analyzer(stop_words=ENGLISH_STOP_WORDS if stop else frozenset())
    nums = [first + 3 * position for position in range(len(batch))]
    inverted = _invert.invert_ascii(nums, batch, analyzer.stop_words)
    lengths, postings, distinct = reference(nums, batch, analyzer)
    if inverted is None:
        assert not postings or max(map(len, postings)) > 64
        return
    held, counted, terms, found, per_document = inverted
    assert dict(zip(held, counted, strict=True)) == lengths
    assert held == sorted(lengths)
    assert dict(zip(held, per_document, strict=True)) == distinct
    assert len(terms) == len(set(terms))
    got = {}
    for position, term in enumerate(terms):
        holders, frequencies = found.take(position)
        got[term] = list(zip(holders, frequencies, strict=True))
    assert got == postings


def test_a_batch_that_is_not_plain_ascii_is_refused() -> None:
    """Non-ASCII text, a word past 64 bytes or a batch without a word: the caller counts instead."""
    assert _invert.invert_ascii([0, 1], ["alpha", "straße"], frozenset()) is None
    assert _invert.invert_ascii([0], ["a" * 65], frozenset()) is None
    assert _invert.invert_ascii([0, 1], ["", " , "], frozenset()) is None
    assert _invert.invert_ascii([0], ["a" * 64], frozenset()) is not None


def test_a_hash_collision_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two different words that share a hash are never merged: the batch is refused, then counted."""
    monkeypatch.setattr(_invert, "_MIX", np.zeros(8, np.uint64))  # every word hashes alike
    assert _invert.invert_ascii([0, 1], ["alpha bravo", "alpha"], frozenset()) is None
    assert _invert.invert_ascii([0, 1], ["alpha alpha", "alpha"], frozenset()) is not None
    monkeypatch.setattr(_memory, "_INVERT_BYTES", 0)
    python, vector = MemorySearch(SCHEMA, engine="python"), MemorySearch(SCHEMA, engine="numpy")
    docs = [{"id": "a", "body": "alpha bravo"}, {"id": "b", "body": "bravo bravo charlie"}]
    for search in (python, vector):
        search.index_now(docs)
    assert_same_index(python, vector)


# -- MemorySearch: the numpy engine inverting every write against the python engine --------------


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {"id": f"d{draw(st.integers(0, 15))}"}
    for name in ("title", "body"):
        if draw(st.booleans()):
            document[name] = draw(texts())
    if draw(st.booleans()):
        document["body"] = document.get("body", "") + " naïve Straße"  # not ASCII: counted instead
    if draw(st.booleans()):
        document["category"] = draw(st.sampled_from(["books", "games"]))
    return document


writes = st.lists(
    st.one_of(
        st.lists(documents(), max_size=10).map(lambda batch: ("index", batch)),
        st.lists(st.integers(0, 15).map(lambda n: f"d{n}"), max_size=6).map(lambda ids: ("delete", ids)),
        st.just(("search", None)),  # read between writes: terms of the last batch get their lists
    ),
    min_size=1,
    max_size=8,
)
ASKED = [
    SearchQuery("alpha bravo", limit=50),
    SearchQuery("charlie 42 x_1", match="all", limit=50),
    SearchQuery(f'"{LONG} alpha" bravo -the', limit=50, facets=("category",)),
    SearchQuery(f"{LONG} {LONG[:8]} {'a' * 16}b naïve", limit=50),
]


def pairs(search: MemorySearch, name: str, term: str) -> list[tuple[int, int]]:
    found = search._pairs(name, term)
    return [] if found is None else list(zip(*found, strict=True))


def assert_same_index(python: MemorySearch, vector: MemorySearch) -> None:
    """Term by term, the same live postings and frequencies; the same lengths; the same answers."""
    assert python._ids == vector._ids
    for name in SCHEMA.searchable:
        assert python._lengths[name] == vector._lengths[name]
        assert python._length_sum[name] == vector._length_sum[name]
        terms = set(python._postings[name]) | set(vector._postings[name]) | set(vector._lazy[name])
        for term in sorted(terms):
            assert pairs(python, name, term) == pairs(vector, name, term), (name, term)
    for query in ASKED:
        assert python.search_now(query) == vector.search_now(query)


@settings(max_examples=200)
@given(writes, st.booleans(), st.sampled_from([0, 60, 240]))
def test_the_numpy_engine_inverting_writes_equals_the_python_engine(
    steps: list[tuple[str, Any]], stop: bool, threshold: int
) -> None:
    """Property 2: adds, replacements and deletes, inverted at once or counted, give the same index.

    With the threshold at 0 every write is inverted in numpy; at 60 or 240 characters, small
    writes are counted document by document between the large ones.
    """
    analyzer = Analyzer(stop_words=ENGLISH_STOP_WORDS if stop else frozenset())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_memory, "_INVERT_BYTES", threshold)
        python = MemorySearch(SCHEMA, analyzer=analyzer, engine="python")
        vector = MemorySearch(SCHEMA, analyzer=analyzer, engine="numpy")
        for kind, payload in steps:
            for search in (python, vector):
                if kind == "index":
                    search.index_now(payload)
                elif kind == "delete":
                    search.delete_now(payload)
                else:
                    search.search_now(ASKED[0])
            assert len(python) == len(vector)
        assert_same_index(python, vector)


def test_a_large_write_is_inverted_at_once_and_read_lazily() -> None:
    """A write past the threshold goes through numpy; a term's lists are made when it is first read."""
    docs = [{"id": f"d{n}", "body": f"alpha bravo{n % 7} {LONG} " * 40} for n in range(200)]
    python, vector = MemorySearch(SCHEMA, engine="python"), MemorySearch(SCHEMA, engine="numpy")
    for search in (python, vector):
        search.index_now(docs)
    assert vector._pending["body"] is not None
    assert "alpha" in vector._lazy["body"]
    assert "alpha" not in vector._postings["body"]
    assert python.search_now(SearchQuery("alpha", limit=5)) == vector.search_now(
        SearchQuery("alpha", limit=5)
    )
    assert "alpha" in vector._postings["body"]
    assert "alpha" not in vector._lazy["body"]
    more = [{"id": "d3", "body": "alpha bravo3 new"}, {"id": "x", "body": f"bravo1 {LONG}"}]
    for search in (python, vector):
        search.index_now(more)  # a small write settles only the terms it touches
        search.delete_now(["d5"])
    assert_same_index(python, vector)
    for search in (python, vector):
        search.index_now(docs[:150])  # a second large write settles the first one's terms
    assert_same_index(python, vector)
