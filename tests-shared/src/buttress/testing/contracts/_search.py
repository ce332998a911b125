"""`SearchProviderContract`: what a search provider for buttress-search must do.

The suite is duck-typed, so buttress-testing does not depend on buttress-search. A provider is driven
through ``index(documents)``, ``delete(ids)`` (returning how many existed), ``search(query)`` and
``count(query=None)``. A result has ``hits`` (each with ``id``, ``score``, ``document`` and
``highlights``, a mapping of field to fragments), ``total``, ``facets`` (field to a sequence of
``value``/``count`` pairs, by count descending then value), ``stats`` (field to ``count``, ``min``,
``max``, ``sum``, ``avg``), ``offset`` and ``next_cursor``.

Every expectation is computed here by brute force over the fixture, so two providers that pass return
the same hit sets, totals, facet counts, stats and filter semantics. Ranking is checked only where
any sensible ranking agrees (a rare term in a short, heavily weighted title beats a common one deep
in a long body); pagination is checked against the provider's own order.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from ._cache import close_quietly

__all__ = ["SearchProviderContract"]

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliett",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]
CATEGORIES = ("books", "games", "music", "tools")
TAGS = ("eco", "gift", "new", "sale")
_TOKEN = re.compile(r"\w+")

type Spec = tuple[Any, ...]
"""A filter in the contract's own terms: ("term", field, value), ("and", spec, ...), ..."""


def fixture_documents(count: int = 80, seed: int = 20260) -> list[dict[str, Any]]:
    """The contract's documents: NATO-alphabet text, a category, tags, a price and a stock flag.

    Some documents lack each typed field, some have an empty tag list, prices mix ints and halves.
    """
    rng = random.Random(seed)  # noqa: S311 - a reproducible fixture, not a secret
    documents = []
    for index in range(count):
        document: dict[str, Any] = {
            "id": f"doc-{index:03d}",
            "title": " ".join(rng.choices(WORDS[:12], k=rng.randint(2, 4))),
            "body": " ".join(rng.choices(WORDS, k=rng.randint(6, 24))),
        }
        if index % 11:
            document["category"] = CATEGORIES[rng.randrange(len(CATEGORIES))]
        if index % 5:
            document["tags"] = sorted(rng.sample(TAGS, rng.randint(0, 3)))
        if index % 7:
            document["price"] = rng.randint(1, 60) + (0.5 if index % 3 == 0 else 0)
        if index % 13:
            document["in_stock"] = rng.random() < 0.6
        documents.append(document)
    return documents


def _tokens(text: object) -> list[str]:
    return _TOKEN.findall(text.casefold()) if isinstance(text, str) else []


def _fields(document: dict[str, Any]) -> list[list[str]]:
    return [_tokens(document.get("title")), _tokens(document.get("body"))]


def _holds(document: dict[str, Any], words: Sequence[str]) -> bool:
    """Whether ``words`` occur consecutively within one searchable field (one word: anywhere)."""
    width = len(words)
    return any(
        tokens[start : start + width] == list(words)
        for tokens in _fields(document)
        for start in range(len(tokens) - width + 1)
    )


def _text_matches(
    document: dict[str, Any], positive: Sequence[str], excluded: Sequence[str], match: str
) -> bool:
    found = [_holds(document, _tokens(item)) for item in positive]
    if positive and not (all(found) if match == "all" else any(found)):
        return False
    return not any(_holds(document, _tokens(item)) for item in excluded)


def _value(document: dict[str, Any], field: str) -> Any:
    value = document.get(field)
    return None if value == [] else value


def _filter_matches(document: dict[str, Any], spec: Spec) -> bool:  # noqa: PLR0911 - one branch per kind
    kind = spec[0]
    if kind == "term":
        value, wanted = _value(document, spec[1]), spec[2]
        if value is None:
            return False
        if isinstance(value, list):
            return wanted in value
        if isinstance(value, bool) or isinstance(wanted, bool):
            return type(value) is type(wanted) and value == wanted
        return bool(value == wanted)
    if kind == "terms":
        return any(_filter_matches(document, ("term", spec[1], item)) for item in spec[2])
    if kind == "range":
        value = _value(document, spec[1])
        if value is None:
            return False
        bounds = spec[2]
        return (
            ("gte" not in bounds or value >= bounds["gte"])
            and ("gt" not in bounds or value > bounds["gt"])
            and ("lte" not in bounds or value <= bounds["lte"])
            and ("lt" not in bounds or value < bounds["lt"])
        )
    if kind == "exists":
        return _value(document, spec[1]) is not None
    if kind == "and":
        return all(_filter_matches(document, sub) for sub in spec[1:])
    if kind == "or":
        return any(_filter_matches(document, sub) for sub in spec[1:])
    if kind == "not":
        return not _filter_matches(document, spec[1])
    raise AssertionError(f"unknown filter spec {spec!r}")


