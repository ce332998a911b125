"""The tour's buttress-fingerprint section."""

from __future__ import annotations

import secrets

from buttress.fingerprint import Component, Fingerprinter, FingerprintError, IPMode, from_headers

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "same browser, new cookie values and address -> same fingerprint: True",
    "a fingerprint made before rotation still verifies: True",
)
REAL: tuple[str, ...] = ()


async def run(tour: Tour) -> None:
    old_secret, secret = secrets.token_bytes(32), secrets.token_bytes(32)
    fingerprinter = Fingerprinter(secret, purpose="tour", previous_secrets=[old_secret])
    headers = [
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"),
        ("accept", "text/html,*/*;q=0.8"),
        ("accept-language", "nl-NL,nl;q=0.9"),
        ("accept-encoding", "gzip, br"),
        ("cookie", "session=3f9a1c; theme=dark"),
    ]
    churned = [(n, "session=77b2e0; theme=light" if n == "cookie" else v) for n, v in headers]
    a = fingerprinter.from_headers(headers, client_ip="203.0.113.7")
    b = fingerprinter.from_headers(churned, client_ip="198.51.100.20")
    tour.say(f"same browser, new cookie values and address -> same fingerprint: {a.digest == b.digest}")
    tour.say(f"confidence {a.confidence:.2f}, low_confidence={a.low_confidence}, purpose={a.purpose!r}")
    tour.say(f"only keyed hashes leave: user-agent -> {a.components[Component.USER_AGENT]}")
    thin = fingerprinter.from_headers(headers[:2])
    tour.say(f"similarity to a request with two of the headers: {fingerprinter.similarity(a, thin):.2f}")
    elsewhere = Fingerprinter(secrets.token_bytes(32), purpose="tour").from_headers(headers)
    tour.say(f"another deployment's secret -> unlinkable: {elsewhere.digest != a.digest}")
    before_rotation = Fingerprinter(old_secret, purpose="tour").from_headers(headers)
    verified = fingerprinter.verify(before_rotation, from_headers(headers))
    tour.say(f"a fingerprint made before rotation still verifies: {verified}")
    by_network = Fingerprinter(secret, purpose="tour", ip=IPMode.PREFIX)
    same_24 = by_network.from_headers(headers, client_ip="203.0.113.7") == by_network.from_headers(
        headers, client_ip="203.0.113.99"
    )
    tour.say(f"IPMode.PREFIX: two addresses in one /24 agree: {same_24}")
    try:
        Fingerprinter(b"too short", purpose="tour")
    except FingerprintError as exc:
        tour.say(f"a weak secret is refused: {exc}")
