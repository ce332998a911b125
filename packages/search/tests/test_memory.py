"""MemorySearch: BM25 scores equal Lucene's formula, relevance, highlights, pages and persistence."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from buttress.search import (
    ENGLISH_STOP_WORDS,
    Analyzer,
    IndexFileError,
    InvalidDocumentError,
    MemorySearch,
    Range,
    Schema,
    SearchHit,
    SearchQuery,
    SearchTypeError,
    Sort,
    Term,
)

# -- a naive BM25 with Lucene's defaults, to check the engine against -----------------------------


def naive_bm25(
    documents: list[dict[str, Any]],
    query: list[str],
    weights: dict[str, float],
    analyzer: Analyzer,
    k1: float = 1.2,
    b: float = 0.75,
) -> dict[str, float]:
    """Score every document holding a query token: the weighted sum over fields of per-field BM25."""
    scores: dict[str, float] = {}
    for field, weight in weights.items():
        tokens = {doc["id"]: analyzer.tokens(doc[field]) for doc in documents if doc.get(field)}
        tokens = {doc_id: found for doc_id, found in tokens.items() if found}
        n_docs = len(tokens)
        if not n_docs:
            continue
        average = sum(map(len, tokens.values())) / n_docs
        for term in query:
            holding = sum(1 for found in tokens.values() if term in found)
            idf = math.log(1 + (n_docs - holding + 0.5) / (holding + 0.5))
            for doc_id, found in tokens.items():
                tf = found.count(term)
                if tf:
                    part = idf * tf / (tf + k1 * (1 - b + b * len(found) / average))
                    scores[doc_id] = scores.get(doc_id, 0.0) + weight * part
    return scores


def topic_corpus(
    seed: int = 7, per_topic: int = 30
) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, int]]]]:
    """A small labelled corpus: documents about topics, queries with graded relevance (2 main, 1 side)."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "so", "du", "ga"]
    words = sorted(
        {rng.choice(syllables) + rng.choice(syllables) + rng.choice(syllables) for _ in range(900)}
    )
    rng.shuffle(words)
    common, topics = words[:200], [words[200 + 20 * t : 220 + 20 * t] for t in range(12)]
    documents, labels = [], []
    for index in range(per_topic * len(topics)):
        main, side = index % len(topics), rng.randrange(len(topics))
        body = rng.choices(common, k=rng.randint(20, 60)) + rng.choices(topics[main], k=rng.randint(3, 12))
        body += rng.choices(topics[side], k=rng.randint(0, 4))
        rng.shuffle(body)
        title = rng.choices(topics[main], k=2) + rng.choices(common, k=2)
        documents.append({"id": f"d{index:04d}", "title": " ".join(title), "body": " ".join(body)})
        labels.append((main, side))
    queries = []
    for topic, vocabulary in enumerate(topics):
        text = " ".join(rng.sample(vocabulary, 3))
        grades = {}
        for doc, (main, side) in zip(documents, labels, strict=True):
            if main == topic:
                grades[doc["id"]] = 2
            elif side == topic:
                grades[doc["id"]] = 1
        queries.append((text, grades))
    return documents, queries


def ndcg_at_10(ranked: list[str], grades: dict[str, int]) -> float:
    gain = sum(
        (2 ** grades.get(doc_id, 0) - 1) / math.log2(rank + 2) for rank, doc_id in enumerate(ranked[:10])
    )
    ideal = sorted(grades.values(), reverse=True)[:10]
    best = sum((2**grade - 1) / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    return gain / best if best else 0.0


TOPIC_SCHEMA = Schema(searchable={"title": 2.0, "body": 1.0})


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (0.9, 0.4), (2.0, 1.0), (1.2, 0.0)])
async def test_scores_equal_the_naive_bm25(k1: float, b: float) -> None:
    documents, queries = topic_corpus(per_topic=8)
    documents.append({"id": "title-only", "title": queries[0][0].split()[0]})
    search = MemorySearch(TOPIC_SCHEMA, k1=k1, b=b)
    await search.index(documents)
    for text, _ in queries[:6]:
        expected = naive_bm25(
            documents, search.analyzer.tokens(text), TOPIC_SCHEMA.searchable, search.analyzer, k1, b
        )
        result = await search.search(SearchQuery(text, match="any", limit=1000))
        assert result.total == len(expected)
        got = {hit.id: hit.score for hit in result.hits}
        assert got == pytest.approx(expected, rel=1e-12)
        order = sorted(expected, key=lambda doc_id: (-expected[doc_id], doc_id))
        assert result.ids == order


