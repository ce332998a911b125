"""What a query's text means once analysed: the one plan both providers match, so they agree."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ._analysis import Analyzer
from ._query import SearchQuery

__all__ = ["TextPlan", "plan_text"]


@dataclass(frozen=True, slots=True)
class TextPlan:
    """A query's terms and phrases as token groups, and how many groups a hit must hold.

    A group of one token is a term; a longer group is a phrase (consecutive tokens within one
    field). Parts the analyzer reduces to nothing (stop words, punctuation) are dropped.

    Attributes:
        has_text: Whether the query had terms or phrases at all. Without, every document matches
            (minus exclusions); with, but every group dropped, no document does.
        positive: The token groups that select and score documents.
        excluded: The token groups a hit must not hold.
        required: How many of ``positive`` a hit must hold.
    """

    has_text: bool
    positive: tuple[tuple[str, ...], ...]
    excluded: tuple[tuple[str, ...], ...]
    required: int

    @property
    def tokens(self) -> set[str]:
        """Every token of the positive groups (the words a highlight marks)."""
        return {token for group in self.positive for token in group}


def plan_text(
    query: SearchQuery,
    analyzer: Analyzer,
    analyse: Callable[[str], Sequence[str]] | None = None,
) -> TextPlan:
    """Analyse ``query``'s parts with ``analyzer`` into a `TextPlan`.

    ``analyse``, when given, stands for ``analyzer.tokens`` (a caching front of it, say): it must
    return the same tokens.
    """
    tokens = analyzer.tokens if analyse is None else analyse
    parsed = query.parsed
    positive = tuple(tuple(found) for found in map(tokens, parsed.positive) if found)
    excluded = tuple(tuple(found) for found in map(tokens, parsed.excluded) if found)
    return TextPlan(bool(parsed.positive), positive, excluded, query.required(len(positive)))
