"""Specifications in Python: operators, three-valued logic, the builder, and the values they refuse."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.persistence import (
    FieldSpecification,
    PersistenceConfigurationError,
    PersistenceTypeError,
    Specification,
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


INTS = st.integers(-5, 5)
ORDERS = st.builds(
    Order, total=st.none() | INTS, status=st.none() | st.sampled_from(["paid", "open", "Paid"])
)
REFERENCE = {
    "eq": lambda v, x: v == x,
    "ne": lambda v, x: v != x,
    "gt": lambda v, x: v > x,
    "ge": lambda v, x: v >= x,
    "lt": lambda v, x: v < x,
    "le": lambda v, x: v <= x,
    "in": lambda v, x: v in x,
    "between": lambda v, x: x[0] <= v <= x[1],
}


@st.composite
def total_specs(draw: st.DrawFn) -> tuple[FieldSpecification[Order], str, object]:
    op = draw(st.sampled_from(sorted(REFERENCE)))
    value: object = draw(INTS)
    if op == "in":
        value = draw(st.lists(INTS, min_size=1, max_size=4))
    elif op == "between":
        value = (draw(INTS), draw(INTS))
    return FieldSpecification("total", op, value), op, value  # type: ignore[arg-type]


SPECS = st.recursive(
    total_specs().map(lambda drawn: drawn[0])
    | st.builds(FieldSpecification, st.just("status"), st.just("eq"), st.just("paid")),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda pair: pair[0] & pair[1]),
        st.tuples(inner, inner).map(lambda pair: pair[0] | pair[1]),
        inner.map(lambda spec: ~spec),
    ),
    max_leaves=5,
)


@given(drawn=total_specs(), total=INTS)
def test_each_operator_agrees_with_python(
    drawn: tuple[FieldSpecification[Order], str, object], total: int
) -> None:
    """Property 2: Specification Operator Correctness — on a present value every operator answers what
    Python's own comparison answers; on NULL it is unknown (not selected) except ``is_null``."""
    spec, op, value = drawn
    order = Order(total=total, status=None)
    assert spec.is_satisfied_by(order) is bool(REFERENCE[op](total, value))
    assert spec.evaluate(Order(total=None, status=None)) is None
    assert FieldSpecification("total", "is_null", True).is_satisfied_by(Order(total=None, status=None))


def kleene_and(a: bool | None, b: bool | None) -> bool | None:
    return False if False in (a, b) else None if None in (a, b) else True


def kleene_or(a: bool | None, b: bool | None) -> bool | None:
    return True if True in (a, b) else None if None in (a, b) else False


@given(left=SPECS, right=SPECS, order=ORDERS)
def test_composition_is_kleene_and_and_or(
    left: Specification[Order], right: Specification[Order], order: Order
) -> None:
    """Property 3: Specification Composition — ``a & b`` and ``a | b`` are SQL's AND and OR of the
    parts' truths (Kleene logic), so on rows without NULLs they are Python's ``and`` and ``or``; the
    builder's ``and_where``/``or_where`` build the same specifications."""
    a, b = left.evaluate(order), right.evaluate(order)
    assert (left & right).evaluate(order) is kleene_and(a, b)
    assert (left | right).evaluate(order) is kleene_or(a, b)
    if None not in (a, b):
        assert (left & right).is_satisfied_by(order) is (
            left.is_satisfied_by(order) and right.is_satisfied_by(order)
        )
        assert (left | right).is_satisfied_by(order) is (
            left.is_satisfied_by(order) or right.is_satisfied_by(order)
        )
    built = SpecificationBuilder[Order]().where(left).and_where(right).build()
    assert built.evaluate(order) is (left & right).evaluate(order)
    built = SpecificationBuilder[Order]().where(left).or_where(right).build()
    assert built.evaluate(order) is (left | right).evaluate(order)


@given(spec=SPECS, order=ORDERS)
def test_negation_flips_a_known_truth_and_keeps_unknown(spec: Specification[Order], order: Order) -> None:
    """Property 4: Specification Negation — ``~s`` is ``not s`` wherever ``s`` is known, and unknown
    (selected by neither) where ``s`` is unknown."""
    truth = spec.evaluate(order)
    assert (~spec).evaluate(order) is (None if truth is None else not truth)
    if truth is not None:
        assert (~spec).is_satisfied_by(order) is (not spec.is_satisfied_by(order))
    else:
        assert not spec.is_satisfied_by(order)
        assert not (~spec).is_satisfied_by(order)