async def test_ndcg_is_at_least_the_reference_bm25() -> None:
    documents, queries = topic_corpus()
    search = MemorySearch(TOPIC_SCHEMA)
    await search.index(documents)
    ours, reference = [], []
    for text, grades in queries:
        result = await search.search(SearchQuery(text, match="any"))
        ours.append(ndcg_at_10(result.ids, grades))
        expected = naive_bm25(
            documents, search.analyzer.tokens(text), TOPIC_SCHEMA.searchable, search.analyzer
        )
        reference.append(ndcg_at_10(sorted(expected, key=lambda d: (-expected[d], d)), grades))
    assert sum(ours) / len(ours) >= sum(reference) / len(reference) - 1e-9
    assert sum(ours) / len(ours) > 0.8


async def test_writes_refresh_the_statistics() -> None:
    documents, queries = topic_corpus(per_topic=5)
    search = MemorySearch(TOPIC_SCHEMA)
    await search.index(documents[:30])
    await search.search(SearchQuery(queries[0][0], match="any"))  # fills the caches
    await search.index(documents[30:])
    await search.delete([doc["id"] for doc in documents[:10]])
    kept = documents[10:]
    text = queries[0][0]
    expected = naive_bm25(kept, search.analyzer.tokens(text), TOPIC_SCHEMA.searchable, search.analyzer)
    result = await search.search(SearchQuery(text, match="any", limit=1000))
    assert {hit.id: hit.score for hit in result.hits} == pytest.approx(expected, rel=1e-12)


async def test_match_all_needs_every_term_and_any_one() -> None:
    search = MemorySearch(TOPIC_SCHEMA)
    await search.index(
        [
            {"id": "both", "title": "red shoes"},
            {"id": "red", "title": "red hat"},
            {"id": "none", "title": "blue hat"},
        ]
    )
    assert (await search.search(SearchQuery("red shoes", match="all"))).ids == ["both"]
    assert set((await search.search(SearchQuery("red shoes", match="any"))).ids) == {"both", "red"}
    assert (await search.search(SearchQuery("red shoes", match="any"))).ids[0] == "both"
    assert (await search.search(SearchQuery("red shoes"))).ids == ["both", "red"]  # the default: any
    assert (await search.search(SearchQuery("hat -blue"))).ids == ["red"]
    assert (await search.search(SearchQuery("nothing"))).total == 0


async def test_stop_words_and_stems_apply_to_documents_and_queries() -> None:
    search = MemorySearch(TOPIC_SCHEMA, analyzer=Analyzer(stop_words=ENGLISH_STOP_WORDS, stemmer="english"))
    await search.index(
        [{"id": "a", "title": "The runners were running"}, {"id": "b", "title": "A quiet walk"}]
    )
    assert (await search.search(SearchQuery("run"))).ids == ["a"]
    assert (await search.search(SearchQuery('"runner were run"'))).ids == ["a"]
    # A query of stop words only matches nothing (as PostgreSQL's websearch_to_tsquery).
    assert (await search.search(SearchQuery("the a"))).total == 0
    assert (await search.search(SearchQuery("-the"))).total == 2


async def test_a_hyphenated_word_is_a_phrase() -> None:
    search = MemorySearch(TOPIC_SCHEMA)
    await search.index([{"id": "a", "title": "send an e-mail"}, {"id": "b", "title": "mail to e"}])
    assert (await search.search(SearchQuery("e-mail"))).ids == ["a"]


@pytest.mark.parametrize("engine", ["python", "numpy"])
async def test_phrases_are_found_at_either_end_across_repeats_and_after_a_rewrite(engine: str) -> None:
    if engine == "numpy":
        pytest.importorskip("numpy")
    search = MemorySearch(Schema(searchable={"title": 1.0}), engine=engine)  # type: ignore[arg-type]
    await search.index(
        [
            {"id": "start", "title": "gamma delta alpha"},
            {"id": "end", "title": "alpha alpha gamma delta"},
            {"id": "overlap", "title": "beta beta beta gamma"},
            {"id": "apart", "title": "gamma alpha delta"},
            {"id": "short", "title": "gamma"},
        ]
    )

    async def found(text: str) -> list[str]:
        return sorted((await search.search(SearchQuery(text, limit=100))).ids)

    assert await found('"gamma delta"') == ["end", "start"]
    assert await found('"beta beta gamma"') == ["overlap"]
    assert await found('"gamma delta" zeta') == ["end", "start"]
    assert await found('"delta alpha gamma"') == []
    # A document rewritten with other text is checked against its new text, not the old one's tokens.
    await search.index([{"id": "start", "title": "delta gamma"}, {"id": "short", "title": "gamma delta"}])
    assert await found('"gamma delta"') == ["end", "short"]
    await search.delete(["end"])
    assert await found('"gamma delta"') == ["short"]
    assert await found('"alpha alpha"') == []


