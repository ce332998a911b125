"""Property: PostgresSearch returns MemorySearch's hit sets on adversarial text, on real PostgreSQL.

PostgreSQL's own parser would split ``u.s.a.``, ``/at``, URLs, e-mail addresses, hyphenated words and
dotted numbers its own way, fold case without NFKC or ``casefold``, and drop words over 2,047 bytes;
PostgresSearch indexes and queries the `Analyzer`'s tokens instead, so both providers agree on every
text: punctuation, every script, compatibility characters, combining marks and very long words.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from itertools import count
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from buttress.search import (
    ENGLISH_STOP_WORDS,
    Analyzer,
    InvalidDocumentError,
    MemorySearch,
    PostgresSearch,
    QuerySyntaxError,
    Schema,
    SearchQuery,
)

SCHEMA = Schema(searchable={"title": 2.0, "body": 1.0})
ANALYZERS = {
    "default": Analyzer(),
    "english": Analyzer(stop_words=ENGLISH_STOP_WORDS, stemmer="english"),
}
WORDS = [
    # PostgreSQL's parser tokens
    "/at",
    "u.s.a.",
    "U.S.A",
    "usa",
    "http://example.com/a/b?c=d&e=f#g",
    "www.example.org/x",
    "me@example.com",
    "e-mail",
    "email",
    "mail",
    "well-known",
    "3.14",
    "1.2.3",
    "1,000",
    "10:30",
    "$100",
    "C++",
    "c#",
    "node.js",
    "O'Reilly",
    "don't",
    "_under_score",
    "x_y",
    "a/b",
    "a\\b",
    "<b>bold</b>",
    "&amp;",
    "#tag",
    "@mention",
    "-dash",
    "em—dash",
    "foo-bar-baz",
    "v1.2-rc3",
    "-1.5e10",
    "0x1F",
    # Unicode: NFKC, case folding, scripts, marks, invisible characters
    "Straße",
    "STRASSE",
    "strasse",
    "ß",
    "ﬁne",
    "fine",
    "ＡＢＣ１２",  # noqa: RUF001 - full-width on purpose
    "abc12",
    "İstanbul",
    "istanbul",
    "ΣΑΣ",
    "σας",
    "café",
    "cafe\u0301",
    "CAFÉ",
    "naïve",
    "東京",
    "東京タワー",
    "ｶﾀｶﾅ",
    "مرحبا",
    "שלום",
    "👍",
    "a\u200bb",
    "ǅemal",
    "Ⅻ",
    "½",
    "x²",
    "①",
    "ﬀ",
    "K",
    "Å",
    "ǈ",
    "\u00a0nbsp",
    "tab\tbed",
    # the English analyzer's stop words and stems
    "the",
    "and",
    "running",
    "runner",
    "runs",
    "ran",
    # very long words: past PostgreSQL's 2,047-byte lexemes, and past the digest threshold
    "a" * 300,
    "é" * 150,
    "ö" * 1100,
    "z" * 2100,
    "q" * 5000,
    "Ｑ" * 700,  # noqa: RUF001 - full-width on purpose
]
SEPARATORS = [" ", "  ", "\n", "-", "/", ".", ",", "\t", "'", '"', "—", "_"]


def valid(text: str) -> bool:
    return "\x00" not in text and not any(0xD800 <= ord(char) <= 0xDFFF for char in text)


words = st.one_of(
    st.sampled_from(WORDS),
    st.text(min_size=1, max_size=10).filter(valid),
)


@st.composite
def texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(words, max_size=10))
    out = []
    for part in parts:
        out += [part, draw(st.sampled_from(SEPARATORS))]
    return "".join(out)


@st.composite
def corpora(draw: st.DrawFn) -> list[dict[str, Any]]:
    size = draw(st.integers(1, 8))
    return [{"id": f"d{n}", "title": draw(texts()), "body": draw(texts())} for n in range(size)]


def web_part(word: str) -> str:
    """A word as a web-syntax term (no quote, no leading dash), or "" when nothing is left."""
    return word.replace('"', " ").lstrip("-").strip()


@st.composite
def queries(draw: st.DrawFn, corpus: list[dict[str, Any]]) -> SearchQuery:
    """Queries mostly made of the corpus's own words, so most of them match something."""
    known = [
        word
        for document in corpus
        for field in ("title", "body")
        for word in document[field].split()
        if len(word) <= 2500  # a query holds 4,096 characters at most
    ]
    pick = st.sampled_from(known) if known else words
    chosen = draw(st.lists(pick | words, min_size=1, max_size=5))
    assume(sum(map(len, chosen)) < 4000)
    match = draw(st.sampled_from(["any", "all"]))
    minimum = draw(st.sampled_from([None, 2, "50%", "75%"])) if match == "any" else None
    if draw(st.booleans()):
        return SearchQuery(
            " ".join(chosen), syntax="plain", match=match, minimum_should_match=minimum, limit=100
        )
    parts = [part for part in map(web_part, chosen) if part]
    assume(parts)
    pieces = []
    for part in parts:
        kind = draw(st.sampled_from(["term", "term", "phrase", "exclude"]))
        if kind == "phrase":
            pieces.append(f'"{part} {web_part(draw(pick))}"')
        elif kind == "exclude":
            pieces.append(f"-{part.split()[0]}")
        else:
            pieces.append(part)
    try:
        return SearchQuery(" ".join(pieces), match=match, minimum_should_match=minimum, limit=100)
    except QuerySyntaxError:
        assume(False)
        raise


