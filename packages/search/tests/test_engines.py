"""Property: MemorySearch's numpy engine returns exactly what its pure-Python engine returns.

Same hits in the same order, the same scores to the last bit, totals, facets, stats and cursors,
over random documents, rewrites and deletes, and queries with terms, phrases (quoted, or a word the
analyzer splits), exclusions, filters, sorts, offsets and cursor pages.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buttress.search import (
    Exists,
    MemorySearch,
    MissingExtraError,
    Not,
    Range,
    Schema,
    SearchConfigurationError,
    SearchQuery,
    Sort,
    Term,
)

pytest.importorskip("numpy")

SCHEMA = Schema(
    searchable={"title": 2.0, "body": 1.0},
    fields={"category": "keyword", "price": "number"},
    facetable={"category", "price"},
    sortable={"price"},
)
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": f"d{draw(st.integers(0, 19))}",
        "title": " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=3))),
        "body": " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=12))),
    }
    if draw(st.booleans()):
        document["category"] = draw(st.sampled_from(["books", "games"]))
    if draw(st.booleans()):
        document["price"] = draw(st.integers(0, 9))
    return document


parts = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(lambda word: f"-{word}"),
    st.lists(st.sampled_from(WORDS), min_size=2, max_size=3).map(lambda words: '"' + " ".join(words) + '"'),
    st.lists(st.sampled_from(WORDS), min_size=2, max_size=2).map("-".join),  # a phrase in disguise
    st.just("zulu"),  # held by no document
)
queries = st.builds(
    SearchQuery,
    st.lists(parts, max_size=8).map(" ".join),
    match=st.sampled_from(["any", "all"]),
    filter=st.none()
    | st.sampled_from([Term("category", "books"), Exists("price"), Not(Range("price", gte=5))]),
    facets=st.sampled_from([(), ("category", "price")]),
    stats=st.sampled_from([(), ("price",)]),
    sort=st.sampled_from([(), (Sort("price", descending=True),)]),
    offset=st.integers(0, 4),
    limit=st.integers(0, 6),
    highlight=st.booleans(),
)
writes = st.lists(
    st.one_of(
        st.lists(documents(), max_size=12).map(lambda batch: ("index", batch)),
        st.lists(st.integers(0, 19).map(lambda n: f"d{n}"), max_size=5).map(lambda ids: ("delete", ids)),
    ),
    min_size=1,
    max_size=4,
)


def apply(search: MemorySearch, steps: list[tuple[str, Any]]) -> None:
    for kind, payload in steps:
        if kind == "index":
            search.index_now(payload)
        else:
            search.delete_now(payload)


def pages(search: MemorySearch, query: SearchQuery) -> list[Any]:
    """The first result and every page after it by cursor (at most five)."""
    result = search.search_now(query)
    found = [result]
    while result.next_cursor is not None and len(found) < 5:
        result = search.search_now(dataclasses.replace(query, offset=0, cursor=result.next_cursor))
        found.append(result)
    return found


@settings(max_examples=200)
@given(writes, st.lists(queries, min_size=1, max_size=6))
def test_numpy_and_python_engines_return_identical_results(
    steps: list[tuple[str, Any]], asked: list[SearchQuery]
) -> None:
    """Property: both engines give equal results, scores bit for bit, after any writes, page by page."""
    python, vector = MemorySearch(SCHEMA, engine="python"), MemorySearch(SCHEMA, engine="numpy")
    assert (python.engine, vector.engine) == ("python", "numpy")
    half = len(steps) // 2
    for search in (python, vector):
        apply(search, steps[:half])
    for query in asked:  # fill the caches, then write again: a write must invalidate them
        assert python.search_now(query) == vector.search_now(query)
    for search in (python, vector):
        apply(search, steps[half:])
    for query in asked:
        assert pages(python, query) == pages(vector, query)


def test_a_contribution_that_rounds_to_zero_falls_back_to_the_python_engine() -> None:
    """A weight so small that a term's contribution is 0.0 cannot mark a hit in a score vector."""
    schema = Schema(searchable={"title": 5e-324, "body": 1.0})
    python, vector = MemorySearch(schema, engine="python"), MemorySearch(schema, engine="numpy")
    docs = [{"id": "a", "title": "alpha"}, {"id": "b", "body": "alpha"}, {"id": "c", "body": "bravo"}]
    for search in (python, vector):
        search.index_now(docs)
    for text in ("alpha", "alpha bravo", "bravo"):
        expected = python.search_now(SearchQuery(text))
        assert vector.search_now(SearchQuery(text)) == expected
    assert python.search_now(SearchQuery("alpha")).total == 2


def test_the_engine_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown engine is a configuration error; ``numpy`` without the extra names the extra."""
    with pytest.raises(SearchConfigurationError, match="engine"):
        MemorySearch(SCHEMA, engine="rust")  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "numpy", None)  # what an install without the extra sees
    with pytest.raises(MissingExtraError) as caught:
        MemorySearch(SCHEMA, engine="numpy")
    assert caught.value.extra == "fast"
    assert MemorySearch(SCHEMA).engine == "python"


def test_phrase_answers_kept_past_their_bound_are_dropped_and_found_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The numpy engine keeps at most a bounded size of phrase answers; past it, it starts over."""
    from buttress.search import _vector  # noqa: PLC0415 - the module whose bound is lowered

    monkeypatch.setattr(_vector, "_PHRASE_BYTES", 40)  # two phrases' answers over 20 documents
    python, vector = MemorySearch(SCHEMA, engine="python"), MemorySearch(SCHEMA, engine="numpy")
    docs = [
        {"id": f"d{n}", "title": " ".join(WORDS[n % 7 : n % 7 + 2]), "body": " ".join(WORDS[n % 5 :])}
        for n in range(20)
    ]
    for search in (python, vector):
        search.index_now(docs)
    asked = [f'"{a} {b}"' for a, b in itertools.pairwise(WORDS)] + ['"golf alpha"', '"bravo alpha"']
    found = 0
    for text in asked * 2:
        query = SearchQuery(text, limit=20)
        expected = python.search_now(query)
        assert vector.search_now(query) == expected
        found += expected.total
    assert found
    assert 0 < len(vector._vectors._phrases) <= 2  # type: ignore[union-attr]


@pytest.mark.parametrize("hits", [0, 3, 10, 11, 40, 199, 200, 201, 700, 1000])
def test_the_top_k_cut_keeps_every_hit_at_or_above_it(hits: int) -> None:
    np = pytest.importorskip("numpy")
    from buttress.search._vector import VectorScorer  # noqa: PLC0415 - numpy is an optional extra

    generator = random.Random(hits)
    scores = np.zeros(1000, np.float64)
    numbers = generator.sample(range(1000), hits)
    # Few distinct scores: ties at the cut are the rule, not the exception.
    scores[numbers] = [generator.choice([0.5, 1.0, 1.5, 2.0]) for _ in numbers]
    for count in (0, 1, 10, 199, hits, hits + 1):
        total, found, values = VectorScorer.top(scores, count)
        assert total == hits
        assert values == [float(scores[num]) for num in found]
        if count <= 0 or not hits:
            assert found == []
            continue
        cut = sorted(scores[numbers], reverse=True)[min(count, hits) - 1]
        assert sorted(found) == sorted(num for num in numbers if scores[num] >= cut)