async def test_highlights_wrap_matches_in_fragments() -> None:
    body = " ".join(["filler"] * 60 + ["the", "Shoes", "here"] + ["filler"] * 60 + ["more", "shoes"])
    search = MemorySearch(TOPIC_SCHEMA, marks=("[", "]"), fragment_size=40, max_fragments=2)
    await search.index([{"id": "a", "title": "Red running SHOES", "body": body}])
    hit = (await search.search(SearchQuery("shoes running", highlight=True))).hits[0]
    assert hit.highlights["title"] == ("Red [running] [SHOES]",)
    fragments = hit.highlights["body"]
    assert len(fragments) == 2
    assert all("[Shoes]" in f or "[shoes]" in f for f in fragments)
    assert fragments[0].startswith("…")
    assert fragments[0].endswith("…")
    assert all(len(f) < 80 for f in fragments)
    plain = (await search.search(SearchQuery("shoes"))).hits[0]
    assert plain.highlights == {}
    assert (await search.search(SearchQuery(highlight=True))).hits[0].highlights == {}


async def test_pages_beyond_the_end_are_empty(search_schema: Schema) -> None:
    search = MemorySearch(search_schema)
    await search.index([{"id": str(n), "title": "alpha", "price": n} for n in range(5)])
    result = await search.search(SearchQuery("alpha", offset=10))
    assert result.total == 5
    assert result.hits == ()
    assert result.next_cursor is None
    only_counts = await search.search(SearchQuery("alpha", limit=0, facets=("price",)))
    assert only_counts.hits == ()
    assert only_counts.total == 5
    assert len(only_counts.facets["price"]) == 5


async def test_cursor_pages_are_stable_under_ties(search_schema: Schema) -> None:
    search = MemorySearch(search_schema)
    await search.index([{"id": f"{n:02d}", "title": "same words", "category": "x"} for n in range(23)])
    cursor, seen = None, []
    while True:
        page = await search.search(SearchQuery("same", sort=(Sort("category"),), limit=5, cursor=cursor))
        seen += page.ids
        # A write between pages does not shift what comes next.
        await search.index([{"id": f"0{len(seen)}-new", "title": "other", "category": "x"}])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"{n:02d}" for n in range(23)]


async def test_facets_and_stats_over_the_whole_hit_set(search_schema: Schema) -> None:
    search = MemorySearch(search_schema)
    documents = [
        {
            "id": str(n),
            "title": "alpha",
            "tags": ["a", "b"] if n % 2 else ["a"],
            "price": n,
            "in_stock": n % 3 == 0,
        }
        for n in range(10)
    ]
    await search.index(documents)
    result = await search.search(
        SearchQuery(
            "alpha",
            filter=Range("price", gte=2),
            facets=("tags", "in_stock"),
            stats=("price",),
            limit=1,
        )
    )
    assert result.total == 8
    assert [(f.value, f.count) for f in result.facets["tags"]] == [("a", 8), ("b", 4)]
    assert [(f.value, f.count) for f in result.facets["in_stock"]] == [(False, 5), (True, 3)]
    stats = result.stats["price"]
    assert (stats.count, stats.min, stats.max, stats.sum, stats.avg) == (8, 2, 9, 44, 5.5)
    none = await search.search(SearchQuery(filter=Term("tags", "zzz"), stats=("price",)))
    assert none.stats["price"].count == 0
    assert none.stats["price"].avg is None


async def test_count_and_len(search_schema: Schema) -> None:
    search = MemorySearch(search_schema)
    await search.index([{"id": str(n), "title": "alpha" if n % 2 else "bravo"} for n in range(6)])
    assert len(search) == 6
    assert await search.count() == 6
    assert await search.count(SearchQuery("alpha")) == 3
    assert await search.delete(["0", "0", "nope"]) == 1
    with pytest.raises(SearchTypeError):
        await search.delete("0")
    with pytest.raises(SearchTypeError):
        await search.index({"id": "x"})  # type: ignore[arg-type]


