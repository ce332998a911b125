"""The crash store (one reproducer per signature + ``index.json``) and the corpus directory."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from ._checks import directory as checked_directory
from ._checks import path_or_none, positive_int
from ._signature import CrashSignature
from .exceptions import CorruptCrashIndexError, FuzzingTypeError

__all__ = ["INDEX_NAME", "Corpus", "CrashRecord", "CrashStore", "format_table"]

INDEX_NAME = "index.json"
_FORMAT = "buttress-fuzzing-crashes/1"
_MESSAGE_LIMIT = 300


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True, slots=True)
class CrashRecord:
    """One distinct crash: its signature, how often and when it was seen, and its reproducer.

    Attributes:
        signature: The crash's signature.
        count: How many executions crashed with it, over every run that used this store.
        first_seen: When it was first seen (UTC).
        last_seen: When it was last seen (UTC).
        reproducer: The reproducer's file name in the crashes directory (``crash-<id>``), or ``None``
            when the campaign had no crashes directory.
        size: The reproducer's length in bytes (the smallest input seen with this signature).
        message: The exception's message, first line, cut to 300 characters.
        target: The target's ``module:function`` spec, when known.
    """

    signature: CrashSignature
    count: int
    first_seen: datetime
    last_seen: datetime
    reproducer: str | None
    size: int
    message: str
    target: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The JSON-ready form stored in ``index.json``."""
        return {
            "signature": self.signature.to_dict(),
            "count": self.count,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "reproducer": self.reproducer,
            "size": self.size,
            "message": self.message,
            "target": self.target,
        }

    @classmethod
    def from_dict(cls, data: object) -> CrashRecord:
        """Read a record written by `to_dict` (raises `FuzzingTypeError` or `ValueError` on a bad shape)."""
        if not isinstance(data, dict):
            raise FuzzingTypeError("crash record", "an object", data)
        count, size = data.get("count"), data.get("size")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise FuzzingTypeError("count", "a positive int", count)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise FuzzingTypeError("size", "a non-negative int", size)
        first, last = data.get("first_seen"), data.get("last_seen")
        if not isinstance(first, str) or not isinstance(last, str):
            raise FuzzingTypeError("first_seen/last_seen", "ISO 8601 strings", first)
        reproducer, message, target = data.get("reproducer"), data.get("message", ""), data.get("target")
        if reproducer is not None and (
            not isinstance(reproducer, str) or "/" in reproducer or "\\" in reproducer
        ):
            raise FuzzingTypeError("reproducer", "a file name", reproducer)
        if not isinstance(message, str) or not (target is None or isinstance(target, str)):
            raise FuzzingTypeError("message/target", "strings", message)
        return cls(
            signature=CrashSignature.from_dict(data.get("signature")),
            count=count,
            first_seen=datetime.fromisoformat(first),
            last_seen=datetime.fromisoformat(last),
            reproducer=reproducer,
            size=size,
            message=message,
            target=target,
        )


