"""QuerySchema: allow-lists, operators per type, malformed JSON, the per_page cap; problem+json."""

from __future__ import annotations

import contextlib
import json
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.core import Receive, Scope, Send
from buttress.persistence import (
    DatabaseError,
    EntityExistsError,
    EntityNotFoundError,
    FieldNotAllowedError,
    FieldSpecification,
    InvalidCursorError,
    InvalidQueryError,
    MalformedFilterError,
    MissingExtraError,
    PersistenceConfigurationError,
    PersistenceError,
    PersistenceTypeError,
    PersistenceUnavailableError,
    ProblemDetailsMiddleware,
    QuerySchema,
    SortField,
    UnknownFieldError,
    VersionConflictError,
    exceptions,
    problem_details,
)
from buttress.testing import check_hostile_asgi

SCHEMA = QuerySchema(
    filters={"status": str, "total": int, "price": Decimal, "paid": bool, "day": date, "author.name": str},
    sorts=["total", "day"],
    default_sort=["-day"],
)


def test_a_valid_query_becomes_a_specification_a_sort_and_a_page() -> None:
    query = SCHEMA.parse(
        {
            "filter": '{"status": "paid", "total": {"ge": 10, "lt": 99},'
            ' "day": {"between": ["2024-01-01", "2024-12-31"]}}',
            "sort": "-total,day",
            "page": "3",
            "per_page": "50",
        }
    )
    assert query.sort == (SortField("total", True), SortField("day"))
    assert (query.page, query.per_page, query.cursor) == (3, 50, None)
    assert query.where is not None
    assert query.where.fields() == {"status", "total", "day"}
    assert query.where.is_satisfied_by({"status": "paid", "total": 10, "day": date(2024, 5, 1)})
    assert not query.where.is_satisfied_by({"status": "paid", "total": 99, "day": date(2024, 5, 1)})
    assert SCHEMA.parse({}).sort == (SortField("day", True),)


def test_a_field_outside_the_allow_list_is_named_and_nothing_else() -> None:
    """Property 23: filter and sort validation — a field outside the allow-list is refused with a
    typed error naming only that field (hidden columns and the allow-list stay private)."""
    with pytest.raises(FieldNotAllowedError) as info:
        SCHEMA.parse({"filter": '{"password_hash": {"like": "a%"}}'})
    message = str(info.value)
    assert "password_hash" in message
    for private in ("status", "total", "author", "allow"):
        assert private not in message
    with pytest.raises(FieldNotAllowedError) as sorted_info:
        SCHEMA.parse({"sort": "-status"})
    assert sorted_info.value.usage == "sort"


@pytest.mark.parametrize(
    "filter_text",
    [
        '{"paid": {"gt": true}}',
        '{"status": {"between": ["a", "b"]}}',
        '{"total": {"like": "1%"}}',
        '{"day": {"like": "x"}}',
    ],
)
def test_operators_follow_the_field_type(filter_text: str) -> None:
    with pytest.raises(InvalidQueryError):
        SCHEMA.parse({"filter": filter_text})


@pytest.mark.parametrize(
    "filter_text",
    ["{", "[]", '"x"', '{"total": NaN}', '{"total": 1, "total": 2}', "{" * 5000, '{"total": {}}', "1e999999"],
)
def test_malformed_json_is_a_typed_error_with_a_safe_message(filter_text: str) -> None:
    with pytest.raises(MalformedFilterError) as info:
        SCHEMA.parse({"filter": filter_text})
    assert filter_text[:20] not in str(info.value) or filter_text[:20] in ("{", "[]")


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"filter": '{"total": "ten"}'}, "filter"),
        ({"filter": '{"total": {"in": []}}'}, "filter"),
        ({"filter": '{"status": null}'}, "filter"),
        ({"filter": '{"status": "a\\u0000"}'}, "filter"),
        ({"filter": '{"status": {"like": "a\\\\"}}'}, "filter"),
        ({"filter": '{"total": {"whatever": 1}}'}, "filter"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "1" * 30}, "page"),
        ({"per_page": "x"}, "per_page"),
        ({"cursor": "abc"}, "cursor"),
        ({"sort": "total,total"}, "sort"),
        ({"page": ["1", "2"]}, "page"),
        ({"filter": '{"price": {"gt": "1e999999999"}}'}, "filter"),
        ({"filter": '{"price": {"lt": "-1e-1001"}}'}, "filter"),
    ],
)
def test_bad_parameters_are_typed_errors(params: dict[str, Any], parameter: str) -> None:
    with pytest.raises(InvalidQueryError) as info:
        SCHEMA.parse(params)
    assert info.value.parameter == parameter


