"""Targets for ``benchmarks/fuzzing.py``: the same pure-Python functions for every fuzzer.

``parse_record`` is a binary record parser with three planted bugs, each behind magic bytes and
nested checks; ``BUGS`` selects which are live, so each fuzzer can be asked for one bug at a time
(atheris stops at its first crash). ``parse_config`` is a bug-free INI-style parser with loops and
branches, for throughput.
"""

from __future__ import annotations

BUGS = {"rle": True, "scale": True, "header": True}


def parse_record(data: bytes) -> int:
    """Parse one record; return a checksum."""
    if len(data) < 4:
        return 0
    kind = data[0]
    if kind == 0x52:  # "R"
        return _run_length(data)
    if kind == 0x53:  # "S"
        return _scaled(data)
    if kind == 0x48:  # "H"
        return _header(data)
    return sum(data) & 0xFF


def _run_length(data: bytes) -> int:
    if data[1] == 0x4C and data[2] == 0x45:  # "LE"
        count = data[3]
        if count > 0x80 and BUGS["rle"]:
            return data[4 + count]  # bug: reads past the end
        return count
    return 1


def _scaled(data: bytes) -> int:
    if data[1] == 0x43 and data[2] == 0x41 and data[3] == 0x4C:  # "CAL"
        divisor = data[4] if len(data) > 4 else 0
        if BUGS["scale"] or divisor:
            return 1000 // divisor  # bug: zero divisor
    return 2


def _header(data: bytes) -> int:
    if data[1] == 0x44 and data[2] == 0x52 and len(data) >= 6:  # "DR"
        size = int.from_bytes(data[3:5], "little")
        if size > 0x7000 and BUGS["header"]:
            raise OverflowError(f"header size {size} too large")  # bug: wrong exception type
        return 3
    return 4


def parse_config(data: bytes) -> dict[str, dict[str, str]]:
    """A forgiving INI-style parser: sections, key = value, comments, continuation lines."""
    sections: dict[str, dict[str, str]] = {"": {}}
    current = sections[""]
    last_key: str | None = None
    for raw in data.decode("latin-1").splitlines():
        line = raw.rstrip()
        if not line or line.lstrip().startswith(("#", ";")):
            continue
        if raw[:1] in (" ", "\t") and last_key is not None:
            current[last_key] += "\n" + line.strip()
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip().lower()
            current = sections.setdefault(name, {})
            last_key = None
            continue
        key, sep, value = line.partition("=")
        if not sep:
            key, sep, value = line.partition(":")
        if sep:
            last_key = key.strip().lower()
            current[last_key] = value.strip().strip('"')
    return sections
