"""Hypothesis properties of buttress-csp: nonces (Properties 5 and 6) and serialization (Property 7)."""

from __future__ import annotations

import base64
import math
import os
import subprocess
import sys
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from buttress.csp import (
    MIN_NONCE_BYTES,
    NONCE,
    Directive,
    Keyword,
    Policy,
    Source,
    generate_nonce,
    hash_source,
    parse,
    strict,
)

NONCE_DIRECTIVES = ["default-src", "script-src", "script-src-elem", "style-src", "style-src-attr"]
OTHER_SOURCE_DIRECTIVES = [
    "img-src",
    "connect-src",
    "font-src",
    "object-src",
    "base-uri",
    "form-action",
    "worker-src",
]

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
hosts = st.builds(
    lambda scheme, parts, port, path: f"{scheme}{'.'.join(parts)}{port}{path}",
    st.sampled_from(["", "https://", "wss://"]),
    st.lists(labels, min_size=1, max_size=3),
    st.sampled_from(["", ":443", ":8080", ":*"]),
    st.sampled_from(["", "/", "/static/", "/js/app.js"]),
)
keywords = st.sampled_from(
    [Keyword.SELF, Keyword.UNSAFE_INLINE, Keyword.REPORT_SAMPLE, Keyword.WASM_UNSAFE_EVAL]
)
schemes = st.sampled_from(["https:", "data:", "blob:", "wss:"])
hashes = st.builds(hash_source, st.text(max_size=30), st.sampled_from(["sha256", "sha384", "sha512"]))
plain_sources = st.one_of(hosts, keywords, schemes)
nonce_sources: st.SearchStrategy[Source] = st.one_of(plain_sources, hashes, st.just(NONCE))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """Random valid policies: any subset of directives, in any order, with valid sources."""
    names = draw(
        st.lists(
            st.sampled_from(
                NONCE_DIRECTIVES + OTHER_SOURCE_DIRECTIVES + ["upgrade-insecure-requests", "sandbox"]
            ),
            unique=True,
            min_size=1,
            max_size=8,
        )
    )
    directives: list[tuple[str, list[Source]]] = []
    for name in names:
        if name == "upgrade-insecure-requests":
            directives.append((name, []))
        elif name == "sandbox":
            directives.append(
                (
                    name,
                    draw(
                        st.lists(
                            st.sampled_from(["allow-scripts", "allow-forms", "allow-popups"]), unique=True
                        )
                    ),
                )
            )
        elif draw(st.booleans()) and name != "sandbox":
            directives.append((name, [Keyword.NONE]))
        else:
            strategy = nonce_sources if name in NONCE_DIRECTIVES else plain_sources
            directives.append((name, draw(st.lists(strategy, min_size=1, max_size=5))))
    policy = Policy(directives, report_only=draw(st.booleans()))
    if draw(st.booleans()):
        policy = policy.with_reporting_endpoint(
            draw(st.sampled_from(["csp", "csp-endpoint", "main"])), "/csp"
        )
    return policy


nonces = st.from_regex(r"[A-Za-z0-9_-]{22,40}", fullmatch=True)


@given(count=st.integers(min_value=2, max_value=2000))
def test_nonces_are_unique(count: int) -> None:
    """Property 5: Nonce uniqueness — no two nonces drawn (directly or per request) are equal."""
    drawn = [generate_nonce() for _ in range(count)]
    assert len(set(drawn)) == count
    compiled = strict().compile()
    issued = [compiled.issue()[0] for _ in range(count)]
    assert len(set(issued)) == count
    assert not set(drawn) & set(issued)


@given(nbytes=st.integers(min_value=MIN_NONCE_BYTES, max_value=64))
def test_nonces_carry_at_least_128_bits(nbytes: int) -> None:
    """Property 6: Nonce entropy — every nonce decodes to nbytes >= 16 random bytes, base64url, no padding."""
    nonce = generate_nonce(nbytes)
    assert len(nonce) == math.ceil(nbytes * 4 / 3)
    raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
    assert len(raw) == nbytes >= 16
    assert set(nonce) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    nonce_from_policy, _ = strict().compile(nonce_bytes=nbytes).issue()
    assert len(nonce_from_policy) == len(nonce)


