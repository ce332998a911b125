"""The `Analyzer`'s tokens as PostgreSQL text search values, so PostgreSQL matches what MemorySearch does.

PostgreSQL never parses the text: each document's tokens come from the provider's `Analyzer` and
reach the server as one ``tsvector`` literal per field (quoted lexemes with their positions; the SQL
sets each field's weight class and concatenates them), and each query's token groups as ``tsquery``
literals. Three of ``tsvector``'s limits would otherwise
change which documents match, so they are worked around here:

- a lexeme holds at most 2,047 bytes: a token longer than `MAX_LEXEME_BYTES` is stored, and
  searched, as ``#`` and a 128-bit BLAKE2b digest of it (``#`` is not a word character, so no
  token looks like one);
- positions stop at 16,383 and a lexeme keeps at most 256 of them, so phrases are not matched on
  positions: each row also stores its fields' token sequences as text (`token_text`), and a phrase
  is a substring of it, checked on the rows the ``tsvector`` index selected;
- a ``tsvector`` holds at most 1 MB: past it the positions (which only ranking uses) are dropped,
  and a document whose distinct lexemes alone pass 1 MB is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Final

from ._analysis import Analyzer
from .exceptions import InvalidDocumentError

__all__ = [
    "MAX_LEXEME_BYTES",
    "all_query",
    "any_query",
    "encode_document",
    "group_query",
    "lexeme",
    "phrase_pattern",
]

MAX_LEXEME_BYTES: Final = 255
"""Tokens longer than this in UTF-8 are stored and searched as a digest."""

_SHORT: Final = MAX_LEXEME_BYTES // 4  # characters that always fit, whatever their UTF-8 length
_MAX_POSITION: Final = 16_383
_MAX_POSITIONS: Final = 256
_MAX_BYTES: Final = (1 << 20) - 1  # tsvector's MAXSTRPOS: lexemes and positions together


def lexeme(token: str) -> str:
    """The lexeme stored for ``token``: itself, or ``#`` and a digest when it is too long."""
    if len(token) <= _SHORT:
        return token
    encoded = token.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_LEXEME_BYTES:
        return token
    return "#" + hashlib.blake2b(encoded, digest_size=16).hexdigest()


def _lexemes(tokens: list[str] | tuple[str, ...]) -> list[str]:
    if all(len(token) <= _SHORT for token in tokens):
        return list(tokens)
    return [lexeme(token) for token in tokens]


def _quote(value: str) -> str:
    """A lexeme as a quoted ``tsvector`` / ``tsquery`` operand."""
    if "'" in value or "\\" in value:
        value = value.replace("\\", "\\\\").replace("'", "''")
    return "'" + value + "'"


def encode_document(
    doc_id: str | None, texts: Mapping[str, str], fields: Iterable[str], analyzer: Analyzer
) -> tuple[list[str], str]:
    """Return a document's ``tsvector`` literal per field (in ``fields``' order) and its token text.

    Each field's vector numbers its own positions from 1; PostgreSQL sets the field's weight class
    and concatenates them (``||`` shifts each vector's positions past the previous one's).

    Args:
        doc_id: The document's id (for the error).
        texts: The searchable fields' texts.
        fields: Every searchable field, in the schema's order.
        analyzer: The provider's analyzer.

    Raises:
        InvalidDocumentError: The document's distinct lexemes take more than 1 MB.
    """
    vectors: list[dict[str, list[int]]] = []
    segments: list[str] = []
    tokens = 0
    for field in fields:
        text = texts.get(field)
        lexemes = _lexemes(analyzer.tokens(text)) if text else []
        positions: dict[str, list[int]] = {}
        for index, item in enumerate(lexemes, 1):
            try:
                positions[item].append(index)
            except KeyError:
                positions[item] = [index]
        if len(lexemes) > _MAX_POSITIONS:  # PostgreSQL keeps 256 positions, none past 16,383
            for item, found in positions.items():
                kept = [position for position in found[:_MAX_POSITIONS] if position <= _MAX_POSITION]
                positions[item] = kept or [_MAX_POSITION]
        if lexemes:
            segments.append(" " + " ".join(lexemes) + " ")
            tokens += len(lexemes)
        vectors.append(positions)
    joined = "\n".join(segments)
    return _literals(doc_id, vectors, joined, tokens), joined


def _literals(doc_id: str | None, vectors: list[dict[str, list[int]]], joined: str, tokens: int) -> list[str]:
    # Lexemes come from the token text: no quote or backslash in it means none to escape.
    quote = _quote if "'" in joined or "\\" in joined else _plain
    # Per lexeme with positions: up to one byte of alignment, a count and two bytes per position.
    # The token text's bytes bound the lexemes' (it repeats them): exact sums only when near the limit.
    if len(joined) * 4 + 5 * tokens <= _MAX_BYTES or _size(vectors, positions=True) <= _MAX_BYTES:
        return [
            " ".join(f"{quote(item)}:{str(found)[1:-1].replace(' ', '')}" for item, found in vector.items())
            for vector in vectors
        ]
    if _size(vectors, positions=False) <= _MAX_BYTES:
        return [" ".join(map(quote, vector)) for vector in vectors]
    raise InvalidDocumentError(
        doc_id, None, "holds more distinct words than PostgreSQL's tsvector can store (1 MB)"
    )


def _size(vectors: list[dict[str, list[int]]], *, positions: bool) -> int:
    """An upper bound of the vectors' size once concatenated (a lexeme in two fields counts twice)."""
    size = sum(len(item.encode("utf-8", "surrogatepass")) for vector in vectors for item in vector)
    if positions:
        size += sum(3 + 2 * len(found) for vector in vectors for found in vector.values())
    return size


def _plain(value: str) -> str:
    return "'" + value + "'"


def group_query(group: Iterable[str]) -> str:
    """A ``tsquery`` literal selecting rows holding every token of ``group`` (a phrase's candidates)."""
    return " & ".join(_quote(item) for item in _lexemes(tuple(group)))


def phrase_pattern(group: tuple[str, ...]) -> str | None:
    """The substring of the token text a phrase is (``None`` for a single term)."""
    if len(group) < 2:
        return None
    return " " + " ".join(_lexemes(group)) + " "


def any_query(groups: Iterable[tuple[str, ...]]) -> str:
    """A ``tsquery`` literal selecting rows holding every token of at least one group."""
    return " | ".join(f"({group_query(group)})" for group in groups)


def all_query(groups: Iterable[tuple[str, ...]]) -> str:
    """A ``tsquery`` literal selecting rows holding every token of every group."""
    return " & ".join(f"({group_query(group)})" for group in groups)
