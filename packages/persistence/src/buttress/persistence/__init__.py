"""buttress-persistence: async SQLAlchemy 2 sessions, specifications, repositories and safe API queries.

`DatabaseSession` opens (or borrows) an async engine and runs transactions that roll back before the
error leaves them; `Specification` predicates evaluate in Python and compile to the same SQL;
`SqlAlchemyRepository` stores mapped entities with soft delete and optimistic locking::

    from buttress.persistence import DatabaseSession, FieldSpecification, SqlAlchemyRepository

    db = await DatabaseSession.connect("postgresql://app@localhost/app", pool_size=10)
    orders = SqlAlchemyRepository(db, Order, soft_delete="deleted_at", version="version")
    paid = FieldSpecification("total", "gt", 100) & ~FieldSpecification("status", "eq", "void")
    big = await orders.find(paid, order_by=["-total"])

`QuerySchema` turns a client's query string into a specification, a sort and a page, against an
allow-list, and `problem_details` answers every error of the package as RFC 9457 problem+json.

PostgreSQL needs the ``postgres`` extra (asyncpg), SQLite the ``sqlite`` extra (aiosqlite).
"""

from __future__ import annotations

from ._cursor import CursorCodec, CursorPosition
from ._pagination import MAX_PER_PAGE, Page
from ._problem import PROBLEM_JSON, ProblemDetails, ProblemDetailsMiddleware, problem_details
from ._query import FIELD_OPERATORS, ListQuery, QuerySchema
from ._repository import SqlAlchemyRepository
from ._session import DatabaseSession
from ._sort import SortField
from ._specification import (
    AndSpecification,
    FieldSpecification,
    NotSpecification,
    Operator,
    OrSpecification,
    Specification,
    SpecificationBuilder,
)
from ._values import escape_like
from ._version import __version__
from .exceptions import (
    DatabaseError,
    EntityExistsError,
    EntityNotFoundError,
    FieldNotAllowedError,
    InvalidCursorError,
    InvalidQueryError,
    MalformedFilterError,
    MissingExtraError,
    PersistenceConfigurationError,
    PersistenceError,
    PersistenceTypeError,
    PersistenceUnavailableError,
    UnknownFieldError,
    VersionConflictError,
)

__all__ = [
    "FIELD_OPERATORS",
    "MAX_PER_PAGE",
    "PROBLEM_JSON",
    "AndSpecification",
    "CursorCodec",
    "CursorPosition",
    "DatabaseError",
    "DatabaseSession",
    "EntityExistsError",
    "EntityNotFoundError",
    "FieldNotAllowedError",
    "FieldSpecification",
    "InvalidCursorError",
    "InvalidQueryError",
    "ListQuery",
    "MalformedFilterError",
    "MissingExtraError",
    "NotSpecification",
    "Operator",
    "OrSpecification",
    "Page",
    "PersistenceConfigurationError",
    "PersistenceError",
    "PersistenceTypeError",
    "PersistenceUnavailableError",
    "ProblemDetails",
    "ProblemDetailsMiddleware",
    "QuerySchema",
    "SortField",
    "Specification",
    "SpecificationBuilder",
    "SqlAlchemyRepository",
    "UnknownFieldError",
    "VersionConflictError",
    "__version__",
    "escape_like",
    "problem_details",
]
