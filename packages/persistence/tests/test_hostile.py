"""Every public entry point of buttress-persistence, driven with hostile arguments: only typed errors.

Each function, constructor and method in ``buttress.persistence.__all__`` is called with hostile
values in place of its arguments; anything but a ``ButtressError`` fails. Type aliases, constants and
the abstract `Specification` are not callables of this package and are left out; so are methods
without parameters (``aclose``, ``build``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

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
from buttress.testing import acheck_hostile, check_hostile

from .conftest import Doc, Item

SPEC = FieldSpecification("rank", "gt", 1)
CODEC = CursorCodec(b"k" * 32)
SCHEMA = QuerySchema(filters={"name": str, "rank": int}, sorts=["rank"])

TARGETS: list[tuple[Callable[..., object], tuple[object, ...], dict[str, object]]] = [
    (FieldSpecification, ("rank", "gt", 1), {}),
    (AndSpecification, ((SPEC, SPEC),), {}),
    (OrSpecification, ((SPEC, SPEC),), {}),
    (NotSpecification, (SPEC,), {}),
    (SPEC.is_satisfied_by, ({"rank": 2},), {}),
    (SPEC.evaluate, ({"rank": 2},), {}),
    (SPEC.to_sql_condition, (Item,), {}),
    (SPEC.__and__, (SPEC,), {}),
    (SPEC.__or__, (SPEC,), {}),
    (SpecificationBuilder().where, ("rank", "gt", 1), {}),
    (SpecificationBuilder().and_where, ("rank", "gt", 1), {}),
    (SpecificationBuilder().or_where, ("rank", "gt", 1), {}),
    (SortField, ("rank",), {"descending": True}),
    (SortField.parse, ("-rank",), {}),
    (CursorCodec, (b"k" * 32,), {}),
    (CODEC.encode, (CursorPosition((1, 2), "q"),), {}),
    (CODEC.decode, (CODEC.encode(CursorPosition((1, 2), "q")),), {"query": "q"}),
    (CursorPosition, ((1,), "q"), {}),
    (
        QuerySchema,
        (),
        {"filters": {"name": str}, "sorts": ["rank"], "default_sort": ["-rank"], "per_page": 10},
    ),
    (SCHEMA.parse, ({"filter": '{"rank": {"gt": 1}}', "sort": "-rank", "page": "2"},), {}),
    (ListQuery, (SPEC, (SortField("rank"),), 10), {}),
    (Page, ([], 10), {}),
    (escape_like, ("50%",), {}),
    (problem_details, (EntityNotFoundError("Item", 1),), {}),
    (ProblemDetails, (400, "Bad Request", "detail"), {}),
    (ProblemDetailsMiddleware, (lambda scope, receive, send: None,), {}),
    (DatabaseSession, (), {"engine": None, "expire_on_commit": False}),
    (UnknownFieldError, ("f", "Model"), {}),
    (FieldNotAllowedError, ("f", "filter"), {}),
    (InvalidCursorError, ("reason",), {}),
    (VersionConflictError, ("Doc", 1), {"expected": 1, "actual": 2}),
    (EntityNotFoundError, ("Doc", 1), {}),
    (EntityExistsError, ("Doc", 1, "is stored already"), {}),
    (DatabaseError, ("message",), {"sqlstate": "23505"}),
    (PersistenceUnavailableError, ("database", "postgresql://h/db", "refused"), {}),
    (PersistenceConfigurationError, ("p", 1, "reason"), {}),
    (InvalidQueryError, ("p", 1, "reason"), {}),
    (MalformedFilterError, ("p", 1, "reason"), {}),
    (PersistenceTypeError, ("p", "a str", 1), {}),
    (PersistenceError, ("message",), {}),
    (MissingExtraError, ("DatabaseSession", "postgres"), {}),
]


def _name(target: Callable[..., object]) -> str:
    return getattr(target, "__qualname__", type(target).__name__)


@pytest.mark.parametrize(("target", "args", "kwargs"), TARGETS, ids=[_name(t) for t, _, _ in TARGETS])
def test_every_function_and_constructor_types_its_errors(
    target: Callable[..., object], args: tuple[object, ...], kwargs: dict[str, Any]
) -> None:
    check_hostile(target, *args, kwargs=kwargs)


async def test_connect_types_its_errors() -> None:
    # Port 1 refuses at once: a combination that passes the checks ends as PersistenceUnavailableError.
    await acheck_hostile(
        DatabaseSession.connect,
        "postgresql://postgres@127.0.0.1:1/x",
        pool_size=2,
        max_overflow=0,
        pool_timeout=1.0,
    )


async def test_every_repository_method_types_its_errors(database: DatabaseSession) -> None:
    await acheck_hostile(SqlAlchemyRepository, database, Doc, soft_delete="deleted_at", version="version")
    repo = SqlAlchemyRepository(database, Doc, soft_delete="deleted_at", version="version")
    await repo.add(Doc(id=1, title="x"))
    doc = await repo.get(1)
    spec = FieldSpecification("score", "ge", 0)
    calls: list[tuple[Callable[..., object], tuple[object, ...], dict[str, object]]] = [
        (repo.get, (1,), {"include_deleted": False}),
        (repo.add, (Doc(id=2, title="y"),), {}),
        (repo.add_many, ([Doc(id=3, title="z")],), {}),
        (repo.update, (doc,), {}),
        (repo.delete, (5,), {"hard": False}),
        (repo.restore, (5,), {}),
        (repo.list, (), {"limit": 10, "offset": 0, "include_deleted": False}),
        (repo.find, (spec,), {"order_by": ["-score"], "limit": 10, "offset": 0, "include_deleted": False}),
        (repo.count, (spec,), {"include_deleted": False}),
        (repo.delete_where, (FieldSpecification("score", "gt", 100),), {"hard": False}),
        (repo.update_where, (FieldSpecification("score", "gt", 100), {"title": "t"}), {}),
        (repo.page, (spec,), {"order_by": ["score"], "per_page": 10, "page": 1}),
        (repo.page_after, (spec,), {"cursors": CODEC, "order_by": ["score"], "per_page": 10, "cursor": None}),
        (repo.fetch, (ListQuery(spec, (), 10),), {"cursors": CODEC}),
        (repo.query_fingerprint, (spec, ["score"]), {}),
    ]
    for method, args, kwargs in calls:
        await acheck_hostile(method, *args, kwargs=kwargs)


async def test_a_database_session_method_types_its_errors(database: DatabaseSession) -> None:
    await acheck_hostile(database.create_all, Doc.metadata)


def test_every_public_name_is_driven_or_is_not_callable() -> None:
    """Every name in ``__all__`` is driven above, or is an alias, a constant or an abstract base."""
    driven = {_name(target).split(".")[0] for target, _, _ in TARGETS}
    driven |= {
        "SqlAlchemyRepository",
        "DatabaseSession",
        "QuerySchema",
        "CursorCodec",
        "SpecificationBuilder",
    }
    not_callables = {
        "__version__",
        "FIELD_OPERATORS",
        "MAX_PER_PAGE",
        "PROBLEM_JSON",
        "Operator",
        "Specification",
    }
    assert set(persistence.__all__) - driven - not_callables == set()
