"""`PostgresSearch`: PostgreSQL full-text search (extra ``postgres``, asyncpg)."""

# SQL text is built from validated, quoted identifiers and field-name literals only; every value
# (query text, filter values, cursors, options) is a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Self

from buttress.core import redact_url

from ._query import And, Exists, Filter, Not, Or, Range, SearchQuery, Sort, Term, Terms
from ._schema import Schema
from ._types import FacetCount, NumericStats, SearchHit, SearchResult, decode_cursor, encode_cursor
from .exceptions import (
    InvalidDocumentError,
    MissingExtraError,
    SearchConfigurationError,
    SearchTypeError,
    SearchUnavailableError,
)

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("PostgresSearch", "postgres") from exc

__all__ = ["PostgresSearch"]

logger = logging.getLogger("buttress.search")

type Document = dict[str, Any]

_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.InternalClientError,  # a connection left in a broken protocol state by a cut
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_CONFIG = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?")
_CLASSES = "ABCD"
_FRAGMENT_DELIMITER = "\ue002"
_OPEN, _CLOSE = "\ue000", "\ue001"
_GAP = "'''buttress gap'':1'"
_GAP_LEXEME = "'buttress gap'"


def _quote(table: str) -> str:
    parts = table.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise SearchConfigurationError("table", table, "must be a table name, optionally schema-qualified")
    return ".".join(f'"{part}"' for part in parts)


def _literal(text: str) -> str:
    """A SQL string literal for a validated identifier-like value (field names, configurations)."""
    return "'" + text.replace("'", "''") + "'"


class _Params:
    """Collects query parameters and hands out their ``$n`` placeholders."""

    def __init__(self, values: list[Any] | None = None) -> None:
        self.values: list[Any] = list(values or [])

    def __call__(self, value: Any, cast: str = "") -> str:  # noqa: ANN401 - any bindable value
        self.values.append(value)
        return f"${len(self.values)}{cast}"