_tables = count()


@pytest.fixture(params=sorted(ANALYZERS))
async def pair(
    request: pytest.FixtureRequest, make_postgres: Callable[..., Awaitable[PostgresSearch]]
) -> AsyncIterator[tuple[MemorySearch, PostgresSearch]]:
    """A MemorySearch and a PostgresSearch with the same analyzer (default, or English stemming)."""
    analyzer = ANALYZERS[request.param]
    postgres = await make_postgres(SCHEMA, analyzer=analyzer)
    await postgres.create_schema()
    try:
        yield MemorySearch(SCHEMA, analyzer=analyzer), postgres
    finally:
        await postgres.drop_schema()
        await postgres.aclose()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
async def test_postgres_returns_memory_hit_sets_on_adversarial_text(
    pair: tuple[MemorySearch, PostgresSearch], data: st.DataObject
) -> None:
    """Property 1: for any documents and any query text, the hit sets and totals are the same."""
    memory, postgres = pair
    corpus = data.draw(corpora())
    await postgres.delete([f"d{n}" for n in range(8)])
    memory.delete_now([f"d{n}" for n in range(8)])
    await postgres.index(corpus)
    memory.index_now(corpus)
    for _ in range(4):
        query = data.draw(queries(corpus))
        ours, theirs = memory.search_now(query), await postgres.search(query)
        assert set(ours.ids) == set(theirs.ids), (query, corpus)
        assert ours.total == theirs.total


async def test_phrases_agree_past_the_tsvector_position_limits(
    pair: tuple[MemorySearch, PostgresSearch],
) -> None:
    """``tsvector`` positions stop at 16,383 and keep 256 per word; phrases are matched on the token
    text instead, so a phrase deep in a long field, or at a word's 300th occurrence, is found."""
    memory, postgres = pair
    filler = " ".join(f"w{n}" for n in range(20_000))
    repeated = " ".join(["echo"] * 300)
    documents = [
        {"id": "deep", "title": "start", "body": f"{filler} tail phrase here"},
        {"id": "late", "title": "start", "body": f"{repeated} echo alpha"},
        {"id": "split", "title": "tail phrase", "body": "here"},  # a phrase never spans two fields
        {"id": "clamped", "body": f"{filler} tail x phrase"},  # near, not adjacent, past the clamp
    ]
    await postgres.index(documents)
    memory.index_now(documents)
    for text in ['"tail phrase here"', '"echo alpha"', '"phrase here"', '"w19999 tail"', '"tail phrase"']:
        query = SearchQuery(text, limit=100)
        assert set(memory.search_now(query).ids) == set((await postgres.search(query)).ids), text
    assert (await postgres.search(SearchQuery('"tail phrase here"'))).ids == ["deep"]
    assert (await postgres.search(SearchQuery('"echo alpha"'))).ids == ["late"]


async def test_a_document_past_the_tsvector_size_keeps_its_words(
    pair: tuple[MemorySearch, PostgresSearch],
) -> None:
    """Past 1 MB of lexemes and positions, the positions (used only for ranking) are dropped: every
    word and phrase is still found. Past 1 MB of distinct lexemes alone, PostgreSQL cannot store the
    vector: InvalidDocumentError, the one document MemorySearch indexes and PostgresSearch refuses."""
    memory, postgres = pair
    many = " ".join(f"k{n:05d}x" for n in range(100_000))  # 700 kB of lexemes, 500 kB of positions
    await postgres.index([{"id": "big", "body": many}])
    memory.index_now([{"id": "big", "body": many}])
    for text in ["k00000x", "k99999x", '"k50000x k50001x"']:
        query = SearchQuery(text)
        assert memory.search_now(query).ids == (await postgres.search(query)).ids == ["big"]
    too_many = " ".join(f"k{n:06d}yz" for n in range(120_000))  # 1.08 MB of distinct lexemes
    with pytest.raises(InvalidDocumentError, match="1 MB"):
        await postgres.index([{"id": "huge", "body": too_many}])
    memory.index_now([{"id": "huge", "body": too_many}])
