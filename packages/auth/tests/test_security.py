"""The security list of RFC 8725: every way a token can lie is refused with its own typed error."""

from __future__ import annotations

# Token types are names, not passwords.
# ruff: noqa: S106
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from buttress.auth import (
    AlgorithmMismatchError,
    ExpiredTokenError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    KeySet,
    MalformedTokenError,
    MemoryTokenStore,
    MissingClaimError,
    RevokedTokenError,
    SigningKey,
    TokenError,
    TokenNotYetValidError,
    TokenService,
    UnknownKeyError,
    UnsupportedHeaderError,
    WrongTokenTypeError,
)
from buttress.testing import FakeClock

ISSUER = "https://id.example"
START = datetime(2030, 1, 1, tzinfo=UTC)
NOW = int(START.timestamp())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: Any, key: SigningKey | None = None, signature: bytes = b"") -> str:
    """A token with any header and payload, signed by ``key`` (or carrying ``signature``)."""
    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    if key is not None:
        signature = key.sign(signing_input.encode())
    return f"{signing_input}.{b64(signature)}"


def good_claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": "api",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 600,
        "jti": "t-1",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def service(rsa_key: SigningKey, clock: FakeClock) -> TokenService:
    return TokenService(
        KeySet(rsa_key, clock=clock),
        issuer=ISSUER,
        audience="api",
        leeway=30,
        store=MemoryTokenStore(clock=clock),
        clock=clock,
    )


def header(key: SigningKey, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"alg": str(key.alg), "kid": key.kid, "typ": "at+jwt"}
    fields.update(changes)
    return {name: value for name, value in fields.items() if value is not None}


def test_a_forged_token_that_follows_the_rules_verifies(service: TokenService, rsa_key: SigningKey) -> None:
    """The helpers make valid tokens, so each refusal below is for the one thing changed."""
    verified = service.decode(forge(header(rsa_key), good_claims(), rsa_key))
    assert verified.subject == "user-1"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
def test_alg_none_is_refused(service: TokenService, rsa_key: SigningKey, alg: str) -> None:
    token = forge(header(rsa_key, alg=alg), good_claims())
    with pytest.raises(AlgorithmMismatchError):
        service.decode(token)
    token = forge(header(rsa_key, alg=alg), good_claims(), signature=b"anything")
    with pytest.raises(AlgorithmMismatchError):
        service.decode(token)


@pytest.mark.parametrize(("pinned", "claimed"), [("EdDSA", "Ed25519"), ("Ed25519", "EdDSA")])
def test_eddsa_and_ed25519_are_two_pins_for_one_key(
    ed_key: SigningKey, clock: FakeClock, pinned: str, claimed: str
) -> None:
    """RFC 9864's "Ed25519" names the same signature as "EdDSA": a key pinned to one refuses the other."""
    key = SigningKey(pinned, ed_key._private)
    other = SigningKey(claimed, ed_key._private)
    assert key.kid == other.kid  # the RFC 7638 thumbprint has no alg
    service = TokenService(KeySet(key, clock=clock), issuer=ISSUER, audience="api", clock=clock)
    assert service.decode(forge(header(key), good_claims(), key)).subject == "user-1"
    with pytest.raises(AlgorithmMismatchError) as caught:
        service.decode(forge(header(other), good_claims(), other))
    assert caught.value.expected == pinned


def _public_forms(key: SigningKey) -> dict[str, bytes]:
    public = key.verifying_key._key
    assert not isinstance(public, bytes)
    return {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "pem-pkcs1": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk": json.dumps(key.verifying_key.jwk()).encode(),
    }


@pytest.mark.parametrize("form", ["pem", "pem-pkcs1", "der", "jwk"])
def test_hs256_signed_with_the_rsa_public_key_is_refused(
    service: TokenService, rsa_key: SigningKey, form: str
) -> None:
    """The key confusion attack: the public key, known to all, used as an HMAC secret."""
    secret = _public_forms(rsa_key)[form]
    head = header(rsa_key, alg="HS256")
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(good_claims()).encode())}"
    mac = hmac.digest(secret, signing_input.encode(), hashlib.sha256)
    with pytest.raises(AlgorithmMismatchError) as caught:
        service.decode(f"{signing_input}.{b64(mac)}")
    assert caught.value.expected == "RS256"