class PostgresSearch:
    """Search over a PostgreSQL table: a weighted ``tsvector`` with a GIN index, ranked with ``ts_rank``.

    Each document is one row: its id, the document as ``jsonb`` (filters, facets, stats and sorts
    read it) and a ``tsvector`` built from the searchable fields, each with ``setweight`` to a
    class (A to D) by its weight: the largest weight is class A, the next B, and so on (at most four
    distinct weights). Ranking is ``ts_rank`` with those weights, relative to the largest, and
    length normalisation 1 (divide by ``1 + log(length)``): a frequency-and-weight ranking, not BM25,
    so the order of hits differs from `MemorySearch` while the hit set, totals, facets and stats are
    the same (given the same tokens: use the ``simple`` configuration with the default `Analyzer`,
    or ``english`` with a stemming, stop-word analyzer, and expect small differences between
    PostgreSQL's and Snowball's stemmers).

    The text is parsed by `buttress.search.parse_query`; its parts reach the server as parameters of
    ``websearch_to_tsquery``, combined with AND (``match="all"``) or OR (``"any"``); excluded parts
    are one more ``websearch_to_tsquery`` that must not match. Filters compile to parameterised SQL
    over the ``jsonb`` document; facets are ``GROUP BY`` queries over the whole hit set. A page and
    its total are one statement; with facets or stats every statement runs in one read-only,
    repeatable-read transaction, so totals, facets and the page agree. Keyword sorts and ties use
    the ``C`` collation (code point order, as Python). Highlights come from ``ts_headline``, whose
    parser drops HTML tags from the fragments.

    Args:
        pool: An ``asyncpg`` pool (not closed by `aclose`); `from_dsn` makes one it owns.
        schema: The fields and their uses.
        table: The table, optionally ``schema.table``.
        config: The text search configuration (``simple``, ``english``, ...).
        marks: The strings put around a highlighted word.
        escape_html: Whether highlight fragments are HTML-escaped (the marks are not).
        max_fragments: At most this many highlight fragments per field.
    """

    def __init__(
        self,
        pool: asyncpg.Pool | None,
        schema: Schema,
        *,
        table: str = "search_documents",
        config: str = "simple",
        marks: tuple[str, str] = ("<mark>", "</mark>"),
        max_fragments: int = 3,
        escape_html: bool = False,
    ) -> None:
        if pool is not None and not isinstance(pool, asyncpg.Pool):
            raise SearchTypeError("pool", "an asyncpg.Pool (or use from_dsn)", pool)
        if not isinstance(schema, Schema):
            raise SearchTypeError("schema", "a Schema", schema)
        if not isinstance(table, str):
            raise SearchTypeError("table", "a str", table)
        if not isinstance(config, str) or not _CONFIG.fullmatch(config):
            raise SearchConfigurationError("config", config, "must name a text search configuration")
        if not (isinstance(marks, tuple) and len(marks) == 2 and all(isinstance(m, str) for m in marks)):
            raise SearchTypeError("marks", "a pair of str", marks)
        if isinstance(max_fragments, bool) or not isinstance(max_fragments, int) or max_fragments < 1:
            raise SearchConfigurationError("max_fragments", max_fragments, "must be an int >= 1")
        weights = sorted(set(schema.searchable.values()), reverse=True)
        if len(weights) > len(_CLASSES):
            raise SearchConfigurationError(
                "schema.searchable",
                weights,
                "PostgreSQL has four weight classes: use at most four distinct weights",
            )
        self.schema = schema
        self.table = table
        self.config = config
        self.marks = marks
        if not isinstance(escape_html, bool):
            raise SearchTypeError("escape_html", "a bool", escape_html)
        self.escape_html = escape_html
        self.max_fragments = max_fragments
        self._name = _quote(table)
        self._pool = pool
        self._owns_pool = False
        self._pool_options: dict[str, Any] = {}
        self._pool_lock = asyncio.Lock()
        self._address = "postgresql"
        self._class = {field: _CLASSES[weights.index(weight)] for field, weight in schema.searchable.items()}
        top = weights[0]
        # ts_rank's weight array is ordered {D, C, B, A}.
        ranks = [weights[i] / top if i < len(weights) else 0.1 for i in range(len(_CLASSES))]
        self._rank_weights = "{" + ",".join(repr(value) for value in reversed(ranks)) + "}"
        self._regconfig = f"{_literal(config)}::regconfig"

    @classmethod
    def from_dsn(
        cls,
        dsn: str,
        schema: Schema,
        *,
        table: str = "search_documents",
        config: str = "simple",
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float = 10.0,
        server_settings: Mapping[str, str] | None = None,
        **options: Any,  # noqa: ANN401 - PostgresSearch's options
    ) -> Self:
        """Make a provider with its own pool for ``dsn``, opened on first use and closed by `aclose`.

        Opening lazily lets an application start while the database is down; calls raise
        `SearchUnavailableError` until it is back.
        """
        if not isinstance(dsn, str) or "://" not in dsn:
            raise SearchConfigurationError("dsn", dsn, "must be a postgresql:// DSN", show_value=False)
        search = cls(None, schema, table=table, config=config, **options)
        search._owns_pool = True
        search._address = redact_url(dsn)
        search._pool_options = {
            "dsn": dsn,
            "min_size": min_size,
            "max_size": max_size,
            "command_timeout": command_timeout,
            "server_settings": dict(server_settings or {}),
        }
        return search

    async def aclose(self) -> None:
        """Close the pool if this provider made it."""
        if self._owns_pool and self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def __aenter__(self) -> Self:
        """Return self; `aclose` on exit."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the pool this provider made."""
        await self.aclose()

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(**self._pool_options)
        return self._pool

    async def _run(self, operation: str, work: Any) -> Any:  # noqa: ANN401 - whatever the work returns
        try:
            pool = await self._get_pool()
            async with pool.acquire() as connection:
                return await work(connection)
        except _UNAVAILABLE as exc:
            raise SearchUnavailableError("postgresql", self._address, f"{operation}: {exc}") from exc
        except asyncpg.exceptions.UndefinedTableError as exc:
            raise SearchConfigurationError(
                "table", self.table, "does not exist: call create_schema() first"
            ) from exc

    # -- schema --------------------------------------------------------------------------------

    def _vector(self, source: str) -> str:
        """The ``tsvector`` expression over the searchable fields of the jsonb ``source``."""
        parts = [
            f"setweight(to_tsvector({self._regconfig}, coalesce({source} ->> {_literal(field)}, '')), "
            f"'{self._class[field]}')"
            for field in self.schema.searchable
        ]
        if len(parts) == 1:
            return parts[0]
        # `||` continues the right vector's positions right after the left's, so a phrase could span
        # two fields; a placeholder lexeme between them (one no parser makes, deleted afterwards)
        # leaves a gap of one position.
        return f"ts_delete({f' || {_GAP}::tsvector || '.join(parts)}, {_GAP_LEXEME})"

    def _settings(self) -> str:
        return json.dumps({"config": self.config, "classes": self._class}, sort_keys=True)

    def schema_sql(self) -> str:
        """Return the DDL creating the table and its indexes (idempotent)."""
        bare = self.table.rsplit(".", 1)[-1]
        meta = _quote(f"{self.table}_meta")
        return (
            f"CREATE TABLE IF NOT EXISTS {self._name} (\n"
            '    id       text COLLATE "C" PRIMARY KEY,\n'
            "    document jsonb NOT NULL,\n"
            "    search   tsvector NOT NULL\n"
            ");\n"
            f'CREATE INDEX IF NOT EXISTS "{bare}_search_idx" ON {self._name} USING gin (search);\n'
            f'CREATE INDEX IF NOT EXISTS "{bare}_document_idx" ON {self._name}\n'
            "    USING gin (document jsonb_path_ops);\n"
            f"CREATE TABLE IF NOT EXISTS {meta} (key text PRIMARY KEY, value text NOT NULL);\n"
        )

    async def create_schema(self) -> None:
        """Create the table and indexes if missing, and migrate the ``tsvector`` when settings changed.

        Safe to run on every start and from several processes at once (an advisory lock serialises
        it). When the searchable fields, weight classes or configuration differ from those the
        table was built with, every row's ``tsvector`` is rebuilt from its stored document.
        """
        meta = _quote(f"{self.table}_meta")

        async def work(connection: asyncpg.Connection) -> None:
            async with connection.transaction():
                await connection.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", f"buttress-search:{self.table}"
                )
                await connection.execute(self.schema_sql())
                stored = await connection.fetchval(f"SELECT value FROM {meta} WHERE key = 'settings'")
                settings = self._settings()
                if stored == settings:
                    return
                if stored is not None:
                    logger.info("search table %s: rebuilding tsvectors for new settings", self.table)
                    await connection.execute(f"UPDATE {self._name} SET search = {self._vector('document')}")
                await connection.execute(
                    f"INSERT INTO {meta} (key, value) VALUES ('settings', $1) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    settings,
                )

        await self._run("create_schema", work)

    async def drop_schema(self) -> None:
        """Drop the table and its settings (for tests and teardown)."""
        meta = _quote(f"{self.table}_meta")
        await self._run(
            "drop_schema",
            lambda connection: connection.execute(
                f"DROP TABLE IF EXISTS {self._name}; DROP TABLE IF EXISTS {meta}"
            ),
        )

    # -- writes --------------------------------------------------------------------------------

    async def index(self, documents: Iterable[Mapping[str, Any]]) -> None:
        """Add or replace documents by id in one transaction (all or nothing).

        Raises:
            InvalidDocumentError: A document lacks its id, holds a wrongly typed value, or cannot be
                stored as JSON.
            SearchUnavailableError: The server cannot be reached.
        """
        if isinstance(documents, Mapping) or not isinstance(documents, Iterable):
            raise SearchTypeError("documents", "an iterable of documents", documents)
        rows: dict[str, str] = {}
        for document in documents:
            doc_id, _, _ = self.schema.split(document)
            try:
                encoded = json.dumps(dict(document), ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise InvalidDocumentError(doc_id, None, f"cannot be stored as JSON: {exc}") from exc
            if "\\u0000" in encoded or "\x00" in doc_id:
                raise InvalidDocumentError(
                    doc_id, None, "holds a NUL character, which PostgreSQL cannot store"
                )
            rows.pop(doc_id, None)
            rows[doc_id] = encoded
        if not rows:
            return
        sql = (
            f"INSERT INTO {self._name} (id, document, search) "
            f"SELECT u.id, u.doc::jsonb, {self._vector('u.doc::jsonb')} "
            "FROM unnest($1::text[], $2::text[]) AS u(id, doc) "
            "ON CONFLICT (id) DO UPDATE SET document = EXCLUDED.document, search = EXCLUDED.search"
        )
        await self._run("index", lambda connection: connection.execute(sql, list(rows), list(rows.values())))

    async def delete(self, ids: Iterable[str]) -> int:
        """Remove documents by id; return how many existed."""
        if isinstance(ids, str) or not isinstance(ids, Iterable):
            raise SearchTypeError("ids", "an iterable of str", ids)
        wanted = list(dict.fromkeys(ids))
        for doc_id in wanted:
            if not isinstance(doc_id, str):
                raise SearchTypeError("ids", "an iterable of str", doc_id)
        if not wanted:
            return 0
        status = await self._run(
            "delete",
            lambda connection: connection.execute(
                f"DELETE FROM {self._name} WHERE id = ANY($1::text[])", wanted
            ),
        )
        return int(status.rsplit(" ", 1)[-1])

    # -- queries -------------------------------------------------------------------------------

    def _text(self, query: SearchQuery, param: _Params) -> tuple[list[str], str | None]:
        """WHERE conditions for the text, and the tsquery expression ranking uses (None: no text)."""
        parsed = query.parsed
        conditions: list[str] = []
        tsquery = None
        if parsed.positive:
            joiner = " " if query.match == "all" else " or "
            text = joiner.join(f'"{item}"' for item in parsed.positive)
            tsquery = f"websearch_to_tsquery({self._regconfig}, {param(text)})"
            conditions.append(f"search @@ {tsquery}")
        if parsed.excluded:
            text = " or ".join(f'"{item}"' for item in parsed.excluded)
            conditions.append(f"NOT (search @@ websearch_to_tsquery({self._regconfig}, {param(text)}))")
        return conditions, tsquery

    def _filter(self, item: Filter, param: _Params) -> str:  # noqa: PLR0911 - one return per filter kind
        match item:
            case Term(field=name, value=value):
                placeholder = param(json.dumps(value), "::jsonb")
                return f"COALESCE((document -> {_literal(name)}) @> {placeholder}, false)"
            case Terms(field=name, values=values):
                if not values:
                    return "false"
                return "(" + " OR ".join(self._filter(Term(name, value), param) for value in values) + ")"
            case Range(field=name):
                number = f"(document ->> {_literal(name)})::float8"
                bounds = [
                    f"{number} {operator} {param(float(bound), '::float8')}"
                    for operator, bound in (
                        (">=", item.gte),
                        (">", item.gt),
                        ("<=", item.lte),
                        ("<", item.lt),
                    )
                    if bound is not None
                ]
                return f"COALESCE({' AND '.join(bounds)}, false)"
            case Exists(field=name):
                return f"COALESCE((document -> {_literal(name)}) NOT IN ('null'::jsonb, '[]'::jsonb), false)"
            case And(filters=items):
                return "(" + " AND ".join([self._filter(sub, param) for sub in items] or ["true"]) + ")"
            case Or(filters=items):
                return "(" + " OR ".join([self._filter(sub, param) for sub in items] or ["false"]) + ")"
            case Not(filter=sub):
                return f"(NOT {self._filter(sub, param)})"
        raise SearchTypeError("filter", "a filter", item)  # pragma: no cover - checked by the schema

    def _sort_value(self, sort: Sort) -> str:
        kind = self.schema.fields[sort.field]
        raw = f"(document ->> {_literal(sort.field)})"
        if kind == "number":
            return f"{raw}::float8"
        if kind == "boolean":
            return f"{raw}::boolean"
        return f'{raw} COLLATE "C"'

    def _order(self, query: SearchQuery) -> str:
        parts = []
        for sort in query.sort:
            value = self._sort_value(sort)
            parts += [f"({value} IS NULL) ASC", f"{value} {'DESC' if sort.descending else 'ASC'}"]
        if not parts:
            parts.append("score DESC")
        return ", ".join([*parts, "id ASC"])

    def _after(self, query: SearchQuery, raw: list[Any], param: _Params) -> str:
        """The keyset condition: rows strictly after the cursor's last hit in the query's order."""
        if len(raw) != len(query.sort) + 2 or not isinstance(raw[-1], str):
            raise SearchConfigurationError("cursor", query.cursor, "is not a cursor this package made")
        comparisons: list[tuple[str, str]] = []  # (equal, after)
        for sort, value in zip(query.sort, raw, strict=False):
            expression = self._sort_value(sort)
            if value is None:
                comparisons.append((f"({expression} IS NULL)", "false"))
                continue
            kind = self.schema.fields[sort.field]
            cast = {"number": "::float8", "boolean": "::boolean"}.get(kind, "")
            if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise SearchConfigurationError("cursor", query.cursor, "is not a cursor this package made")
            placeholder = param(float(value) if kind == "number" else value, cast)
            if kind == "keyword":
                placeholder += ' COLLATE "C"'
            comparisons.append((f"({expression} IS NOT NULL)", f"({expression} IS NULL)"))
            operator = "<" if sort.descending else ">"
            comparisons.append((f"{expression} = {placeholder}", f"{expression} {operator} {placeholder}"))
        if not isinstance(raw[-2], int | float) or isinstance(raw[-2], bool):
            raise SearchConfigurationError("cursor", query.cursor, "is not a cursor this package made")
        if not query.sort:
            score = param(float(raw[-2]), "::float8")
            comparisons.append((f"score = {score}", f"score < {score}"))
        comparisons.append(("false", f"id > {param(raw[-1])}"))
        alternatives = []
        for index, (_, after) in enumerate(comparisons):
            equal = [comparisons[j][0] for j in range(index)]
            alternatives.append("(" + " AND ".join([*equal, after]) + ")")
        return "(" + " OR ".join(alternatives) + ")"

    async def search(self, query: SearchQuery) -> SearchResult[Document]:
        """Run ``query``: hits, exact total, facets and stats over the whole filtered hit set.

        Raises:
            UnknownFieldError: The query filters, facets, sorts or asks stats on an undeclared field.
            SearchUnavailableError: The server cannot be reached.
        """
        self.schema.check_query(query)
        cursor = decode_cursor(query)
        param = _Params()
        conditions, tsquery = self._text(query, param)
        if query.filter is not None:
            conditions.append(self._filter(query.filter, param))
        score = (
            f"ts_rank('{self._rank_weights}'::float4[], search, {tsquery}, 1)::float8"
            if tsquery
            else "0::float8"
        )
        where = " AND ".join(conditions) or "true"
        hits = f"hits AS (SELECT id, document, search, {score} AS score FROM {self._name} WHERE {where})"
        base = list(param.values)

        page_param = _Params(base)
        after = self._after(query, cursor, page_param) if cursor is not None else "true"
        limit = page_param(query.limit, "::int")
        offset = page_param(query.offset, "::int")
        headline = "NULL::text[]"
        if query.highlight and tsquery:
            # Private-use sentinels mark the words (and split fragments); they are removed from the
            # text first, then replaced by the marks after any escaping, so neither the document nor
            # the marks can break ts_headline's option syntax or the fragment boundaries.
            options = page_param(
                f'StartSel="{_OPEN}", StopSel="{_CLOSE}", MaxFragments={self.max_fragments}, '
                f'MaxWords=25, MinWords=8, FragmentDelimiter="{_FRAGMENT_DELIMITER}"'
            )
            strip = page_param(_OPEN + _CLOSE + _FRAGMENT_DELIMITER)
            headline = (
                "ARRAY["
                + ", ".join(
                    f"ts_headline({self._regconfig}, translate(coalesce(document ->> {_literal(field)}, ''), "
                    f"{strip}, ''), {tsquery}, {options})"
                    for field in self.schema.searchable
                )
                + "]"
            )
        order = self._order(query)
        remaining = f"(SELECT count(*) FROM hits WHERE {after})" if cursor is not None else "NULL::bigint"
        page_sql = (
            f"WITH {hits}, page AS (SELECT * FROM hits WHERE {after} "
            f"ORDER BY {order} LIMIT {limit} OFFSET {offset}) "
            f"SELECT id, document::text AS document, score, {headline} AS headlines, "
            f"(SELECT count(*) FROM hits) AS total, {remaining} AS remaining "
            f"FROM page ORDER BY {order}"
        )
        total_sql = f"WITH {hits} SELECT count(*) FROM hits"
        # One statement sees one snapshot: a plain page needs no transaction. Facets and stats are
        # more statements, so they share a repeatable-read one with the page.
        single = not query.facets and not query.stats

        async def read(connection: asyncpg.Connection) -> SearchResult[Document]:
            rows = await connection.fetch(page_sql, *page_param.values) if query.limit else []
            if rows:
                total = int(rows[0]["total"])
                after_count = None if rows[0]["remaining"] is None else int(rows[0]["remaining"])
            else:
                total = int(await connection.fetchval(total_sql, *base))
                after_count = 0
            facets = {name: await self._facet(connection, hits, base, name) for name in query.facets}
            stats = {name: await self._stats(connection, hits, base, name) for name in query.stats}
            return self._result(query, rows, total, after_count, facets, stats)

        async def work(connection: asyncpg.Connection) -> SearchResult[Document]:
            if single:
                return await read(connection)
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                return await read(connection)

        return await self._run("search", work)  # type: ignore[no-any-return]

    def _result(  # noqa: PLR0917 - private, called once
        self,
        query: SearchQuery,
        rows: list[Any],
        total: int,
        remaining: int | None,
        facets: dict[str, tuple[FacetCount, ...]],
        stats: dict[str, NumericStats],
    ) -> SearchResult[Document]:
        hit_list = []
        fields = list(self.schema.searchable)
        for row in rows:
            highlights: dict[str, tuple[str, ...]] = {}
            for field, text in zip(fields, row["headlines"] or (), strict=False):
                if text and _OPEN in text:
                    highlights[field] = tuple(
                        self._marked(part.strip()) for part in text.split(_FRAGMENT_DELIMITER) if part.strip()
                    )
            hit_list.append(
                SearchHit(row["id"], float(row["score"]), json.loads(row["document"]), highlights)
            )
        if query.cursor is not None:
            after = remaining if remaining is not None else 0
            before = total - after
            more = after > len(rows)
        else:
            before = query.offset
            more = query.offset + query.limit < total
        next_cursor = None
        if more and hit_list:
            last = hit_list[-1]
            raw = [last.document.get(sort.field) for sort in query.sort]
            raw = [None if value == [] else value for value in raw]
            next_cursor = encode_cursor(query, [*raw, last.score, last.id])
        return SearchResult(
            hits=tuple(hit_list),
            total=total,
            facets=facets,
            stats=stats,
            offset=before,
            limit=query.limit,
            next_cursor=next_cursor,
        )

    def _marked(self, fragment: str) -> str:
        if self.escape_html:
            fragment = html.escape(fragment)
        return fragment.replace(_OPEN, self.marks[0]).replace(_CLOSE, self.marks[1])

    async def _facet(
        self, connection: asyncpg.Connection, hits: str, params: list[Any], name: str
    ) -> tuple[FacetCount, ...]:
        field = _literal(name)
        sql = (
            f"WITH {hits} SELECT value::text AS value, count(*) AS n "
            "FROM (SELECT DISTINCT h.id, e.value FROM hits h "
            f"CROSS JOIN LATERAL jsonb_array_elements(CASE jsonb_typeof(h.document -> {field}) "
            f"WHEN 'array' THEN h.document -> {field} "
            f"ELSE jsonb_build_array(h.document -> {field}) END) AS e(value) "
            "WHERE e.value IS NOT NULL AND e.value <> 'null'::jsonb) AS pairs GROUP BY value"
        )
        rows = await connection.fetch(sql, *params)
        counts = [(json.loads(row["value"]), int(row["n"])) for row in rows]
        counts.sort(key=lambda item: (-item[1], item[0]))
        return tuple(FacetCount(value, count) for value, count in counts)

    async def _stats(
        self, connection: asyncpg.Connection, hits: str, params: list[Any], name: str
    ) -> NumericStats:
        number = f"(document ->> {_literal(name)})"
        sql = (
            f"WITH {hits} SELECT count({number}) AS n, min({number}::float8) AS lo, "
            f"max({number}::float8) AS hi, "
            f"coalesce(sum({number}::numeric), 0)::float8 AS total FROM hits"
        )
        row = await connection.fetchrow(sql, *params)
        if row is None:  # pragma: no cover - an aggregate always returns a row
            raise SearchUnavailableError("postgresql", self._address, "stats: no row")
        count = int(row["n"])
        if not count:
            return NumericStats(count=0, min=None, max=None, sum=0, avg=None)
        total = float(row["total"])
        return NumericStats(count=count, min=row["lo"], max=row["hi"], sum=total, avg=total / count)

    async def count(self, query: SearchQuery | None = None) -> int:
        """Return how many documents match ``query`` (all documents when ``None``)."""
        if query is None:
            return int(await self._run("count", lambda c: c.fetchval(f"SELECT count(*) FROM {self._name}")))
        return (await self.search(dataclasses.replace(query, limit=0, offset=0, cursor=None))).total
