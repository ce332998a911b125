"""Every public entry point of buttress-persistence, driven with hostile arguments: only typed errors.

Each function, constructor and method in ``buttress.persistence.__all__`` is called with hostile
values in place of its arguments; anything but a ``ButtressError`` fails. Type aliases, constants and
the abstract `Specification` are not callables of this package and are left out; so are methods
without parameters (``aclose``, ``build``).
"""

from __future__ import annotations

import buttress.persistence as persistence
from buttress.persistence import (
    AndSpecification,
    CursorCodec,
    CursorPosition,
    DatabaseError,
    DatabaseSession,
    EntityExistsError,
    EntityNotFoundError,
    FieldNotAllowedError,
    FieldSpecification,
    InvalidCursorError,
    InvalidQueryError,
    ListQuery,
    MalformedFilterError,
    MissingExtraError,
    NotSpecification,
    OrSpecification,
    Page,
    PersistenceConfigurationError,
    PersistenceError,
    PersistenceTypeError,
    PersistenceUnavailableError,
    ProblemDetails,
    ProblemDetailsMiddleware,
    QuerySchema,
    SortField,
    SpecificationBuilder,
    SqlAlchemyRepository,
    UnknownFieldError,
    VersionConflictError,
    escape_like,
    problem_details,
)
from buttress.testing import HostileTarget, HostileTargets, acheck_hostile

from .conftest import Doc, Item

SPEC = FieldSpecification("rank", "gt", 1)
CODEC = CursorCodec(b"k" * 32)
SCHEMA = QuerySchema(filters={"name": str, "rank": int}, sorts=["rank"])

TARGETS = HostileTargets()
TARGETS.add(FieldSpecification, "rank", "gt", 1)
TARGETS.add(AndSpecification, (SPEC, SPEC))
TARGETS.add(OrSpecification, (SPEC, SPEC))
TARGETS.add(NotSpecification, SPEC)
TARGETS.add(SPEC.is_satisfied_by, {"rank": 2})
TARGETS.add(SPEC.evaluate, {"rank": 2})
TARGETS.add(SPEC.to_sql_condition, Item)
TARGETS.add(SPEC.__and__, SPEC)
TARGETS.add(SPEC.__or__, SPEC)
TARGETS.add(SpecificationBuilder().where, "rank", "gt", 1)
TARGETS.add(SpecificationBuilder().and_where, "rank", "gt", 1)
TARGETS.add(SpecificationBuilder().or_where, "rank", "gt", 1)
TARGETS.add(SortField, "rank", descending=True)
TARGETS.add(SortField.parse, "-rank")
TARGETS.add(CursorCodec, b"k" * 32)
TARGETS.add(CODEC.encode, CursorPosition((1, 2), "q"))
TARGETS.add(CODEC.decode, CODEC.encode(CursorPosition((1, 2), "q")), query="q")
TARGETS.add(CursorPosition, (1,), "q")
TARGETS.add(QuerySchema, filters={"name": str}, sorts=["rank"], default_sort=["-rank"], per_page=10)
TARGETS.add(SCHEMA.parse, {"filter": '{"rank": {"gt": 1}}', "sort": "-rank", "page": "2"})
TARGETS.add(ListQuery, SPEC, (SortField("rank"),), 10)
TARGETS.add(Page, [], 10)
TARGETS.add(escape_like, "50%")
TARGETS.add(problem_details, EntityNotFoundError("Item", 1))
TARGETS.add(ProblemDetails, 400, "Bad Request", "detail")
TARGETS.add(ProblemDetailsMiddleware, lambda scope, receive, send: None)
TARGETS.add(DatabaseSession, engine=None, expire_on_commit=False)
TARGETS.add(UnknownFieldError, "f", "Model")
TARGETS.add(FieldNotAllowedError, "f", "filter")
TARGETS.add(InvalidCursorError, "reason")
TARGETS.add(VersionConflictError, "Doc", 1, expected=1, actual=2)
TARGETS.add(EntityNotFoundError, "Doc", 1)
TARGETS.add(EntityExistsError, "Doc", 1, "is stored already")
TARGETS.add(DatabaseError, "message", sqlstate="23505")
TARGETS.add(PersistenceUnavailableError, "database", "postgresql://h/db", "refused")
TARGETS.add(PersistenceConfigurationError, "p", 1, "reason")
TARGETS.add(InvalidQueryError, "p", 1, "reason")
TARGETS.add(MalformedFilterError, "p", 1, "reason")
TARGETS.add(PersistenceTypeError, "p", "a str", 1)
TARGETS.add(PersistenceError, "message")
TARGETS.add(MissingExtraError, "DatabaseSession", "postgres")


@TARGETS.parametrize()
def test_every_function_and_constructor_types_its_errors(target: HostileTarget) -> None:
    target.check()


@TARGETS.drives("DatabaseSession.connect")
async def test_connect_types_its_errors() -> None:
    # Port 1 refuses at once: a combination that passes the checks ends as PersistenceUnavailableError.
    await acheck_hostile(
        DatabaseSession.connect,
        "postgresql://postgres@127.0.0.1:1/x",
        pool_size=2,
        max_overflow=0,
        pool_timeout=1.0,
    )


@TARGETS.drives("SqlAlchemyRepository")
async def test_every_repository_method_types_its_errors(database: DatabaseSession) -> None:
    await acheck_hostile(SqlAlchemyRepository, database, Doc, soft_delete="deleted_at", version="version")
    repo = SqlAlchemyRepository(database, Doc, soft_delete="deleted_at", version="version")
    await repo.add(Doc(id=1, title="x"))
    doc = await repo.get(1)
    spec = FieldSpecification("score", "ge", 0)
    calls = HostileTargets()
    calls.add(repo.get, 1, include_deleted=False)
    calls.add(repo.add, Doc(id=2, title="y"))
    calls.add(repo.add_many, [Doc(id=3, title="z")])
    calls.add(repo.update, doc)
    calls.add(repo.delete, 5, hard=False)
    calls.add(repo.restore, 5)
    calls.add(repo.list, limit=10, offset=0, include_deleted=False)
    calls.add(repo.find, spec, order_by=["-score"], limit=10, offset=0, include_deleted=False)
    calls.add(repo.count, spec, include_deleted=False)
    calls.add(repo.delete_where, FieldSpecification("score", "gt", 100), hard=False)
    calls.add(repo.update_where, FieldSpecification("score", "gt", 100), {"title": "t"})
    calls.add(repo.page, spec, order_by=["score"], per_page=10, page=1)
    calls.add(repo.page_after, spec, cursors=CODEC, order_by=["score"], per_page=10, cursor=None)
    calls.add(repo.fetch, ListQuery(spec, (), 10), cursors=CODEC)
    calls.add(repo.query_fingerprint, spec, ["score"])
    await calls.acheck_all()


@TARGETS.drives("DatabaseSession.create_all")
async def test_a_database_session_method_types_its_errors(database: DatabaseSession) -> None:
    await acheck_hostile(database.create_all, Doc.metadata)


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(persistence)
