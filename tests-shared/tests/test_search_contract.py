"""SearchProviderContract passes a small correct provider and catches broken ones.

buttress-search is not installed here: the reference provider (a brute-force scan over dicts) lives
in this file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from buttress.testing import SearchProviderContract

REFERENCE = r"""
import base64
import json
import math
import re
from collections import Counter
from types import SimpleNamespace as NS

WORD = re.compile(r"\w+")
TYPED = {"category": "keyword", "tags": "keyword", "price": "number", "in_stock": "boolean"}
SORTABLE = {"price", "category"}
MARKS = ("<mark>", "</mark>")


class BadQuery(ValueError):
    pass


class UnknownField(ValueError):
    pass


class BadDocument(ValueError):
    pass


def toks(text):
    return WORD.findall(text.casefold()) if isinstance(text, str) else []


def parse(text):
    positive, excluded, i = [], [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        negated = text[i] == "-"
        if negated:
            i += 1
            if i == len(text) or text[i].isspace():
                raise BadQuery(text)
        if text[i] == '"':
            j = text.find('"', i + 1)
            if j < 0 or not text[i + 1 : j].strip():
                raise BadQuery(text)
            item, i = text[i + 1 : j], j + 1
        else:
            j = i
            while j < len(text) and not text[j].isspace():
                j += 1
            item, i = text[i:j], j
        (excluded if negated else positive).append(toks(item))
    return positive, excluded


class Query:
    def __init__(self, text="", filter=None, match="all", facets=(), stats=(), sort=(), limit=10,
                 offset=0, cursor=None, highlight=False):
        self.positive, self.excluded = parse(text)
        self.had_text = bool(self.positive)
        self.filter, self.match, self.facets, self.stats = filter, match, tuple(facets), tuple(stats)
        self.sort, self.limit, self.offset, self.cursor = tuple(sort), limit, offset, cursor
        self.highlight = highlight


class Builders:
    unknown_field_error = UnknownField
    syntax_error = BadQuery
    invalid_document_error = BadDocument

    def make_query(self, **options):
        return Query(**options)

    def term(self, field, value):
        return ("term", field, value)

    def terms(self, field, values):
        return ("terms", field, tuple(values))

    def range(self, field, **bounds):
        return ("range", field, bounds)

    def exists(self, field):
        return ("exists", field)

    def all_of(self, *filters):
        return ("and", *filters)

    def any_of(self, *filters):
        return ("or", *filters)

    def negate(self, filter):
        return ("not", filter)


class Provider:
    def __init__(self):
        self.docs = {}

    async def index(self, documents):
        documents = [dict(document) for document in documents]
        for document in documents:
            if not isinstance(document.get("id"), str):
                raise BadDocument("a document needs an id")
        for document in documents:
            self.docs[document["id"]] = document

    async def delete(self, ids):
        return sum(1 for doc_id in dict.fromkeys(ids) if self.docs.pop(doc_id, None) is not None)

    async def count(self, query=None):
        if query is None:
            return len(self.docs)
        query.limit = 0
        return (await self.search(query)).total

    def holds(self, document, words):
        n = len(words)
        for field in ("title", "body"):
            tokens = toks(document.get(field))
            if any(tokens[s : s + n] == words for s in range(len(tokens) - n + 1)):
                return True
        return False

    def value(self, document, field):
        value = document.get(field)
        return None if value == [] else value

    def filter_matches(self, document, spec):
        kind = spec[0]
        if kind == "term":
            value = self.value(document, spec[1])
            if value is None:
                return False
            if isinstance(value, list):
                return spec[2] in value
            if isinstance(value, bool) or isinstance(spec[2], bool):
                return type(value) is type(spec[2]) and value == spec[2]
            return value == spec[2]
        if kind == "terms":
            return any(self.filter_matches(document, ("term", spec[1], v)) for v in spec[2])
        if kind == "range":
            value, b = self.value(document, spec[1]), spec[2]
            return value is not None and (
                ("gte" not in b or value >= b["gte"]) and ("gt" not in b or value > b["gt"])
                and ("lte" not in b or value <= b["lte"]) and ("lt" not in b or value < b["lt"])
            )
        if kind == "exists":
            return self.value(document, spec[1]) is not None
        if kind == "and":
            return all(self.filter_matches(document, sub) for sub in spec[1:])
        if kind == "or":
            return any(self.filter_matches(document, sub) for sub in spec[1:])
        return not self.filter_matches(document, spec[1])

    def fields_in(self, spec):
        if spec[0] in ("and", "or"):
            return [f for sub in spec[1:] for f in self.fields_in(sub)]
        if spec[0] == "not":
            return self.fields_in(spec[1])
        return [spec[1]]

    def check(self, query):
        used = list(query.facets) + list(query.stats)
        if query.filter is not None:
            used += self.fields_in(query.filter)
        if any(field not in TYPED for field in used):
            raise UnknownField(used)
        if any(field not in SORTABLE for field, _ in query.sort):
            raise UnknownField(query.sort)

    def text_matches(self, document, query):
        found = [self.holds(document, words) for words in query.positive if words]
        if query.had_text:
            if not found or not (all(found) if query.match == "all" else any(found)):
                return False
        return not any(self.holds(document, words) for words in query.excluded if words)

    def score(self, document, query):
        total = 0.0
        for words in query.positive:
            for word in words:
                for field, weight in (("title", 2.0), ("body", 1.0)):
                    tokens = toks(document.get(field))
                    if tokens:
                        total += weight * tokens.count(word) / len(tokens)
        return total

    def key(self, document, score, query):
        parts = []
        for field, descending in query.sort:
            value = self.value(document, field)
            if value is None:
                parts.append((1, 0))
            elif isinstance(value, str):
                parts.append((0, tuple(-ord(c) for c in value) + (1,) if descending else value))
            else:
                parts.append((0, -value if descending else value))
        return (*parts, document["id"]) if query.sort else (-score, document["id"])

    def raw(self, document, score, query):
        return [*(self.value(document, field) for field, _ in query.sort), score, document["id"]]

    def facets(self, hits, page, query):
        result = {}
        for field in query.facets:
            counts = Counter()
            for document, _ in hits:
                value = self.value(document, field)
                counts.update(value if isinstance(value, list) else [] if value is None else [value])
            ordered = sorted(counts.items(), key=lambda i: (-i[1], i[0]))
            result[field] = tuple(NS(value=v, count=n) for v, n in ordered)
        return result

    def stats(self, hits, query):
        result = {}
        for field in query.stats:
            values = [self.value(d, field) for d, _ in hits if self.value(d, field) is not None]
            total = math.fsum(values)
            result[field] = NS(count=len(values), min=min(values, default=None),
                               max=max(values, default=None),
                               sum=total, avg=total / len(values) if values else None)
        return result

    def highlights(self, document, query):
        words = {word for group in query.positive for word in group}
        found = {}
        for field in ("title", "body"):
            text = document.get(field)
            if isinstance(text, str) and words & set(toks(text)):
                marked = WORD.sub(lambda m: MARKS[0] + m.group() + MARKS[1] if m.group().casefold() in words
                                  else m.group(), text)
                found[field] = (marked,)
        return found

    def after(self, ordered, query):
        if query.cursor is None:
            return ordered[query.offset :], query.offset
        raw = json.loads(base64.b64decode(query.cursor))
        cut = self.key({"id": raw[-1], **dict(zip([f for f, _ in query.sort], raw))}, raw[-2], query)
        rest = [item for item in ordered if self.key(item[0], item[1], query) > cut]
        return rest, len(ordered) - len(rest)

    async def search(self, query):
        self.check(query)
        hits = [(d, self.score(d, query)) for d in self.docs.values()
                if self.text_matches(d, query)
                and (query.filter is None or self.filter_matches(d, query.filter))]
        ordered = sorted(hits, key=lambda item: self.key(item[0], item[1], query))
        rest, before = self.after(ordered, query)
        page = rest[: query.limit]
        cursor = None
        if len(rest) > len(page) and page:
            cursor = base64.b64encode(json.dumps(self.raw(page[-1][0], page[-1][1], query)).encode()).decode()
        return NS(
            hits=[NS(id=d["id"], score=s, document=dict(d),
                     highlights=self.highlights(d, query) if query.highlight else {}) for d, s in page],
            total=len(hits), facets=self.facets(hits, page, query), stats=self.stats(hits, query),
            offset=before, next_cursor=cursor,
        )
"""

namespace: dict[str, Any] = {"__name__": "search_reference"}
exec(compile(REFERENCE, "search_reference", "exec", dont_inherit=True), namespace)  # noqa: S102


class TestReferenceProvider(namespace["Builders"], SearchProviderContract):  # type: ignore[misc]
    async def make_provider(self) -> Any:
        return namespace["Provider"]()


BROKEN = {
    "not-is-ignored": (
        "def filter_matches(self, document, spec):\n"
        "        if spec[0] == 'not':\n            return True\n"
        "        return super().filter_matches(document, spec)",
        "test_filter_semantics",
    ),
    "phrase-as-bag-of-words": (
        "def holds(self, document, words):\n"
        "        return all(super(Broken, self).holds(document, [w]) for w in words)",
        "test_text_hit_sets",
    ),
    "facets-count-the-page": (
        "def facets(self, hits, page, query):\n        return super().facets(page, page, query)",
        "test_facet_counts_are_exact",
    ),
    "unknown-fields-ignored": (
        "def check(self, query):\n        pass",
        "test_undeclared_fields_are_typed_errors",
    ),
    "missing-values-first": (
        "def key(self, document, score, query):\n"
        "        parts = super().key(document, score, query)\n"
        "        return tuple((-p[0], p[1]) if isinstance(p, tuple) and len(p) == 2 and p[0] in (0, 1)\n"
        "                     else p\n"
        "                     for p in parts)",
        "test_sort_puts_missing_values_last",
    ),
    "cursor-skips-a-tie": (
        "def after(self, ordered, query):\n"
        "        rest, before = super().after(ordered, query)\n"
        "        return (rest[1:], before + 1) if query.cursor else (rest, before)",
        "test_cursor_pages_walk_every_hit_once",
    ),
    "delete-claims-every-id": (
        "async def delete(self, ids):\n        ids = list(ids)\n        await super().delete(ids)\n"
        "        return len(ids)",
        "test_delete_removes_from_every_index",
    ),
    "half-written-batch": (
        "async def index(self, documents):\n"
        "        for document in documents:\n            await super().index([document])",
        "test_a_bad_document_writes_nothing",
    ),
    "no-title-weight": (
        "def score(self, document, query):\n        return 1.0",
        "test_scores_rank_a_weighted_rare_match_first",
    ),
}


PROVIDER = """
from buttress.testing import SearchProviderContract
from reference import Builders, Provider

class Broken(Provider):
    {method}

class TestBroken(Builders, SearchProviderContract):
    async def make_provider(self):
        return Broken()
"""


@pytest.mark.parametrize("flaw", sorted(BROKEN))
def test_the_contract_catches_a_broken_provider(contract_catches: Callable[..., set[str]], flaw: str) -> None:
    method, failing_test = BROKEN[flaw]
    module = PROVIDER.format(method=method)
    contract_catches(failing_test, "-k", failing_test, reference=REFERENCE, test_broken=module)


def test_the_correct_reference_passes_an_inner_run(contract_passes: Callable[..., int]) -> None:
    passed = contract_passes(
        reference=REFERENCE,
        test_reference="""
from buttress.testing import SearchProviderContract
from reference import Builders, Provider

class TestReference(Builders, SearchProviderContract):
    async def make_provider(self):
        return Provider()
""",
    )
    assert passed >= 50
