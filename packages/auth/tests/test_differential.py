"""Differential: the same hostile tokens through buttress-auth and PyJWT (configured strictly).

PyJWT is given every check it has (the algorithm list, ``require``, exact ``issuer``, ``audience``).
Where both judge a token the verdicts must agree; the cases where PyJWT accepts by design what this
library refuses (no ``typ`` check, a ``jku`` header ignored, a numeric string taken for ``exp``)
are listed with the reason, and checked to still differ, so the list stays true. On the other
fifteen cases the two agree.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from buttress.auth import KeySet, SigningKey, TokenError, TokenService

ISSUER = "https://id.example"
NOW = int(time.time())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make(key: SigningKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode()))}"


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ISSUER, "sub": "u", "aud": "api", "iat": NOW, "exp": NOW + 600, "jti": "j"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "valid": ({}, claims()),
    "expired": ({}, claims(exp=NOW - 3600)),
    "exp missing": ({}, claims(exp=None)),
    "exp a string": ({}, claims(exp=str(NOW + 600))),
    "nbf in the future": ({}, claims(nbf=NOW + 3600)),
    "iat in the future": ({}, claims(iat=NOW + 3600)),
    "issuer substring": ({}, claims(iss="https://id")),
    "issuer longer": ({}, claims(iss="https://id.example.evil")),
    "issuer missing": ({}, claims(iss=None)),
    "audience missing": ({}, claims(aud=None)),
    "audience other": ({}, claims(aud="web")),
    "audience in a list": ({}, claims(aud=["web", "api"])),
    "alg none": ({"alg": "none"}, claims()),
    "alg HS256": ({"alg": "HS256"}, claims()),
    "typ JWT": ({"typ": "JWT"}, claims()),
    "jku header": ({"jku": "https://evil.example/jwks"}, claims()),
    "crit header": ({"crit": ["exp"]}, claims()),
    "issuer in a list": ({}, claims(iss=[ISSUER])),
}

# Cases where PyJWT's documented behaviour differs from RFC 8725's advice, which this library follows.
EXPECTED_DIFFERENCES = {
    "typ JWT": "PyJWT does not check typ; explicit typing (RFC 8725 section 3.11) is enforced here",
    "jku header": "PyJWT ignores jku; it is refused here (RFC 8725 section 3.10)",
    "exp a string": "PyJWT converts a string exp with int(); RFC 7519 makes a NumericDate a JSON number",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_verdicts_agree_with_pyjwt(es_key: SigningKey, case: str) -> None:
    header_changes, body = CASES[case]
    header = {"alg": "ES256", "kid": es_key.kid, "typ": "at+jwt", **header_changes}
    token = make(es_key, header, body)
    service = TokenService(KeySet(es_key), issuer=ISSUER, audience="api", leeway=0)
    try:
        service.decode(token)
        ours = "accept"
    except TokenError:
        ours = "reject"
    try:
        jwt.decode(
            token,
            es_key.verifying_key._key,  # type: ignore[arg-type]
            algorithms=["ES256"],
            audience="api",
            issuer=ISSUER,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
        theirs = "accept"
    except jwt.PyJWTError:
        theirs = "reject"
    if case in EXPECTED_DIFFERENCES:
        assert (ours, theirs) == ("reject", "accept"), EXPECTED_DIFFERENCES[case]
    else:
        assert ours == theirs, f"{case}: buttress {ours}s, PyJWT {theirs}s"
