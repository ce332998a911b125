"""The memo: what a `Fingerprinter` has worked out before, kept in memory up to a bound.

One dict holds several kinds of entries; the first item of a key says which. It never holds a
cookie value or a client address: a cookie header is remembered by its length and ``hash()``, and a
fingerprint that uses the address is not kept.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "COOKIES",
    "COOKIE_HEADER",
    "ENVIRON",
    "HINTS",
    "MISSING",
    "NAMES",
    "REQUEST",
    "TEXT",
    "VALUE",
    "Memo",
]

TEXT: Final = 0  # (TEXT, component, canonical text) -> Entry
VALUE: Final = 1  # (VALUE, component, header value as received) -> Entry | None
HINTS: Final = 2  # (HINTS, names, values as received) -> Entry
COOKIES: Final = 3  # (COOKIES, cookie names joined) -> Entry | None
NAMES: Final = 4  # (NAMES, header names joined) -> NamesPlan | None
ENVIRON: Final = 5  # (ENVIRON, environ keys joined) -> EnvironPlan | None
REQUEST: Final = 6  # (REQUEST, names joined, values read, cookie names, tls) -> Fingerprint
COOKIE_HEADER: Final = 7  # (COOKIE_HEADER, type, length, hash() of a cookie header) -> cookie names
MISSING: Final[Any] = object()
"""What ``memo.get(key, MISSING)`` returns for a key never kept, where ``None`` is a kept value."""


class Memo(dict[tuple[object, ...], Any]):
    """A dict of at most ``size`` entries, emptied when full; ``size`` 0 keeps nothing.

    Reading is the dict's own ``get`` (nothing in between on the hot path); `keep` is the only write.
    """

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def keep(self, key: tuple[object, ...], value: object) -> None:
        """Remember ``value`` under ``key``, first emptying the memo if it is full."""
        if self.size:
            if len(self) >= self.size:
                self.clear()  # cheaper than evicting one by one, and bounded all the same
            self[key] = value
