"""The `Analyzer`'s tokens as PostgreSQL text search values, so PostgreSQL matches what MemorySearch does.

PostgreSQL never parses the text: each document's tokens come from the provider's `Analyzer` and
reach the server as a ``tsvector`` literal (quoted lexemes with positions and weight classes), and
each query's token groups as ``tsquery`` literals. Three of ``tsvector``'s limits would otherwise
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
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def encode_document(
    doc_id: str | None, texts: Mapping[str, str], classes: Mapping[str, str], analyzer: Analyzer
) -> tuple[str, str]:
    """Return a document's ``tsvector`` literal and its token text.

    Args:
        doc_id: The document's id (for the error).
        texts: The searchable fields' texts.
        classes: Every searchable field, in the schema's order, with its weight class (A to D).
        analyzer: The provider's analyzer.

    Raises:
        InvalidDocumentError: The document's distinct lexemes take more than 1 MB.
    """
    positions: dict[str, list[str]] = {}
    segments: list[str] = []
    position = 0
    for field, weight in classes.items():
        text = texts.get(field)
        if not text:
            continue
        lexemes = _lexemes(analyzer.tokens(text))
        if not lexemes:
            continue
        segments.append(" " + " ".join(lexemes) + " ")
        for item in lexemes:
            position += 1
            entry = positions.get(item)
            if entry is None:
                positions[item] = entry = []
            if len(entry) < _MAX_POSITIONS and (position <= _MAX_POSITION or len(entry) == 0):
                entry.append(f"{min(position, _MAX_POSITION)}{weight}")
        position += 1  # a gap between fields, so ts_rank never sees two fields' words as neighbours
    return _vector(doc_id, positions), "\n".join(segments)


def _vector(doc_id: str | None, positions: dict[str, list[str]]) -> str:
    sizes = {item: len(item.encode("utf-8", "surrogatepass")) for item in positions}
    lexeme_bytes = sum(sizes.values())
    # Per lexeme with positions: up to one byte of alignment, a count and two bytes per position.
    with_positions = lexeme_bytes + sum(3 + 2 * len(entry) for entry in positions.values())
    if with_positions <= _MAX_BYTES:
        return " ".join(f"{_quote(item)}:{','.join(entry)}" for item, entry in positions.items())
    if lexeme_bytes <= _MAX_BYTES:
        return " ".join(_quote(item) for item in positions)
    raise InvalidDocumentError(
        doc_id, None, "holds more distinct words than PostgreSQL's tsvector can store (1 MB)"
    )


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
