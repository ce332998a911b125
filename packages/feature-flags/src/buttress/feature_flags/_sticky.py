"""Sticky assignments: a user who saw a variant keeps it when a rollout shrinks or weights change."""

from __future__ import annotations

import threading
from typing import Protocol

from .exceptions import FeatureFlagsConfigurationError, FeatureFlagsTypeError

__all__ = ["ON_WITHOUT_VARIANT", "MemoryStickyStore", "StickyAssignmentStore"]

ON_WITHOUT_VARIANT = "__on__"
"""What a sticky store records for a flag that was on without a variant."""


class StickyAssignmentStore(Protocol):
    """**Protocol**: remembers what each subject was served, per flag.

    Evaluation is synchronous and does no I/O, so both methods must be fast and local (a dict, a
    process-local cache fed in the background). `FlagClient` calls them on the evaluation path.
    """

    def get(self, flag_key: str, subject: str) -> str | None:
        """Return the variant name ``subject`` was served for ``flag_key``, or ``None``."""
        ...

    def set(self, flag_key: str, subject: str, variant: str) -> None:
        """Remember that ``subject`` was served ``variant`` (`ON_WITHOUT_VARIANT` for plain "on")."""
        ...


class MemoryStickyStore:
    """A bounded in-process `StickyAssignmentStore`.

    When full, the oldest assignment is forgotten first (insertion order), so memory stays bounded.

    Args:
        max_entries: How many (flag, subject) assignments to keep.

    Raises:
        FeatureFlagsConfigurationError: ``max_entries`` is not a positive integer.
    """

    __slots__ = ("_entries", "_lock", "_max")

    def __init__(self, *, max_entries: int = 100_000) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise FeatureFlagsConfigurationError("max_entries", max_entries, "must be a positive integer")
        self._max = max_entries
        self._entries: dict[tuple[str, str], str] = {}
        # Evaluations may run in many threads (`ThreadedFlagClient`): writes that read then change
        # the dict hold this lock, so two of them never evict the same entry or iterate a changing dict.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, flag_key: str, subject: str) -> str | None:
        """Return the remembered variant, or ``None``."""
        _texts(flag_key=flag_key, subject=subject)
        return self._entries.get((flag_key, subject))

    def set(self, flag_key: str, subject: str, variant: str) -> None:
        """Remember an assignment, forgetting the oldest one when full."""
        _texts(flag_key=flag_key, subject=subject, variant=variant)
        key = (flag_key, subject)
        with self._lock:
            if key not in self._entries and len(self._entries) >= self._max:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = variant

    def forget(self, flag_key: str, subject: str | None = None) -> None:
        """Forget one subject's assignment for a flag, or every assignment of the flag."""
        _texts(flag_key=flag_key, subject="" if subject is None else subject)
        with self._lock:
            if subject is not None:
                self._entries.pop((flag_key, subject), None)
                return
            for key in [key for key in self._entries if key[0] == flag_key]:
                del self._entries[key]


def _texts(**values: object) -> None:
    for name, value in values.items():
        if not isinstance(value, str):
            raise FeatureFlagsTypeError(name, "a str", value)
