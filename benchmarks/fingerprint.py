"""buttress-fingerprint: time per fingerprint of a request with 20 headers.

Run with ``nox -s bench -- fingerprint`` (or ``python benchmarks/fingerprint.py [--quick]``). No
Python library does server-side fingerprinting with privacy controls, so the reference row is the
least anyone could do: an unkeyed SHA-256 over the raw header values joined together (no
canonical encoding, no key, no per-component hashes, no confidence).

Rows, each after a warm-up, median µs per fingerprint with the p10-p90 band:

- ASGI scope, the same browser again: the usual case, a browser seen before, whose fingerprint
  the cache holds (``cache_size=4096``, the default);
- ASGI scope, every value new: a distinct user agent and set of cookie names per request, so those
  two components and the fingerprint are hashed afresh while the others come from the cache;
- ASGI scope, cache off (``cache_size=0``): every component hashed on every request;
- WSGI environ and a list of ``(str, str)`` headers, the same browser again.

Before timing, each way in is checked to give the fingerprint of the `Components` its function
reads, the definition.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import hashlib
import importlib.metadata
import itertools
import os
import platform
import secrets
import sys
import time
from collections.abc import Callable, Sequence

from _harness import Dist

from buttress.fingerprint import Fingerprinter, from_environ, from_headers, from_scope

TARGET_US = 10.0

HEADERS = [
    ("host", "shop.example.com"),
    ("connection", "keep-alive"),
    ("cache-control", "max-age=0"),
    ("sec-ch-ua", '"Chromium";v="131", "Not_A Brand";v="24", "Google Chrome";v="131"'),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"Linux"'),
    ("upgrade-insecure-requests", "1"),
    (
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
    ),
    (
        "accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
    ),
    ("sec-fetch-site", "same-origin"),
    ("sec-fetch-mode", "navigate"),
    ("sec-fetch-user", "?1"),
    ("sec-fetch-dest", "document"),
    ("referer", "https://shop.example.com/cart"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("accept-language", "nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7"),
    ("cookie", "session=8c1f0e2d9a; cart=3; theme=dark; _ga=GA1.1.123.456; consent=analytics"),
    ("priority", "u=0, i"),
    ("dnt", "1"),
    ("x-request-id", "5b7f6d6e-1c4d-4c0e-9f3b-2d1f4c8a9e10"),
]
if len(HEADERS) != 20:
    raise RuntimeError("the benchmark request must have 20 headers")


def measure(operation: Callable[[], object], *, samples: int, per_sample: int) -> Dist:
    for _ in range(per_sample * 5):
        operation()
    times: list[float] = []
    gc.disable()
    try:
        for _ in range(samples):
            start = time.perf_counter_ns()
            for _ in range(per_sample):
                operation()
            times.append((time.perf_counter_ns() - start) / per_sample / 1000)
    finally:
        gc.enable()
    return Dist.of(times)


def scope_of(headers: list[tuple[str, str]]) -> dict[str, object]:
    return {
        "type": "http",
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": ("203.0.113.7", 51000),
    }


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a smoke run")
    args = parser.parse_args(argv)
    samples, per_sample = (30, 300) if args.quick else (100, 500)

    secret = secrets.token_bytes(32)
    cached = Fingerprinter(secret, purpose="fraud-prevention")
    uncached = Fingerprinter(secret, purpose="fraud-prevention", cache_size=0)
    scope = scope_of(HEADERS)
    environ = {"REMOTE_ADDR": "203.0.113.7", "REQUEST_METHOD": "GET"} | {
        "HTTP_" + k.upper().replace("-", "_"): v for k, v in HEADERS
    }
    expected = cached.fingerprint(from_scope(scope))
    if expected != uncached.fingerprint(from_scope(scope)) or any(
        fp != expected
        for fp in (
            cached.from_scope(scope),
            cached.from_scope(scope),  # from the cache
            uncached.from_scope(scope),
            cached.from_environ(environ),
            cached.fingerprint(from_environ(environ)),
            cached.from_headers(HEADERS),
            cached.fingerprint(from_headers(HEADERS)),
        )
    ):
        raise RuntimeError("benchmark setup is wrong: the same request gave different fingerprints")

    # Distinct requests: a new user agent and cookie names each time, made before timing starts.
    pool_size = samples * per_sample + per_sample * 5
    distinct = []
    for i in range(pool_size):
        headers = [
            (k, f"{v} build/{i}" if k == "user-agent" else f"id{i}=1; {v}" if k == "cookie" else v)
            for k, v in HEADERS
        ]
        distinct.append(scope_of(headers))
    fresh = Fingerprinter(secret, purpose="fraud-prevention")
    if any(fresh.from_scope(d) != fresh.fingerprint(from_scope(d)) for d in distinct[:3]):
        raise RuntimeError("benchmark setup is wrong: a request gave a fingerprint other than its definition")
    fresh.clear_cache()
    next_scope = itertools.cycle(distinct).__next__

    raw = "\n".join(f"{k}: {v}" for k, v in HEADERS).encode("latin-1")
    rows = [
        (
            "ASGI scope, the same browser again",
            measure(lambda: cached.from_scope(scope), samples=samples, per_sample=per_sample),
        ),
        (
            "ASGI scope, every value new (cache misses)",
            measure(lambda: fresh.from_scope(next_scope()), samples=samples, per_sample=per_sample),
        ),
        (
            "ASGI scope, cache off",
            measure(lambda: uncached.from_scope(scope), samples=samples, per_sample=per_sample),
        ),
        (
            "WSGI environ, the same browser again",
            measure(lambda: cached.from_environ(environ), samples=samples, per_sample=per_sample),
        ),
        (
            "(str, str) header list, the same browser again",
            measure(lambda: cached.from_headers(HEADERS), samples=samples, per_sample=per_sample),
        ),
    ]
    baseline = measure(lambda: hashlib.sha256(raw).hexdigest(), samples=samples, per_sample=per_sample)

    print(f"# buttress-fingerprint benchmark — {datetime.date.today().isoformat()}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()}; "
        f"buttress-fingerprint {importlib.metadata.version('buttress-fingerprint')}"
    )
    print(
        f"request: {len(HEADERS)} headers; samples: {samples} x {per_sample}; "
        "µs per fingerprint, median (p10-p90)\n"
    )
    print("| operation | buttress | target | met | unkeyed SHA-256 of the raw headers | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, dist in rows:
        met = "yes" if dist.p50 <= TARGET_US else "no"
        print(
            f"| {name} | {dist.cell(2)} | ≤ {TARGET_US:g} | {met} | {baseline.cell(2)} | "
            f"{dist.p50 / baseline.p50:.1f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