class CrashStore:
    """Distinct crashes of one or more campaigns, kept in a directory.

    Each signature has one reproducer file, ``crash-<id>`` (the smallest input seen with it, after
    minimisation), a ``crash-<id>.txt`` with the signature and traceback, and an entry in
    ``index.json`` with its count and first/last-seen times. `flush` re-reads the index and adds this
    run's counts to it, so runs (one after the other, or side by side in the same directory) merge.

    A corrupt index raises `CorruptCrashIndexError` when the store opens, and the file is left as it
    was: nothing is written until it has been repaired or moved aside.

    Args:
        directory: The crashes directory (created if missing), or ``None`` to keep crashes in memory.
    """

    def __init__(self, directory: Path | str | None) -> None:
        self.directory = checked_directory("directory", directory)
        self._records: dict[str, CrashRecord] = {}
        self._pending: dict[str, tuple[int, CrashRecord]] = {}
        if self.directory is not None:
            self._records = self._read()

    @property
    def index_path(self) -> Path | None:
        """The ``index.json`` file, or ``None`` for an in-memory store."""
        return self.directory / INDEX_NAME if self.directory is not None else None

    def _read(self) -> dict[str, CrashRecord]:
        path = self.index_path
        if path is None or not path.exists():
            return {}
        try:
            raw = json.loads(path.read_bytes())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptCrashIndexError(path, f"not readable JSON: {exc}") from exc
        if (
            not isinstance(raw, dict)
            or raw.get("format") != _FORMAT
            or not isinstance(raw.get("crashes"), dict)
        ):
            raise CorruptCrashIndexError(path, f"not a {_FORMAT} index")
        records: dict[str, CrashRecord] = {}
        for digest, entry in raw["crashes"].items():
            try:
                record = CrashRecord.from_dict(entry)
            except (TypeError, ValueError) as exc:
                raise CorruptCrashIndexError(path, f"entry {digest!r}: {exc}") from exc
            if record.signature.digest != digest:
                raise CorruptCrashIndexError(path, f"entry {digest!r} does not match its signature")
            records[digest] = record
        return records

    def records(self) -> list[CrashRecord]:
        """Every known crash, most frequent first."""
        return sorted(self._records.values(), key=lambda r: (-r.count, r.signature.digest))

    def get(self, signature: CrashSignature) -> CrashRecord | None:
        """The record of a signature, or ``None``."""
        if not isinstance(signature, CrashSignature):
            raise FuzzingTypeError("signature", "a CrashSignature", signature)
        return self._records.get(signature.digest)

    def by_digest(self, digest: str) -> CrashRecord | None:
        """The record whose signature has this digest, or ``None``."""
        if not isinstance(digest, str):
            raise FuzzingTypeError("digest", "a str", digest)
        return self._records.get(digest)

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, signature: object) -> bool:
        return isinstance(signature, CrashSignature) and signature.digest in self._records

    def record(
        self,
        signature: CrashSignature,
        data: bytes,
        *,
        when: datetime,
        message: str,
        details: str = "",
        target: str | None = None,
    ) -> tuple[CrashRecord, bool]:
        """Count one crash; store ``data`` as reproducer if the signature is new or ``data`` is smaller.

        Returns:
            The updated record and whether the signature is new to this store.
        """
        _check_crash(signature, data, details)
        if not isinstance(when, datetime):
            raise FuzzingTypeError("when", "a datetime", when)
        if not isinstance(message, str):
            raise FuzzingTypeError("message", "a str", message)
        if target is not None and not isinstance(target, str):
            raise FuzzingTypeError("target", "a str or None", target)
        digest = signature.digest
        old = self._records.get(digest)
        message = message.splitlines()[0][:_MESSAGE_LIMIT] if message else ""
        name = f"crash-{signature.id}" if self.directory is not None else None
        if old is None:
            record = CrashRecord(signature, 1, when, when, name, len(data), message, target)
            self._write_reproducer(record, data, details)
        else:
            record = replace(old, count=old.count + 1, last_seen=when)
            if len(data) < old.size or (old.reproducer is None and name is not None):
                record = replace(record, size=len(data), reproducer=name, message=message or old.message)
                self._write_reproducer(record, data, details)
        self._records[digest] = record
        delta, _ = self._pending.get(digest, (0, record))
        self._pending[digest] = (delta + 1, record)
        return record, old is None

    def replace_reproducer(self, signature: CrashSignature, data: bytes, details: str = "") -> None:
        """Store a smaller reproducer (a minimised one) for a known signature."""
        _check_crash(signature, data, details)
        old = self._records.get(signature.digest)
        if old is None or len(data) >= old.size:
            return
        record = replace(old, size=len(data))
        self._records[signature.digest] = record
        delta, _ = self._pending.get(signature.digest, (0, record))
        self._pending[signature.digest] = (delta, record)
        self._write_reproducer(record, data, details)

    def _write_reproducer(self, record: CrashRecord, data: bytes, details: str) -> None:
        if self.directory is None or record.reproducer is None:
            return
        _atomic_write(self.directory / record.reproducer, data)
        text = f"{record.signature}\nsignature: {record.signature.digest}\n"
        if record.target:
            text += f"target: {record.target}\n"
        text += f"size: {len(data)} bytes\n\n{details}"
        _atomic_write(self.directory / f"{record.reproducer}.txt", text.encode("utf-8", "replace"))

    def flush(self) -> None:
        """Merge this run's counts into ``index.json`` (re-read first, so concurrent runs add up)."""
        if self.directory is None or not self._pending:
            return
        on_disk = self._read()
        for digest, (delta, mine) in self._pending.items():
            theirs = on_disk.get(digest)
            if theirs is None:
                merged = mine
            else:
                smaller = mine if mine.size < theirs.size else theirs
                merged = replace(
                    theirs,
                    count=theirs.count + delta,
                    first_seen=min(theirs.first_seen, mine.first_seen),
                    last_seen=max(theirs.last_seen, mine.last_seen),
                    size=smaller.size,
                    reproducer=smaller.reproducer or theirs.reproducer,
                    message=smaller.message,
                )
            on_disk[digest] = merged
        payload = {
            "format": _FORMAT,
            "crashes": {d: r.to_dict() for d, r in sorted(on_disk.items())},
        }
        assert self.index_path is not None  # noqa: S101 - directory is set
        _atomic_write(self.index_path, json.dumps(payload, indent=2, sort_keys=True).encode() + b"\n")
        self._records = on_disk
        self._pending.clear()


