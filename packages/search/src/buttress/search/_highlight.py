"""Highlight fragments, computed the same way for every provider from the stored document."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ._analysis import Analyzer
from ._filters import check_str
from .exceptions import SearchConfigurationError, SearchTypeError

__all__ = ["MAX_FRAGMENTS", "MAX_FRAGMENT_SIZE", "Highlighter"]

MAX_FRAGMENT_SIZE: Final = 100_000
"""The largest ``fragment_size``, in characters."""

MAX_FRAGMENTS: Final = 1_000
"""The largest ``max_fragments``."""


class Highlighter:
    """Marks the words of a text whose tokens a query searched for, in fragments around them.

    The text is analysed word by word with the provider's `Analyzer`, so what is marked is exactly
    what matched, on every provider.

    Args:
        analyzer: The provider's analyzer.
        marks: The strings put around a highlighted word.
        fragment_size: About how many characters a fragment has.
        max_fragments: At most this many fragments per field.
        escape_html: Whether the text is HTML-escaped (the marks are not).
    """

    def __init__(
        self,
        analyzer: Analyzer,
        *,
        marks: tuple[str, str],
        fragment_size: int,
        max_fragments: int,
        escape_html: bool,
    ) -> None:
        if not (isinstance(marks, tuple) and len(marks) == 2):
            raise SearchTypeError("marks", "a pair of str", marks)
        self.marks = (
            check_str("marks", marks[0], allow_empty=True),
            check_str("marks", marks[1], allow_empty=True),
        )
        for name, size, maximum in (
            ("fragment_size", fragment_size, MAX_FRAGMENT_SIZE),
            ("max_fragments", max_fragments, MAX_FRAGMENTS),
        ):
            if isinstance(size, bool) or not isinstance(size, int):
                raise SearchTypeError(name, "an int", size)
            if not 1 <= size <= maximum:
                raise SearchConfigurationError(name, size, f"must be from 1 to {maximum}")
        if not isinstance(escape_html, bool):
            raise SearchTypeError("escape_html", "a bool", escape_html)
        self.analyzer = analyzer
        self.fragment_size = int(fragment_size)
        self.max_fragments = int(max_fragments)
        self.escape_html = escape_html

    def highlights(
        self, document: Mapping[str, Any], fields: Iterable[str], terms: set[str]
    ) -> dict[str, tuple[str, ...]]:
        """Fragments per field of ``fields`` whose text holds a word analysed to one of ``terms``."""
        found: dict[str, tuple[str, ...]] = {}
        if not terms:
            return found
        for name in fields:
            text = document.get(name)
            if not isinstance(text, str):
                continue
            spans = [
                (start, end) for start, end, tokens in self.analyzer.spans(text) if terms.intersection(tokens)
            ]
            if spans:
                found[name] = self._fragments(text, spans)
        return found

    def _fragments(self, text: str, spans: list[tuple[int, int]]) -> tuple[str, ...]:
        opening, closing = self.marks
        size = self.fragment_size
        groups: list[list[tuple[int, int]]] = []
        for span in spans:
            if groups and span[1] - groups[-1][0][0] <= size:
                groups[-1].append(span)
            else:
                groups.append([span])
        escape = html.escape if self.escape_html else str
        fragments: list[str] = []
        for group in groups[: self.max_fragments]:
            first, last = group[0][0], group[-1][1]
            slack = max(0, size - (last - first)) // 2
            start, end = max(0, first - slack), min(len(text), last + slack)
            if start > 0:
                space = text.find(" ", start, first)
                start = space + 1 if space >= 0 else start
            if end < len(text):
                space = text.rfind(" ", last, end)
                end = space if space >= 0 else end
            pieces, position = [], start
            for span_start, span_end in group:
                pieces += [
                    escape(text[position:span_start]),
                    opening,
                    escape(text[span_start:span_end]),
                    closing,
                ]
                position = span_end
            pieces.append(escape(text[position:end]))
            prefix = "…" if start > 0 else ""
            suffix = "…" if end < len(text) else ""
            fragments.append(prefix + "".join(pieces).strip() + suffix)
        return tuple(fragments)
