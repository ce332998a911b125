"""Natural-language text: the default ``match="any"`` ranks partial matches, ``minimum_should_match``
narrows them, and ``syntax="plain"`` takes raw user text; both providers answer alike."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from buttress.search import (
    Analyzer,
    MemorySearch,
    PostgresSearch,
    QuerySyntaxError,
    Schema,
    SearchQuery,
    parse_query,
)

SCHEMA = Schema(searchable={"title": 2.0, "body": 1.0})
DOCUMENTS = [
    {
        "id": "espresso",
        "title": "Brew espresso at home",
        "body": "Grind the beans fine and pull a short shot.",
    },
    {"id": "cold", "title": "Cold brew coffee", "body": "Steep coarse grounds in cold water overnight."},
    {"id": "tea", "title": "Matcha tea", "body": "Whisk the powder with hot water."},
    {"id": "grinder", "title": "Choosing a grinder", "body": "Burr grinders grind beans evenly."},
    {"id": "dash", "title": "The dash key", "body": "A -dash and an em-dash are not the same."},
]

type Provider = MemorySearch | PostgresSearch


@pytest.fixture(params=["memory", "postgres"])
async def provider(
    request: pytest.FixtureRequest, make_postgres: Callable[..., Awaitable[PostgresSearch]]
) -> AsyncIterator[Provider]:
    """Each provider holding the documents above."""
    if request.param == "memory":
        search: Provider = MemorySearch(SCHEMA)
        await search.index(DOCUMENTS)
        yield search
        return
    postgres = await make_postgres(SCHEMA)
    await postgres.create_schema()
    await postgres.index(DOCUMENTS)
    try:
        yield postgres
    finally:
        await postgres.aclose()


def holds(document: dict[str, Any], word: str) -> bool:
    tokens = Analyzer().tokens
    return any(word in tokens(str(document.get(field, ""))) for field in ("title", "body"))


async def ids(provider: Provider, query: SearchQuery) -> set[str]:
    result = await provider.search(query)
    assert result.total == len(result.hits)
    return set(result.ids)


async def test_a_question_finds_partial_matches_by_default(provider: Provider) -> None:
    """Most natural-language questions hold a word no document has: ``match="all"`` finds nothing,
    the default ``match="any"`` finds every document holding some word, those holding more first."""
    question = "how do I brew espresso at home without a machine?"
    assert await ids(provider, SearchQuery(question, match="all")) == set()
    result = await provider.search(SearchQuery(question))
    words = Analyzer().tokens(question)
    assert set(result.ids) == {d["id"] for d in DOCUMENTS if any(holds(d, word) for word in words)}
    assert result.ids[0] == "espresso"  # holds brew, espresso, at, home, a


@pytest.mark.parametrize(
    ("minimum", "text"),
    [
        (1, "brew espresso grind beans"),
        (2, "brew espresso grind beans"),
        (3, "brew espresso grind beans"),
        (9, "brew espresso grind beans"),
        ("50%", "brew espresso grind beans"),
        ("75%", "brew espresso grind beans"),
        ("100%", "brew espresso grind beans"),
        ("1%", "brew espresso grind beans"),
        (2, 'water "cold brew" matcha'),
        ("60%", 'water "cold brew" matcha -whisk'),
    ],
)
async def test_minimum_should_match_counts_the_parts_a_hit_holds(
    provider: Provider, minimum: int | str, text: str
) -> None:
    parsed = parse_query(text)
    parts = len(parsed.positive)
    required = min(minimum, parts) if isinstance(minimum, int) else max(1, parts * int(minimum[:-1]) // 100)

    def holds_part(document: dict[str, Any], part: str) -> bool:
        words = Analyzer().tokens(part)
        return any(
            Analyzer().tokens(str(document.get(field, "")))[start : start + len(words)] == words
            for field in ("title", "body")
            for start in range(50)
        )

    expected = {
        d["id"]
        for d in DOCUMENTS
        if sum(holds_part(d, part) for part in parsed.positive) >= required
        and not any(holds_part(d, part) for part in parsed.excluded)
    }
    assert await ids(provider, SearchQuery(text, minimum_should_match=minimum)) == expected
    assert SearchQuery(text, minimum_should_match=minimum).required(parts) == required


async def test_more_words_held_rank_higher(provider: Provider) -> None:
    result = await provider.search(SearchQuery("grind beans espresso"))
    assert result.ids[:2] == ["espresso", "grinder"]
    assert all(
        earlier.score >= later.score for earlier, later in zip(result.hits, result.hits[1:], strict=False)
    )


async def test_plain_syntax_takes_raw_user_text(provider: Provider) -> None:
    """No operators: a leading ``-`` and quotes are punctuation, and no text is a syntax error."""
    assert await ids(provider, SearchQuery("-dash", syntax="plain")) == {"dash"}
    assert "dash" not in await ids(provider, SearchQuery("key -dash"))  # web syntax: an exclusion
    assert await ids(provider, SearchQuery('"-dash"')) == {"dash"}  # quoting is web syntax's escape
    for text in ["red - blue", '"unterminated', '""', "-", "- - -", 'dash" key"', "em-dash"]:
        with (
            pytest.raises(QuerySyntaxError)
            if text in ("red - blue", '"unterminated', '""', "-", "- - -")
            else _no_error()
        ):
            SearchQuery(text)
        await provider.search(SearchQuery(text, syntax="plain"))
    assert await ids(provider, SearchQuery('dash" key"', syntax="plain", match="all")) == {"dash"}
    assert await ids(provider, SearchQuery("- - -", syntax="plain")) == set()  # only punctuation


class _no_error:  # noqa: N801 - reads as a context manager expression
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


def test_the_required_count_follows_elasticsearch() -> None:
    assert SearchQuery("a").required(0) == 0
    assert SearchQuery("a").required(5) == 1
    assert SearchQuery("a", match="all").required(5) == 5
    assert SearchQuery("a", minimum_should_match=3).required(2) == 2
    assert SearchQuery("a", minimum_should_match="75%").required(4) == 3
    assert SearchQuery("a", minimum_should_match="75%").required(3) == 2
    assert SearchQuery("a", minimum_should_match="10%").required(3) == 1
    for parts in range(1, 50):
        for percent in range(1, 101):
            required = SearchQuery("a", minimum_should_match=f"{percent}%").required(parts)
            assert required == max(1, math.floor(parts * percent / 100))
