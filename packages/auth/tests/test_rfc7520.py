"""RFC 7520 (the JOSE cookbook): its fixed inputs give its outputs byte for byte.

Section 4.1 (RS256) and section 4.4 (HS256) are deterministic: the compact serializations must
match the RFC's exactly. Section 4.3 is ES512, which this library does not implement (it pins
ES256); ECDSA draws a random nonce, so RFC 7520 itself says that output cannot be reproduced. The
closest test is run instead: the RFC's ES512 signature is checked with ``cryptography`` on the RFC's
P-521 key (so the inputs below are the RFC's), our library refuses that token with a typed error,
and an ES256 signature over the same payload and header shape verifies in PyJWT and ``cryptography``.
"""

from __future__ import annotations

import base64

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from buttress.auth import AuthConfigurationError, SigningKey, TokenError, VerifyingKey, sign_jws, verify_jws


def join(*parts: str) -> str:
    return "".join(parts)


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Section 3.4: RSA private key (Figure 4).
RSA_PRIVATE = {
    "kty": "RSA",
    "kid": "bilbo.baggins@hobbiton.example",
    "use": "sig",
    "n": join(
        "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqV",
        "wGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde",
        "3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5g",
        "HdrNP5zw",
    ),
    "e": "AQAB",
    "d": join(
        "bWUC9B-EFRIo8kpGfh0ZuyGPvMNKvYWNtB_ikiH9k20eT-O1q_I78eiZkpXxXQ0UTEs2LsNRS-8uJbvQ-A1irkwMSMkK1J3XTGgdrhCku9gRld",
        "Y7sNA_AKZGh-Q661_42rINLRCe8W-nZ34ui_qOfkLnK9QWDDqpaIsA-bMwWWSDFu2MUBYwkHTMEzLYGqOe04noqeq1hExBTHBOBdkMXiuFhUq1BU",
        "6l-DqEiWxqg82sXt2h-LMnT3046AOYJoRioz75tSUQfGCshWTBnP5uDjd18kKhyv07lhfSJdrPdM5Plyl21hsFf4L_mHCuoFau7gdsPfHPxxjVOc",
        "OpBrQzwQ",
    ),
    "p": join(
        "3Slxg_DwTXJcb6095RoXygQCAZ5RnAvZlno1yhHtnUex_fp7AZ_9nRaO7HX_-SFfGQeutao2TDjDAWU4Vupk8rw9JR0AzZ0N2fvuIAmr_WCsmG",
        "peNqQnev1T7IyEsnh8UMt-n5CafhkikzhEsrmndH6LxOrvRJlsPp6Zv8bUq0k",
    ),
    "q": join(
        "uKE2dh-cTf6ERF4k4e_jy78GfPYUIaUyoSSJuBzp3Cubk3OCqs6grT8bR_cu0Dm1MZwWmtdqDyI95HrUeq3MP15vMMON8lHTeZu2lmKvwqW7an",
        "V5UzhM1iZ7z4yMkuUwFWoBvyY898EXvRD-hdqRxHlSqAZ192zB3pVFJ0s7pFc",
    ),
    "dp": join(
        "B8PVvXkvJrj2L-GYQ7v3y9r6Kw5g9SahXBwsWUzp19TVlgI-YV85q1NIb1rxQtD-IsXXR3-TanevuRPRt5OBOdiMGQp8pbt26gljYfKU_E9xn",
        "-RULHz0-ed9E9gXLKD4VGngpz-PfQ_q29pk5xWHoJp009Qf1HvChixRX59ehik",
    ),
    "dq": join(
        "CLDmDGduhylc9o7r84rEUVn7pzQ6PF83Y-iBZx5NT-TpnOZKF1pErAMVeKzFEl41DlHHqqBLSM0W1sOFbwTxYWZDm6sI6og5iTbwQGIC3gnJK",
        "bi_7k_vJgGHwHxgPaX2PnvP-zyEkDERuf-ry4c_Z11Cq9AqC2yeL6kdKT1cYF8",
    ),
    "qi": join(
        "3PiqvXQN0zwMeE-sBvZgi289XP9XCQF3VWqPzMKnIgQp7_Tugo6-NZBKCQsMf3HaEGBjTVJs_jcK8-TRXvaKe-7ZMaQj8VfBdYkssbu0NKDDh",
        "jJ-GtiseaDVWt7dcH0cfwxgFUHpQh7FoCrjFJ6h6ZEpMF6xmujs4qMpPz8aaI4",
    ),
}

