"""buttress-csp against django-csp 4 and Django's built-in CSP, on the same policy, in one run.

Run with ``nox -s bench -- csp`` (or ``python benchmarks/csp.py [--quick]``). The policy is the strict
preset: ``script-src 'nonce-…' 'strict-dynamic' https: 'unsafe-inline'; object-src 'none';
base-uri 'none'``, configured identically in all three. Two operations, each after a warm-up:

1. header + nonce: draw a fresh nonce and produce the policy header value that carries it, two
   ways. Like with like, built per call: buttress ``Policy.serialize(generate_nonce())``, the peers
   the nonce their middleware draws (``os.urandom`` + base64 for django-csp,
   ``secrets.token_urlsafe`` for Django) and their ``build_policy`` on their settings. Each
   library's fastest documented way: buttress ``CompiledPolicy.issue()`` (the policy compiled once);
   neither peer documents a precompiled policy (their middleware builds it on every response), so
   their per-call build is their fastest way and appears in both rows.
2. middleware, one request: the whole per-request work of each middleware around an application
   that does nothing. buttress: ``CSPWSGIMiddleware`` (and ``CSPMiddleware`` on ASGI); the peers:
   ``process_request``, reading ``request.csp_nonce`` (as a template does), ``process_response``.

Each cell is the median time per operation in microseconds over many samples, with the p10-p90
band in brackets; ratio is buttress's median over the peer's (below 1 means buttress is faster).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import gc
import importlib.metadata
import os
import platform
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from _harness import Dist

# This file is csp.py and django-csp's package is ``csp``: take this directory off the path first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    DEBUG=False,
    SECRET_KEY="benchmark-only",  # noqa: S106 - a settings value Django requires, unused
    ALLOWED_HOSTS=["*"],
    CONTENT_SECURITY_POLICY={
        "DIRECTIVES": {
            "script-src": ["nonce", "'strict-dynamic'", "https:", "'unsafe-inline'"],
            "object-src": ["'none'"],
            "base-uri": ["'none'"],
        }
    },
    SECURE_CSP={
        "script-src": ["<CSP_NONCE_SENTINEL>", "'strict-dynamic'", "https:", "'unsafe-inline'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
    },
)
django.setup()

from csp.constants import NONCE as DJANGO_CSP_NONCE  # noqa: E402
from csp.middleware import CSPMiddleware as DjangoCspMiddleware  # noqa: E402
from csp.utils import build_policy as django_csp_build_policy  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.middleware.csp import ContentSecurityPolicyMiddleware  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.utils.csp import CSP  # noqa: E402
from django.utils.csp import build_policy as django_build_policy  # noqa: E402

from buttress.csp import CSPMiddleware, CSPWSGIMiddleware, generate_nonce, strict  # noqa: E402

# The sentinels differ per library; put each library's own in its settings.
settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"][0] = DJANGO_CSP_NONCE
settings.SECURE_CSP["script-src"][0] = CSP.NONCE

POLICY = strict()
COMPILED = POLICY.compile()
TARGET_US = 3.0


def measure(operation: Callable[[], object], *, samples: int, per_sample: int) -> Dist:
    """Time ``operation`` in ``samples`` batches of ``per_sample`` calls after a warm-up; GC off."""
    for _ in range(per_sample * 5):
        operation()
    times: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(samples):
            start = time.perf_counter_ns()
            for _ in range(per_sample):
                operation()
            times.append((time.perf_counter_ns() - start) / per_sample / 1000)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Dist.of(times)


def interleaved(
    operations: dict[str, Callable[[], object]], *, samples: int, per_sample: int
) -> dict[str, Dist]:
    """`measure` for several operations, their batches taking turns; GC off."""
    for operation in operations.values():
        for _ in range(per_sample * 5):
            operation()
    times: dict[str, list[float]] = {name: [] for name in operations}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(samples):
            for name, operation in operations.items():
                start = time.perf_counter_ns()
                for _ in range(per_sample):
                    operation()
                times[name].append((time.perf_counter_ns() - start) / per_sample / 1000)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: Dist.of(values) for name, values in times.items()}


def measure_async(make: Callable[[], object], *, samples: int, per_sample: int) -> Dist:
    """Like `measure`, for a coroutine function, all calls inside one running event loop."""

    async def run() -> Dist:
        async def batch(n: int) -> None:
            for _ in range(n):
                await make()  # type: ignore[misc]

        await batch(per_sample * 5)
        times: list[float] = []
        gc.disable()
        try:
            for _ in range(samples):
                start = time.perf_counter_ns()
                await batch(per_sample)
                times.append((time.perf_counter_ns() - start) / per_sample / 1000)
        finally:
            gc.enable()
        return Dist.of(times)

    return asyncio.run(run())


# --- 1. header + nonce ----------------------------------------------------------------------------------

DJANGO_CSP_CONFIG = {
    "script-src": [DJANGO_CSP_NONCE, "'strict-dynamic'", "https:", "'unsafe-inline'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
}


def buttress_header() -> str:
    return COMPILED.issue()[1]


def buttress_header_per_call() -> str:
    return POLICY.serialize(generate_nonce())


def django_csp_header() -> str:
    nonce = base64.b64encode(os.urandom(16)).decode("ascii")  # what its middleware draws
    return django_csp_build_policy(config=DJANGO_CSP_CONFIG, nonce=nonce)


def django_header() -> str:
    return str(django_build_policy(settings.SECURE_CSP, secrets.token_urlsafe(16)))


# --- 2. middleware, one request -------------------------------------------------------------------------

REQUEST: HttpRequest = RequestFactory().get("/")


def _get_response(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


DJANGO_CSP_MIDDLEWARE = DjangoCspMiddleware(_get_response)
DJANGO_MIDDLEWARE = ContentSecurityPolicyMiddleware(_get_response)
RESPONSE = HttpResponse("ok")


def django_csp_request() -> None:
    REQUEST.__dict__.pop("_csp_nonce", None)
    DJANGO_CSP_MIDDLEWARE.process_request(REQUEST)
    str(REQUEST.csp_nonce)  # type: ignore[attr-defined]
    DJANGO_CSP_MIDDLEWARE.process_response(REQUEST, RESPONSE)
    del RESPONSE["Content-Security-Policy"]


def django_request() -> None:
    DJANGO_MIDDLEWARE.process_request(REQUEST)
    str(REQUEST._csp_nonce)  # type: ignore[attr-defined]
    DJANGO_MIDDLEWARE.process_response(REQUEST, RESPONSE)
    del RESPONSE["Content-Security-Policy"]


def _wsgi_app(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
    environ["buttress.csp.nonce"]
    start_response("200 OK", [("Content-Type", "text/html")])
    return []


WSGI = CSPWSGIMiddleware(_wsgi_app, POLICY)
ENVIRON: dict[str, object] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}


def _start_response(
    status: str, headers: list[tuple[str, str]], exc_info: object = None
) -> Callable[..., object]:
    return _start_response


def buttress_wsgi_request() -> None:
    WSGI(ENVIRON, _start_response)  # type: ignore[arg-type]


async def _asgi_app(scope: dict[str, object], receive: object, send: Callable[..., object]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})  # type: ignore[misc]
    await send({"type": "http.response.body", "body": b""})  # type: ignore[misc]


ASGI = CSPMiddleware(_asgi_app, POLICY)  # type: ignore[arg-type]


async def _receive() -> dict[str, object]:
    return {"type": "http.request"}


async def _send(message: object) -> None:
    return None


async def _bare_asgi_request() -> None:
    await _asgi_app({"type": "http"}, _receive, _send)


async def buttress_asgi_request() -> None:
    await ASGI({"type": "http", "headers": []}, _receive, _send)


def check_same_policy() -> None:
    """The three produce the same header (apart from the nonce) before anything is timed."""
    nonce = "N" * 22
    ours = POLICY.serialize(nonce)
    theirs = {
        "django-csp": django_csp_build_policy(config=DJANGO_CSP_CONFIG, nonce=nonce),
        "Django": django_build_policy(settings.SECURE_CSP, nonce),
    }
    for name, header in theirs.items():
        if sorted(header.split("; ")) != sorted(ours.split("; ")):
            raise RuntimeError(f"benchmark setup is wrong: {name} sends {header!r}, buttress {ours!r}")


def ratio(ours: Dist, theirs: Dist) -> str:
    return f"{ours.p50 / theirs.p50:.2f}x"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a smoke run")
    args = parser.parse_args(argv)
    samples, per_sample = (30, 500) if args.quick else (100, 1000)
    check_same_policy()

    # Interleaved in batches, so load on the machine hits every library alike.
    header_runs = {
        "buttress": buttress_header,
        "buttress per call": buttress_header_per_call,
        "django-csp": django_csp_header,
        "Django": django_header,
    }
    header = interleaved(header_runs, samples=samples, per_sample=per_sample)
    per_call = {**header, "buttress": header["buttress per call"]}
    request = {
        "buttress": measure(buttress_wsgi_request, samples=samples, per_sample=per_sample),
        "django-csp": measure(django_csp_request, samples=samples, per_sample=per_sample),
        "Django": measure(django_request, samples=samples, per_sample=per_sample),
    }
    asgi = measure_async(buttress_asgi_request, samples=samples, per_sample=per_sample)
    bare = measure_async(_bare_asgi_request, samples=samples, per_sample=per_sample)

    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}" for name in ("buttress-csp", "django-csp", "django")
    )
    print(f"# buttress-csp benchmark — {datetime.date.today().isoformat()}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()}; {versions}"
    )
    print(f"samples: {samples} x {per_sample} calls; µs per operation, median (p10-p90)\n")
    print("| operation | buttress | django-csp | Django (built-in) | ratio vs django-csp | ratio vs Django |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, row in (
        ("header + nonce, policy built per call (like with like)", per_call),
        ("header + nonce, each library's fastest documented way (buttress precompiled)", header),
        ("middleware, one request (WSGI / Django)", request),
    ):
        print(
            f"| {name} | {row['buttress'].cell(2)} | {row['django-csp'].cell(2)} | {row['Django'].cell(2)} | "
            f"{ratio(row['buttress'], row['django-csp'])} | {ratio(row['buttress'], row['Django'])} |"
        )
    print(f"| ASGI middleware, one request (app alone: {bare.cell(2)}) | {asgi.cell(2)} | — | — | — | — |")
    met = "met" if header["buttress"].p50 <= TARGET_US else "NOT met"
    print(
        f"\ntarget: header + nonce <= {TARGET_US:g} µs per request — {met} "
        f"(median {header['buttress'].p50:.2f} µs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