@pytest.mark.parametrize(
    "kid",
    [
        "unknown",
        "../../../../etc/passwd",
        "/dev/null",
        "' OR '1'='1' --",
        "kid\x00null",
        "k" * 100_000,
        "",
        None,
        123,
        ["a"],
        {"$ne": ""},
    ],
)
def test_unknown_and_hostile_kids_are_refused(service: TokenService, rsa_key: SigningKey, kid: Any) -> None:
    head = header(rsa_key)
    if kid is None:
        del head["kid"]
    else:
        head["kid"] = kid
    token = forge(head, good_claims(), rsa_key)
    with pytest.raises((UnknownKeyError, MalformedTokenError)) as caught:
        service.decode(token)
    assert len(str(caught.value)) < 200  # a hostile kid is never repeated at length


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jku", "https://attacker.example/jwks.json"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("jwk", {"kty": "oct", "k": "AAAA"}),
        ("x5c", ["MIIB"]),
        ("crit", ["exp"]),
        ("crit", ["http://example.com/unknown"]),
        ("b64", False),
    ],
)
def test_key_references_and_crit_are_refused_even_when_signed(
    service: TokenService, rsa_key: SigningKey, name: str, value: Any
) -> None:
    token = forge(header(rsa_key, **{name: value}), good_claims(), rsa_key)
    with pytest.raises(UnsupportedHeaderError) as caught:
        service.decode(token)
    assert caught.value.header == name


def test_exp_edges(service: TokenService, rsa_key: SigningKey, clock: FakeClock) -> None:
    token = forge(header(rsa_key), good_claims(exp=NOW + 100), rsa_key)
    clock.advance(100 + 29)  # within the 30 s leeway
    service.decode(token)
    clock.advance(1)  # exactly exp + leeway
    with pytest.raises(ExpiredTokenError) as caught:
        service.decode(token)
    assert caught.value.expired_at == NOW + 100


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_nbf_and_iat_edges(service: TokenService, rsa_key: SigningKey, claim: str) -> None:
    service.decode(forge(header(rsa_key), good_claims(**{claim: NOW + 30}), rsa_key))  # at the leeway
    with pytest.raises(TokenNotYetValidError) as caught:
        service.decode(forge(header(rsa_key), good_claims(**{claim: NOW + 31}), rsa_key))
    assert caught.value.claim == claim


@pytest.mark.parametrize("value", ["1900000000", True, None, [NOW + 600], {"t": 1}, 1e300, -1e300])
def test_exp_must_be_a_number_in_range(service: TokenService, rsa_key: SigningKey, value: Any) -> None:
    claims = good_claims()
    if value is None:
        del claims["exp"]
    else:
        claims["exp"] = value
    with pytest.raises(MissingClaimError) as caught:
        service.decode(forge(header(rsa_key), claims, rsa_key))
    assert caught.value.claim == "exp"


@pytest.mark.parametrize(
    "iss",
    [
        "https://id.example.evil",  # a longer issuer that starts with ours
        "https://id",  # a substring of ours (CVE-2024-53861)
        "id.example",
        "https://id.example/",
        "HTTPS://ID.EXAMPLE",
        "",
        ["https://id.example"],
        None,
    ],
)
def test_the_issuer_must_match_exactly(service: TokenService, rsa_key: SigningKey, iss: Any) -> None:
    with pytest.raises(InvalidIssuerError):
        service.decode(forge(header(rsa_key), good_claims(iss=iss if iss is not None else None), rsa_key))


@pytest.mark.parametrize("aud", [None, "other", ["other", "web"], [], "ap", "api ", [1], {"api": 1}])
def test_the_audience_is_required_and_must_match(
    service: TokenService, rsa_key: SigningKey, aud: Any
) -> None:
    with pytest.raises(InvalidAudienceError):
        service.decode(forge(header(rsa_key), good_claims(aud=aud), rsa_key))


def test_an_audience_in_a_list_matches(service: TokenService, rsa_key: SigningKey) -> None:
    assert service.decode(forge(header(rsa_key), good_claims(aud=["web", "api"]), rsa_key)).audience == (
        "web",
        "api",
    )


async def test_a_refresh_token_is_not_an_access_token(service: TokenService) -> None:
    pair = await service.issue_pair("user-1")
    with pytest.raises(WrongTokenTypeError) as caught:
        await service.verify(pair.refresh_token)
    assert caught.value.expected == "access"
    with pytest.raises(WrongTokenTypeError):
        await service.verify(pair.access_token, token_type="refresh")
    with pytest.raises(WrongTokenTypeError):
        await service.refresh(pair.access_token)


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "at+JWT", "refresh+jwt ", ["at+jwt"], {"at+jwt": 1}, 1])
def test_an_untyped_or_mistyped_token_is_refused(
    service: TokenService, rsa_key: SigningKey, typ: Any
) -> None:
    with pytest.raises(WrongTokenTypeError):
        service.decode(forge(header(rsa_key, typ=typ), good_claims(), rsa_key))


async def test_rotation_grace_then_rejection(rsa_key: SigningKey, clock: FakeClock) -> None:
    keys = KeySet(SigningKey.generate("EdDSA"), clock=clock)
    service = TokenService(keys, issuer=ISSUER, audience="api", access_ttl=3600, clock=clock)
    before = service.issue_access("user-1")
    keys.rotate(SigningKey.generate("EdDSA"), grace=600)
    after = service.issue_access("user-1")
    assert service.decode(before).kid != service.decode(after).kid
    clock.advance(599)
    service.decode(before)  # within the grace
    clock.advance(1)
    with pytest.raises(UnknownKeyError):
        service.decode(before)  # its key is retired now
    service.decode(after)
    assert [key["kid"] for key in keys.jwks()["keys"]] == [service.decode(after).kid]