class Corpus:
    """Inputs that reached new coverage, kept in memory and (optionally) in a directory.

    Files are named by the SHA-256 of their content, so the same input is stored once and corpora
    from several machines can be copied together.

    Args:
        directory: The corpus directory, or ``None`` for an in-memory corpus.
    """

    def __init__(self, directory: Path | str | None) -> None:
        self.directory = path_or_none("directory", directory)

    def load(self, max_size: int) -> list[bytes]:
        """The stored inputs, in file-name order (so loading is deterministic), cut to ``max_size``."""
        positive_int("max_size", max_size)
        if self.directory is None or not self.directory.is_dir():
            return []
        return [path.read_bytes()[:max_size] for path in self._files()]

    def _files(self) -> Iterator[Path]:
        assert self.directory is not None  # noqa: S101 - checked by callers
        return (p for p in sorted(self.directory.iterdir()) if p.is_file() and not p.name.startswith("."))

    def add(self, data: bytes) -> None:
        """Store one input (no-op for an in-memory corpus or an input already stored)."""
        if not isinstance(data, bytes | bytearray):
            raise FuzzingTypeError("data", "bytes", data)
        data = bytes(data)
        if self.directory is None:
            return
        path = self.directory / hashlib.sha256(data).hexdigest()[:40]
        if not path.exists():
            checked_directory("directory", self.directory)
            _atomic_write(path, data)

    def replace_all(self, inputs: list[bytes]) -> int:
        """Keep exactly ``inputs`` in the directory; return how many files (other inputs) were deleted."""
        if self.directory is None:
            return 0
        wanted = {hashlib.sha256(d).hexdigest(): d for d in inputs}
        present: set[str] = set()
        removed = 0
        for path in list(self._files()):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in wanted and digest not in present:
                present.add(digest)
                continue
            path.unlink()
            removed += 1
        for digest, data in wanted.items():
            if digest not in present:
                self.add(data)
        return removed


def format_table(records: Iterable[CrashRecord]) -> str:
    """A plain-text table of crashes: id, count, size, first/last seen and the signature."""
    given: object = records
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise FuzzingTypeError("records", "a list of CrashRecord", given)
    records = list(given)
    if not all(isinstance(r, CrashRecord) for r in records):
        raise FuzzingTypeError("records", "a list of CrashRecord", records)
    if not records:
        return "no crashes"
    header = f"{'signature':<16}  {'count':>7}  {'size':>6}  {'first seen':<19}  {'last seen':<19}  crash"
    lines = [header, "-" * len(header)]
    lines.extend(
        f"{r.signature.id:<16}  {r.count:>7}  {r.size:>6}  "
        f"{r.first_seen:%Y-%m-%d %H:%M:%S}  {r.last_seen:%Y-%m-%d %H:%M:%S}  {r.signature}"
        for r in records
    )
    return "\n".join(lines)


def _check_crash(signature: object, data: object, details: object) -> None:
    if not isinstance(signature, CrashSignature):
        raise FuzzingTypeError("signature", "a CrashSignature", signature)
    if not isinstance(data, bytes):
        raise FuzzingTypeError("data", "bytes", data)
    if not isinstance(details, str):
        raise FuzzingTypeError("details", "a str", details)
