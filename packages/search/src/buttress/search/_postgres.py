"""`PostgresSearch`: PostgreSQL full-text search over the Analyzer's tokens (extra ``postgres``, asyncpg)."""

# SQL text is built from validated, quoted identifiers and field-name literals only; every value
# (query tokens, filter values, cursors, options) is a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Final, Self

from buttress.core import AsyncResource, BackendErrors, PostgresBackend, TableName

from ._analysis import Analyzer
from ._cursor import decode_cursor, encode_cursor
from ._filters import check_seconds
from ._highlight import Highlighter
from ._metrics import (
    DOCUMENTS_INDEXED,
    INDEX_DURATION,
    QUERIES,
    QUERY_DURATION,
    TELEMETRY,
    UNAVAILABLE,
    timed,
)
from ._pgsql import Params, after_condition, filter_condition, literal, order_by, text_conditions
from ._pgtext import encode_document
from ._plan import TextPlan, plan_text
from ._query import SearchQuery
from ._schema import Schema, check_ids
from ._types import FacetCount, NumericStats, SearchHit, SearchResult
from .exceptions import (
    InvalidDocumentError,
    MissingExtraError,
    SearchConfigurationError,
    SearchError,
    SearchTypeError,
    SearchUnavailableError,
)

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("PostgresSearch", "postgres") from exc

__all__ = ["PostgresSearch"]

logger = logging.getLogger(__name__)

type Document = dict[str, Any]

_ERRORS: Final = BackendErrors(SearchConfigurationError, SearchTypeError, SearchUnavailableError)
_PROVIDER: Final = {"search.provider": "postgresql"}
_INDEX: Final = {"search.provider": "postgresql", "search.operation": "index"}
_DELETE: Final = {"search.provider": "postgresql", "search.operation": "delete"}
# What a request's content can make PostgreSQL refuse. Every value is checked before it is sent, so
# these mean a check is missing: the caller's error all the same, never a reason to fall back.
_REFUSED = (asyncpg.exceptions.DataError, asyncpg.exceptions.ProgramLimitExceededError)
_CLASSES = "ABCD"
_LAYOUT = 2  # 1: tsvectors built by to_tsvector in SQL; 2: the Analyzer's tokens and a token text
_REBUILD_BATCH = 500


def _quote(table: TableName) -> str:
    return f'"{table.name}"' if table.schema is None else f'"{table.schema}"."{table.name}"'


