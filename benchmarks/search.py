"""buttress-search against bm25s, rank_bm25 and tantivy on two labelled corpora, in one run.

Every engine gets the same documents (title and body as one text field) and the same tokens: the
text goes through buttress-search's default `Analyzer` (NFKC, case folding, Unicode words) and the
peers receive the token lists (tantivy: the tokens joined by spaces, which its default tokenizer
splits back the same way). Query timings include tokenising the query, for every engine.

Printed, in order:

0. Long natural-language queries: the Cranfield collection (1,400 abstracts, 225 questions of 5 to 44
   tokens, 17.4 on average, graded judgements; ``benchmarks/data/cranfield``). Queries/s one query
   per call of MemorySearch (``engine="numpy"``, extra ``fast``, and ``engine="python"``), bm25s and
   tantivy, bm25s batched, indexing rates (wall clock and per CPU second; alone, and followed by
   every question once: the numpy engine builds a term's arrays at its first query, the peers while
   indexing; tantivy also on the raw text, to show what the shared tokens cost it), nDCG@10, and µs
   per query by the query's token count. MemorySearch gets the raw question with
   ``syntax="plain"`` (its hyphenated words are phrases); the peers get the same tokens. tantivy is
   called its fastest documented way: ``search(query, 10, count=False)`` (no hit count, where
   MemorySearch counts every hit) and the ids read from an integer fast field, not from stored
   documents. ``python benchmarks/search.py --cranfield`` runs this section alone; ``--before REV``
   adds MemorySearch as of git revision REV (numpy engine) to the indexing rounds (wall clock, CPU
   and index + every question once), alternating with the current code, and checks both return
   the same hits and scores (top 100) on every question.
1. Queries per second (OR of the query's words, top 10): MemorySearch vs rank_bm25 (target >= 10x),
   with bm25s and tantivy next to it, each called one query at a time as an application does; bm25s
   also with every query in one ``retrieve`` call (its batched mode); PostgresSearch (the Analyzer's
   tokens in a ``tsvector``, GIN index).
2. Indexing documents per second (tokenising included): MemorySearch vs rank_bm25 (target >= 1x).
3. nDCG@10 on the labelled queries: MemorySearch vs bm25s (Lucene BM25, k1 = 1.2, b = 0.75; target
   within 0.01), rank_bm25 (Okapi), tantivy and PostgresSearch (``ts_rank``); and how many labelled
   queries find nothing under ``match="all"`` and under the default ``match="any"``.
4. FallbackSearch's added latency per query (healthy primary; failing primary answered by the
   fallback) over calling MemorySearch directly.

Medians over repeats, with the 10th-90th percentile spread. PostgreSQL comes from
``BUTTRESS_BENCH_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``); its rows are
skipped when the server is unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import tantivy
from rank_bm25 import BM25Okapi

sys.path.insert(0, str(Path(__file__).parent))
from _harness import Dist, load_before, print_table, ratio
from _search_corpus import build, cranfield, question_forms

from buttress.search import (
    Analyzer,
    FallbackSearch,
    MemorySearch,
    PostgresSearch,
    Schema,
    SearchQuery,
    SearchUnavailableError,
)

logging.getLogger("buttress.search").setLevel(logging.ERROR)  # the failing-primary run warns per query
DSN = os.environ.get("BUTTRESS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REPEATS = 7
SCHEMA = Schema(searchable={"text": 1.0})


def ndcg_at_10(ranked: Sequence[str], grades: dict[str, int]) -> float:
    gain = sum(
        (2 ** grades.get(doc_id, 0) - 1) / math.log2(rank + 2) for rank, doc_id in enumerate(ranked[:10])
    )
    ideal = sorted(grades.values(), reverse=True)[:10]
    best = sum((2**grade - 1) / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    return gain / best if best else 0.0


def rates(
    runs: dict[str, tuple[Callable[[], Any], int]],
    repeats: int = REPEATS,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Dist]:
    """Items per second of each run, sampled round-robin (so load on the machine hits all alike).

    Each run is warmed up once; ``runs`` maps a name to ``(call, items per call)``. With
    ``clock=time.process_time`` the rate is per second of this process's CPU time (every thread's):
    on a loaded machine, the time a run waits for a core is left out.
    """
    for run, _ in runs.values():
        run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (run, items) in runs.items():
            start = clock()
            run()
            samples[name].append(items / max(clock() - start, 1e-9))
    return {name: Dist.of(values) for name, values in samples.items()}


async def arate(run: Callable[[], Any], items: int, repeats: int = REPEATS) -> Dist:
    await run()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        await run()
        samples.append(items / (time.perf_counter() - start))
    return Dist.of(samples)


# -- engines ----------------------------------------------------------------------------------------


class Peers:
    """bm25s, rank_bm25 and tantivy built on the same tokens."""

    def __init__(self, documents: list[dict[str, str]], analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.ids = [document["id"] for document in documents]
        self.texts = [document["text"] for document in documents]

    def build_rank_bm25(self) -> BM25Okapi:
        return BM25Okapi([self.analyzer.tokens(text) for text in self.texts], k1=1.2, b=0.75)

    def build_bm25s(self) -> bm25s.BM25:
        retriever = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
        retriever.index([self.analyzer.tokens(text) for text in self.texts], show_progress=False)
        return retriever

    def build_tantivy(self, raw: bool = False) -> tantivy.Index:
        """One writer (100 MB heap, one thread), every document, one commit: tantivy's bulk load.

        With ``raw``, tantivy gets the text itself and its own default tokenizer (no NFKC, Unicode
        words by its rules): a different analysis, timed only to show what our tokens cost it.
        """
        # A document's position is an integer fast field: a hit's id is read from the column
        # (``fast_field_values``) rather than from the document store, tantivy's fastest way.
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("num", stored=False, fast=True)
        builder.add_text_field("text", stored=False)
        index = tantivy.Index(builder.build())
        writer = index.writer(heap_size=100_000_000, num_threads=1)
        tokens = self.analyzer.tokens
        for num, text in enumerate(self.texts):
            writer.add_document(tantivy.Document(num=num, text=text if raw else " ".join(tokens(text))))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        return index


def rank_bm25_top(model: BM25Okapi, ids: list[str], analyzer: Analyzer, text: str) -> list[str]:
    scores = model.get_scores(analyzer.tokens(text))
    top = np.argpartition(-scores, 10)[:10]
    return [ids[i] for i in sorted(top, key=lambda i: (-scores[i], ids[i]))]


def bm25s_top(model: bm25s.BM25, ids: list[str], analyzer: Analyzer, text: str) -> list[str]:
    found, _ = model.retrieve([analyzer.tokens(text)], k=10, show_progress=False, n_threads=1)
    return [ids[i] for i in found[0]]


def bm25s_batch(model: bm25s.BM25, ids: list[str], analyzer: Analyzer, texts: list[str]) -> list[list[str]]:
    """Every query in one ``retrieve`` call: bm25s's batched mode."""
    found, _ = model.retrieve(
        [analyzer.tokens(text) for text in texts], k=10, show_progress=False, n_threads=1
    )
    return [[ids[i] for i in row] for row in found]


