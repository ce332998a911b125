"""The package's OpenTelemetry instruments (bound lazily by core's `Telemetry`; free without the API).

Attributes are bounded: an outcome, an operation name, a conflict kind. Never an id, a URL or a value.
"""

from __future__ import annotations

from typing import Final, Literal

from buttress.core import Telemetry

from ._version import __version__

__all__ = [
    "CONFLICTS",
    "OPERATION_DURATION",
    "TELEMETRY",
    "TRANSACTION_DURATION",
    "UNAVAILABLE",
    "ConflictKind",
    "Operation",
]

TELEMETRY: Final = Telemetry("buttress.persistence", __version__)

type Operation = Literal[
    "get",
    "add",
    "add_many",
    "update",
    "delete",
    "restore",
    "list",
    "find",
    "count",
    "page",
    "delete_where",
    "update_where",
]
type ConflictKind = Literal["exists", "version"]

TRANSACTION_DURATION: Final = TELEMETRY.histogram(
    "buttress.persistence.transaction.duration",
    unit="s",
    description="Duration of one DatabaseSession.session() transaction, by outcome: commit or rollback.",
)
OPERATION_DURATION: Final = TELEMETRY.histogram(
    "buttress.persistence.operation.duration",
    unit="s",
    description="Duration of one repository operation (get, add, update, delete, find, page, ...).",
)
CONFLICTS: Final = TELEMETRY.counter(
    "buttress.persistence.conflicts",
    unit="{conflict}",
    description="Writes refused as conflicts: exists (a duplicate id or key) or version (optimistic lock).",
)
UNAVAILABLE: Final = TELEMETRY.counter(
    "buttress.persistence.unavailable",
    unit="{error}",
    description="Statements that failed because the database could not be reached.",
)