@given(per_page=st.integers(1, 10**18))
def test_per_page_is_capped_at_100(per_page: int) -> None:
    """Property 24: the pagination cap — any per_page a client sends yields at most 100 items a page."""
    assert SCHEMA.parse({"per_page": str(per_page)}).per_page == min(per_page, 100)


@given(query=st.text(max_size=200) | st.binary(max_size=200))
def test_any_query_string_parses_or_is_a_typed_error(query: str | bytes) -> None:
    """Hostile query strings never raise anything but InvalidQueryError."""
    with contextlib.suppress(InvalidQueryError):
        SCHEMA.parse(query)


@given(
    document=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: (
            st.lists(inner)
            | st.dictionaries(
                st.sampled_from(["status", "total", "day", "paid", "eq", "in", "like", "between", "x"]), inner
            )
        ),
        max_leaves=8,
    )
)
def test_any_json_filter_parses_or_is_a_typed_error(document: object) -> None:
    """Any JSON document as the filter: a specification, or an InvalidQueryError."""
    with contextlib.suppress(InvalidQueryError):
        SCHEMA.parse({"filter": json.dumps(document)})


def test_problem_details_follow_rfc_9457() -> None:
    bad = problem_details(FieldNotAllowedError("secret_column", "filter"))
    assert (bad.status, bad.title, bad.type) == (400, "Bad Request", "about:blank")
    assert bad.to_dict()["parameter"] == "filter"
    assert problem_details(EntityNotFoundError("Order", 7)).status == 404
    assert problem_details(VersionConflictError("Order", 7, expected=1, actual=2)).status == 409
    down = problem_details(PersistenceUnavailableError("database", "postgresql://u:pw@db/x", "refused"))
    assert down.status == 503
    assert "db" not in down.detail


EVERY_ERROR: dict[type[PersistenceError], tuple[PersistenceError, int]] = {
    kind: (error, status)
    for error, status in [
        (PersistenceError("message"), 500),
        (PersistenceConfigurationError("p", 1, "reason"), 500),
        (UnknownFieldError("f", "Model"), 500),
        (InvalidQueryError("page", 1, "reason"), 400),
        (FieldNotAllowedError("secret", "sort"), 400),
        (MalformedFilterError("filter", "{", "reason"), 400),
        (InvalidCursorError("reason"), 400),
        (PersistenceTypeError("p", "a str", 1), 500),
        (EntityNotFoundError("Doc", 1), 404),
        (EntityExistsError("Doc", 1, "is stored already"), 409),
        (VersionConflictError("Doc", 1, expected=1, actual=2), 409),
        (DatabaseError("the database refused the statement", sqlstate="23514"), 500),
        (PersistenceUnavailableError("database", "postgresql://u:pw@db/x", "refused"), 503),
        (MissingExtraError("DatabaseSession", "postgres"), 500),
    ]
    for kind in [type(error)]
}


@pytest.mark.parametrize("name", exceptions.__all__)
def test_every_typed_error_has_its_problem_status(name: str) -> None:
    """Every error of the package maps to problem+json: 400 for what a client sent, 404, 409, 503 for
    an outage, and 500 with a generic detail (no message, no SQLSTATE) for the server's own faults."""
    error, status = EVERY_ERROR[getattr(exceptions, name)]
    problem = problem_details(error)
    assert problem.status == status
    assert problem.to_dict()["status"] == status
    if status == 500:
        assert problem.detail == "the server failed to handle the request"
    assert "pw" not in json.dumps(problem.to_dict())


async def listing(scope: Scope, receive: Receive, send: Send) -> None:
    query = SCHEMA.parse(scope.get("query_string", b""))
    if query.where is not None and "status" in query.where.fields():
        raise EntityNotFoundError("Order", 1)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_the_middleware_answers_problem_json() -> None:
    app = ProblemDetailsMiddleware(listing)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        bad = await client.get("/orders", params={"filter": '{"secret": 1}'})
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["status"] == 400
        assert "secret" in bad.json()["detail"]
        missing = await client.get("/orders", params={"filter": '{"status": "x"}'})
        assert missing.status_code == 404
        assert (await client.get("/orders")).status_code == 200


async def test_the_middleware_never_answers_5xx_to_hostile_requests() -> None:
    await check_hostile_asgi(ProblemDetailsMiddleware(listing))


def test_relationship_filters_are_allowed_paths() -> None:
    query = SCHEMA.parse({"filter": '{"author.name": {"like": "A%"}}'})
    assert query.where == FieldSpecification("author.name", "like", "A%")
