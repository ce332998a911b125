"""Specifications in Python: operators, three-valued logic, the builder, and the values they refuse."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from buttress.persistence import (
    FieldSpecification,
    PersistenceConfigurationError,
    PersistenceTypeError,
    SpecificationBuilder,
    UnknownFieldError,
    escape_like,
)

from .conftest import Row


@dataclass
class Order:
    total: int | None
    status: str | None


def test_every_operator() -> None:
    order = Order(total=10, status="paid")
    assert FieldSpecification("total", "eq", 10).is_satisfied_by(order)
    assert FieldSpecification("total", "ne", 9).is_satisfied_by(order)
    assert FieldSpecification("total", "gt", 9).is_satisfied_by(order)
    assert FieldSpecification("total", "ge", 10).is_satisfied_by(order)
    assert FieldSpecification("total", "lt", 11).is_satisfied_by(order)
    assert FieldSpecification("total", "le", 10).is_satisfied_by(order)
    assert FieldSpecification("total", "in", [1, 10]).is_satisfied_by(order)
    assert FieldSpecification("total", "between", (10, 10)).is_satisfied_by(order)
    assert FieldSpecification("status", "like", "p_i%").is_satisfied_by(order)
    assert not FieldSpecification("status", "like", "P%").is_satisfied_by(order)  # case-sensitive
    assert FieldSpecification("status", "is_null", False).is_satisfied_by(order)


def test_null_is_unknown_not_false() -> None:
    """Three-valued logic: NOT over a comparison with NULL is still unknown, so not selected."""
    order = Order(total=None, status="paid")
    big = FieldSpecification("total", "gt", 5)
    assert big.evaluate(order) is None
    assert (~big).evaluate(order) is None
    assert not (~big).is_satisfied_by(order)
    paid = FieldSpecification("status", "eq", "paid")
    assert (big | paid).evaluate(order) is True
    assert (big & ~paid).evaluate(order) is False
    assert (big & paid).evaluate(order) is None
    assert FieldSpecification("total", "is_null", True).is_satisfied_by(order)


def test_relationship_paths_are_true_or_false() -> None:
    row = Row(id=1)
    spec = FieldSpecification("author.name", "eq", "x")
    assert spec.evaluate(row) is False
    assert (~spec).is_satisfied_by(row)


def test_the_builder_reads_left_to_right() -> None:
    spec = (
        SpecificationBuilder[Order]()
        .where("status", "eq", "paid")
        .or_where("status", "eq", "refunded")
        .and_where(FieldSpecification("total", "ge", 100))
        .build()
    )
    assert spec.is_satisfied_by(Order(total=100, status="refunded"))
    assert not spec.is_satisfied_by(Order(total=99, status="paid"))
    with pytest.raises(PersistenceConfigurationError):
        SpecificationBuilder[Order]().build()
    with pytest.raises(PersistenceConfigurationError):
        SpecificationBuilder[Order]().where("total")


@pytest.mark.parametrize(
    ("field", "op", "value", "error"),
    [
        ("total", "eq", None, PersistenceConfigurationError),
        ("total", "gt", float("nan"), PersistenceConfigurationError),
        ("total", "eq", 2**64, PersistenceConfigurationError),
        ("total", "in", [], PersistenceConfigurationError),
        ("total", "in", "abc", PersistenceTypeError),
        ("total", "between", (1,), PersistenceTypeError),
        ("status", "like", "ends\\", PersistenceConfigurationError),
        ("status", "eq", "nul\x00", PersistenceConfigurationError),
        ("status", "eq", object(), PersistenceTypeError),
        ("status", "is_null", "yes", PersistenceTypeError),
        ("status", "regex", "x", PersistenceConfigurationError),
        ("1bad", "eq", 1, PersistenceConfigurationError),
        ("a..b", "eq", 1, PersistenceConfigurationError),
    ],
)
def test_bad_specifications_are_refused_at_construction(
    field: str, op: str, value: object, error: type
) -> None:
    with pytest.raises(error):
        FieldSpecification(field, op, value)  # type: ignore[arg-type]


def test_a_missing_field_or_a_foreign_type_is_typed() -> None:
    with pytest.raises(UnknownFieldError):
        FieldSpecification("nope", "eq", 1).is_satisfied_by(Order(total=1, status=None))
    with pytest.raises(PersistenceTypeError):
        FieldSpecification("total", "gt", "x").is_satisfied_by(Order(total=1, status=None))
    with pytest.raises(PersistenceTypeError):
        FieldSpecification("total", "eq", 1).to_sql_condition(Order)
    with pytest.raises(PersistenceTypeError):
        FieldSpecification("total", "eq", 1) & "x"  # type: ignore[operator]


def test_escape_like_makes_text_literal() -> None:
    assert escape_like("50%_\\") == "50\\%\\_\\\\"
    spec = FieldSpecification("status", "like", f"{escape_like('50%')}%")
    assert spec.is_satisfied_by(Order(total=0, status="50% off"))
    assert not spec.is_satisfied_by(Order(total=0, status="500 off"))
