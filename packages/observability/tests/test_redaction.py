"""The PII redaction processor: keys by name, values by pattern, recursive and cycle-safe (Property 13)."""

from __future__ import annotations

import dataclasses
import json
import string
from typing import Any

import pytest
import structlog
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from buttress.observability import (
    REDACTED,
    ObservabilityConfigurationError,
    ObservabilityTypeError,
    Redactor,
    redact_pii,
    redact_text,
)
from buttress.observability._redact import iban_valid, luhn_valid

# Card numbers the card networks publish for testing, and IBANs from the IBAN registry's examples.
CARDS = [
    "4111111111111111",
    "4111 1111 1111 1111",
    "5500-0055-5555-5559",
    "378282246310005",
    "6011111111111117",
]
IBANS = [
    "GB82WEST12345698765432",
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
    "FR1420041010050500013M02606",
]
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def render(event: dict[str, Any]) -> str:
    return json.dumps(redact_pii(None, "info", event), default=repr)


@pytest.mark.parametrize("card", CARDS)
def test_published_test_cards_pass_luhn_and_are_redacted(card: str) -> None:
    assert luhn_valid(card.replace(" ", "").replace("-", ""))
    assert redact_text(f"paid with {card} today") == f"paid with {REDACTED} today"


@pytest.mark.parametrize("iban", IBANS)
def test_registry_ibans_verify_and_are_redacted(iban: str) -> None:
    assert iban_valid(iban)
    assert redact_text(f"to {iban}.") == f"to {REDACTED}."


def test_numbers_that_fail_their_checks_are_kept() -> None:
    assert redact_text("order 4111111111111112") == "order 4111111111111112"  # Luhn fails
    assert redact_text("GB83WEST12345698765432") == "GB83WEST12345698765432"  # mod 97 fails
    assert redact_text("at 2026-12-06 10:00:00 took 1234 ms") == "at 2026-12-06 10:00:00 took 1234 ms"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail ada@example.com now", f"mail {REDACTED} now"),
        ("Authorization: Bearer abc.def-ghi", f"Authorization: Bearer {REDACTED}"),
        (f"token {JWT}", f"token {REDACTED}"),
        ("postgresql://app:s3cr3t@db:5432/x", f"postgresql://app:{REDACTED}@db:5432/x"),
        ("https://:hunter2@host/p", f"https://:{REDACTED}@host/p"),
        ("https://host/path?q=1", "https://host/path?q=1"),
        ("nothing to see", "nothing to see"),
    ],
)
def test_value_patterns(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_keys_are_matched_word_by_word() -> None:
    redactor = Redactor(extra_keys=["tax id"])
    for key in (
        "password",
        "X-Api-Key",
        "apiKey",
        "api_key",
        "Authorization",
        "sessionId",
        "user_password",
        "TaxId",
    ):
        assert redactor.sensitive(key), key
    for key in ("class_name", "author", "tokens_used_ratio", "description", "passage", 7):
        assert not redactor.sensitive(key), key


@dataclasses.dataclass
class User:
    email: str
    password: str
    name: str


class Payment(BaseModel):
    card: str
    amount: int
    api_key: str


def test_nested_containers_dataclasses_models_and_bytes() -> None:
    event = {
        "event": "charged ada@example.com",
        "user": User("ada@example.com", "pw", "Ada"),
        "payment": Payment(card="4111111111111111", amount=5, api_key="k"),
        "items": [("a", b"mail bob@example.com"), {"secret": 1}],
        "tags": {"x", "y"},
        "count": 3,
    }
    out = redact_pii(None, "info", event)
    assert out["event"] == f"charged {REDACTED}"
    assert out["user"] == {"email": REDACTED, "password": REDACTED, "name": "Ada"}
    assert out["payment"] == {"card": REDACTED, "amount": 5, "api_key": REDACTED}
    assert out["items"] == [("a", f"mail {REDACTED}".encode()), {"secret": REDACTED}]
    assert sorted(out["tags"]) == ["x", "y"]
    assert out["count"] == 3
    # the caller's objects are left alone
    assert event["user"].password == "pw"  # type: ignore[attr-defined]  # noqa: S105
    assert event["items"][1] == {"secret": 1}  # type: ignore[index]


class Leaky:
    def __repr__(self) -> str:
        return "Leaky(owner=ada@example.com)"


class Broken:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_other_objects_are_checked_through_their_repr() -> None:
    clean = object()
    out = redact_pii(None, "info", {"a": Leaky(), "b": Broken(), "c": clean})
    # "=" may belong to an address's local part (RFC 5322 atext), so "owner=" goes with it
    assert out["a"] == f"Leaky({REDACTED})"
    assert out["b"] == "[REDACTED: unrepresentable]"
    assert out["c"] is clean


@pytest.mark.parametrize("char", list("!#$%&'*+-/=?^_`{|}~."))
def test_every_rfc5322_atext_character_in_a_local_part_is_redacted(char: str) -> None:
    # RFC 5322 §3.2.3 atext: a local part may hold any of these; "/" and "=" once slipped through
    address = f"a{char}b@mail.example.org"
    assert redact_text(f"to {address} now") == f"to {REDACTED} now"
    assert redact_text(f"{char}@A.Ac") == REDACTED


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("idBearer abcdefgh1234 x", "idBearer [REDACTED] x"),
        ("qeyJhbGciOiJI.eyJzdWIi.Sfl:v", "q[REDACTED]:v"),
        ("1https://user:pw12345@host/x", "1https://user:[REDACTED]@host/x"),
        ("acct_DE89370400440532013000", "acct_[REDACTED]"),
        ("WGB82WEST12345698765432", "W[REDACTED]"),
        ("AB12DE89370400440532013000", "AB12[REDACTED]"),  # an IBAN inside a longer code
        ("DE89370400440532013000G;VR", "[REDACTED]G;VR"),  # checked at Germany's length, 22
        ("GB82 WEST 1234 5698 7654 32 ABC", "[REDACTED] ABC"),
        ("paid 4111 1111 1111 1111 2 times", "paid [REDACTED] 2 times"),  # whole groups
        ("ref 1234 4111 1111 1111 1111", "ref 1234 [REDACTED]"),
        ("order 74111111111111111", "order 74111111111111111"),  # glued digits: another number
    ],
)
def test_a_secret_glued_to_its_neighbours_is_found(text: str, kept: str) -> None:
    assert redact_text(text) == kept