# -- persistence ---------------------------------------------------------------------------------


async def test_save_and_load_round_trip(tmp_path: Path, search_schema: Schema) -> None:
    analyzer = Analyzer(stop_words=frozenset({"the"}), stemmer="english")
    search = MemorySearch(search_schema, analyzer=analyzer, k1=1.5, b=0.5)
    documents = [
        {"id": str(n), "title": f"the running {n}", "body": "ünïcode text", "tags": ["a"], "price": n / 2}
        for n in range(20)
    ]
    await search.index(documents)
    await search.delete(["3"])
    path = tmp_path / "index.bsi"
    await search.save(path)
    loaded = await MemorySearch.load(path)
    assert loaded.schema == search.schema
    assert loaded.analyzer == analyzer
    assert (loaded.k1, loaded.b) == (1.5, 0.5)
    query = SearchQuery(
        "run", facets=("tags",), stats=("price",), sort=(Sort("price", descending=True),), limit=50
    )
    assert await loaded.search(query) == await search.search(query)
    assert list(tmp_path.iterdir()) == [path]  # noqa: ASYNC240 - no temporary file left behind


async def test_a_damaged_file_is_a_typed_error(tmp_path: Path, search_schema: Schema) -> None:
    search = MemorySearch(search_schema)
    await search.index([{"id": "a", "title": "alpha"}])
    path = tmp_path / "index.bsi"
    await search.save(path)
    raw = path.read_bytes()
    header, _, body = raw.partition(b"\n")
    cases = {
        "truncated": raw[:-5],
        "flipped": raw[:-3] + b"X" + raw[-2:],
        "not an index": b"hello world\n{}",
        "empty": b"",
        "newer": json.dumps({**json.loads(header), "version": 99}).encode() + b"\n" + body,
    }
    for name, content in cases.items():
        path.write_bytes(content)
        with pytest.raises(IndexFileError) as info:
            await MemorySearch.load(path)
        assert str(path) in str(info.value), name
        assert isinstance(info.value, ValueError)
    with pytest.raises(IndexFileError):
        await MemorySearch.load(tmp_path / "missing.bsi")


async def test_a_valid_checksum_over_an_invalid_body_is_a_typed_error(tmp_path: Path) -> None:
    import hashlib  # noqa: PLC0415

    body = json.dumps({"schema": {"searchable": {}}, "documents": []}).encode()
    header = {
        "format": "buttress-search-memory-index",
        "version": 1,
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    path = tmp_path / "bad.bsi"
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)
    with pytest.raises(IndexFileError, match="invalid"):
        await MemorySearch.load(path)


async def test_a_document_json_cannot_hold_is_refused_so_every_index_can_be_saved(tmp_path: Path) -> None:
    search = MemorySearch(TOPIC_SCHEMA)
    await search.index([{"id": "a", "title": "alpha"}])
    path = tmp_path / "index.bsi"
    await search.save(path)
    with pytest.raises(InvalidDocumentError):
        await search.index([{"id": "b", "title": "bravo", "extra": {1, 2}}])
    await search.save(path)
    assert (await MemorySearch.load(path)).search_now(SearchQuery("alpha")).ids == ["a"]
    with pytest.raises(IndexFileError):
        await search.save(tmp_path / "no-such-dir" / "index.bsi")
    with pytest.raises(IndexFileError):
        await search.save(tmp_path / "nul\x00name")


async def test_replacing_documents_in_one_call_keeps_the_last() -> None:
    search = MemorySearch(TOPIC_SCHEMA)
    await search.index([{"id": "a", "title": "alpha"}, {"id": "a", "title": "bravo"}])
    assert len(search) == 1
    assert (await search.search(SearchQuery("bravo"))).ids == ["a"]
    assert (await search.search(SearchQuery("alpha"))).total == 0
    hit = (await search.search(dataclasses.replace(SearchQuery("bravo"), highlight=True))).hits[0]
    assert hit.document == {"id": "a", "title": "bravo"}
    assert search._live_postings("title", "alpha") is None
    assert search._live_postings("title", "bravo") == [search._num["a"]]


