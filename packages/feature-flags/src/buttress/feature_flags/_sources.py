"""The `FlagSource` Protocols and the sources that need nothing but this package: memory and file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from buttress.core import check_seconds, check_text

from ._model import FlagDefinition, FlagSet, Segment
from ._parse import flag_set_from_dict, load_json
from .exceptions import (
    FeatureFlagsConfigurationError,
    FeatureFlagsTypeError,
    FeatureFlagsUnavailableError,
    FlagDocumentError,
    MissingExtraError,
)

__all__ = [
    "MAX_WAIT",
    "FileFlagSource",
    "FlagSource",
    "MemoryFlagSource",
    "WatchableFlagSource",
    "WritableFlagSource",
]

MAX_WAIT = 86_400.0
"""The longest ``wait_for_change`` accepts, in seconds (a day); the client never asks for more."""


@runtime_checkable
class FlagSource(Protocol):
    """**Protocol**: where a `FlagClient` loads its flags from.

    ``load`` returns the complete current flag set, read consistently (never half of one write).
    It raises on failure (`buttress.feature_flags.FeatureFlagsUnavailableError` for an unreachable
    backend, `buttress.feature_flags.FlagDocumentError` or `buttress.feature_flags.FlagDefinitionError`
    for malformed data); the client then keeps its last good snapshot.
    `buttress.testing.FlagSourceContract` checks an implementation.
    """

    async def load(self) -> FlagSet:
        """Return every flag and segment the source holds now."""
        ...


@runtime_checkable
class WatchableFlagSource(FlagSource, Protocol):
    """**Protocol**: a `FlagSource` that can tell when its flags change (pub/sub, NOTIFY).

    The client's refresher waits on it instead of sleeping, so changes arrive in milliseconds; it still
    reloads every ``refresh_interval`` in case a notification was lost.
    """

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a change; return whether one was signalled."""
        ...


@runtime_checkable
class WritableFlagSource(FlagSource, Protocol):
    """**Protocol**: a `FlagSource` the management API (`FlagManager`) can write to.

    ``put`` and ``delete`` return what was stored before, read and replaced atomically, so audit
    events carry the true "before".
    """

    async def get(self, key: str) -> FlagDefinition | None:
        """Return the stored flag, or ``None``."""
        ...

    async def put(self, flag: FlagDefinition) -> FlagDefinition | None:
        """Store ``flag`` (create or replace) and return the previous definition, or ``None``."""
        ...

    async def delete(self, key: str) -> FlagDefinition | None:
        """Remove a flag and return what was removed, or ``None`` when there was nothing."""
        ...


