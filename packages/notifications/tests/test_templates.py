"""Templates: validated at registration, sandboxed, autoescaped HTML, typed errors."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from buttress.notifications import (
    NotificationsConfigurationError,
    NotificationsTypeError,
    Rendered,
    Template,
    TemplateContextError,
    TemplateDefinitionError,
    TemplateRegistry,
    TemplateRenderError,
    UnknownTemplateError,
)


class Customer(BaseModel):
    name: str
    vip: bool = False


class Order(BaseModel):
    number: int
    name: str


class Shipment(BaseModel):
    customer: Customer
    items: list[str]


def test_render_subject_text_and_escaped_html() -> None:
    registry = TemplateRegistry()
    registry.register(
        Template(
            "order",
            Order,
            subject="Order {{ number }}\nfor {{ name }}",
            text="Hello {{ name }}",
            html="<p>Hello {{ name }}</p>",
        )
    )
    rendered = registry.render("order", Order(number=7, name="<script>x</script>"))
    assert rendered == Rendered(
        subject="Order 7 for <script>x</script>",
        text="Hello <script>x</script>",
        html="<p>Hello &lt;script&gt;x&lt;/script&gt;</p>",
    )


def test_nested_models_and_loops() -> None:
    registry = TemplateRegistry(filters={"shout": str.upper})
    registry.register(
        Template(
            "ship",
            Shipment,
            subject="{{ customer.name | shout }}",
            text="{% for i in items %}- {{ i }}\n{% endfor %}{% if customer.vip %}VIP{% endif %}",
        )
    )
    out = registry.render("ship", Shipment(customer=Customer(name="ann", vip=True), items=["a", "b"]))
    assert (out.subject, out.text, out.html) == ("ANN", "- a\n- b\nVIP", None)


def test_syntax_errors_are_refused_at_registration() -> None:
    registry = TemplateRegistry()
    with pytest.raises(TemplateDefinitionError, match=r"'broken'.*text line 2") as info:
        registry.register(Template("broken", Order, subject="ok", text="line\n{% if number %}"))
    assert (info.value.template, info.value.part, info.value.line) == ("broken", "text", 2)
    assert "broken" not in registry


@pytest.mark.parametrize("part", ["subject", "text", "html"])
def test_undeclared_variables_are_refused_at_registration(part: str) -> None:
    sources = {"subject": "s", "text": "t", "html": "<p>h</p>"}
    sources[part] = "{{ number }} {{ total }}"
    with pytest.raises(TemplateDefinitionError, match=r"'total'.*Order") as info:
        TemplateRegistry().register(Template("t", Order, **sources))
    assert (info.value.field, info.value.part) == ("total", part)


def test_loop_variables_are_not_undeclared() -> None:
    TemplateRegistry().register(
        Template("t", Shipment, subject="s", text="{% for x in items %}{{ x }}{% endfor %}")
    )


def test_a_missing_attribute_names_template_and_field() -> None:
    registry = TemplateRegistry()
    registry.register(Template("ship", Shipment, subject="{{ customer.email }}", text="t"))
    with pytest.raises(TemplateRenderError, match=r"'ship'.*subject.*email") as info:
        registry.render("ship", Shipment(customer=Customer(name="a"), items=[]))
    assert (info.value.template, info.value.part, info.value.field) == ("ship", "subject", "email")


def test_the_sandbox_refuses_private_attributes() -> None:
    registry = TemplateRegistry()
    registry.register(
        Template("evil", Order, subject="s", text="{{ name.__class__.__mro__[1].__subclasses__() }}")
    )
    with pytest.raises(TemplateRenderError, match="evil"):
        registry.render("evil", Order(number=1, name="x"))


def test_wrong_context_and_unknown_template() -> None:
    registry = TemplateRegistry()
    registry.register(Template("order", Order, subject="s", text="t"))
    with pytest.raises(TemplateContextError, match="must be a Order, got Customer"):
        registry.render("order", Customer(name="x"))
    with pytest.raises(UnknownTemplateError):
        registry.render("nope", Order(number=1, name="x"))
    with pytest.raises(UnknownTemplateError):
        registry.get("nope")
    assert registry.get("order").context is Order


def test_bad_template_definitions() -> None:
    with pytest.raises(NotificationsConfigurationError, match="context"):
        Template("t", dict, subject="s", text="t")  # type: ignore[type-var]
    with pytest.raises(NotificationsConfigurationError, match="name"):
        Template("bad name!", Order, subject="s", text="t")
    with pytest.raises(NotificationsTypeError, match="text"):
        Template("t", Order, subject="s", text=None)  # type: ignore[arg-type]
    with pytest.raises(NotificationsTypeError, match="template"):
        TemplateRegistry().register("order")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ name | nofilter }}", "No filter named 'nofilter'"),  # jinja2's TemplateAssertionError
        ("{{ name is nosuchtest }}", "No test named 'nosuchtest'"),
        ("{{" * 200, "nested too deeply"),  # a RecursionError in jinja2's parser
        ("{{ " + "(" * 300 + "name" + ")" * 300 + " }}", "nested too deeply"),
        ("{% extends 'base' %}", "no loader"),
        ("{% include name %}", "no loader"),
        ("{% import 'm' as m %}", "no loader"),
        ("a\x00b", "NUL"),
        ("\ud800{{ name }}", "lone surrogate"),
        ("x" * 1_000_001, "limit is 1000000"),
    ],
)
def test_every_way_a_source_can_fail_is_a_definition_error(source: str, reason: str) -> None:
    registry = TemplateRegistry()
    with pytest.raises(TemplateDefinitionError, match=re.escape(reason)) as info:
        registry.register(Template("t", Order, subject="s", text=source))
    assert (info.value.template, info.value.part) == ("t", "text")
    assert "t" not in registry


@pytest.mark.parametrize(
    ("source", "name", "reason"),
    [
        ("{{ name }}", "a\x00b", "NUL"),  # PostgreSQL cannot store it; no channel carries it
        ("{{ name }}", "\udcff", "lone surrogate"),
        ("{{ name * number }}", "ab", "repetition over"),
        ("{{ 2 ** number }}", "x", "exponent over"),
        ("{{ range(number) | list }}", "x", "OverflowError"),
        ("{{ name.__class__ }}", "x", "sandbox"),
    ],
)
def test_every_way_a_render_can_fail_is_a_render_error(source: str, name: str, reason: str) -> None:
    registry = TemplateRegistry()
    registry.register(Template("t", Order, subject="s", text=source))
    with pytest.raises(TemplateRenderError, match=re.escape(reason)):
        registry.render("t", Order(number=10**7, name=name))


def test_lookups_with_names_of_other_types_are_unknown() -> None:
    registry = TemplateRegistry()
    assert ["x"] not in registry
    with pytest.raises(UnknownTemplateError):
        registry.get(["x"])  # type: ignore[arg-type]
    with pytest.raises(UnknownTemplateError):
        registry.render({"x": 1}, Order(number=1, name="x"))  # type: ignore[arg-type]
    with pytest.raises(NotificationsConfigurationError, match="filters"):
        TemplateRegistry(filters={"not a name": str.upper})
    with pytest.raises(NotificationsConfigurationError, match="filters"):
        TemplateRegistry(filters={"f": "upper"})  # type: ignore[dict-item]


FRAGMENTS = [
    "{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", " ", "\n", "name", "number", "x", "|", "upper",
    "nofilter", "for", "in", "endfor", "if", "else", "endif", "(", ")", "[", "]", "'", '"', ".", ",",
    "__class__", "mro", "range", "9", "99", "*", "**", "~", "+", "-", "/", "//", "%", "is", "defined",
    "set", "=", "extends", "include", "import", "macro", "endmacro", "call", "raw", "endraw", "loop",
    "namespace", "\x00", "\ud800", "é", "\u202e", "{{ name }}", "{% for i in range(3) %}",
]  # fmt: skip
sources = st.one_of(st.text(max_size=60), st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))


@given(subject=sources, text=sources, html=st.none() | sources, name=st.text(), number=st.integers())
def test_property_any_source_and_context_gives_a_typed_result(
    subject: str, text: str, html: str | None, name: str, number: int
) -> None:
    """Registration raises only TemplateDefinitionError; rendering only TemplateRenderError."""
    registry = TemplateRegistry()
    try:
        registry.register(Template("t", Order, subject=subject, text=text, html=html))
    except TemplateDefinitionError:
        return
    try:
        rendered = registry.render("t", Order(number=number, name=name))
    except TemplateRenderError:
        return
    for part in (rendered.subject, rendered.text, rendered.html or ""):
        assert "\x00" not in part
        part.encode("utf-8")
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


def test_importing_the_package_leaves_jinja2_to_the_first_registry() -> None:
    """Jinja2 is half the package's import time: it loads with the first TemplateRegistry."""
    code = (
        "import sys, buttress.notifications as n\n"
        "assert 'jinja2' not in sys.modules, 'jinja2 imported by the package'\n"
        "n.TemplateRegistry()\n"
        "assert 'jinja2' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