async def test_bad_load_options_are_not_blamed_on_the_file(tmp_path: Path) -> None:
    search = MemorySearch(TOPIC_SCHEMA)
    await search.index([{"id": "a", "title": "alpha"}])
    path = tmp_path / "index.bsi"
    await search.save(path)
    with pytest.raises(SearchTypeError):
        await MemorySearch.load(path, marks="<b>")
    loaded = await MemorySearch.load(path, marks=("[", "]"))
    hit = (await loaded.search(SearchQuery("alpha", highlight=True))).hits[0]
    assert hit.highlights == {"title": ("[alpha]",)}


def test_the_fast_hit_constructor_builds_the_constructors_object() -> None:
    from buttress.search._types import make_hit  # noqa: PLC0415 - the private helper itself

    document = {"id": "a", "title": "x"}
    hit = make_hit("a", 1.5, document, {"title": ("<mark>x</mark>",)})
    assert hit == SearchHit("a", 1.5, document, {"title": ("<mark>x</mark>",)})
    assert repr(hit) == repr(SearchHit("a", 1.5, document, {"title": ("<mark>x</mark>",)}))
    assert hash(make_hit("a", 1.5, "doc", ())) == hash(SearchHit("a", 1.5, "doc", ()))  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.score = 2.0  # type: ignore[misc]


def test_the_fast_page_constructor_builds_the_constructors_hits() -> None:
    from buttress.search._types import make_plain_hits  # noqa: PLC0415 - the private helper itself

    documents = [{"id": "a", "title": "x"}, {"id": "b"}]
    hits = make_plain_hits([("a", 1.5, documents[0]), ("b", 0.5, documents[1])])
    expected = (SearchHit("a", 1.5, documents[0]), SearchHit("b", 0.5, documents[1]))
    assert type(hits) is tuple
    assert hits == expected
    assert repr(hits) == repr(expected)
    assert hits[0].highlights == {}
    assert hits[0].highlights is not hits[1].highlights  # each its own, as the default factory's
    assert make_plain_hits([]) == ()


def test_the_fast_result_constructor_builds_the_constructors_object() -> None:
    from buttress.search import SearchResult  # noqa: PLC0415 - next to the private helper
    from buttress.search._types import make_result  # noqa: PLC0415 - the private helper itself

    hits = (SearchHit("a", 1.5, {"id": "a"}, {}),)
    result = make_result(hits, 7, 2, 3, "cursor")
    expected = SearchResult(hits=hits, total=7, offset=2, limit=3, next_cursor="cursor")
    assert result == expected
    assert repr(result) == repr(expected)
    assert dataclasses.asdict(result) == dataclasses.asdict(expected)
    assert result.facets is not make_result(hits, 7, 2, 3, None).facets  # a fresh dict each time
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.total = 8  # type: ignore[misc]


def test_the_relevance_cursor_encoder_writes_the_general_encoders_cursor() -> None:
    from buttress.search._cursor import encode_cursor, encode_score_cursor  # noqa: PLC0415 - private

    query = SearchQuery("héllo wörld", syntax="plain")
    generator = random.Random(7)
    ids = ["a", 'é"\\\n\u2028x', "\U0001f600", "a/b", "<tag>&"]
    scores = [
        5e-324,
        1e300,
        0.1,
        3.0,
        *(generator.random() * 10 ** generator.randint(-20, 20) for _ in range(500)),
    ]
    for score in scores:
        for doc_id in ids:
            assert encode_score_cursor(query, score, doc_id) == encode_cursor(query, [score, doc_id])


@pytest.mark.parametrize(
    "query",
    [
        SearchQuery("the quick brown-fox -lazy"),
        SearchQuery('the "of the" and'),
        SearchQuery('red "running shoes" -kids -"old hat"', minimum_should_match="50%"),
        SearchQuery("red running shoes", minimum_should_match=2),
        SearchQuery("red running the", match="all"),
        SearchQuery(""),
        SearchQuery("-red"),
        SearchQuery('Ünïcode ﬁle "x-y z"', syntax="plain"),
    ],
)
def test_the_remembered_plan_is_plan_texts(query: SearchQuery) -> None:
    from buttress.search._plan import plan_text  # noqa: PLC0415 - the shared planner

    search = MemorySearch(Schema(searchable={"title": 1.0}), analyzer=Analyzer(stop_words=ENGLISH_STOP_WORDS))
    for _ in range(2):  # analysed, then remembered
        assert search._plan(query) == plan_text(query, search.analyzer)