# --- properties -----------------------------------------------------------------------------------


def _luhn_complete(prefix: str) -> str:
    for check in "0123456789":
        if luhn_valid(prefix + check):
            return prefix + check
    raise AssertionError


# a few countries of the SWIFT IBAN registry with their lengths, from its examples
_COUNTRIES = {"NO": 15, "BE": 16, "NL": 18, "AT": 20, "CH": 21, "DE": 22, "ES": 24, "FR": 27, "MT": 31}
_IBAN_PARTS = (
    st.sampled_from(sorted(_COUNTRIES)),
    st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=29, max_size=29),
    st.booleans(),
)


def _iban(country: str, bban: str, *, spaced: bool) -> str:
    bban = bban[: _COUNTRIES[country] - 4]
    number = int("".join(str(int(char, 36)) for char in f"{bban}{country}00"))
    compact = f"{country}{98 - number % 97:02d}{bban}"
    assert iban_valid(compact)
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4)) if spaced else compact


SECRETS = st.one_of(
    st.emails().filter(lambda e: "." in e.split("@")[1]),
    st.from_regex(r"[0-9]{15}", fullmatch=True).map(lambda p: "4" + p[1:]).map(_luhn_complete),
    st.sampled_from(IBANS),
    st.builds(lambda country, bban, spaced: _iban(country, bban, spaced=spaced), *_IBAN_PARTS),
    st.just(JWT),
    st.from_regex(r"[A-Za-z0-9]{8,20}", fullmatch=True).map(lambda t: f"Bearer {t}"),
    st.from_regex(r"[A-Za-z0-9]{6,12}", fullmatch=True).map(lambda p: f"https://user:{p}@host.example/x"),
)
WORDS = st.text(alphabet="abcdefghij -", max_size=8)
# what a secret may be glued to: any printable ASCII (a card glued to another digit is another number)
GLUE = st.text(alphabet=string.printable, max_size=4)


def _payloads(secret: str) -> str:
    # the part of a secret that must never be seen
    if secret.startswith("Bearer "):
        return secret[7:]
    if secret.startswith("https://user:"):
        return secret[len("https://user:") : secret.index("@")] + "@"
    return secret


def nested(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaf,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.lists(children, max_size=3).map(tuple),
            st.dictionaries(WORDS.filter(lambda k: not redact_pii.sensitive(k)), children, max_size=3),
            st.builds(lambda a, b: User(a, "pw", b), children.map(str), WORDS),
        ),
        max_leaves=12,
    )


