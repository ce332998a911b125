"""Checking a server address at construction, so a bad one fails there, not at first use."""

from __future__ import annotations

from urllib.parse import urlsplit

from buttress.core import check_text

from .exceptions import PoolConfigurationError


def check_url(parameter: str, url: object, schemes: tuple[str, ...], what: str) -> str:
    """``url`` if its scheme is one of ``schemes``; never shown in the error (it may hold a password)."""
    text = check_text(parameter, url, show_value=False, error=PoolConfigurationError)
    try:
        scheme = urlsplit(text).scheme
    except ValueError:
        scheme = ""
    if scheme.lower() not in schemes:
        raise PoolConfigurationError(parameter, url, f"must be {what}", show_value=False)
    return text