def tantivy_top(
    index: tantivy.Index, searcher: Any, ids: list[str], analyzer: Analyzer, text: str
) -> list[str]:
    """tantivy's fastest documented path: no hit count, ids from a fast field (no stored document)."""
    query = index.parse_query(" ".join(analyzer.tokens(text)), ["text"])
    hits = searcher.search(query, 10, count=False).hits
    return [ids[num] for num in searcher.fast_field_values("num", [address for _, address in hits])]


# -- long natural-language queries --------------------------------------------------------------------

BUCKETS = ((0, 9, "5-9"), (10, 14, "10-14"), (15, 19, "15-19"), (20, 24, "20-24"), (25, 10**9, "25-44"))


def per_query_us(
    runs: dict[str, Callable[[str], Any]], texts: list[str], repeats: int
) -> dict[str, list[float]]:
    """Each engine's median µs for each query, one query per call, engines taking turns each round."""
    for run in runs.values():
        for text in texts:
            run(text)
    samples: dict[str, list[list[float]]] = {name: [[] for _ in texts] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            for position, text in enumerate(texts):
                start = time.perf_counter()
                run(text)
                samples[name][position].append(time.perf_counter() - start)
    return {name: [statistics.median(values) * 1e6 for values in rows] for name, rows in samples.items()}


def before_revision() -> str | None:
    """The revision after ``--before``, if any."""
    if "--before" not in sys.argv:
        return None
    return sys.argv[sys.argv.index("--before") + 1]


def long_queries(analyzer: Analyzer) -> None:
    documents, queries = cranfield()
    texts = [text for text, _ in queries]
    grades = [g for _, g in queries]
    peers = Peers(documents, analyzer)
    ids = peers.ids
    schema = Schema(searchable={"text": 1.0})
    print(
        f"\nCranfield: {len(documents)} documents, {len(texts)} questions, "
        f"{statistics.fmean(len(analyzer.tokens(t)) for t in texts):.1f} tokens per question on average"
    )

    def memory(engine: Any) -> Callable[[], MemorySearch]:
        def build_index() -> MemorySearch:
            search = MemorySearch(schema, analyzer=analyzer, engine=engine)
            search.index_now(documents)
            return search

        return build_index

    count = len(documents)
    revision = before_revision()
    old: Any = None
    if revision is not None:
        old = load_before("search", revision)

    def memory_before() -> Any:
        search = old.MemorySearch(
            old.Schema(searchable={"text": 1.0}), analyzer=old.Analyzer(), engine="numpy"
        )
        search.index_now(documents)
        return search

    index_runs: dict[str, tuple[Callable[[], Any], int]] = {
        "MemorySearch": (memory("numpy"), count),
        **({"MemorySearch before": (memory_before, count)} if old is not None else {}),
        "bm25s": (peers.build_bm25s, count),
        "tantivy": (peers.build_tantivy, count),
        "tantivy raw": (lambda: peers.build_tantivy(raw=True), count),
    }
    index_rates = rates(index_runs, 9)
    index_cpu = rates(index_runs, 9, time.process_time)

    # The numpy engine builds a term's arrays at its first query after a write, where the peers
    # compute everything while indexing: also time indexing followed by every question once.
    def cold_memory() -> None:
        built = memory("numpy")()
        for text in texts:
            built.search_now(SearchQuery(text, syntax="plain"))

    def cold_bm25s() -> None:
        built = peers.build_bm25s()
        for text in texts:
            bm25s_top(built, ids, analyzer, text)

    def cold_tantivy() -> None:
        built = peers.build_tantivy()
        reader = built.searcher()
        for text in texts:
            tantivy_top(built, reader, ids, analyzer, text)

    def cold_before() -> None:
        built = memory_before()
        for text in texts:
            built.search_now(old.SearchQuery(text, syntax="plain"))

    cold_rates = rates(
        {
            "MemorySearch": (cold_memory, count),
            **({"MemorySearch before": (cold_before, count)} if old is not None else {}),
            "bm25s": (cold_bm25s, count),
            "tantivy": (cold_tantivy, count),
        },
        5,
    )
    if old is not None:
        now, then = memory("numpy")(), memory_before()
        same = sum(
            1
            for text in texts
            if [
                (hit.id, hit.score)
                for hit in now.search_now(SearchQuery(text, syntax="plain", limit=100)).hits
            ]
            == [
                (hit.id, hit.score)
                for hit in then.search_now(old.SearchQuery(text, syntax="plain", limit=100)).hits
            ]
        )
        print_table(
            f"Indexing, MemorySearch now and at {revision} (numpy engine), same rounds",
            ["measure", "before", "now", "now / before", "tantivy", "now / tantivy", "before / tantivy"],
            [
                [
                    label,
                    found["MemorySearch before"].cell(),
                    found["MemorySearch"].cell(),
                    ratio(found["MemorySearch"].p50, found["MemorySearch before"].p50),
                    found["tantivy"].cell(),
                    ratio(found["MemorySearch"].p50, found["tantivy"].p50),
                    ratio(found["MemorySearch before"].p50, found["tantivy"].p50),
                ]
                for label, found in (
                    ("index documents/s, wall clock", index_rates),
                    ("index documents per CPU second", index_cpu),
                    ("index + every question once, documents/s", cold_rates),
                )
            ],
            [f"Hits and scores (top 100) identical before and now on {same}/{len(texts)} questions."],
        )
    fresh = memory("numpy")()
    start = time.perf_counter()
    for text in texts:
        fresh.search_now(SearchQuery(text, syntax="plain"))
    first_pass_us = (time.perf_counter() - start) / len(texts) * 1e6
    engines = {"numpy": memory("numpy")(), "python": memory("python")()}
    fast = peers.build_bm25s()
    tindex = peers.build_tantivy()
    searcher = tindex.searcher()

    def ours(engine: str) -> Callable[[str], Any]:
        search = engines[engine]
        return lambda text: search.search_now(SearchQuery(text, syntax="plain"))

    single: dict[str, Callable[[str], Any]] = {
        "MemorySearch numpy": ours("numpy"),
        "MemorySearch python": ours("python"),
        "bm25s": lambda text: bm25s_top(fast, ids, analyzer, text),
        "tantivy": lambda text: tantivy_top(tindex, searcher, ids, analyzer, text),
    }
    query_runs: dict[str, tuple[Callable[[], Any], int]] = {
        **{name: ((lambda run=run: [run(t) for t in texts]), len(texts)) for name, run in single.items()},
        "bm25s batched": (lambda: bm25s_batch(fast, ids, analyzer, texts), len(texts)),
    }
    query_rates = rates(query_runs, 15)
    cpu_rates = rates(query_runs, 15, time.process_time)
    timings = per_query_us(single, texts, 5)
    rankings = {
        "MemorySearch numpy": [
            engines["numpy"].search_now(SearchQuery(t, syntax="plain")).ids for t in texts
        ],
        "MemorySearch python": [
            engines["python"].search_now(SearchQuery(t, syntax="plain")).ids for t in texts
        ],
        "bm25s": [bm25s_top(fast, ids, analyzer, t) for t in texts],
        "tantivy": [tantivy_top(tindex, searcher, ids, analyzer, t) for t in texts],
    }
    identical = sum(
        1
        for text in texts
        if engines["numpy"].search_now(SearchQuery(text, syntax="plain", limit=100))
        == engines["python"].search_now(SearchQuery(text, syntax="plain", limit=100))
    )
    relevance = {
        name: statistics.fmean(ndcg_at_10(r, g) for r, g in zip(ranked, grades, strict=True))
        for name, ranked in rankings.items()
    }
    top_agree = sum(
        1
        for a, b in zip(rankings["MemorySearch numpy"], rankings["bm25s"], strict=True)
        if list(a) == list(b)
    )
    names = list(single)
    ours_q = query_rates["MemorySearch numpy"].p50
    print_table(
        "Long natural-language queries (Cranfield), one query per call, top 10",
        ["measure", *names, "bm25s batched"],
        [
            ["queries/s", *(query_rates[n].cell() for n in names), query_rates["bm25s batched"].cell()],
            [
                "queries per CPU second",
                *(cpu_rates[n].cell() for n in names),
                cpu_rates["bm25s batched"].cell(),
            ],
            [
                "index documents/s",
                index_rates["MemorySearch"].cell(),
                "(same index)",
                index_rates["bm25s"].cell(),
                index_rates["tantivy"].cell(),
                "",
            ],
            [
                "index documents per CPU second",
                index_cpu["MemorySearch"].cell(),
                "(same index)",
                index_cpu["bm25s"].cell(),
                index_cpu["tantivy"].cell(),
                "",
            ],
            [
                "index + every question once, documents/s",
                cold_rates["MemorySearch"].cell(),
                "",
                cold_rates["bm25s"].cell(),
                cold_rates["tantivy"].cell(),
                "",
            ],
            ["nDCG@10", *(f"{relevance[n]:.4f}" for n in names), ""],
        ],
        [
            f"MemorySearch (numpy) / bm25s: queries {ratio(ours_q, query_rates['bm25s'].p50)} "
            f"(target ≥ 1.0x), {ratio(ours_q, query_rates['bm25s batched'].p50)} against its batched "
            f"mode; / tantivy: queries {ratio(ours_q, query_rates['tantivy'].p50)} (target ≥ 0.8x); "
            f"indexing {ratio(index_rates['MemorySearch'].p50, index_rates['tantivy'].p50)} of tantivy's "
            f"(target ≥ 1.0x), {ratio(index_cpu['MemorySearch'].p50, index_cpu['tantivy'].p50)} per CPU "
            f"second, {ratio(index_rates['MemorySearch'].p50, index_rates['bm25s'].p50)} of "
            f"bm25s's; tantivy given the raw text (its own tokenizer, another analysis) indexes "
            f"{index_rates['tantivy raw'].cell()} documents/s, {index_cpu['tantivy raw'].cell()} per CPU "
            f"second; indexing + every question once "
            f"{ratio(cold_rates['MemorySearch'].p50, cold_rates['tantivy'].p50)} of tantivy's, "
            f"{ratio(cold_rates['MemorySearch'].p50, cold_rates['bm25s'].p50)} of bm25s's; "
            f"pure Python / bm25s "
            f"{ratio(query_rates['MemorySearch python'].p50, query_rates['bm25s'].p50)}. Per CPU second: "
            f"/ bm25s {ratio(cpu_rates['MemorySearch numpy'].p50, cpu_rates['bm25s'].p50)}, "
            f"/ tantivy {ratio(cpu_rates['MemorySearch numpy'].p50, cpu_rates['tantivy'].p50)}.",
            f"nDCG@10 MemorySearch - bm25s = {relevance['MemorySearch numpy'] - relevance['bm25s']:+.4f} "
            f"(target: within 0.005); top 10 identical to bm25s's on {top_agree}/{len(texts)} questions; "
            f"numpy and python engines returned identical results (top 100, scores, totals) on "
            f"{identical}/{len(texts)}.",
            f"First pass after indexing (the numpy engine builds each term's arrays): "
            f"{first_pass_us:.0f} µs/query.",
        ],
    )
    lengths = [len(analyzer.tokens(t)) for t in texts]
    rows = []
    for low, high, label in BUCKETS:
        chosen = [i for i, n in enumerate(lengths) if low <= n <= high]
        if not chosen:
            continue
        means = {n: statistics.fmean(timings[n][i] for i in chosen) for n in names}
        rows.append(
            [
                f"{label} tokens ({len(chosen)} questions)",
                *(f"{means[n]:,.0f}" for n in names),
                ratio(means["bm25s"], means["MemorySearch numpy"]),
                ratio(means["tantivy"], means["MemorySearch numpy"]),
            ]
        )
    print_table(
        "µs per query by the question's token count (mean of per-question medians)",
        ["tokens", *names, "speed vs bm25s", "speed vs tantivy"],
        rows,
    )


# -- the run ----------------------------------------------------------------------------------------


async def main() -> None:
    documents, queries = build()
    texts = [text for text, _ in queries]
    analyzer = Analyzer()
    long_queries(analyzer)
    if "--cranfield" in sys.argv:  # the long-query section alone
        return
    peers = Peers(documents, analyzer)
    bench_docs = [{"id": d["id"], "text": d["text"]} for d in documents]
    print(
        f"corpus: {len(documents)} documents, {len(queries)} labelled queries; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores"
    )

    # Indexing.
    def index_memory() -> MemorySearch:
        search = MemorySearch(SCHEMA, analyzer=analyzer)
        search.index_now(bench_docs)
        return search

    count = len(documents)
    index_rates = rates(
        {
            "MemorySearch": (index_memory, count),
            "rank_bm25": (peers.build_rank_bm25, count),
            "bm25s": (peers.build_bm25s, count),
            "tantivy": (peers.build_tantivy, count),
        },
        9,
    )

    memory = index_memory()
    rank = peers.build_rank_bm25()
    fast = peers.build_bm25s()
    tindex = peers.build_tantivy()
    searcher = tindex.searcher()
    ids = peers.ids

    # Queries.
    def memory_queries() -> None:
        for text in texts:
            memory.search_now(SearchQuery(text, match="any"))

    query_rates = rates(
        {
            "MemorySearch": (memory_queries, len(texts)),
            "rank_bm25": (lambda: [rank_bm25_top(rank, ids, analyzer, t) for t in texts], len(texts)),
            "bm25s": (lambda: [bm25s_top(fast, ids, analyzer, t) for t in texts], len(texts)),
            "tantivy": (lambda: [tantivy_top(tindex, searcher, ids, analyzer, t) for t in texts], len(texts)),
            "bm25s batched": (lambda: bm25s_batch(fast, ids, analyzer, texts), len(texts)),
        },
        5,
    )
    asked = question_forms(texts)
    empty = {
        (kind, match): sum(
            1 for text in items if memory.search_now(SearchQuery(text, match=match, limit=0)).total == 0
        )
        for kind, items in (("labelled", texts), ("questions", asked))
        for match in ("all", "any")
    }

    # Relevance.
    rankings: dict[str, list[list[str]]] = {
        "MemorySearch": [memory.search_now(SearchQuery(t, match="any")).ids for t in texts],
        "bm25s": [bm25s_top(fast, ids, analyzer, t) for t in texts],
        "rank_bm25": [rank_bm25_top(rank, ids, analyzer, t) for t in texts],
        "tantivy": [tantivy_top(tindex, searcher, ids, analyzer, t) for t in texts],
    }

    # Same formula: MemorySearch's scores against bm25s's (float32) on every document.
    worst = 0.0
    for text in texts:
        every = memory.search_now(SearchQuery(text, match="any", limit=10_000))
        ours = {hit.id: hit.score for hit in every.hits}
        theirs = fast.get_scores(analyzer.tokens(text))
        for position, doc_id in enumerate(ids):
            mine = ours.get(doc_id, 0.0)
            worst = max(worst, abs(mine - float(theirs[position])) / max(abs(mine), 1e-9))

    # PostgreSQL.
    postgres_rate: Dist | None = None
    postgres_index: Dist | None = None
    postgres = await PostgresSearch.connect(DSN, SCHEMA, table="bench_search_documents", max_size=2)
    try:
        await postgres.drop_schema()
        await postgres.create_schema()
        start = time.perf_counter()
        for offset in range(0, len(bench_docs), 1000):
            await postgres.index(bench_docs[offset : offset + 1000])
        postgres_index = Dist.of([len(bench_docs) / (time.perf_counter() - start)])

        async def postgres_queries() -> None:
            for text in texts:
                await postgres.search(SearchQuery(text, match="any"))

        postgres_rate = await arate(postgres_queries, len(texts), 5)
        rankings["PostgresSearch"] = [(await postgres.search(SearchQuery(t, match="any"))).ids for t in texts]
        await postgres.drop_schema()
    except SearchUnavailableError as exc:
        print(f"PostgreSQL skipped: {exc}")
    finally:
        await postgres.aclose()

    # Fallback overhead.
    class Down:
        async def search(self, query: SearchQuery) -> Any:
            raise ConnectionError("down")

    backup = index_memory()
    healthy = FallbackSearch(memory, backup, timeout=5)
    failing = FallbackSearch(Down(), backup, timeout=5)  # type: ignore[arg-type]
    failing.breaker.failure_threshold = 10**9  # keep calling the primary: measure the full failure path

    async def direct() -> None:
        for text in texts:
            await memory.search(SearchQuery(text, match="any"))

    async def through(search: FallbackSearch[Any]) -> None:
        for text in texts:
            await search.search(SearchQuery(text, match="any"))

    # Round-robin rounds, each path's µs/query against the direct call of the same round: paired
    # differences, so load that shifts during the run hits all three alike.
    paths = {"direct": direct, "healthy": lambda: through(healthy), "failing": lambda: through(failing)}
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for run in paths.values():
        await run()
    for _ in range(21):
        for name, run in paths.items():
            start = time.perf_counter()
            await run()
            samples[name].append((time.perf_counter() - start) / len(texts) * 1e6)
    direct_us = Dist.of(samples["direct"])
    added = {
        name: Dist.of([ours - base for ours, base in zip(samples[name], samples["direct"], strict=True)])
        for name in ("healthy", "failing")
    }

    # Tables.
    peer_names = ["rank_bm25", "bm25s", "tantivy"]
    ours_q, ours_i = query_rates["MemorySearch"].p50, index_rates["MemorySearch"].p50
    rows = [
        [
            "queries/s (top 10, OR)",
            query_rates["MemorySearch"].cell(),
            *(query_rates[name].cell() for name in peer_names),
            ratio(ours_q, query_rates["rank_bm25"].p50),
            "≥ 10x",
        ],
        [
            "queries/s, bm25s batched (all queries in one call)",
            "",
            "",
            query_rates["bm25s batched"].cell(),
            "",
            "",
            "",
        ],
        [
            "index documents/s",
            index_rates["MemorySearch"].cell(),
            *(index_rates[name].cell() for name in peer_names),
            ratio(ours_i, index_rates["rank_bm25"].p50),
            "≥ 1x",
        ],
    ]
    print_table(
        "MemorySearch vs peers, same corpus and tokens",
        ["operation", "MemorySearch", *peer_names, "vs rank_bm25", "target"],
        rows,
        [
            f"MemorySearch / bm25s: queries {ratio(ours_q, query_rates['bm25s'].p50)} one at a time, "
            f"{ratio(ours_q, query_rates['bm25s batched'].p50)} against its batched mode, "
            f"indexing {ratio(ours_i, index_rates['bm25s'].p50)}; "
            f"/ tantivy: queries {ratio(ours_q, query_rates['tantivy'].p50)}, "
            f"indexing {ratio(ours_i, index_rates['tantivy'].p50)}."
        ],
    )
    grades = [g for _, g in queries]
    scores = {
        name: statistics.fmean(ndcg_at_10(r, g) for r, g in zip(ranked, grades, strict=True))
        for name, ranked in rankings.items()
    }
    question_scores = {
        match: statistics.fmean(
            ndcg_at_10(memory.search_now(SearchQuery(text, match=match)).ids, g)
            for text, g in zip(asked, grades, strict=True)
        )
        for match in ("all", "any")
    }
    print_table(
        "nDCG@10 on the labelled queries",
        ["engine", "nDCG@10", "vs MemorySearch"],
        [[name, f"{value:.4f}", f"{value - scores['MemorySearch']:+.4f}"] for name, value in scores.items()],
        [
            f"MemorySearch - bm25s = {scores['MemorySearch'] - scores['bm25s']:+.4f} (target: within 0.01); "
            f"largest relative difference of any document's score from bm25s's: {worst:.1e} "
            "(bm25s computes in float32; the top 10s differ only in the order of near-ties).",
            f"Queries finding nothing: labelled {empty['labelled', 'all']}/{len(texts)} with match='all', "
            f"{empty['labelled', 'any']}/{len(texts)} with the default match='any'; the same asked as "
            f"questions ('which ... should I buy as a beginner?') {empty['questions', 'all']}/{len(asked)} "
            f"with 'all', {empty['questions', 'any']}/{len(asked)} with 'any' "
            f"(MemorySearch nDCG@10 {question_scores['all']:.4f} with 'all', "
            f"{question_scores['any']:.4f} with 'any').",
        ],
    )
    pg_rows = []
    if postgres_rate is not None and postgres_index is not None:
        pg_rows = [
            ["PostgresSearch queries/s (top 10, OR, ts_rank)", postgres_rate.cell()],
            ["PostgresSearch index documents/s (batches of 1000)", postgres_index.cell()],
        ]
    print_table(
        "PostgresSearch and FallbackSearch",
        ["measure", "value"],
        [
            *pg_rows,
            ["MemorySearch direct, µs/query", direct_us.cell(1)],
            ["FallbackSearch, healthy primary: added µs/query", added["healthy"].cell(1)],
            ["FallbackSearch, failing primary → fallback: added µs/query", added["failing"].cell(1)],
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