@given(secret=SECRETS, before=GLUE, after=GLUE, shape=st.integers(0, 3), data=st.data())
def test_property_13_redaction_is_complete(
    secret: str, before: str, after: str, shape: int, data: st.DataObject
) -> None:
    """Property 13: Sensitive data redaction.

    A secret (an e-mail, a Luhn-valid card, an IBAN, a JWT, a bearer token, a URL password) placed
    anywhere in a nested event, inside text, bytes, containers or dataclasses, glued to any text
    around it, never reaches the rendered line, and neither does any value under a sensitive key.
    """
    assume(not (secret[0].isdigit() and (before[-1:].isdigit() or after[:1].isdigit())))
    text = f"{before}{secret}{after}"
    leaf = st.sampled_from([text, text.encode(), 1, None, "plain"])
    tree = data.draw(nested(leaf))
    event = {"event": "e", "payload": tree, "password": data.draw(st.text(max_size=10)), "holder": [text]}
    out = redact_pii(None, "info", event)
    line = json.dumps(out, default=repr)
    assert _payloads(secret) not in line
    assert out["password"] == REDACTED


@given(tree=nested(st.one_of(st.text(max_size=20), st.binary(max_size=10), st.integers(), st.none())))
def test_redaction_is_idempotent_and_keeps_clean_values(tree: Any) -> None:
    once = redact_pii.redact(tree)
    assert redact_pii.redact(once) == once


@settings(max_examples=100)
@given(depth=st.integers(1, 6), kind=st.sampled_from(["list", "dict", "mixed"]))
def test_property_13_cycles_are_safe(depth: int, kind: str) -> None:
    """Property 13 (cycle safety): a structure that contains itself is logged once, with a marker."""
    root: Any = [] if kind != "dict" else {}
    node = root
    for level in range(depth):
        child: Any = {} if (kind == "dict" or (kind == "mixed" and level % 2)) else []
        if isinstance(node, list):
            node.append(child)
        else:
            node[f"k{level}"] = child
        node = child
    if isinstance(node, list):
        node.append(root)
    else:
        node["back"] = root
    line = json.dumps(redact_pii(None, "info", {"event": "e", "tree": root}))
    assert "[REDACTED: cycle]" in line


def test_too_deep_is_replaced_not_followed() -> None:
    deep: Any = "ada@example.com"
    for _ in range(100):
        deep = [deep]
    line = json.dumps(redact_pii(None, "info", {"event": "e", "deep": deep}))
    assert "example.com" not in line
    assert "[REDACTED: too deep]" in line


class Hostile:
    """Objects that fight back: a repr that returns a str subclass, huge, or raises later."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __repr__(self) -> str:
        return "x" * self.size + " ada@example.com"


@settings(max_examples=200)
@given(
    st.recursive(
        st.one_of(
            st.text(),
            st.binary(),
            st.integers(),
            st.floats(),
            st.none(),
            st.builds(Hostile, st.integers(0, 2000)),
            st.builds(Broken),
            st.sampled_from(["4111111111111111", "GB82WEST12345698765432", JWT, "Bearer x", "a@b.co"]),
        ),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), children, max_size=4),
            st.frozensets(st.one_of(st.text(max_size=5), st.integers()), max_size=3),
            st.lists(children, max_size=3).map(tuple),
        ),
        max_leaves=30,
    )
)
def test_hostile_values_never_break_the_processor(value: Any) -> None:
    """Fuzz: any nested value is processed without an exception and renders as JSON."""
    out = redact_pii(None, "info", {"event": value, "nested": {"x": value}})
    json.dumps(out, default=repr)


def test_through_structlog_json_renderer() -> None:
    lines: list[str] = []
    logger = structlog.wrap_logger(
        structlog.PrintLogger(
            file=type("F", (), {"write": lambda self, s: lines.append(s), "flush": lambda self: None})()
        ),
        processors=[redact_pii, structlog.processors.JSONRenderer()],
    )
    logger.info("login", email="ada@example.com", password="pw", attempt=2)  # noqa: S106
    out = json.loads(lines[0])
    assert out == {"event": "login", "email": REDACTED, "password": REDACTED, "attempt": 2}


def test_bad_options_are_typed_errors() -> None:
    with pytest.raises(ObservabilityTypeError):
        Redactor("password")
    with pytest.raises(ObservabilityConfigurationError):
        Redactor(extra_keys=["--"])
    with pytest.raises(ObservabilityConfigurationError):
        Redactor(replacement="")
    with pytest.raises(ObservabilityConfigurationError):
        Redactor(max_depth=0)
    with pytest.raises(ObservabilityTypeError):
        redact_pii(None, "info", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(ObservabilityTypeError):
        redact_text(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["a@e.ax_@e.co", "4111111111111111l://:t@"])
def test_fuzzer_findings_redact_to_a_fixpoint(text: str) -> None:
    """Found by fuzz/targets.py: a replacement exposed a neighbour; redaction now runs to a fixpoint."""
    once = redact_text(text)
    assert redact_text(once) == once