# AsyncResource is named again (PostgresBackend has it already) so the face shows at the class itself.
class PostgresSearch(PostgresBackend, AsyncResource):
    """Search over a PostgreSQL table whose text is analysed by the same `Analyzer` as `MemorySearch`.

    Each document is one row: its id, the document as ``jsonb`` (filters, facets, stats and sorts
    read it), a ``tsvector`` of the `Analyzer`'s tokens with a GIN index, and the fields' token
    sequences as text (phrases are matched on it). PostgreSQL's own parser and dictionaries never
    see the text, so terms, phrases, Unicode normalisation, case folding, stop words and stems are
    exactly those of a `MemorySearch` with the same analyzer, and both return the same hit sets
    (see the package README for what is proven and how).

    Ranking is ``ts_rank`` over weight classes: the largest field weight is class A, the next B, and
    so on (at most four distinct weights), relative to the largest, with length normalisation 1 (divide
    by ``1 + log(length)``): a frequency-and-weight ranking, not BM25, so the order of text hits
    differs from `MemorySearch`'s while hit sets, totals, facets and stats are the same.

    Filters compile to parameterised SQL over the ``jsonb`` document; facets are ``GROUP BY`` queries
    over the whole hit set. A page and its total are one statement; with facets or stats every
    statement runs in one read-only, repeatable-read transaction, so totals, facets and the page
    agree. Keyword sorts and ties use the ``C`` collation (code point order, as Python). Highlights
    are made in Python from the page's documents, exactly as `MemorySearch` makes them.

    Build it around a pool the application owns, or let `connect` open one it owns::

        search = PostgresSearch(pool=pool, schema=schema, table="products_search")
        search = await PostgresSearch.connect(dsn, schema, table="products_search", max_size=10)

    Args:
        pool: An ``asyncpg`` pool, never closed by `aclose` (`connect` opens one it owns).
        schema: The fields and their uses.
        table: The table, optionally ``schema.table``.
        analyzer: How text becomes tokens (default: NFKC, case folding, Unicode words).
        marks: The strings put around a highlighted word.
        fragment_size: About how many characters a highlight fragment has.
        max_fragments: At most this many highlight fragments per field.
        escape_html: Whether highlight fragments are HTML-escaped (the marks are not).
    """

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = _ERRORS
    # An outage beyond core's list: a connection left in a broken protocol state by a cut. (A
    # statement the server cancels, for statement_timeout or a shutdown, is in core's list already.)
    outages: ClassVar[tuple[type[BaseException], ...]] = (asyncpg.exceptions.InternalClientError,)

    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: Schema,
        *,
        table: str = "search_documents",
        analyzer: Analyzer | None = None,
        marks: tuple[str, str] = ("<mark>", "</mark>"),
        fragment_size: int = 160,
        max_fragments: int = 3,
        escape_html: bool = False,
    ) -> None:
        super().__init__(pool)
        self._configure(
            schema,
            table=table,
            analyzer=analyzer,
            marks=marks,
            fragment_size=fragment_size,
            max_fragments=max_fragments,
            escape_html=escape_html,
        )

    def _configure(
        self,
        schema: Schema,
        *,
        table: str,
        analyzer: Analyzer | None,
        marks: tuple[str, str],
        fragment_size: int,
        max_fragments: int,
        escape_html: bool,
    ) -> None:
        if not isinstance(schema, Schema):
            raise SearchTypeError("schema", "a Schema", schema)
        parsed = TableName.parse(table, errors=_ERRORS)
        self._name = _quote(parsed)
        self._meta = _quote(parsed.derived("meta"))
        analyzer = Analyzer() if analyzer is None else analyzer
        if not isinstance(analyzer, Analyzer):
            raise SearchTypeError("analyzer", "an Analyzer", analyzer)
        self._highlighter = Highlighter(
            analyzer,
            marks=marks,
            fragment_size=fragment_size,
            max_fragments=max_fragments,
            escape_html=escape_html,
        )
        weights = sorted(set(schema.searchable.values()), reverse=True)
        if len(weights) > len(_CLASSES):
            raise SearchConfigurationError(
                "schema.searchable",
                weights,
                "PostgreSQL has four weight classes: use at most four distinct weights",
            )
        self.schema = schema
        self.table = table
        self.analyzer = analyzer
        self.marks = self._highlighter.marks
        self.fragment_size = self._highlighter.fragment_size
        self.max_fragments = self._highlighter.max_fragments
        self.escape_html = escape_html
        self._class = {field: _CLASSES[weights.index(weight)] for field, weight in schema.searchable.items()}
        top = weights[0]
        # ts_rank's weight array is ordered {D, C, B, A}.
        ranks = [weights[i] / top if i < len(weights) else 0.1 for i in range(len(_CLASSES))]
        self._rank_weights = "{" + ",".join(repr(value) for value in reversed(ranks)) + "}"

    @classmethod
    async def connect(
        cls,
        dsn: str,
        schema: Schema,
        *,
        table: str = "search_documents",
        analyzer: Analyzer | None = None,
        marks: tuple[str, str] = ("<mark>", "</mark>"),
        fragment_size: int = 160,
        max_fragments: int = 3,
        escape_html: bool = False,
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float = 10.0,
        server_settings: Mapping[str, str] | None = None,
    ) -> Self:
        """Open a pool for ``dsn`` and return a provider that owns it (`aclose` closes it).

        Every argument is checked before the pool is opened.

        Raises:
            SearchConfigurationError: A bad DSN or option, or a DSN the server refuses (an unknown
                database or setting, a wrong password); the DSN is never shown.
            SearchTypeError: An option of the wrong type.
            SearchUnavailableError: The server cannot be reached (the DSN's password redacted).
        """
        # Every option is checked before any connection is made.
        cls.__new__(cls)._configure(
            schema,
            table=table,
            analyzer=analyzer,
            marks=marks,
            fragment_size=fragment_size,
            max_fragments=max_fragments,
            escape_html=escape_html,
        )
        timeout = check_seconds("command_timeout", command_timeout)
        try:
            return await cls._open(
                dsn,
                lambda pool: cls(
                    pool,
                    schema,
                    table=table,
                    analyzer=analyzer,
                    marks=marks,
                    fragment_size=fragment_size,
                    max_fragments=max_fragments,
                    escape_html=escape_html,
                ),
                min_size=min_size,
                max_size=max_size,
                command_timeout=timeout,
                server_settings=server_settings,
            )
        except SearchUnavailableError:
            UNAVAILABLE.add(1, {"search.provider": "postgresql", "search.operation": "connect"})
            raise

    async def _run(self, operation: str, work: Any) -> Any:  # noqa: ANN401 - whatever the work returns
        try:
            async with self._connection() as connection:
                return await work(connection)
        except SearchUnavailableError:
            UNAVAILABLE.add(1, {"search.provider": "postgresql", "search.operation": operation})
            raise
        except SearchError:
            raise
        except (asyncpg.exceptions.UndefinedTableError, asyncpg.exceptions.UndefinedColumnError) as exc:
            raise SearchConfigurationError(
                "table", self.table, "does not exist or has an older layout: call create_schema() first"
            ) from exc
        except _REFUSED as exc:
            # The server's message may quote stored data: name the class and SQLSTATE only.
            raise SearchConfigurationError(
                operation,
                None,
                f"PostgreSQL refused a value of the request ({type(exc).__name__}, SQLSTATE {exc.sqlstate})",
                show_value=False,
            ) from None
        except asyncpg.PostgresError as exc:
            UNAVAILABLE.add(1, {"search.provider": "postgresql", "search.operation": operation})
            raise SearchUnavailableError(
                "postgresql", self._address, f"{operation}: {type(exc).__name__} (SQLSTATE {exc.sqlstate})"
            ) from None

    # -- schema --------------------------------------------------------------------------------

    def _settings(self) -> str:
        return json.dumps(
            {"layout": _LAYOUT, "analyzer": self.analyzer.to_dict(), "classes": self._class}, sort_keys=True
        )

    def schema_sql(self) -> str:
        """Return the DDL creating the table, its indexes and its column storage (idempotent)."""
        return self._create_sql() + self._layout_sql()

    def _create_sql(self) -> str:
        bare = self.table.rsplit(".", 1)[-1]
        meta = self._meta
        return (
            f"CREATE TABLE IF NOT EXISTS {self._name} (\n"
            '    id       text COLLATE "C" PRIMARY KEY,\n'
            "    document jsonb NOT NULL,\n"
            "    search   tsvector NOT NULL,\n"
            "    tokens   text NOT NULL DEFAULT ''\n"
            ");\n"
            f'CREATE INDEX IF NOT EXISTS "{bare}_search_idx" ON {self._name} USING gin (search);\n'
            f'CREATE INDEX IF NOT EXISTS "{bare}_document_idx" ON {self._name}\n'
            "    USING gin (document jsonb_path_ops);\n"
            f"CREATE TABLE IF NOT EXISTS {meta} (key text PRIMARY KEY, value text NOT NULL);\n"
        )

    def _layout_sql(self) -> str:
        # Every candidate row's vector (and, for filters, document) is read: keep them in the row,
        # compressed only as a last resort. The token text is read for phrases only: it is the first
        # thing moved out of a row that outgrows a page's share (2 kB), so scans stay narrow.
        return (
            f"ALTER TABLE {self._name} ADD COLUMN IF NOT EXISTS tokens text NOT NULL DEFAULT '';\n"
            f"ALTER TABLE {self._name} ALTER COLUMN search SET STORAGE MAIN,\n"
            "    ALTER COLUMN document SET STORAGE MAIN, ALTER COLUMN tokens SET STORAGE EXTERNAL;\n"
        )

    async def create_schema(self) -> None:
        """Create the table and indexes if missing, and re-analyse every row when the settings changed.

        Safe to run on every start and from several processes at once (an advisory lock serialises
        it). When the searchable fields, weight classes or analyzer differ from those the table was
        built with (or the table comes from an older release), every row's ``tsvector`` and token text
        are rebuilt from its stored document, in batches, in one transaction.
        """
        meta = self._meta

        async def work(connection: asyncpg.Connection) -> None:
            async with connection.transaction():
                await connection.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", f"buttress-search:{self.table}"
                )
                await connection.execute(self._create_sql())
                stored = await connection.fetchval(f"SELECT value FROM {meta} WHERE key = 'settings'")
                settings = self._settings()
                if stored == settings:
                    return  # nothing more to lock: ALTER TABLE would block readers on every start
                await connection.execute(self._layout_sql())
                await self._rebuild(connection)
                await connection.execute(
                    f"INSERT INTO {meta} (key, value) VALUES ('settings', $1) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    settings,
                )

        await self._run("create_schema", work)

    async def _rebuild(self, connection: asyncpg.Connection) -> None:
        last: str | None = None
        rebuilt = 0
        while True:
            rows = await connection.fetch(
                f"SELECT id, document::text AS document FROM {self._name} "
                f"WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT {_REBUILD_BATCH}",
                last,
            )
            if not rows:
                break
            encoded = [self._encode_stored(row["id"], json.loads(row["document"])) for row in rows]
            columns = self._columns([row["id"] for row in rows], encoded)
            names, arrays = self._unnest(len(columns))
            await connection.execute(
                f"UPDATE {self._name} AS t SET search = {self._vector_sql()}, tokens = u.tokens "
                f"FROM unnest({arrays}) AS u({names}) WHERE t.id = u.id",
                *columns,
            )
            rebuilt += len(rows)
            last = rows[-1]["id"]
        if rebuilt:
            logger.info("search table %s: re-analysed %d rows for new settings", self.table, rebuilt)

    def _encode_stored(self, doc_id: str, document: object) -> tuple[list[str], str]:
        nothing = ([""] * len(self._class), "")
        if not isinstance(document, dict):
            return nothing
        texts = {name: text for name in self.schema.searchable if isinstance(text := document.get(name), str)}
        try:
            return encode_document(doc_id, texts, self._class, self.analyzer)
        except InvalidDocumentError:
            logger.warning("search table %s: row %r is too large to search; left out", self.table, doc_id)
            return nothing

    def _vector_sql(self) -> str:
        """The row's ``tsvector``: each field's vector (``u.v0``...) set to its class, concatenated."""
        return " || ".join(
            f"setweight(u.v{number}::tsvector, '{weight}')"
            for number, weight in enumerate(self._class.values())
        )

    def _unnest(self, arrays: int) -> tuple[str, str]:
        """Column names and ``$n::text[]`` arguments of an unnest: id, [doc,] each field, tokens."""
        fields = [f"v{number}" for number in range(len(self._class))]
        names = ["id", *(["doc"] if arrays == len(fields) + 3 else []), *fields, "tokens"]
        return ", ".join(names), ", ".join(f"${n}::text[]" for n in range(1, arrays + 1))

    def _columns(
        self, ids: list[str], encoded: list[tuple[list[str], str]], documents: list[str] | None = None
    ) -> list[list[str]]:
        """Arrays for `_unnest`: ids, [documents,] each field's vectors, token texts."""
        fields = [[vectors[number] for vectors, _ in encoded] for number in range(len(self._class))]
        return [
            ids,
            *([documents] if documents is not None else []),
            *fields,
            [tokens for _, tokens in encoded],
        ]

    async def drop_schema(self) -> None:
        """Drop the table and its settings (for tests and teardown)."""
        meta = self._meta
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
            InvalidDocumentError: A document breaks a rule of `Schema.split` (the same rules as
                `MemorySearch`), or its distinct words pass PostgreSQL's 1 MB ``tsvector`` limit.
            SearchUnavailableError: The server cannot be reached.
        """
        with timed(INDEX_DURATION, _INDEX):
            added = await self._index(documents)
        DOCUMENTS_INDEXED.add(added, _PROVIDER)

    async def _index(self, documents: Iterable[Mapping[str, Any]]) -> int:
        if isinstance(documents, Mapping | str | bytes) or not isinstance(documents, Iterable):
            raise SearchTypeError("documents", "an iterable of documents", documents)
        rows: dict[str, tuple[str, tuple[list[str], str]]] = {}
        for document in documents:
            doc_id, texts, _ = self.schema.split(document)
            encoded = json.dumps(dict(document), ensure_ascii=False, allow_nan=False)
            rows.pop(doc_id, None)
            rows[doc_id] = (encoded, encode_document(doc_id, texts, self._class, self.analyzer))
        if not rows:
            return 0
        columns = self._columns(
            list(rows), [vectors for _, vectors in rows.values()], [encoded for encoded, _ in rows.values()]
        )
        names, arrays = self._unnest(len(columns))
        sql = (
            f"INSERT INTO {self._name} (id, document, search, tokens) "
            f"SELECT u.id, u.doc::jsonb, {self._vector_sql()}, u.tokens FROM unnest({arrays}) AS u({names}) "
            "ON CONFLICT (id) DO UPDATE SET document = EXCLUDED.document, search = EXCLUDED.search, "
            "tokens = EXCLUDED.tokens"
        )
        await self._run("index", lambda connection: connection.execute(sql, *columns))
        return len(rows)

    async def delete(self, ids: Iterable[str]) -> int:
        """Remove documents by id; return how many existed.

        Raises:
            SearchTypeError: ``ids`` is not an iterable of str.
            SearchConfigurationError: An id could never be a document's (see `Schema.split`).
            SearchUnavailableError: The server cannot be reached.
        """
        with timed(INDEX_DURATION, _DELETE):
            return await self._delete(ids)

    async def _delete(self, ids: Iterable[str]) -> int:
        wanted = check_ids(ids)
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

    async def search(self, query: SearchQuery) -> SearchResult[Document]:
        """Run ``query``: hits, exact total, facets and stats over the whole filtered hit set.

        Raises:
            UnknownFieldError: The query filters, facets, sorts or asks stats on an undeclared field.
            SearchConfigurationError: A cursor this package did not make for this query.
            SearchUnavailableError: The server cannot be reached.
        """
        QUERIES.add(1, _PROVIDER)
        with timed(QUERY_DURATION, _PROVIDER):
            return await self._search(query)

    async def _search(self, query: SearchQuery) -> SearchResult[Document]:
        self.schema.check_query(query)
        cursor = decode_cursor(query, self.schema)
        plan = plan_text(query, self.analyzer)
        param = Params()
        conditions, tsquery = text_conditions(plan, param)
        if query.filter is not None:
            conditions.append(filter_condition(query.filter, param))
        score = (
            f"ts_rank('{self._rank_weights}'::float4[], search, {tsquery}, 1)::float8"
            if tsquery
            else "0::float8"
        )
        where = " AND ".join(conditions) or "true"
        hits = f"hits AS (SELECT id, document, {score} AS score FROM {self._name} WHERE {where})"
        base = list(param.values)

        page_param = Params(base)
        after = after_condition(self.schema, query.sort, cursor, page_param) if cursor is not None else "true"
        limit = page_param(query.limit, "::int")
        offset = page_param(query.offset, "::bigint")
        order = order_by(self.schema, query.sort)
        remaining = f"(SELECT count(*) FROM hits WHERE {after})" if cursor is not None else "NULL::bigint"
        page_sql = (
            f"WITH {hits}, page AS (SELECT * FROM hits WHERE {after} "
            f"ORDER BY {order} LIMIT {limit} OFFSET {offset}) "
            f"SELECT id, document::text AS document, score, "
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
            return self._result(query, plan, rows, total, after_count, facets, stats)

        async def work(connection: asyncpg.Connection) -> SearchResult[Document]:
            if single:
                return await read(connection)
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                return await read(connection)

        return await self._run("search", work)  # type: ignore[no-any-return]

    def _result(  # noqa: PLR0917 - private, called once
        self,
        query: SearchQuery,
        plan: TextPlan,
        rows: list[Any],
        total: int,
        remaining: int | None,
        facets: dict[str, tuple[FacetCount, ...]],
        stats: dict[str, NumericStats],
    ) -> SearchResult[Document]:
        terms = plan.tokens if query.highlight else set()
        hit_list = []
        for row in rows:
            document = json.loads(row["document"])
            highlights = (
                self._highlighter.highlights(document, self.schema.searchable, terms) if terms else {}
            )
            hit_list.append(SearchHit(row["id"], float(row["score"]), document, highlights))
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

    async def _facet(
        self, connection: asyncpg.Connection, hits: str, params: list[Any], name: str
    ) -> tuple[FacetCount, ...]:
        field = literal(name)
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
        number = f"(document ->> {literal(name)})"
        sql = (
            f"WITH {hits} SELECT count({number}) AS n, min({number}::float8) AS lo, "
            f"max({number}::float8) AS hi, coalesce(sum({number}::numeric), 0) AS total FROM hits"
        )
        row = await connection.fetchrow(sql, *params)
        if row is None:  # pragma: no cover - an aggregate always returns a row
            raise SearchUnavailableError("postgresql", self._address, "stats: no row")
        count = int(row["n"])
        if not count:
            return NumericStats(count=0, min=None, max=None, sum=0, avg=None)
        exact: Decimal = row["total"]
        total = float(exact)  # ±inf past the largest float, as MemorySearch gives
        average = total / count if math.isfinite(total) else float(exact / count)
        return NumericStats(count=count, min=row["lo"], max=row["hi"], sum=total, avg=average)

    async def count(self, query: SearchQuery | None = None) -> int:
        """Return how many documents match ``query`` (all documents when ``None``)."""
        if query is None:
            return int(await self._run("count", lambda c: c.fetchval(f"SELECT count(*) FROM {self._name}")))
        if not isinstance(query, SearchQuery):
            raise SearchTypeError("query", "a SearchQuery or None", query)
        return (await self.search(dataclasses.replace(query, limit=0, offset=0, cursor=None))).total
