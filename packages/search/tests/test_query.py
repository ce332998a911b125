"""The query parser, typed query objects, the schema and the analyzer reject bad input with typed errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.core import ArgumentTypeError, ConfigurationError
from buttress.search import (
    ENGLISH_STOP_WORDS,
    Analyzer,
    And,
    Exists,
    InvalidDocumentError,
    MemorySearch,
    Not,
    Or,
    ParsedQuery,
    QuerySyntaxError,
    Range,
    Schema,
    SearchConfigurationError,
    SearchError,
    SearchQuery,
    SearchTypeError,
    Sort,
    Term,
    Terms,
    UnknownFieldError,
    parse_query,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ParsedQuery()),
        ("red shoes", ParsedQuery(terms=("red", "shoes"))),
        ('"running shoes" red', ParsedQuery(terms=("red",), phrases=("running shoes",))),
        ("red -kids", ParsedQuery(terms=("red",), excluded=("kids",))),
        ('-"for kids" trail', ParsedQuery(terms=("trail",), excluded=("for kids",))),
        ("e-mail", ParsedQuery(terms=("e-mail",))),
        ('a"b c"', ParsedQuery(terms=("a",), phrases=("b c",))),
        ("  spaced\tout\n", ParsedQuery(terms=("spaced", "out"))),
    ],
)
def test_the_parser_splits_terms_phrases_and_exclusions(text: str, expected: ParsedQuery) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ('red "running shoes', 4, "unterminated quote"),
        ("red -", 4, "'-' must be followed"),
        ("red - shoes", 4, "'-' must be followed"),
        ('red ""', 4, "empty phrase"),
        ('-"   "', 1, "empty phrase"),
    ],
)
def test_a_malformed_query_names_the_position(text: str, position: int, reason: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        SearchQuery(text)
    assert info.value.position == position
    assert reason in str(info.value)
    assert f"position {position}" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SearchError)


def test_an_overlong_query_is_refused() -> None:
    with pytest.raises(QuerySyntaxError):
        parse_query("a " * 3000)


@given(st.text(max_size=60))
def test_the_parser_either_parses_or_raises_a_typed_error(text: str) -> None:
    """Property: any string parses, or fails with QuerySyntaxError pointing inside it, or (holding NUL
    or a lone surrogate, which no backend stores) with SearchConfigurationError; plain syntax never
    fails on valid text."""
    valid = "\x00" not in text and not any(0xD800 <= ord(char) <= 0xDFFF for char in text)
    if not valid:
        for syntax in ("web", "plain"):
            with pytest.raises(SearchConfigurationError, match=r"NUL|surrogate"):
                parse_query(text, syntax)  # type: ignore[arg-type]
        return
    assert parse_query(text, "plain").terms == tuple(text.split())
    error: QuerySyntaxError | None = None
    try:
        parsed = parse_query(text)
    except QuerySyntaxError as exc:
        error = exc
    if error is not None:
        assert 0 <= error.position <= len(text)
        return
    for part in (*parsed.terms, *parsed.phrases, *parsed.excluded):
        assert part.strip()
        assert '"' not in part


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: SearchQuery(1), SearchTypeError),  # type: ignore[arg-type]
        (lambda: SearchQuery(limit=-1), SearchConfigurationError),
        (lambda: SearchQuery(limit=10_001), SearchConfigurationError),
        (lambda: SearchQuery(limit=True), SearchTypeError),  # type: ignore[arg-type]
        (lambda: SearchQuery(limit=2.0), SearchTypeError),  # type: ignore[arg-type]
        (lambda: SearchQuery(offset=-1), SearchConfigurationError),
        (lambda: SearchQuery(offset=2**31), SearchConfigurationError),
        (lambda: SearchQuery(offset=False), SearchTypeError),
        (lambda: SearchQuery("a\x00b"), SearchConfigurationError),
        (lambda: SearchQuery("caf\u00e9 \ud800"), SearchConfigurationError),
        (lambda: SearchQuery(b"bytes"), SearchTypeError),  # type: ignore[arg-type]
        (lambda: SearchQuery("x", minimum_should_match=0), SearchConfigurationError),
        (lambda: SearchQuery("x", match="all", minimum_should_match=1), SearchConfigurationError),
        (lambda: SearchQuery(offset=5, cursor="x"), SearchConfigurationError),
        (lambda: SearchQuery(match="some"), SearchConfigurationError),  # type: ignore[arg-type]
        (lambda: SearchQuery(facets="category"), SearchTypeError),  # type: ignore[arg-type]
        (lambda: SearchQuery(sort=("price",)), SearchTypeError),  # type: ignore[arg-type]
        (lambda: SearchQuery(filter="price > 3"), SearchTypeError),  # type: ignore[arg-type]
        (lambda: SearchQuery(highlight=1), SearchTypeError),  # type: ignore[arg-type]
        (lambda: Term("price", [1]), SearchTypeError),  # type: ignore[arg-type]
        (lambda: Term("", "x"), SearchConfigurationError),
        (lambda: Term("price", float("nan")), SearchConfigurationError),
        (lambda: Terms("tags", "abc"), SearchTypeError),  # type: ignore[arg-type]
        (lambda: Range("price"), SearchConfigurationError),
        (lambda: Range("price", gte=1, gt=2), SearchConfigurationError),
        (lambda: Range("price", lte="9"), SearchTypeError),  # type: ignore[arg-type]
        (lambda: Range("price", lt=float("inf")), SearchConfigurationError),
        (lambda: And(Term("a", 1), "b"), SearchTypeError),  # type: ignore[arg-type]
        (lambda: Not(None), SearchTypeError),  # type: ignore[arg-type]
    ],
)
def test_bad_query_objects_are_typed_errors(build: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        build()


def test_filters_are_frozen_values() -> None:
    assert Or(Term("a", "x"), Exists("b")) == Or(Term("a", "x"), Exists("b"))
    assert hash(Not(Range("p", gte=1))) == hash(Not(Range("p", gte=1)))
    assert Terms("tags", ["a", "b"]).values == ("a", "b")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"searchable": {}}, SearchConfigurationError),
        ({"searchable": {"title": 0}}, SearchConfigurationError),
        ({"searchable": {"title": "2"}}, SearchTypeError),
        ({"searchable": ["title"]}, SearchTypeError),
        ({"searchable": {"title": 1}, "fields": {"price": "money"}}, SearchConfigurationError),
        ({"searchable": {"title": 1}, "facetable": {"price"}}, SearchConfigurationError),
        ({"searchable": {"title": 1}, "sortable": "price"}, SearchTypeError),
        ({"searchable": {"title": 1}, "fields": {"id": "keyword"}}, SearchConfigurationError),
    ],
)
def test_a_bad_schema_is_refused(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        Schema(**options)


async def test_undeclared_fields_name_the_field_and_the_use(search_schema: Schema) -> None:
    search = MemorySearch(search_schema)
    with pytest.raises(UnknownFieldError) as info:
        await search.search(SearchQuery(filter=And(Term("category", "a"), Not(Exists("colour")))))
    assert info.value.field == "colour"
    assert info.value.use == "filter"
    assert "'category'" in str(info.value)
    with pytest.raises(UnknownFieldError):
        await search.search(SearchQuery(stats=("colour",)))
    with pytest.raises(SearchConfigurationError, match="number"):
        await search.search(SearchQuery(stats=("category",)))
    with pytest.raises(SearchConfigurationError, match="number"):
        await search.search(SearchQuery(filter=Range("category", gte=1)))
    with pytest.raises(SearchTypeError):
        await search.search(SearchQuery(filter=Term("price", "cheap")))
    with pytest.raises(SearchTypeError):
        await search.search(SearchQuery(filter=Term("in_stock", 1)))
    with pytest.raises(SearchTypeError):
        await search.search("shoes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "document",
    [
        {"title": "no id"},
        {"id": 7, "title": "int id"},
        {"id": "a", "title": 3},
        {"id": "a", "price": "12"},
        {"id": "a", "price": True},
        {"id": "a", "in_stock": "yes"},
        {"id": "a", "tags": ["ok", 3]},
        {"id": "a", "category": ["sortable", "fields", "hold one value"]},
        {"id": "a", "price": float("inf")},
    ],
)
async def test_a_bad_document_is_refused(search_schema: Schema, document: dict[str, Any]) -> None:
    search = MemorySearch(search_schema)
    with pytest.raises(InvalidDocumentError):
        await search.index([{"id": "fine", "title": "kept out too"}, document])
    assert len(search) == 0


def test_the_analyzer_normalises_folds_and_splits() -> None:
    analyzer = Analyzer()
    text = "Straße ﬁne ＡＢＣ１２ naïve 東京 x_y"  # noqa: RUF001 - full-width on purpose
    assert analyzer.tokens(text) == ["strasse", "fine", "abc12", "naïve", "東京", "x_y"]
    assert Analyzer(normalization="NFC").tokens("ＡＢＣ") == ["ａｂｃ"]  # noqa: RUF001 - full-width on purpose
    assert Analyzer(stop_words=ENGLISH_STOP_WORDS).tokens("The cat and THE hat") == ["cat", "hat"]


@given(st.text(st.characters(max_codepoint=127)))
def test_ascii_text_splits_as_the_unicode_word_pattern(text: str) -> None:
    # ASCII text takes a byte-table path; it must give the tokens of the general path's regex.
    assert Analyzer().tokens(text) == re.findall(r"\w+", text.lower())
    assert Analyzer().tokens(text + "\u00e9") == re.findall(r"\w+", text.lower() + "\u00e9")


def test_the_analyzer_stems_with_snowball() -> None:
    analyzer = Analyzer(stemmer="english", stop_words=ENGLISH_STOP_WORDS)
    assert analyzer.tokens("Running runners ran into the running") == ["run", "runner", "ran", "run"]
    assert Analyzer.from_dict(analyzer.to_dict()) == analyzer


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"stemmer": "klingon"}, SearchConfigurationError),
        ({"stemmer": 3}, SearchTypeError),
        ({"stop_words": "the"}, SearchTypeError),
        ({"stop_words": {1}}, SearchTypeError),
        ({"normalization": "NFD"}, SearchConfigurationError),
    ],
)
def test_a_bad_analyzer_is_refused(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        Analyzer(**options)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"k1": -1}, ConfigurationError),
        ({"b": 1.5}, ConfigurationError),
        ({"k1": "1.2"}, ArgumentTypeError),
        ({"marks": ("<b>",)}, ArgumentTypeError),
        ({"fragment_size": 0}, ConfigurationError),
        ({"analyzer": "english"}, ArgumentTypeError),
    ],
)
def test_a_bad_memory_search_is_refused(
    search_schema: Schema, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        MemorySearch(search_schema, **options)
    with pytest.raises(SearchTypeError):
        MemorySearch({"title": 1.0})  # type: ignore[arg-type]


async def test_a_foreign_or_stale_cursor_is_refused(search_schema: Schema) -> None:
    search = MemorySearch(search_schema)
    await search.index([{"id": str(n), "title": "alpha", "price": n} for n in range(5)])
    first = await search.search(SearchQuery("alpha", limit=2))
    assert first.next_cursor is not None
    with pytest.raises(SearchConfigurationError, match="different query"):
        await search.search(SearchQuery("alpha", sort=(Sort("price"),), limit=2, cursor=first.next_cursor))
    for cursor in ("!!!", "bm90IGpzb24", first.next_cursor[:-3]):
        with pytest.raises(SearchConfigurationError):
            await search.search(SearchQuery("alpha", limit=2, cursor=cursor))
