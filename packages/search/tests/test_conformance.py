"""MemorySearch and PostgresSearch pass `SearchProviderContract` on the same fixture.

The contract computes every expected hit set, total, facet count and stat by brute force, so the two
backends return identical ones; only the order of text hits differs (BM25 against ``ts_rank``).
The contract's ``make_query`` hook defaults to ``match="all"``; the builders pass it on explicitly,
since `SearchQuery`'s own default is ``"any"``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from buttress.search import (
    And,
    Exists,
    InvalidDocumentError,
    MemorySearch,
    Not,
    Or,
    PostgresSearch,
    QuerySyntaxError,
    Range,
    Schema,
    SearchQuery,
    Sort,
    Term,
    Terms,
    UnknownFieldError,
)
from buttress.testing import SearchProviderContract


class Builders:
    """The contract's hooks in buttress-search's own types."""

    unknown_field_error = UnknownFieldError
    syntax_error = QuerySyntaxError
    invalid_document_error = InvalidDocumentError

    def make_query(
        self, *, sort: Sequence[tuple[str, bool]] = (), match: str = "all", **options: Any
    ) -> SearchQuery:
        return SearchQuery(
            sort=tuple(Sort(field, descending) for field, descending in sort),
            match=match,  # type: ignore[arg-type]
            **options,
        )

    def term(self, field: str, value: Any) -> Term:
        return Term(field, value)

    def terms(self, field: str, values: Sequence[Any]) -> Terms:
        return Terms(field, tuple(values))

    def range(self, field: str, **bounds: float) -> Range:
        return Range(field, **bounds)

    def exists(self, field: str) -> Exists:
        return Exists(field)

    def all_of(self, *filters: Any) -> And:
        return And(*filters)

    def any_of(self, *filters: Any) -> Or:
        return Or(*filters)

    def negate(self, filter: Any) -> Not:
        return Not(filter)


class TestMemorySearch(Builders, SearchProviderContract):
    @pytest.fixture(autouse=True)
    def _bind(self, search_schema: Schema) -> None:
        self.schema = search_schema

    async def make_provider(self) -> MemorySearch:
        return MemorySearch(self.schema)


class TestPostgresSearch(Builders, SearchProviderContract):
    @pytest.fixture(autouse=True)
    def _bind(self, make_postgres: Callable[..., Awaitable[PostgresSearch]]) -> None:
        self.make_postgres = make_postgres

    async def make_provider(self) -> PostgresSearch:
        search = await self.make_postgres()
        await search.create_schema()
        return search


@pytest.mark.parametrize("kind", ["memory", "postgres"])
async def test_highlights_can_be_html_escaped(
    kind: str, search_schema: Schema, make_postgres: Callable[..., Awaitable[PostgresSearch]]
) -> None:
    """Escaped fragments keep the document's markup inert and the marks live, on both providers."""
    provider: MemorySearch | PostgresSearch
    if kind == "memory":
        provider = MemorySearch(search_schema, escape_html=True, marks=('<em class="hit">', "</em>"))
    else:
        provider = await make_postgres(escape_html=True, marks=('<em class="hit">', "</em>"))
        await provider.create_schema()
    try:
        await provider.index(
            [{"id": "x", "title": "<b>Fast</b> & light \ue000 shoes", "body": "no match here"}]
        )
        hit = (await provider.search(SearchQuery("shoes", highlight=True))).hits[0]
    finally:
        if isinstance(provider, PostgresSearch):
            await provider.aclose()
    assert set(hit.highlights) == {"title"}
    (fragment,) = hit.highlights["title"]
    assert '<em class="hit">shoes</em>' in fragment
    assert "<b>" not in fragment
    assert "&amp;" in fragment
    assert "&lt;b&gt;Fast&lt;/b&gt;" in fragment  # the same fragment on both: made from the document
