"""Hypothesis properties: filters, facets, deletes and persistence against brute force and a fresh index."""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from buttress.search import (
    And,
    Exists,
    Filter,
    MemorySearch,
    Not,
    Or,
    PostgresSearch,
    Range,
    Schema,
    SearchQuery,
    Sort,
    Term,
    Terms,
)

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
CATEGORIES = ["books", "games", "music"]
TAGS = ["eco", "gift", "sale"]

SCHEMA = Schema(
    searchable={"title": 2.0, "body": 1.0},
    fields={"category": "keyword", "tags": "keyword", "price": "number", "in_stock": "boolean"},
    facetable={"category", "tags", "price", "in_stock"},
    sortable={"price", "category"},
)

prices = st.integers(0, 20) | st.integers(0, 20).map(lambda n: n + 0.5)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": f"d{draw(st.integers(0, 14))}",
        "title": " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=3))),
        "body": " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=8))),
    }
    optional = {
        "category": st.sampled_from(CATEGORIES),
        "tags": st.lists(st.sampled_from(TAGS), max_size=3, unique=True),
        "price": prices,
        "in_stock": st.booleans(),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            document[name] = draw(strategy)
    return document


leaves = st.one_of(
    st.builds(Term, st.just("category"), st.sampled_from(CATEGORIES)),
    st.builds(Term, st.just("tags"), st.sampled_from(TAGS)),
    st.builds(Term, st.just("in_stock"), st.booleans()),
    st.builds(Term, st.just("price"), prices),
    st.builds(Terms, st.just("tags"), st.lists(st.sampled_from(TAGS), max_size=2).map(tuple)),
    st.builds(Range, st.just("price"), gte=prices),
    st.builds(Range, st.just("price"), gt=prices, lte=prices),
    st.builds(Exists, st.sampled_from(["category", "tags", "price", "in_stock"])),
)
filters: st.SearchStrategy[Filter] = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: And(*items)),
        st.lists(inner, max_size=3).map(lambda items: Or(*items)),
        st.builds(Not, inner),
    ),
    max_leaves=6,
)


def value(document: dict[str, Any], field: str) -> Any:
    found = document.get(field)
    return None if found == [] else found


def matches(document: dict[str, Any], item: Filter) -> bool:
    match item:
        case Term(field=name, value=wanted):
            found = value(document, name)
            if found is None:
                return False
            if isinstance(found, list):
                return wanted in found
            if isinstance(found, bool) or isinstance(wanted, bool):
                return type(found) is type(wanted) and found == wanted
            return bool(found == wanted)
        case Terms(field=name, values=wanted):
            return any(matches(document, Term(name, one)) for one in wanted)
        case Range(field=name):
            found = value(document, name)
            return found is not None and item.contains(found)
        case Exists(field=name):
            return value(document, name) is not None
        case And(filters=items):
            return all(matches(document, sub) for sub in items)
        case Or(filters=items):
            return any(matches(document, sub) for sub in items)
        case Not(filter=sub):
            return not matches(document, sub)
    raise AssertionError(item)


