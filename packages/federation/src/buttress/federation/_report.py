"""`SubgraphError`, the record every validation check reports, and the helpers that make one."""

from __future__ import annotations

from dataclasses import dataclass

from graphql import GraphQLError

__all__ = ["SubgraphError", "error_at", "from_graphql"]


@dataclass(frozen=True, slots=True)
class SubgraphError:
    """One problem in a subgraph schema.

    Attributes:
        code: Apollo Federation's error code (``"KEY_INVALID_FIELDS"``).
        message: What is wrong, naming the type and field (``On type "User", for @key(...): ...``).
        coordinate: The schema element concerned (``"User"``, ``"User.name"``), or ``None``.
        line: 1-based line in the SDL where the problem is, when known.
        column: 1-based column, when known.
    """

    code: str
    message: str
    coordinate: str | None = None
    line: int | None = None
    column: int | None = None

    def as_dict(self) -> dict[str, str | int | None]:
        """The error as a JSON-ready mapping."""
        return {
            "code": self.code,
            "message": self.message,
            "coordinate": self.coordinate,
            "line": self.line,
            "column": self.column,
        }


def _position(node: object) -> tuple[int | None, int | None]:
    loc = getattr(node, "loc", None)
    if loc is None or loc.source is None:
        return None, None
    location = loc.source.get_location(loc.start)
    return location.line, location.column


def error_at(code: str, message: str, coordinate: str | None = None, node: object = None) -> SubgraphError:
    """A `SubgraphError` placed at ``node``'s position in the SDL (when it has one)."""
    line, column = _position(node)
    return SubgraphError(code, message, coordinate, line, column)


def from_graphql(error: GraphQLError) -> SubgraphError:
    """graphql-core's error as an ``INVALID_GRAPHQL`` `SubgraphError`."""
    location = error.locations[0] if error.locations else None
    return SubgraphError(
        "INVALID_GRAPHQL",
        error.message,
        None,
        location.line if location else None,
        location.column if location else None,
    )
