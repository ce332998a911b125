"""Strict checks of what identifies a recipient: one email address, one phone number, one URL.

Each check accepts exactly one address and returns it unchanged, or raises `InvalidAddressError`
saying what is wrong (never echoing the address, which is personal data). What is accepted is
narrower than everything the RFCs allow, on purpose: only forms that every parser on the way (the
``email`` package, the SMTP server, mail clients, HTTP clients) reads as the same single address.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

from .exceptions import InvalidAddressError

__all__ = ["check_email", "check_line", "check_phone", "check_url", "unsafe_text"]

# RFC 5322 section 3.2.3 atext; a dot-atom is atoms joined by single dots.
_ATEXT: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM: Final = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
# RFC 5321 section 4.1.2 sub-domain (Let-dig [Ldh-str]), at most 63 octets (RFC 1035).
_LABEL: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# Host names in URLs may carry underscores (container and service names do); DNS allows them.
_HOST_LABEL: Final = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")
_LIST_OR_NAME: Final = frozenset(',;<>()[]":\\ \t')
_MAX_LOCAL: Final = 64  # RFC 5321 section 4.5.3.1.1
_MAX_DOMAIN: Final = 253  # RFC 1035 presentation form of 255 octets
_MAX_EMAIL: Final = 254  # RFC 5321 path of 256 octets minus the angle brackets
_MAX_URL: Final = 2048
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})


# General category Cc is exactly these 65 code points, and Unicode's stability policy fixes that
# set forever; the surrogates are what UTF-8 cannot encode. One regex search each, in C.
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def unsafe_text(value: str) -> str | None:
    """Name what makes ``value`` unsafe to store or put in a header: a control character or surrogate."""
    if _CONTROL.search(value) is not None:
        return "a control character (CR, LF, NUL, ...)"
    if _SURROGATE.search(value) is not None:
        return "a lone surrogate (not valid UTF-8)"
    return None


def check_line(kind: str, value: object, *, max_length: int) -> str:
    """``value`` when it is one line of 1 to ``max_length`` characters, no control character or surrogate."""
    if not isinstance(value, str):
        raise InvalidAddressError(kind, value, f"must be a string, not {type(value).__name__}")
    if not value or len(value) > max_length:
        raise InvalidAddressError(kind, value, f"must be 1-{max_length} characters")
    bad = unsafe_text(value)
    if bad is not None:
        raise InvalidAddressError(kind, value, f"contains {bad}")
    return value


def check_email(value: object, *, kind: str = "email") -> str:
    """``value`` when it is exactly one bare email address (an RFC 5321 mailbox), else raise.

    Accepted: a dot-atom local part (RFC 5322 atext between single dots, at most 64 characters),
    ``@``, and a domain of LDH labels (letters, digits, inner hyphens; A-labels such as
    ``xn--bcher-kva`` when they decode), at most 254 characters in all. Refused: display names
    (``Ann <a@example.com>``), lists (``a@x.test, b@y.test``), comments, quoted local parts,
    RFC 2047 encoded-words (``=?``, which some parsers decode into another address), address
    literals (``[127.0.0.1]``), whitespace and control characters, and any non-ASCII: a
    Unicode domain must be given in its A-label form, since IDNA 2003 and IDNA 2008 map some
    names (``faß.de``) to different domains and we will not guess which one was meant;
    internationalized local parts need SMTPUTF8, which is not used.
    """
    text = check_line(kind, value, max_length=_MAX_EMAIL)
    if not text.isascii():
        raise InvalidAddressError(
            kind, value, "must be ASCII: write a Unicode domain in its A-label (xn--) form"
        )
    if any(char in _LIST_OR_NAME for char in text) or text.count("@") != 1:
        raise InvalidAddressError(
            kind, value, "must be one bare address (local@domain): no display name, list, comment or quotes"
        )
    local, _, domain = text.partition("@")
    if not local or len(local) > _MAX_LOCAL or not _DOT_ATOM.fullmatch(local):
        raise InvalidAddressError(
            kind, value, f"local part must be 1-{_MAX_LOCAL} atext characters between single dots"
        )
    if "=?" in local:
        # RFC 2047 forbids encoded-words in an address, yet some parsers (Python's among them) decode
        # "=?utf-8?b?...?=@x" into another address. Refused, so every reader sees the same one.
        raise InvalidAddressError(kind, value, "local part must not hold an encoded-word ('=?')")
    problem = _domain_problem(domain)
    if problem is not None:
        raise InvalidAddressError(kind, value, problem)
    return text


def _domain_problem(domain: str) -> str | None:
    if not domain or len(domain) > _MAX_DOMAIN:
        return f"domain must be 1-{_MAX_DOMAIN} characters"
    labels = domain.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return "domain must be dot-separated labels of letters, digits and inner hyphens"
    if labels[-1].isdigit():
        return "domain must not end in a number (address literals are not accepted)"
    for label in labels:
        if label[:4].lower() == "xn--":
            try:
                decoded = label[4:].encode("ascii").decode("punycode")
            except UnicodeError:
                return "domain has an A-label (xn--) that does not decode"
            if decoded.isascii():
                return "domain has an A-label (xn--) that encodes plain ASCII"
    return None


def check_phone(value: object, *, kind: str = "phone number") -> str:
    """``value`` when it is one E.164 number: ``+``, then 7-15 digits, the first not 0."""
    text = check_line(kind, value, max_length=64)
    if not _E164.fullmatch(text):
        raise InvalidAddressError(
            kind, value, "must be E.164: '+' then 7-15 ASCII digits, the first not 0, no spaces or separators"
        )
    return text


def check_url(value: object, *, kind: str, https_only: bool) -> str:
    """``value`` when it is one absolute http(s) URL with a host and no credentials, else raise.

    With ``https_only``, plain ``http`` is accepted only for a loopback host (a local test server).
    """
    text = check_line(kind, value, max_length=_MAX_URL)
    if not text.isascii() or any(char.isspace() for char in text):
        raise InvalidAddressError(kind, value, "must be ASCII without spaces (percent-encode the rest)")
    try:
        parts = urlsplit(text)
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise InvalidAddressError(kind, value, "is not a valid URL") from None
    del port  # read only so that a bad port raises
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise InvalidAddressError(kind, value, "must be an absolute http(s) URL with a host")
    if https_only and scheme != "https" and host not in _LOOPBACK_HOSTS:
        raise InvalidAddressError(kind, value, "must be an https URL")
    if "@" in parts.netloc:
        raise InvalidAddressError(kind, value, "must not carry credentials (user:password@)")
    if not _valid_host(host):
        raise InvalidAddressError(kind, value, "has an invalid host name")
    return text


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    labels = host.rstrip(".").split(".")
    return len(host) <= _MAX_DOMAIN and all(_HOST_LABEL.fullmatch(label) for label in labels)