def latest(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {document["id"]: document for document in docs}


def facet_counts(docs: list[dict[str, Any]], field: str) -> list[tuple[Any, int]]:
    counts: Counter[Any] = Counter()
    for document in docs:
        found = value(document, field)
        counts.update(found if isinstance(found, list) else [] if found is None else [found])
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


@given(st.lists(documents(), max_size=25), filters)
def test_every_document_matching_a_filter_is_returned(docs: list[dict[str, Any]], item: Filter) -> None:
    """Property: every indexed document matching a filter is returned by the filter-only query, no other."""
    search = MemorySearch(SCHEMA)
    search.index_now(docs)
    expected = {doc_id for doc_id, document in latest(docs).items() if matches(document, item)}
    result = search.search_now(SearchQuery(filter=item, limit=100))
    assert set(result.ids) == expected
    assert result.total == len(expected)


@given(
    st.lists(documents(), max_size=25),
    filters,
    st.sampled_from(["", "alpha", "bravo -charlie", '"alpha bravo"']),
)
def test_facet_counts_equal_a_brute_force_count(docs: list[dict[str, Any]], item: Filter, text: str) -> None:
    """Property: facet counts equal a brute-force count over the whole filtered hit set, whatever the page."""
    search = MemorySearch(SCHEMA)
    search.index_now(docs)
    result = search.search_now(
        SearchQuery(text, filter=item, facets=("category", "tags", "price", "in_stock"), limit=1)
    )
    every = search.search_now(SearchQuery(text, filter=item, limit=100))
    hits = [latest(docs)[doc_id] for doc_id in every.ids]
    for field in ("category", "tags", "price", "in_stock"):
        assert [(f.value, f.count) for f in result.facets[field]] == facet_counts(hits, field)


QUERIES = [
    SearchQuery("alpha", match="any", facets=("category", "tags"), stats=("price",), limit=100),
    SearchQuery('"bravo charlie" -delta', limit=100),
    SearchQuery(filter=Exists("price"), sort=(Sort("price", descending=True),), limit=100),
    SearchQuery("echo foxtrot", match="any", filter=Not(Term("in_stock", True)), limit=100),
]


def assert_same(one: MemorySearch, other: MemorySearch) -> None:
    for query in QUERIES:
        first, second = one.search_now(query), other.search_now(query)
        assert first.ids == second.ids
        assert [hit.score for hit in first.hits] == pytest.approx(
            [hit.score for hit in second.hits], rel=1e-9
        )
        assert first.facets == second.facets
        assert first.stats == second.stats


@given(st.lists(documents(), max_size=25), st.sets(st.integers(0, 14)))
def test_delete_removes_from_every_index(docs: list[dict[str, Any]], gone: set[int]) -> None:
    """Property: after a delete the index equals a fresh index of what is left, structure by structure."""
    search = MemorySearch(SCHEMA)
    search.index_now(docs)
    search.search_now(QUERIES[0])  # fill the score caches first
    ids = [f"d{n}" for n in gone]
    removed = asyncio.run(search.delete(ids))
    kept = [document for doc_id, document in latest(docs).items() if doc_id not in ids]
    assert removed == len(latest(docs)) - len(kept)
    fresh = MemorySearch(SCHEMA)
    fresh.index_now(kept)
    assert_same(search, fresh)
    for name, postings in fresh._postings.items():
        for term, numbers in postings.items():
            live = search._live_postings(name, term)
            assert live is not None
            assert len(live) == len(numbers)
        assert sum(
            len(search._live_postings(name, term) or ()) for term in list(search._postings[name])
        ) == sum(map(len, postings.values()))
    for name, index in search._value_index.items():
        assert {key: len(holders) for key, holders in index.items()} == {
            key: len(holders) for key, holders in fresh._value_index[name].items()
        }
    assert len(search) == len(kept)


@settings(max_examples=25)
@given(st.lists(documents(), max_size=20))
def test_persistence_round_trip(docs: list[dict[str, Any]]) -> None:
    """Property: save then load gives an index answering every query identically."""
    search = MemorySearch(SCHEMA)
    search.index_now(docs)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "index.bsi"
        asyncio.run(search.save(path))
        loaded = asyncio.run(MemorySearch.load(path))
    assert_same(search, loaded)


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    docs=st.lists(documents(), max_size=20), item=filters, text=st.sampled_from(["", "alpha", "alpha -bravo"])
)
async def test_postgres_and_memory_agree(
    postgres: PostgresSearch, docs: list[dict[str, Any]], item: Filter, text: str
) -> None:
    """Property: PostgresSearch returns MemorySearch's hit set, total, facets and stats for any filter."""
    await postgres.delete([f"d{n}" for n in range(15)])
    await postgres.index(docs)
    memory = MemorySearch(SCHEMA)
    memory.index_now(docs)
    query = SearchQuery(
        text, filter=item, facets=("category", "tags", "price", "in_stock"), stats=("price",), limit=100
    )
    ours, theirs = memory.search_now(query), await postgres.search(query)
    assert set(ours.ids) == set(theirs.ids)
    assert ours.total == theirs.total
    assert ours.facets == theirs.facets
    assert ours.stats.keys() == theirs.stats.keys()
    for name, stats in ours.stats.items():
        other = theirs.stats[name]
        assert (stats.count, stats.min, stats.max) == (other.count, other.min, other.max)
        assert stats.sum == pytest.approx(other.sum)


class MemorySearchMachine(RuleBasedStateMachine):
    """Stateful test: MemorySearch answers like a brute-force scan of a dict, whatever the writes."""

    def __init__(self) -> None:
        super().__init__()
        self.search = MemorySearch(SCHEMA)
        self.model: dict[str, dict[str, Any]] = {}

    @rule(docs=st.lists(documents(), min_size=1, max_size=6))
    def index(self, docs: list[dict[str, Any]]) -> None:
        self.search.index_now(docs)
        self.model.update(latest(docs))

    @rule(numbers=st.sets(st.integers(0, 14), max_size=5))
    def delete(self, numbers: set[int]) -> None:
        ids = [f"d{n}" for n in numbers]
        removed = asyncio.run(self.search.delete(ids))
        assert removed == sum(1 for doc_id in ids if doc_id in self.model)
        for doc_id in ids:
            self.model.pop(doc_id, None)

    @rule()
    def save_and_load(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "index.bsi"
            asyncio.run(self.search.save(path))
            self.search = asyncio.run(MemorySearch.load(path))

    @rule(item=filters, word=st.sampled_from(["", *WORDS]), match=st.sampled_from(["all", "any"]))
    def query(self, item: Filter, word: str, match: str) -> None:
        text = f"{word} -foxtrot" if word and word != "foxtrot" else word
        result = self.search.search_now(
            SearchQuery(text, filter=item, match=match, facets=("tags",), limit=100)  # type: ignore[arg-type]
        )

        def holds(document: dict[str, Any], term: str) -> bool:
            return any(term in str(document.get(field, "")).split() for field in ("title", "body"))

        expected = {
            doc_id
            for doc_id, document in self.model.items()
            if matches(document, item)
            and (
                not word or (holds(document, word) and (word == "foxtrot" or not holds(document, "foxtrot")))
            )
        }
        assert set(result.ids) == expected
        hits = [self.model[doc_id] for doc_id in result.ids]
        assert [(f.value, f.count) for f in result.facets["tags"]] == facet_counts(hits, "tags")

    @invariant()
    def counts_agree(self) -> None:
        assert len(self.search) == len(self.model)


TestMemorySearchMachine = MemorySearchMachine.TestCase
TestMemorySearchMachine.settings = settings(max_examples=30, stateful_step_count=20, deadline=None)