async def test_a_revoked_jti_is_refused(service: TokenService) -> None:
    token = service.issue_access("user-1")
    other = service.issue_access("user-1")
    await service.revoke(token)
    with pytest.raises(RevokedTokenError):
        await service.verify(token)
    await service.verify(other)
    service.decode(token)  # decode alone checks no revocation, as documented


async def test_revoke_all_is_a_cutoff(service: TokenService, clock: FakeClock) -> None:
    first = service.issue_access("user-1")
    pair = await service.issue_pair("user-1")
    someone_else = service.issue_access("user-2")
    clock.advance(10)
    await service.revoke_all_for_user("user-1")
    for token in (first, pair.access_token):
        with pytest.raises(RevokedTokenError):
            await service.verify(token)
    with pytest.raises(RevokedTokenError):
        await service.refresh(pair.refresh_token)
    await service.verify(someone_else)
    clock.advance(1)
    await service.verify(service.issue_access("user-1"))  # issued after the cutoff


async def test_a_tampered_payload_or_another_keys_signature_fails(
    service: TokenService, rsa_key: SigningKey
) -> None:
    token = service.issue_access("user-1")
    head, payload, signature = token.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered["sub"] = "admin"
    with pytest.raises(InvalidSignatureError):
        service.decode(f"{head}.{b64(json.dumps(tampered).encode())}.{signature}")
    impostor = SigningKey.generate("RS256", kid=rsa_key.kid)  # the same kid, another key
    with pytest.raises(InvalidSignatureError):
        service.decode(forge(header(rsa_key), good_claims(), impostor))


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "..",
        "...",
        "a",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e",
        "eyJhbGciOiJSUzI1NiJ9=.e30.AA",
        "eyJhbGciOiJSUzI1NiJ9.e30=.AA",
        "eyJhbGciOiJSUzI1NiJ9.e30.AA==",
        "eyJhbGci+OiJSUzI1NiJ9.e30.AA",
        "eyJhbGci/OiJSUzI1NiJ9.e30.AA",
        "eyJhbGciO iJSUzI1NiJ9.e30.AA",
        "eyJhbGciOiJSUzI1NiJ9.e30.A",
        "e30.e30.\u00e9",
        "W10.e30.AA",  # header []
        "IiI.e30.AA",  # header ""
        "bnVsbA.e30.AA",  # header null
        "_w.e30.AA",  # header not UTF-8
    ],
)
def test_malformed_tokens(service: TokenService, token: str) -> None:
    with pytest.raises(TokenError) as caught:
        service.decode(token)
    assert isinstance(caught.value, MalformedTokenError | UnknownKeyError)


@pytest.mark.parametrize(
    "payload", [b"[]", b'"text"', b"1", b"null", b"\xff\xfe", b"{", b'{"a":1,"a":2}', b"NaN"]
)
def test_non_object_payloads_are_malformed(
    service: TokenService, rsa_key: SigningKey, payload: bytes
) -> None:
    with pytest.raises(MalformedTokenError):
        service.decode(forge(header(rsa_key), payload, rsa_key))


def test_duplicate_header_members_are_malformed(service: TokenService, rsa_key: SigningKey) -> None:
    raw_header = f'{{"alg":"RS256","kid":"{rsa_key.kid}","typ":"at+jwt","alg":"none"}}'.encode()
    signing_input = f"{b64(raw_header)}.{b64(json.dumps(good_claims()).encode())}"
    token = f"{signing_input}.{b64(rsa_key.sign(signing_input.encode()))}"
    with pytest.raises(MalformedTokenError):
        service.decode(token)


def test_a_non_canonical_signature_encoding_is_refused(service: TokenService, es_key: SigningKey) -> None:
    es = TokenService(KeySet(es_key), issuer=ISSUER, audience="api")
    token = es.issue_access("user-1")
    head, payload, signature = token.split(".")
    # 64 bytes encode to 86 characters, whose last one carries 4 unused bits: set one of them
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    twin = signature[:-1] + alphabet[last ^ 1]
    assert base64.urlsafe_b64decode(twin + "==") == base64.urlsafe_b64decode(signature + "==")
    with pytest.raises(MalformedTokenError):
        es.decode(f"{head}.{payload}.{twin}")


def test_huge_tokens_are_refused_before_parsing(service: TokenService, rsa_key: SigningKey) -> None:
    claims = good_claims(padding="x" * 10_000)
    with pytest.raises(MalformedTokenError, match="longer than"):
        service.decode(forge(header(rsa_key), claims, rsa_key))
    with pytest.raises(MalformedTokenError, match="longer than"):
        service.decode("a" * 10_000_000)
