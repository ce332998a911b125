"""Opaque cursors: the sort key of a page's last hit, tied to the query that made it.

A cursor comes back from clients, so decoding checks it as strictly as any other input: its shape,
each value against the sort field's type, and every text and number by the rules of the query
types. A cursor that fails any check is a `SearchConfigurationError`, the same on every provider.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Callable
from typing import Any

from ._filters import MAX_SAFE_INTEGER, is_text
from ._query import SearchQuery
from ._schema import Schema, check_id
from .exceptions import SearchConfigurationError, SearchError

__all__ = ["decode_cursor", "encode_cursor", "encode_score_cursor"]


_URLSAFE = bytes.maketrans(b"+/", b"-_")
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
"""``json.dumps`` with compact separators, without building an encoder per call."""
_STRING: Callable[[str], str] = json.encoder.encode_basestring_ascii
"""The JSON encoder's own str encoding (``ensure_ascii``), in C."""
_FLOAT = float.__repr__
"""The JSON encoder's own encoding of a finite float."""


def _fingerprint(query: SearchQuery) -> str:
    """A short digest of what decides a query's order and hit set (so a cursor is not reused elsewhere)."""
    basis = repr(
        (query.text, query.syntax, query.match, query.minimum_should_match, query.filter, query.sort)
    )
    return hashlib.blake2b(basis.encode(), digest_size=6).hexdigest()


def encode_cursor(query: SearchQuery, key: list[Any]) -> str:
    """Encode the sort key of the last hit of a page (sort values, score, id) as an opaque cursor."""
    return _encode(_ENCODE([_fingerprint(query), key]))


def encode_score_cursor(query: SearchQuery, score: float, doc_id: str) -> str:
    """``encode_cursor(query, [score, doc_id])`` for a finite float score: the same cursor, sooner.

    The JSON text is written as the encoder writes it (compact separators, ``repr`` of the float,
    the id ASCII-escaped), without its per-call setup.
    """
    return _encode(f'["{_fingerprint(query)}",[{_FLOAT(score)},{_STRING(doc_id)}]]')


def _encode(payload: str) -> str:
    # base64.urlsafe_b64encode's own steps, without its two Python-level calls.
    return binascii.b2a_base64(payload.encode(), newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _refuse(
    query: SearchQuery, reason: str = "is not a cursor this package made"
) -> SearchConfigurationError:
    return SearchConfigurationError("cursor", query.cursor, reason)


def decode_cursor(query: SearchQuery, schema: Schema) -> list[Any] | None:
    """Return the checked sort key stored in ``query.cursor`` (``None`` without a cursor).

    The key is ``[*sort values, score, id]``: each sort value ``None`` or of its field's type, the
    score a finite number, the id a valid document id.

    Raises:
        SearchConfigurationError: The cursor is not one this package made, or belongs to another
            query (text, syntax, match, filter or sort changed).
    """
    cursor = query.cursor
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise _refuse(query) from None
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[1], list)):
        raise _refuse(query)
    fingerprint, key = payload[0], list(payload[1])
    if fingerprint != _fingerprint(query):
        raise _refuse(query, "belongs to a different query (text, match, filter or sort changed)")
    if len(key) != len(query.sort) + 2 or not _number(key[-2]):
        raise _refuse(query)
    try:
        check_id("cursor", key[-1])
    except SearchError:
        raise _refuse(query) from None
    for sort, value in zip(query.sort, key, strict=False):
        if value is not None and not _fits(schema.fields.get(sort.field), value):
            raise _refuse(query)
    return key


def _number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    return isinstance(value, float) and math.isfinite(value)


def _fits(kind: str | None, value: object) -> bool:
    if kind == "number":
        return _number(value)
    if kind == "boolean":
        return isinstance(value, bool)
    return kind == "keyword" and is_text(value)