# Section 3.2: EC private key on P-521 (Figure 2).
EC_P521_PRIVATE = {
    "kty": "EC",
    "kid": "bilbo.baggins@hobbiton.example",
    "use": "sig",
    "crv": "P-521",
    "x": "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",
    "y": "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1",
    "d": "AAhRON2r9cqXX1hg-RoI6R1tX5p2rUAYdmpHZoC1XNM56KtscrX6zbKipQrCW9CGZH3T4ubpnoTKLDYJ_fF3_rJt",
}

# Section 3.5: the symmetric key for MAC (Figure 5).
MAC_KEY = {
    "kty": "oct",
    "kid": "018c0ae5-4d9b-471b-bfd6-eef314bc7037",
    "use": "sig",
    "alg": "HS256",
    "k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg",
}

# Section 4: the payload, "It's a dangerous business, Frodo, going out your door..." (Figure 7).
PAYLOAD_B64 = join(
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5k",
    "IGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4",
)
PAYLOAD = b64decode(PAYLOAD_B64)

# Section 4.1.3: the RS256 compact serialization (Figure 13).
RS256_COMPACT = join(
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.",
    PAYLOAD_B64,
    ".",
    "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA",
    "78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8wW1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQ",
    "dLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ipH84ogoree7vjbU5y18",
    "kDquDg",
)

# Section 4.3.3: the ES512 compact serialization (Figure 22).
ES512_COMPACT = join(
    "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.",
    PAYLOAD_B64,
    ".",
    "AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxX",
    "Pn7XrT0lw-kvAD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2",
)

# Section 4.4.3: the HS256 compact serialization (Figure 34).
HS256_COMPACT = join(
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9.",
    PAYLOAD_B64,
    ".s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0",
)


def test_section_4_1_rs256_is_reproduced_byte_for_byte() -> None:
    key = SigningKey.from_jwk({**RSA_PRIVATE, "alg": "RS256"})
    assert key.kid == "bilbo.baggins@hobbiton.example"
    assert sign_jws(key, PAYLOAD) == RS256_COMPACT
    assert verify_jws(RS256_COMPACT, key.verifying_key) == PAYLOAD


def test_section_4_4_hs256_is_reproduced_byte_for_byte() -> None:
    key = SigningKey.from_secret(b64decode(MAC_KEY["k"]), kid=MAC_KEY["kid"])
    assert sign_jws(key, PAYLOAD) == HS256_COMPACT
    assert verify_jws(HS256_COMPACT, key.verifying_key) == PAYLOAD


def test_section_4_1_public_key_from_the_rfc_verifies_and_refuses_a_changed_byte() -> None:
    public = {name: RSA_PRIVATE[name] for name in ("kty", "kid", "use", "n", "e")}
    key = VerifyingKey.from_jwk({**public, "alg": "RS256"})
    assert verify_jws(RS256_COMPACT, key) == PAYLOAD
    changed = RS256_COMPACT[:-1] + ("h" if RS256_COMPACT[-1] != "h" else "i")
    with pytest.raises(TokenError):
        verify_jws(changed, key)


def _p521() -> ec.EllipticCurvePrivateKey:
    def number(name: str) -> int:
        return int.from_bytes(b64decode(EC_P521_PRIVATE[name]), "big")

    public = ec.EllipticCurvePublicNumbers(number("x"), number("y"), ec.SECP521R1())
    return ec.EllipticCurvePrivateNumbers(number("d"), public).private_key()


def test_section_4_3_es512_inputs_are_the_rfcs_and_es256_is_the_closest() -> None:
    # The RFC's own ES512 signature verifies on its P-521 key: the inputs here are exactly the RFC's.
    head, payload, signature = ES512_COMPACT.split(".")
    raw = b64decode(signature)
    assert len(raw) == 132
    der = encode_dss_signature(int.from_bytes(raw[:66], "big"), int.from_bytes(raw[66:], "big"))
    _p521().public_key().verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA512()))
    # This library pins ES256: an ES512 key is refused with a typed error, not half-supported.
    with pytest.raises(AuthConfigurationError):
        SigningKey.from_jwk({**EC_P521_PRIVATE, "alg": "ES512"})
    # The closest: ES256 over the same payload, with the same kid, in the RFC's header shape.
    key = SigningKey.generate("ES256", kid="bilbo.baggins@hobbiton.example")
    token = sign_jws(key, PAYLOAD)
    assert token.split(".")[0] == "eyJhbGciOiJFUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9"
    assert token.split(".")[1] == PAYLOAD_B64
    assert verify_jws(token, key.verifying_key) == PAYLOAD
    public = key.verifying_key._key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert jwt.PyJWS().decode(token, public, algorithms=["ES256"]) == PAYLOAD
