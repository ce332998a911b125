"""buttress-auth against PyJWT, joserfc, Authlib, python-jose, raw cryptography; RBAC against pycasbin.

Run with ``nox -s bench -- auth`` (or ``python benchmarks/auth.py [--quick]``). Two parts, one run:

1. Token verification, per algorithm (RS256, ES256, EdDSA): the same access token, issued by
   `TokenService`, verified by each library with its claims checks on (``exp``, ``iss``, ``aud``)
   and its key prepared once outside the loop where the library allows it. The floor is
   ``cryptography``'s own signature check on the already-split, already-decoded signature: no
   parsing, no JSON, no claims. Rounds alternate between the libraries so machine noise hits all
   alike; verifications per second of the thread's CPU time, median (min-max) over the rounds.
2. RBAC check: ``RBAC.allows`` against pycasbin's ``Enforcer.enforce`` on the same policy of
   10 to 100,000 rules (roles in three-level chains, admin > editor > viewer, ten rules each),
   for a permission granted two levels up the chain; µs per check.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import Dist, print_table, ratio
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from buttress.auth import RBAC, KeySet, Role, SigningKey, TokenService

ISSUER = "https://id.example"


def per_second(calls: dict[str, Callable[[], object]], count: int, rounds: int) -> dict[str, Dist]:
    """Operations per CPU second of each call; rounds alternate between the calls.

    The clock is this thread's CPU time (`time.thread_time`): on a shared machine, the time other
    processes hold the cores would otherwise count against whichever call was running.
    """
    for call in calls.values():
        for _ in range(max(10, count // 10)):
            call()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.thread_time()
            for _ in range(count):
                call()
            samples[name].append(count / (time.thread_time() - started))
    return {name: Dist.range_of(values) for name, values in samples.items()}


def _b64decode(text: str) -> bytes:
    import base64  # noqa: PLC0415

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_floor(key: SigningKey, token: str) -> Callable[[], object]:
    """The signature check alone, with cryptography, on bytes split and decoded beforehand."""
    head, payload, signature = token.split(".")
    data = f"{head}.{payload}".encode()
    raw = _b64decode(signature)
    public = key.verifying_key._key
    if isinstance(public, rsa.RSAPublicKey):
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        return lambda: public.verify(raw, data, pkcs1, sha256)
    if isinstance(public, ec.EllipticCurvePublicKey):
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        ecdsa = ec.ECDSA(hashes.SHA256())
        return lambda: public.verify(der, data, ecdsa)
    if not isinstance(public, ed25519.Ed25519PublicKey):
        raise TypeError(type(public).__name__)
    return lambda: public.verify(raw, data)


def peers(key: SigningKey, token: str) -> dict[str, Callable[[], object]]:
    """Each available peer verifying ``token`` with claims checks, key prepared once where it can be."""
    alg = str(key.alg)
    public = key.verifying_key._key
    jwk = key.verifying_key.jwk()
    found: dict[str, Callable[[], object]] = {}
    try:
        import jwt  # noqa: PLC0415

        options = {"require": ["exp", "iss", "aud", "sub"]}
        found["PyJWT"] = lambda: jwt.decode(
            token, public, algorithms=[alg], audience="api", issuer=ISSUER, options=options
        )
    except ImportError:
        pass
    try:
        from joserfc import jwt as jose_jwt  # noqa: PLC0415
        from joserfc.jwk import import_key  # noqa: PLC0415

        jose_key = import_key(jwk)
        registry = jose_jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": "api"}
        )

        def joserfc_verify() -> None:
            registry.validate(jose_jwt.decode(token, jose_key, algorithms=[alg]).claims)

        found["joserfc"] = joserfc_verify
    except ImportError:
        pass
    try:
        from authlib.jose import JsonWebKey, JsonWebToken  # noqa: PLC0415

        authlib_key = JsonWebKey.import_key(jwk)
        authlib_jwt = JsonWebToken([alg])
        claims_options = {
            "iss": {"essential": True, "value": ISSUER},
            "aud": {"essential": True, "value": "api"},
        }

        def authlib_verify() -> None:
            authlib_jwt.decode(token, authlib_key, claims_options=claims_options).validate()

        found["Authlib"] = authlib_verify
    except ImportError:
        pass
    if alg != "EdDSA":  # python-jose has no EdDSA
        try:
            from jose import jwt as python_jose  # noqa: PLC0415

            found["python-jose"] = lambda: python_jose.decode(
                token, jwk, algorithms=[alg], audience="api", issuer=ISSUER
            )
        except ImportError:
            pass
    return found


def verification(quick: bool) -> None:
    count, rounds = (300, 3) if quick else (2_000, 7)
    summary: list[list[str]] = []
    for alg in ("RS256", "ES256", "EdDSA"):
        key = SigningKey.generate(alg)
        service = TokenService(KeySet(key), issuer=ISSUER, audience="api")
        token = service.issue_access("user-7", claims={"roles": ["editor"]})
        calls: dict[str, Callable[[], object]] = {"buttress-auth": lambda s=service, t=token: s.decode(t)}
        calls.update(peers(key, token))
        calls["cryptography (signature only)"] = raw_floor(key, token)
        results = per_second(calls, count, rounds)
        ours = results["buttress-auth"].p50
        rows = [[name, dist.cell(), ratio(ours, dist.p50)] for name, dist in results.items()]
        print_table(
            f"{alg}: token verifications per CPU second, median (min-max) of {rounds} rounds",
            ["library", "verifications/s", "buttress vs it"],
            rows,
        )
        floor = results["cryptography (signature only)"].p50
        pyjwt = results.get("PyJWT")
        summary.append(
            [
                alg,
                f"{ours:,.0f}",
                ratio(ours, pyjwt.p50) if pyjwt else "—",
                f"{floor / ours:.2f}x",
            ]
        )
    print_table(
        "Targets: >= 2x PyJWT, within 1.3x of the raw signature check",
        ["algorithm", "buttress/s", "vs PyJWT", "raw / buttress"],
        summary,
    )


CASBIN_MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
"""


