"""`sign_jws` and `verify_jws`: a compact JWS over any payload, with the token rules of RFC 8725.

`TokenService` signs its tokens with `sign_jws`. Use these two directly for a payload that is not
a JWT claims set (a signed document, a test vector of RFC 7520).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from buttress.core import check_count

from ._jose import b64encode, dumps, parse
from ._keys import SigningKey, VerifyingKey
from .exceptions import (
    AlgorithmMismatchError,
    AuthConfigurationError,
    AuthTypeError,
    InvalidSignatureError,
    MalformedTokenError,
    UnknownKeyError,
    UnsupportedHeaderError,
)

__all__ = ["REFUSED_HEADERS", "sign_jws", "verify_jws"]

REFUSED_HEADERS: Final = ("crit", "jku", "x5u", "jwk", "x5c", "b64")
"""Header parameters a token is refused for: ``crit`` (no extension is implemented), the key
references a token could use to choose its own key (RFC 8725 section 3.10), and ``b64`` (RFC 7797),
which changes what the signature covers."""


def sign_jws(key: SigningKey, payload: bytes, *, header: Mapping[str, Any] | None = None) -> str:
    """The compact JWS of ``payload``: header ``{"alg", "kid", **header}``, signed by ``key``.

    Args:
        key: The signing key; its algorithm and kid go into the header.
        payload: The bytes to sign.
        header: More header parameters (``typ``, ``cty``); ``alg``, ``kid`` and the refused ones
            cannot be set.

    Raises:
        AuthTypeError: ``key`` is not a `SigningKey`, ``payload`` not bytes, ``header`` not a mapping.
        AuthConfigurationError: ``header`` sets ``alg``, ``kid`` or a refused parameter, or is not JSON.
    """
    if not isinstance(key, SigningKey):
        raise AuthTypeError("key", "a SigningKey", key)
    if not isinstance(payload, bytes | bytearray):
        raise AuthTypeError("payload", "bytes", payload)
    fields: dict[str, Any] = {"alg": str(key.alg), "kid": key.kid}
    if header is not None:
        if not isinstance(header, Mapping) or not all(isinstance(name, str) for name in header):
            raise AuthTypeError("header", "a mapping of str to JSON values", header)
        clash = sorted({"alg", "kid", *REFUSED_HEADERS} & set(header))
        if clash:
            raise AuthConfigurationError("header", clash, "these header parameters cannot be set")
        fields.update(header)
    try:
        encoded_header = b64encode(dumps(fields))
    except (TypeError, ValueError, RecursionError):
        raise AuthConfigurationError("header", None, "must hold JSON values", show_value=False) from None
    signing_input = f"{encoded_header}.{b64encode(bytes(payload))}"
    return f"{signing_input}.{b64encode(key.sign(signing_input.encode('ascii')))}"


def verify_jws(token: str, key: VerifyingKey, *, max_bytes: int = 1_048_576) -> bytes:
    """The payload of a compact JWS that ``key`` signed, after the header checks of RFC 8725.

    The header's ``kid`` must be ``key``'s and its ``alg`` ``key``'s algorithm; refused parameters
    (`REFUSED_HEADERS`) fail it.

    Raises:
        MalformedTokenError: Not a compact JWS, or longer than ``max_bytes``.
        UnsupportedHeaderError: A refused header parameter.
        UnknownKeyError: The header's kid is not ``key``'s.
        AlgorithmMismatchError: The header's alg is not ``key``'s algorithm.
        InvalidSignatureError: The signature does not verify.
        AuthTypeError: ``token`` is not a str or ``key`` not a `VerifyingKey`.
    """
    if not isinstance(token, str):
        raise AuthTypeError("token", "a str", token)
    if not isinstance(key, VerifyingKey):
        raise AuthTypeError("key", "a VerifyingKey", key)
    limit = check_count("max_bytes", max_bytes, minimum=1, error=AuthConfigurationError)
    if len(token) > limit:
        raise MalformedTokenError(f"the JWS is longer than {limit} bytes")
    parsed = parse(token, {})
    for name in REFUSED_HEADERS:
        if name in parsed.header:
            raise UnsupportedHeaderError(name)
    kid = parsed.header.get("kid")
    if kid != key.kid:
        raise UnknownKeyError(kid)
    alg = parsed.header.get("alg")
    if alg != key.alg:
        raise AlgorithmMismatchError(str(key.alg), alg)
    if not key.verify(parsed.signature, parsed.signing_input):
        raise InvalidSignatureError("the JWS signature does not verify under the key")
    return parsed.payload