TEXT_CASES: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    # (query text, match, positive parts, excluded parts)
    ("alpha", "all", ("alpha",), ()),
    ("ALPHA", "all", ("alpha",), ()),
    ("alpha bravo", "all", ("alpha", "bravo"), ()),
    ("alpha bravo", "any", ("alpha", "bravo"), ()),
    ('"alpha bravo"', "all", ("alpha bravo",), ()),
    ('"charlie delta echo"', "all", ("charlie delta echo",), ()),
    ("alpha -bravo", "all", ("alpha",), ("bravo",)),
    ('charlie -"delta echo"', "all", ("charlie",), ("delta echo",)),
    ("-alpha", "all", (), ("alpha",)),
    ('kilo "lima mike"', "any", ("kilo", "lima mike"), ()),
    ("zulu yankee xray", "any", ("zulu", "yankee", "xray"), ()),
    ("nonexistentword", "all", ("nonexistentword",), ()),
    ("alpha nonexistentword", "any", ("alpha", "nonexistentword"), ()),
)

FILTER_CASES: tuple[Spec, ...] = (
    ("term", "category", "books"),
    ("term", "tags", "sale"),
    ("term", "in_stock", True),
    ("term", "in_stock", False),
    ("term", "price", 30),
    ("term", "price", 30.5),
    ("terms", "category", ("books", "music")),
    ("terms", "tags", ()),
    ("range", "price", {"gte": 20, "lt": 40}),
    ("range", "price", {"gt": 20.5, "lte": 40}),
    ("range", "price", {"lte": 10}),
    ("exists", "price"),
    ("exists", "tags"),
    ("not", ("exists", "category")),
    ("not", ("range", "price", {"gte": 30})),
    ("and", ("term", "category", "games"), ("range", "price", {"gte": 10})),
    ("or", ("term", "tags", "gift"), ("not", ("term", "in_stock", True))),
    ("and",),
    ("or",),
    ("not", ("or", ("term", "category", "tools"), ("exists", "tags"))),
)