def policy(rules: int) -> tuple[RBAC, Any]:
    """The same policy for both: chains admin_k > editor_k > viewer_k, ten rules per role."""
    import casbin  # noqa: PLC0415

    chains = max(1, rules // 30)
    roles: dict[str, Role] = {}
    p_rules: list[list[str]] = []
    g_rules: list[list[str]] = [["alice", "admin_0"]]
    for k in range(chains):
        for tier, parent in (("viewer", None), ("editor", "viewer"), ("admin", "editor")):
            name = f"{tier}_{k}"
            permissions = tuple(f"res{k}_{tier}_{j}:read" for j in range(10))
            roles[name] = Role(permissions=permissions, inherits=(f"{parent}_{k}",) if parent else ())
            p_rules += [[name, f"res{k}_{tier}_{j}", "read"] for j in range(10)]
            if parent:
                g_rules.append([name, f"{parent}_{k}"])
    # Loaded from a policy file, as casbin deployments do: adding 100,000 rules one call at a time
    # checks each against those already there, which would time the setup rather than the check.
    with tempfile.TemporaryDirectory() as directory:
        model_path, policy_path = Path(directory, "model.conf"), Path(directory, "policy.csv")
        model_path.write_text(CASBIN_MODEL)
        lines = [f"p, {', '.join(rule)}" for rule in p_rules] + [f"g, {', '.join(rule)}" for rule in g_rules]
        policy_path.write_text("\n".join(lines) + "\n")
        enforcer = casbin.Enforcer(str(model_path), str(policy_path))
    return RBAC(roles), enforcer


def rbac_checks(quick: bool) -> None:
    sizes = (10, 100, 1_000, 10_000) if quick else (10, 100, 1_000, 10_000, 100_000)
    rows: list[list[str]] = []
    for size in sizes:
        rbac, enforcer = policy(size)
        if not (
            rbac.allows("admin_0", "res0_viewer_3:read")
            and enforcer.enforce("alice", "res0_viewer_3", "read")
        ):
            raise RuntimeError("the two policies disagree")
        ours = _micros(lambda r=rbac: r.allows("admin_0", "res0_viewer_3:read"), 20_000 if quick else 100_000)
        theirs = _micros(
            lambda e=enforcer: e.enforce("alice", "res0_viewer_3", "read"),
            max(3, (2_000 if quick else 20_000) // size),
        )
        rows.append([f"{len(rbac) * 10:,}", f"{ours:.2f}", f"{theirs:,.1f}", ratio(theirs, ours)])
    print_table(
        "RBAC: one check, µs (median of 5 batches), by rules in the policy",
        ["rules", "buttress-auth", "pycasbin", "pycasbin / buttress"],
        rows,
    )


def _micros(call: Callable[[], object], count: int) -> float:
    call()
    batches = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(count):
            call()
        batches.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    options = parser.parse_args()
    warnings.simplefilter("ignore")  # joserfc's SecurityWarning for the EdDSA name (RFC 9864)
    versions = []
    for dist in ("buttress-auth", "pyjwt", "joserfc", "authlib", "python-jose", "pycasbin", "cryptography"):
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist} (not installed)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load:.1f} at the start; {', '.join(versions)}"
    )
    verification(options.quick)
    rbac_checks(options.quick)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
