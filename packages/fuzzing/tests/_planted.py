# ruff: noqa: SIM102 - the nesting is the point: one branch per byte
"""A small binary "record" parser with three planted bugs, each behind magic bytes or nested checks.

Random bytes reach none of them in a bounded budget: each needs three or four exact bytes in a row.
Coverage guidance finds them byte by byte, because every byte comparison is its own branch.
"""

from __future__ import annotations


def parse(data: bytes) -> int:
    """Parse one record; return a checksum. Bugs: IndexError, ZeroDivisionError, OverflowError."""
    if len(data) < 4:
        return 0
    kind = data[0]
    if kind == 0x52:  # "R": a run-length record
        return _run_length(data)
    if kind == 0x53:  # "S": a scaled record
        return _scaled(data)
    if kind == 0x48:  # "H": a header record
        return _header(data)
    return sum(data) & 0xFF


def _run_length(data: bytes) -> int:
    if data[1] == 0x4C and data[2] == 0x45:  # "LE"
        count = data[3]
        if count > 0x80:
            # Bug 1: trusts the count byte and reads past the end.
            return data[4 + count]
        return count
    return 1


def _scaled(data: bytes) -> int:
    if data[1] == 0x43:  # "C"
        if data[2] == 0x41:  # "A"
            if data[3] == 0x4C:  # "L"
                # Bug 2: a zero divisor is not rejected.
                divisor = data[4] if len(data) > 4 else 0
                return 1000 // divisor
    return 2


def _header(data: bytes) -> int:
    if data[1] == 0x44 and data[2] == 0x52:  # "DR"
        if len(data) >= 6:
            size = int.from_bytes(data[3:5], "little")
            if size > 0x7000:
                # Bug 3: a large size is refused with the wrong exception.
                raise OverflowError(f"header size {size} too large")
        return 3
    return 4