def test_nonce_characters_are_spread_evenly() -> None:
    """Property 6: Nonce entropy — characters of many nonces are close to uniform over the 64 symbols.

    A coarse chi-squared check: 4,000 nonces of 21 full characters each (the 22nd carries only 2 bits)
    give 84,000 draws over 64 symbols; a broken generator (a fixed prefix, a narrow alphabet) fails
    by orders of magnitude, while the bound leaves a true random source a false-alarm rate far below
    one in a million.
    """
    counts = Counter(c for _ in range(4000) for c in generate_nonce()[:21])
    expected = 4000 * 21 / 64
    chi2 = sum(
        (counts.get(symbol, 0) - expected) ** 2 / expected
        for symbol in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert len(counts) == 64
    assert chi2 < 160  # 63 degrees of freedom: the 1e-9 quantile is about 150


@given(policy=policies(), nonce=nonces)
def test_serialization_is_deterministic_and_round_trips(policy: Policy, nonce: str) -> None:
    """Property 7: Deterministic serialization — equal policies give equal headers; parse() inverts it."""
    header = policy.serialize(nonce)
    rebuilt = Policy(
        policy.directives, report_only=policy.report_only, reporting_endpoints=policy.reporting_endpoints
    )
    assert rebuilt.serialize(nonce) == header
    assert policy.compile().render(nonce) == header
    parsed = parse(
        header, nonce=nonce, report_only=policy.report_only, reporting_endpoints=policy.reporting_endpoints
    )
    assert parsed == policy
    assert parsed.serialize(nonce) == header
    assert [name for name, _ in parsed.directives] == [name for name, _ in policy.directives]


@given(policy=policies())
def test_serialization_keeps_the_configured_order(policy: Policy) -> None:
    """Property 7: Deterministic serialization — directives appear in the order they were configured."""
    header = policy.serialize("n0nce-n0nce-n0nce-n0nce")
    positions = [header.index(f"{name}") for name, _ in policy.directives]
    names_in_header = [part.split(" ", 1)[0] for part in header.split("; ")]
    assert names_in_header == [name for name, _ in policy.directives]
    assert positions == sorted(positions) or len(set(positions)) < len(positions)


SCRIPT = """
import sys
from buttress.csp import NONCE, Keyword, Policy, compatible, strict, hash_source
policies = [
    strict(report_to=("csp", "/csp"), report_uri="/legacy", trusted_types=True),
    compatible(),
    Policy({"img-src": ["https://b.example", "https://a.example", "data:"],
            "script-src": [NONCE, hash_source("x")]}),
]
for policy in policies:
    for name, value in policy.headers("fixedNonceValue0123456"):
        sys.stdout.write(f"{name}: {value}\\n")
"""


def test_same_bytes_under_any_hash_seed() -> None:
    """Property 7: Deterministic serialization — byte-identical headers across processes and hash seeds."""
    outputs = set()
    for seed in ("0", "1", "12345", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, check=True)
        outputs.add(result.stdout)
    assert len(outputs) == 1
    (output,) = outputs
    assert b"img-src https://b.example https://a.example data:" in output


def test_directive_enum_covers_csp3() -> None:
    """Every Directive member is accepted by the builder with a value valid for it."""
    samples: dict[str, list[Source]] = {
        "report-to": ["csp"],
        "report-uri": ["/csp"],
        "sandbox": [],
        "require-trusted-types-for": [Keyword.SCRIPT],
        "trusted-types": ["default"],
        "upgrade-insecure-requests": [],
        "webrtc": [Keyword.BLOCK],
    }
    policy = Policy([(d, samples.get(d.value, [Keyword.SELF])) for d in Directive])
    assert len(policy) == len(Directive) == 27
    assert parse(policy.serialize()) == policy