class MemoryFlagSource:
    """An in-process, writable and watchable source: the embedded default and the test double.

    Args:
        flags: The initial flags.
        segments: The initial segments.
    """

    def __init__(self, flags: Iterable[FlagDefinition] = (), segments: Iterable[Segment] = ()) -> None:
        self._flags: dict[str, FlagDefinition] = {}
        for flag in _items(flags, "flags"):
            if not isinstance(flag, FlagDefinition) or not isinstance(flag.key, str):
                raise FeatureFlagsTypeError("flags", "an iterable of FlagDefinition objects", flag)
            self._flags[flag.key] = flag
        self._segments: dict[int, Segment] = {}
        for item in _items(segments, "segments"):
            segment = _check_segment(item)
            self._segments[segment.id] = segment
        self._version = 0
        self._changed = asyncio.Event()

    async def load(self) -> FlagSet:
        """Return a copy of the current flags and segments."""
        return FlagSet(
            flags=MappingProxyType(dict(self._flags)),
            segments=MappingProxyType(dict(self._segments)),
            version=str(self._version),
        )

    async def get(self, key: str) -> FlagDefinition | None:
        """Return the stored flag, or ``None``."""
        return self._flags.get(key) if isinstance(key, str) else None

    async def put(self, flag: FlagDefinition) -> FlagDefinition | None:
        """Store a flag and return the previous one."""
        if not isinstance(flag, FlagDefinition):
            raise FeatureFlagsTypeError("flag", "a FlagDefinition", flag)
        if not isinstance(flag.key, str):
            raise FeatureFlagsTypeError("flag.key", "a str", flag.key)
        previous = self._flags.get(flag.key)
        self._flags[flag.key] = flag
        self._touch()
        return previous

    async def delete(self, key: str) -> FlagDefinition | None:
        """Remove a flag and return it."""
        if not _is_text(key):
            return None
        previous = self._flags.pop(key, None)
        if previous is not None:
            self._touch()
        return previous

    async def put_segment(self, segment: Segment) -> None:
        """Store (create or replace) a segment."""
        _check_segment(segment)
        self._segments[segment.id] = segment
        self._touch()

    async def replace(self, flag_set: FlagSet) -> None:
        """Replace everything with ``flag_set`` in one step."""
        if not isinstance(flag_set, FlagSet):
            raise FeatureFlagsTypeError("flag_set", "a FlagSet", flag_set)
        self._flags = dict(flag_set.flags)
        self._segments = dict(flag_set.segments)
        self._touch()

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a write."""
        timeout = check_seconds(
            "timeout", timeout, allow_zero=True, maximum=MAX_WAIT, error=FeatureFlagsConfigurationError
        )
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    def _touch(self) -> None:
        self._version += 1
        self._changed.set()


class FileFlagSource:
    """A read-only, watchable source reading a JSON or YAML file in the Unleash ``/client/features`` shape.

    ``{"features": [...], "segments": [...]}`` or the delta-API ``{"events": [...]}``. YAML needs the
    ``yaml`` extra. The file is read on every load, in a worker thread. ``wait_for_change`` polls the
    file's modification time, size and inode every ``poll_interval`` seconds, so an edit (or an atomic
    replace) reaches the client within that time.

    Args:
        path: The file; ``.yaml`` / ``.yml`` are read as YAML, anything else as JSON.
        poll_interval: Seconds between checks of the file while waiting for a change.
    """

    def __init__(self, path: str | Path, *, poll_interval: float = 1.0) -> None:
        if not isinstance(path, str | Path) or not str(path):
            raise FeatureFlagsConfigurationError("path", path, "must be a non-empty str or Path")
        self.poll_interval = check_seconds(
            "poll_interval", poll_interval, error=FeatureFlagsConfigurationError
        )
        if isinstance(path, str):
            check_text("path", path, error=FeatureFlagsConfigurationError, type_error=FeatureFlagsTypeError)
        self.path = Path(path)
        self._seen: tuple[int, int, int] | None = None
        self._yaml = self.path.suffix.lower() in (".yaml", ".yml")
        if self._yaml:
            try:
                import yaml  # noqa: PLC0415, F401 - fail at construction, not at the first refresh
            except ImportError:
                raise MissingExtraError("FileFlagSource for YAML", "yaml") from None

    def __repr__(self) -> str:
        return f"FileFlagSource({str(self.path)!r})"

    async def load(self) -> FlagSet:
        """Read and parse the file.

        Raises:
            FeatureFlagsUnavailableError: The file cannot be read (missing, not permitted).
            FlagDocumentError: The file is not UTF-8, or not valid JSON/YAML.
            FlagDefinitionError: A flag in it is malformed.
        """
        self._seen = await asyncio.to_thread(self._signature)
        data = await asyncio.to_thread(self._read)
        return flag_set_from_dict(data)

    async def wait_for_change(self, timeout: float) -> bool:
        """Poll the file until it changes (since the last load or wait) or ``timeout`` seconds pass."""
        timeout = check_seconds(
            "timeout", timeout, allow_zero=True, maximum=MAX_WAIT, error=FeatureFlagsConfigurationError
        )
        deadline = time.monotonic() + timeout
        baseline = self._seen
        if baseline is None:
            baseline = self._seen = await asyncio.to_thread(self._signature)
        while (remaining := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(self.poll_interval, remaining))
            current = await asyncio.to_thread(self._signature)
            if current != baseline:
                self._seen = current
                return True
        return False

    def _signature(self) -> tuple[int, int, int]:
        try:
            stat = self.path.stat()
        except OSError:
            return (-1, -1, -1)  # a missing file is a state too: its return is a change
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def _read(self) -> object:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FeatureFlagsUnavailableError(
                "file", str(self.path), exc.strerror or type(exc).__name__
            ) from exc
        except UnicodeDecodeError as exc:
            reason = f"not UTF-8 text (byte {exc.start} cannot be decoded)"
            raise FlagDocumentError("file", str(self.path), reason) from None
        if self._yaml:
            import yaml  # noqa: PLC0415 - optional extra, checked in __init__

            try:
                return yaml.safe_load(text)
            except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
                # PyYAML raises ValueError for impossible timestamps (2024-13-45), RecursionError for
                # documents nested past Python's limit.
                reason = (
                    f"not valid YAML: {exc}"
                    if isinstance(exc, yaml.YAMLError)
                    else f"not valid YAML ({_why(exc)})"
                )
                raise FlagDocumentError("file", str(self.path), reason) from None
        return load_json(text, "file", str(self.path))


def _why(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return f"{type(exc).__name__}: {exc}"


def _items(values: object, name: str) -> list[object]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise FeatureFlagsTypeError(name, "an iterable", values)
    return list(values)


def _check_segment(segment: object) -> Segment:
    if not isinstance(segment, Segment) or isinstance(segment.id, bool) or not isinstance(segment.id, int):
        raise FeatureFlagsTypeError("segment", "a Segment with an int id", segment)
    return segment


def _is_text(value: object) -> bool:
    return isinstance(value, str)
