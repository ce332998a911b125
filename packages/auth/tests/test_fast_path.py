"""The verification's fast paths decide exactly as the general code they stand in front of.

Each fast path either returns what the general code returns or hands the case back to it (``None``);
it never accepts what the general code refuses. Hypothesis drives both with the same inputs.
"""

from __future__ import annotations

import json
import time
from dataclasses import fields
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from buttress.auth import KeySet, SigningKey, TokenError, TokenService
from buttress.auth._jose import b64encode, loads_claims, loads_object
from buttress.auth._verify import (
    ACCESS,
    Policy,
    VerifiedToken,
    _claims,
    _fast_claims,
    check_token,
    new_verified_token,
)

KEY = SigningKey.generate("EdDSA")
NOW = 1_900_000_000.0

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats()  # NaN and infinities included: neither path may take them as times
    | st.sampled_from(
        [
            NOW,
            NOW - 40,
            NOW + 40,
            NOW - 3_600,
            NOW + 3_600,
            1e11,
            -1e11,
            -6e10,
            -6e10 + 1,
            -99_999_999_999.0,
            99_999_999_999.5,
        ]
    )
    | st.text(max_size=6)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)
audiences = st.sampled_from(["api", "other", "", "API"])
plausible = {
    "exp": st.sampled_from([NOW + 900, NOW - 10, NOW - 100, NOW + 0.5, int(NOW) + 60, 1e11, True]),
    "nbf": st.sampled_from([NOW - 1, NOW + 10, NOW + 100, int(NOW), -1e11, 1e11, False]),
    "iat": st.sampled_from([NOW - 1, NOW + 10, NOW + 100, int(NOW), -6e10 + 1, -6e10, -7e10, 1e11 - 1]),
    "iss": st.sampled_from(["https://id.example", "https://evil.example", "https://id.example/"]),
    "aud": audiences | st.lists(audiences | st.integers(), max_size=3),
    "sub": st.text(max_size=5),
    "jti": st.text(max_size=5),
    "sid": st.text(max_size=5),
}


@st.composite
def claim_sets(draw: st.DrawFn) -> dict[str, Any]:
    """Claim sets that mostly pass, with one thing or another wrong, missing or of another type."""
    claims: dict[str, Any] = {}
    for name, values in plausible.items():
        pick = draw(st.integers(0, 15))
        if pick == 0:
            continue  # missing
        claims[name] = draw(scalars) if pick == 1 else draw(values)
    claims.update(draw(st.dictionaries(st.text(max_size=4), json_values, max_size=2)))
    return claims


policies = st.builds(
    Policy.make,
    st.just("https://id.example"),
    st.sampled_from(["api", ("api", "other"), ("x",)]),
    st.sampled_from([0, 30, 3_600, 0.5]),
    st.just(8_192),
    st.none() | st.lists(st.sampled_from(["sub", "iat", "nbf", "jti"]), min_size=1, max_size=3),
)


@settings(max_examples=2_000)
@given(claim_sets(), policies, st.sampled_from([NOW, NOW + 1e11, -2e11]))
def test_fast_claims_decide_as_the_general_checks(claims: dict[str, Any], policy: Policy, now: float) -> None:
    fast = _fast_claims(claims, policy, now, ACCESS, "k1")
    try:
        slow = _claims(claims, policy, now, ACCESS, "k1")
    except TokenError:
        assert fast is None
    else:
        assert fast is None or (fast == slow and repr(fast) == repr(slow))


@given(st.text(max_size=8), st.text(max_size=8), st.lists(st.text(max_size=4), max_size=3))
def test_the_fast_constructor_equals_the_dataclass(subject: str, kid: str, audience: list[str]) -> None:
    values = (subject, ACCESS, "iss", tuple(audience), None, None, None, "sid", kid, {"a": 1})
    made, built = new_verified_token(*values), VerifiedToken(*values)
    assert type(made) is VerifiedToken
    assert made == built
    assert [getattr(made, item.name) for item in fields(VerifiedToken)] == list(values)


def _spellings(value: Any) -> st.SearchStrategy[bytes]:
    text = json.dumps(value, allow_nan=True)
    return st.sampled_from(
        [
            text,
            f" {text}",
            f"{text}\n",
            text[:-1],
            text.replace(":", ": "),
            text + text,
            "[" + text + "]",
            text.replace('{"', '{"a": 1, "', 1) + "",
        ]
    ).map(lambda spelled: spelled.encode("utf-8"))


json_bytes = (
    st.dictionaries(st.text(max_size=4), json_values, max_size=4).flatmap(_spellings)
    | json_values.flatmap(_spellings)
    | st.binary(max_size=40)
    | st.sampled_from(
        [b'{"a":1,"a":2}', b'{"a":NaN}', b'{"a":Infinity}', b'{"a":1e999}', b'{"\xff":1}', b"{}"]
    )
)


@settings(max_examples=2_000)
@given(json_bytes)
def test_the_fast_parse_decides_as_the_general_parse(data: bytes) -> None:
    fast = loads_claims(data)
    try:
        slow = loads_object(data, "payload")
    except TokenError:
        assert fast is None
    else:
        assert fast is None or json.dumps(fast, sort_keys=True) == json.dumps(slow, sort_keys=True)


SERVICE = TokenService(KeySet(KEY), issuer="https://id.example", audience="api")
TOKEN = SERVICE.issue_access("user-7", claims={"roles": ["editor"]})


def _outcome(token: str, headers: dict[str, tuple[str, str, str]]) -> object:
    try:
        return check_token(token, SERVICE._policy, SERVICE.keys.get, headers, time.time(), ACCESS)
    except TokenError as exc:
        return type(exc), str(exc)


segment_edits = st.one_of(
    st.text(alphabet="ABCDEFabcdef0123456789-_+/=. \x00é", max_size=6).map(lambda extra: ("append", extra)),
    st.integers(0, 400).map(lambda cut: ("cut", cut)),
    st.sampled_from(["", "A", "AA", "AAA", "AAAA"]).map(lambda whole: ("replace", whole)),
    st.dictionaries(st.text(max_size=4), json_values, max_size=3).map(
        lambda claims: ("replace", b64encode(json.dumps(claims).encode()))
    ),
)


@settings(max_examples=1_000)
@given(st.sampled_from([1, 2]), segment_edits)
def test_a_cached_header_decides_as_a_header_checked_anew(segment: int, edit: tuple[str, Any]) -> None:
    """The token's header is cached once it verified; tokens with that header and any payload or
    signature get the verdict they get without the cache."""
    parts = TOKEN.split(".")
    how, value = edit
    if how == "append":
        parts[segment] += value
    elif how == "cut":
        parts[segment] = parts[segment][: value % (len(parts[segment]) + 1)]
    else:
        parts[segment] = value
    token = ".".join(parts)
    cached: dict[str, tuple[str, str, str]] = {}
    assert isinstance(_outcome(TOKEN, cached), VerifiedToken)
    assert cached  # the header is cached now
    assert _outcome(token, cached) == _outcome(token, {})
