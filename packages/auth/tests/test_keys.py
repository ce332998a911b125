"""Keys: pinned to one algorithm, strong enough, named by their RFC 7638 thumbprint, never shown."""

from __future__ import annotations

# A 1024-bit key is made on purpose, to be refused.
# ruff: noqa: S505
import pickle

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from buttress.auth import (
    Algorithm,
    AuthConfigurationError,
    AuthTypeError,
    SigningKey,
    VerifyingKey,
    WeakKeyError,
    thumbprint,
)

# RFC 7638 section 3.1: the example key and its thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
    "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZ"
    "Hzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kE"
    "gU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_the_rfc_7638_example_thumbprint() -> None:
    jwk = {"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert thumbprint(jwk) == RFC7638_THUMBPRINT
    # the kid of a key loaded without one is its thumbprint; optional members do not change it
    assert VerifyingKey.from_jwk({k: v for k, v in jwk.items() if k != "kid"}).kid == RFC7638_THUMBPRINT


def test_generated_keys_are_pinned_and_named_by_their_thumbprint(any_key: SigningKey) -> None:
    jwk = any_key.verifying_key.jwk()
    assert jwk["alg"] == str(any_key.alg)
    assert jwk["use"] == "sig"
    assert jwk["kid"] == any_key.kid == thumbprint(jwk)
    assert "d" not in jwk
    assert "p" not in jwk
    signature = any_key.sign(b"data")
    assert any_key.verifying_key.verify(signature, b"data")
    assert not any_key.verifying_key.verify(signature, b"other")


def test_jwk_round_trip_keeps_the_key(any_key: SigningKey) -> None:
    loaded = VerifyingKey.from_jwk(any_key.verifying_key.jwk())
    assert loaded == any_key.verifying_key
    assert loaded.verify(any_key.sign(b"x"), b"x")


def test_pem_round_trip(any_key: SigningKey) -> None:
    pem = any_key.private_pem(b"passphrase")
    again = SigningKey.from_pem(pem, any_key.alg, password=b"passphrase")
    assert again.kid == any_key.kid
    with pytest.raises(WeakKeyError):
        SigningKey.from_pem(pem, any_key.alg, password=b"wrong")
    public = any_key.verifying_key._key
    assert not isinstance(public, bytes)
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert VerifyingKey.from_pem(public_pem, any_key.alg).kid == any_key.kid


def test_small_rsa_keys_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = small.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(WeakKeyError, match="2048"):
        SigningKey.from_pem(pem, "RS256")


def test_a_key_of_another_kind_is_refused(rsa_key: SigningKey) -> None:
    pem = rsa_key.private_pem()
    with pytest.raises(WeakKeyError):
        SigningKey.from_pem(pem, "ES256")
    p384 = ec.generate_private_key(ec.SECP384R1())
    pem384 = p384.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(WeakKeyError, match="P-256"):
        SigningKey.from_pem(pem384, "ES256")


def test_hs256_only_when_chosen_explicitly() -> None:
    with pytest.raises(AuthConfigurationError):
        SigningKey.generate("HS256")
    with pytest.raises(WeakKeyError, match="32 bytes"):
        SigningKey.from_secret(b"x" * 31)
    key = SigningKey.from_secret(SigningKey.generate_secret())
    assert key.alg is Algorithm.HS256
    with pytest.raises(AuthConfigurationError):
        key.verifying_key.jwk()  # a secret is never published
    with pytest.raises(AuthConfigurationError):
        VerifyingKey.from_jwk({"kty": "oct", "k": "AAAA", "alg": "HS256"})


def test_a_jwk_without_alg_is_refused(es_key: SigningKey) -> None:
    jwk = es_key.verifying_key.jwk()
    del jwk["alg"]
    with pytest.raises(AuthConfigurationError, match="alg"):
        VerifyingKey.from_jwk(jwk)
    jwk["alg"] = "RS256"  # an EC key claimed for RS256
    with pytest.raises(AuthConfigurationError):
        VerifyingKey.from_jwk(jwk)


def test_keys_never_show_their_material(any_key: SigningKey) -> None:
    assert repr(any_key) == f"SigningKey(alg={str(any_key.alg)!r}, kid={any_key.kid!r})"
    assert repr(any_key.verifying_key) == f"VerifyingKey(alg={str(any_key.alg)!r}, kid={any_key.kid!r})"
    secret = SigningKey.generate_secret()
    hs = SigningKey.from_secret(secret)
    assert secret.hex() not in repr(hs)
    assert repr(secret) not in repr(hs)
    with pytest.raises(AuthTypeError):
        pickle.dumps(any_key)
    with pytest.raises(WeakKeyError) as caught:
        SigningKey.from_secret(b"short-secret-value")
    assert "short-secret-value" not in str(caught.value)
