"""The tour's buttress-csp section."""

from __future__ import annotations

from collections.abc import Callable
from wsgiref.util import setup_testing_defaults

from buttress.csp import NONCE_ENVIRON_KEY, CSPWSGIMiddleware, PolicyError, hash_source, parse, strict

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "a fresh nonce per request: True",
    "parse() reads the header back to the same policy: True",
    "an unquoted keyword is refused",
    "WSGI middleware: the page's nonce is in its header: True",
)
REAL: tuple[str, ...] = ()


async def run(tour: Tour) -> None:
    policy = strict(report_to=("csp", "/csp-reports"))
    compiled = policy.compile()  # prepared once; each request only draws a nonce
    first, header = compiled.issue()
    second, _ = compiled.issue()
    tour.say(f"strict preset: {header}")
    tour.say(f"a fresh nonce per request: {first != second} ({len(first)} characters from 16 random bytes)")
    again = parse(header, nonce=first, reporting_endpoints=policy.reporting_endpoints)
    tour.say(f"parse() reads the header back to the same policy: {again == policy}")
    try:
        policy.with_directive("img-src", "self")
    except PolicyError as exc:
        tour.say(f"an unquoted keyword is refused: {exc}")

    def page(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [f'<script nonce="{environ[NONCE_ENVIRON_KEY]}">go()</script>'.encode()]

    environ: dict[str, object] = {}
    setup_testing_defaults(environ)
    sent: dict[str, str] = {}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], object]:
        sent.update(headers)
        return lambda data: None

    body = b"".join(CSPWSGIMiddleware(page, policy)(environ, start_response))
    nonce = str(environ[NONCE_ENVIRON_KEY])
    tour.say(
        f"WSGI middleware: the page's nonce is in its header: "
        f"{f"'nonce-{nonce}'" in sent['Content-Security-Policy'] and nonce.encode() in body}"
    )
    tour.say(f"Reporting-Endpoints: {sent['Reporting-Endpoints']}")
    tour.say(f"hash source for an inline script: {hash_source('go()')}")