class SearchProviderContract:
    """Conformance suite for a buttress-search ``SearchProvider``.

    Subclass it in a ``test_*.py`` module (as ``TestSomething``) and implement `make_provider` and
    the hooks that build queries and filters in the provider's types (`make_query`, `term`, `terms`,
    `range`, `exists`, `all_of`, `any_of`, `negate`); `make_document` converts a fixture document
    (a dict) when the provider wants another type. `make_provider` returns a new, empty provider
    whose schema is:

    - searchable ``title`` (weight 2) and ``body`` (weight 1), analysed without stemming or stop
      words (Unicode words, case-folded);
    - typed fields ``category`` (keyword), ``tags`` (keyword, a list), ``price`` (number) and
      ``in_stock`` (boolean), all filterable and facetable; ``price`` and ``category`` sortable;
    - the id in ``"id"``.

    When the provider has ``aclose()`` or ``close()`` it is called after the test.

    Attributes:
        marks: The strings the provider puts around a highlighted word.
        unknown_field_error: What filtering, faceting or sorting on an undeclared field raises.
        syntax_error: What a malformed query string raises (when the query is built or run).
        invalid_document_error: What indexing a document without an id raises.
    """

    marks: ClassVar[tuple[str, str]] = ("<mark>", "</mark>")
    unknown_field_error: ClassVar[type[BaseException]] = ValueError
    syntax_error: ClassVar[type[BaseException]] = ValueError
    invalid_document_error: ClassVar[type[BaseException]] = ValueError

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    # -- hooks -----------------------------------------------------------------------------------

    async def make_provider(self) -> Any:
        """Return a new, empty provider with the schema above. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_provider()")

    def make_document(self, data: dict[str, Any]) -> Any:
        """Return the provider's document for ``data`` (default: the dict itself)."""
        return data

    def make_query(
        self,
        *,
        text: str = "",
        filter: Any = None,
        match: str = "all",
        facets: Sequence[str] = (),
        stats: Sequence[str] = (),
        sort: Sequence[tuple[str, bool]] = (),
        limit: int = 10,
        offset: int = 0,
        cursor: str | None = None,
        highlight: bool = False,
    ) -> Any:
        """Return the provider's query object; ``sort`` holds ``(field, descending)`` pairs."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_query()")

    def term(self, field: str, value: Any) -> Any:
        """A filter: ``field`` equals (or, for a list, holds) ``value``."""
        raise NotImplementedError(f"{type(self).__name__} must implement term()")

    def terms(self, field: str, values: Sequence[Any]) -> Any:
        """A filter: ``field`` equals any of ``values``."""
        raise NotImplementedError(f"{type(self).__name__} must implement terms()")

    def range(self, field: str, **bounds: float) -> Any:
        """A filter: the number ``field`` within ``gte`` / ``gt`` / ``lte`` / ``lt``."""
        raise NotImplementedError(f"{type(self).__name__} must implement range()")

    def exists(self, field: str) -> Any:
        """A filter: ``field`` holds a value (not missing, ``None`` or an empty list)."""
        raise NotImplementedError(f"{type(self).__name__} must implement exists()")

    def all_of(self, *filters: Any) -> Any:
        """A filter: every one of ``filters``."""
        raise NotImplementedError(f"{type(self).__name__} must implement all_of()")

    def any_of(self, *filters: Any) -> Any:
        """A filter: at least one of ``filters``."""
        raise NotImplementedError(f"{type(self).__name__} must implement any_of()")

    def negate(self, filter: Any) -> Any:
        """A filter: not ``filter``."""
        raise NotImplementedError(f"{type(self).__name__} must implement negate()")

    # -- plumbing --------------------------------------------------------------------------------

    @pytest_asyncio.fixture
    async def provider(self) -> AsyncIterator[Any]:
        """A new provider, closed after the test."""
        made = await self.make_provider()
        try:
            yield made
        finally:
            await close_quietly(made)

    @pytest_asyncio.fixture
    async def loaded(self, provider: Any) -> Any:
        """The provider holding the fixture documents."""
        await provider.index([self.make_document(document) for document in fixture_documents()])
        return provider

    def _filter(self, spec: Spec) -> Any:
        kind = spec[0]
        builders: dict[str, Callable[[], Any]] = {
            "term": lambda: self.term(spec[1], spec[2]),
            "terms": lambda: self.terms(spec[1], spec[2]),
            "range": lambda: self.range(spec[1], **spec[2]),
            "exists": lambda: self.exists(spec[1]),
            "and": lambda: self.all_of(*(self._filter(sub) for sub in spec[1:])),
            "or": lambda: self.any_of(*(self._filter(sub) for sub in spec[1:])),
            "not": lambda: self.negate(self._filter(spec[1])),
        }
        return builders[kind]()

    async def _all_ids(self, provider: Any, **query: Any) -> list[str]:
        result = await provider.search(self.make_query(limit=1000, **query))
        assert result.total == len(result.hits), "a page of 1000 should hold every hit of the fixture"
        return [hit.id for hit in result.hits]

    @staticmethod
    def _expected(predicate: Callable[[dict[str, Any]], bool]) -> set[str]:
        return {document["id"] for document in fixture_documents() if predicate(document)}

    # -- basics ----------------------------------------------------------------------------------

    async def test_an_empty_provider_finds_nothing(self, provider: Any) -> None:
        result = await provider.search(self.make_query(text="alpha", facets=("category",), stats=("price",)))
        assert result.total == 0
        assert list(result.hits) == []
        assert list(result.facets["category"]) == []
        assert result.stats["price"].count == 0
        assert result.stats["price"].min is None
        assert await provider.count() == 0

    async def test_every_document_is_counted_and_found(self, loaded: Any) -> None:
        documents = fixture_documents()
        assert await loaded.count() == len(documents)
        ids = await self._all_ids(loaded)
        assert sorted(ids) == sorted(document["id"] for document in documents)

    async def test_hits_carry_the_document_as_indexed(self, loaded: Any) -> None:
        by_id = {document["id"]: document for document in fixture_documents()}
        result = await loaded.search(self.make_query(limit=1000))
        for hit in result.hits:
            assert dict(hit.document) == by_id[hit.id], f"{hit.id} came back changed"

    # -- text ------------------------------------------------------------------------------------

    @pytest.mark.parametrize(("text", "match", "positive", "excluded"), TEXT_CASES)
    async def test_text_hit_sets(
        self, loaded: Any, text: str, match: str, positive: tuple[str, ...], excluded: tuple[str, ...]
    ) -> None:
        expected = self._expected(lambda document: _text_matches(document, positive, excluded, match))
        ids = await self._all_ids(loaded, text=text, match=match)
        assert len(ids) == len(set(ids)), "a document came back twice"
        assert set(ids) == expected

    async def test_a_phrase_does_not_span_two_fields(self, provider: Any) -> None:
        await provider.index(
            [self.make_document({"id": "x", "title": "alpha bravo", "body": "charlie delta"})]
        )
        assert await self._all_ids(provider, text='"bravo charlie"') == []
        assert await self._all_ids(provider, text='"alpha bravo"') == ["x"]

    async def test_a_malformed_query_is_a_typed_error(self, loaded: Any) -> None:
        for text in ('"unterminated', "alpha -", '""'):
            with pytest.raises(self.syntax_error):
                await loaded.search(self.make_query(text=text))

    async def test_scores_rank_a_weighted_rare_match_first(self, provider: Any) -> None:
        filler = " ".join(["bravo"] * 40)
        await provider.index(
            [
                self.make_document({"id": "title", "title": "kilo", "body": "charlie"}),
                self.make_document({"id": "deep", "title": "charlie", "body": f"{filler} kilo {filler}"}),
                *(
                    self.make_document({"id": f"other-{i}", "title": "charlie", "body": filler})
                    for i in range(5)
                ),
            ]
        )
        result = await provider.search(self.make_query(text="kilo"))
        assert [hit.id for hit in result.hits] == ["title", "deep"]
        assert result.hits[0].score > result.hits[1].score > 0

    async def test_highlights_mark_the_matched_words(self, loaded: Any) -> None:
        opening, closing = self.marks
        result = await loaded.search(self.make_query(text="kilo", highlight=True, limit=50))
        assert result.hits
        for hit in result.hits:
            fragments = [fragment for values in hit.highlights.values() for fragment in values]
            assert any(f"{opening}kilo{closing}" in fragment.casefold() for fragment in fragments), (
                hit.highlights
            )
            assert set(hit.highlights) <= {"title", "body"}

    # -- filters ---------------------------------------------------------------------------------

    @pytest.mark.parametrize("spec", FILTER_CASES, ids=repr)
    async def test_filter_semantics(self, loaded: Any, spec: Spec) -> None:
        expected = self._expected(lambda document: _filter_matches(document, spec))
        assert set(await self._all_ids(loaded, filter=self._filter(spec))) == expected
        combined = self._expected(
            lambda document: (
                _filter_matches(document, spec) and _text_matches(document, ("alpha",), (), "all")
            )
        )
        assert set(await self._all_ids(loaded, text="alpha", filter=self._filter(spec))) == combined
        assert await loaded.count(self.make_query(filter=self._filter(spec))) == len(expected)

    # -- facets and stats ------------------------------------------------------------------------

    @pytest.mark.parametrize("text", ["", "alpha", "bravo -charlie"])
    async def test_facet_counts_are_exact(self, loaded: Any, text: str) -> None:
        spec: Spec = ("not", ("term", "in_stock", False))
        parsed = [part for part in text.split() if not part.startswith("-")]
        excluded = [part[1:] for part in text.split() if part.startswith("-")]
        hits = [
            document
            for document in fixture_documents()
            if _filter_matches(document, spec) and _text_matches(document, parsed, excluded, "all")
        ]
        result = await loaded.search(
            self.make_query(
                text=text,
                filter=self._filter(spec),
                facets=("category", "tags", "in_stock", "price"),
                limit=3,
            )
        )
        assert result.total == len(hits)
        for field in ("category", "tags", "in_stock", "price"):
            counts: Counter[Any] = Counter()
            for document in hits:
                value = _value(document, field)
                counts.update(value if isinstance(value, list) else [] if value is None else [value])
            expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            got = [(facet.value, facet.count) for facet in result.facets[field]]
            assert got == expected, field

    async def test_numeric_stats_are_exact(self, loaded: Any) -> None:
        spec: Spec = ("term", "category", "books")
        prices = [
            document["price"]
            for document in fixture_documents()
            if _filter_matches(document, spec) and "price" in document
        ]
        result = await loaded.search(self.make_query(filter=self._filter(spec), stats=("price",), limit=1))
        stats = result.stats["price"]
        assert stats.count == len(prices)
        assert stats.min == min(prices)
        assert stats.max == max(prices)
        assert stats.sum == pytest.approx(sum(prices))
        assert stats.avg == pytest.approx(sum(prices) / len(prices))

    async def test_undeclared_fields_are_typed_errors(self, loaded: Any) -> None:
        with pytest.raises(self.unknown_field_error):
            await loaded.search(self.make_query(filter=self.term("colour", "red")))
        with pytest.raises(self.unknown_field_error):
            await loaded.search(self.make_query(facets=("colour",)))
        with pytest.raises(self.unknown_field_error):
            await loaded.search(self.make_query(sort=(("colour", False),)))
        with pytest.raises(self.unknown_field_error):
            await loaded.search(self.make_query(sort=(("tags", False),)))

    # -- order and pages -------------------------------------------------------------------------

    @pytest.mark.parametrize("descending", [False, True])
    async def test_sort_puts_missing_values_last(self, loaded: Any, descending: bool) -> None:
        documents = fixture_documents()
        present = sorted(
            (document for document in documents if "price" in document),
            key=lambda document: document["id"],
        )
        present.sort(key=lambda document: document["price"], reverse=descending)
        missing = sorted(document["id"] for document in documents if "price" not in document)
        ids = await self._all_ids(loaded, sort=(("price", descending),))
        assert ids == [document["id"] for document in present] + missing

    async def test_offset_pages_tile_the_order(self, loaded: Any) -> None:
        for query in ({"text": "alpha bravo", "match": "any"}, {"sort": (("category", True),)}):
            everything = await self._all_ids(loaded, **query)
            pages: list[str] = []
            for offset in range(0, len(everything) + 7, 7):
                result = await loaded.search(self.make_query(limit=7, offset=offset, **query))
                assert result.total == len(everything)
                pages += [hit.id for hit in result.hits]
            assert pages == everything

    async def test_cursor_pages_walk_every_hit_once(self, loaded: Any) -> None:
        for query in (
            {"text": "alpha bravo", "match": "any"},
            {"sort": (("category", False),)},
            {"sort": (("price", True), ("category", False))},
            {"filter": self.exists("tags")},
        ):
            everything = await self._all_ids(loaded, **query)
            walked: list[str] = []
            cursor = None
            for _ in range(len(everything) + 2):
                result = await loaded.search(self.make_query(limit=6, cursor=cursor, **query))
                assert result.total == len(everything)
                assert result.offset == len(walked)
                walked += [hit.id for hit in result.hits]
                cursor = result.next_cursor
                if cursor is None:
                    break
            assert walked == everything, query

    async def test_a_cursor_survives_writes_elsewhere(self, loaded: Any) -> None:
        first = await loaded.search(self.make_query(sort=(("category", False),), limit=5))
        await loaded.index([self.make_document({"id": "aaa-new", "title": "zulu", "category": "tools"})])
        second = await loaded.search(
            self.make_query(sort=(("category", False),), limit=5, cursor=first.next_cursor)
        )
        assert not {hit.id for hit in first.hits} & {hit.id for hit in second.hits}

    # -- writes ----------------------------------------------------------------------------------

    async def test_delete_removes_from_every_index(self, loaded: Any) -> None:
        documents = fixture_documents()
        gone = [document["id"] for document in documents if _holds(document, ["alpha"])][:5]
        assert await loaded.delete([*gone, "no-such-id"]) == len(gone)
        assert await loaded.delete(gone) == 0
        kept = [document for document in documents if document["id"] not in gone]
        assert await loaded.count() == len(kept)
        assert not set(gone) & set(await self._all_ids(loaded, text="alpha"))
        assert not set(gone) & set(await self._all_ids(loaded, filter=self.exists("category")))
        result = await loaded.search(self.make_query(facets=("category",), limit=0))
        counts = Counter(document["category"] for document in kept if "category" in document)
        assert {(facet.value, facet.count) for facet in result.facets["category"]} == set(counts.items())

    async def test_indexing_an_id_again_replaces_the_document(self, provider: Any) -> None:
        await provider.index([self.make_document({"id": "a", "title": "alpha", "category": "books"})])
        await provider.index([self.make_document({"id": "a", "title": "bravo", "category": "games"})])
        assert await provider.count() == 1
        assert await self._all_ids(provider, text="alpha") == []
        assert await self._all_ids(provider, text="bravo") == ["a"]
        assert await self._all_ids(provider, filter=self.term("category", "books")) == []

    async def test_a_bad_document_writes_nothing(self, provider: Any) -> None:
        with pytest.raises(self.invalid_document_error):
            await provider.index(
                [self.make_document({"id": "good", "title": "alpha"}), self.make_document({"title": "no id"})]
            )
        assert await provider.count() == 0

    async def test_concurrent_writers_lose_nothing(self, provider: Any) -> None:
        batches = [
            [
                self.make_document({"id": f"w{writer}-{n}", "title": "alpha", "body": WORDS[n]})
                for n in range(10)
            ]
            for writer in range(8)
        ]
        await asyncio.gather(*(provider.index(batch) for batch in batches))
        assert await provider.count() == 80
        assert len(await self._all_ids(provider, text="alpha")) == 80
