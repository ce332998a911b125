"""`EventCodec`: domain events to stored `EventData` and back, with upcasting, compression and encryption."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from buttress.core import JsonSerializer, SerializationError, Serializer

from ._events import ENVELOPE_FIELDS, DomainEvent
from ._records import EventData, RecordedEvent, check_type_name
from .exceptions import (
    EventSerializationError,
    EventSourcingConfigurationError,
    UnknownEventTypeError,
    UpcastError,
)

__all__ = ["Cipher", "Compressor", "EventCodec", "Upcaster", "ZlibCompressor", "from_jsonable", "to_jsonable"]

type Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns a payload of schema version ``n`` into one of version ``n + 1``."""

_PLAIN = 0x00
_COMPRESSED = 0x01
_ENCRYPTED = 0x02
_KNOWN_FLAGS = _COMPRESSED | _ENCRYPTED


@runtime_checkable
class Cipher(Protocol):
    """**Protocol**: authenticated encryption of stored payloads (`AesGcmCipher` is one).

    Methods:
        encrypt: Encrypt and authenticate bytes, binding them to ``associated_data``.
        decrypt: Reverse `encrypt`; raise if the bytes or ``associated_data`` were changed.
    """

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Return ``plaintext`` encrypted and authenticated together with ``associated_data``."""
        ...

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        """Return the plaintext, or raise if ``ciphertext`` or ``associated_data`` was tampered with."""
        ...


@runtime_checkable
class Compressor(Protocol):
    """**Protocol**: lossless compression of stored payloads (`ZlibCompressor` is one).

    Methods:
        compress: Compress bytes.
        decompress: Reverse `compress`.
    """

    def compress(self, data: bytes) -> bytes:
        """Return ``data`` compressed."""
        ...

    def decompress(self, data: bytes) -> bytes:
        """Return the bytes `compress` was given."""
        ...


class ZlibCompressor:
    """zlib from the standard library.

    Args:
        level: 1 (fastest) to 9 (smallest).
    """

    def __init__(self, level: int = 6) -> None:
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 9:
            raise EventSourcingConfigurationError("level", level, "must be an int from 1 to 9")
        self.level = level

    def compress(self, data: bytes) -> bytes:
        """Compress with zlib at ``level``."""
        return zlib.compress(data, self.level)

    def decompress(self, data: bytes) -> bytes:
        """Decompress zlib data."""
        return zlib.decompress(data)

    def __repr__(self) -> str:
        return f"ZlibCompressor(level={self.level})"


class EventCodec:
    """Encodes domain events into `EventData` for a store, and decodes `RecordedEvent` back.

    The envelope (id, stream, version, timestamp) goes into the store's own columns; the remaining fields
    are the payload, serialized with ``serializer`` (compact sorted JSON by default), then optionally
    compressed (payloads of at least ``compress_min_size`` bytes) and encrypted. A one-byte header records
    which, so a codec reads whatever an earlier configuration wrote. Encryption binds each payload to its
    event id, so a ciphertext moved onto another event fails to decrypt.

    Dataclass events: fields of type `UUID`, `datetime`, `date`, `Decimal`, enums, tuples, frozensets and
    nested dataclasses are converted to JSON and back guided by the class's annotations. Pydantic models
    are dumped with ``model_dump(mode="json")`` and rebuilt with ``model_validate``.

    Args:
        types: Event classes to register under their class names.
        serializer: Turns a payload dict into bytes and back.
        compressor: Compresses large payloads; ``None`` stores them as they are.
        compress_min_size: Payloads shorter than this many bytes are not compressed.
        cipher: Encrypts every payload; ``None`` stores them in the clear.

    Examples:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Renamed(Event):
        ...     name: str
        >>> codec = EventCodec([Renamed])
        >>> data = codec.encode(Renamed(stream_id="s", version=1, name="Ada"))
        >>> data.event_type
        'Renamed'
    """

    def __init__(
        self,
        types: Iterable[type[Any]] = (),
        *,
        serializer: Serializer[dict[str, Any]] | None = None,
        compressor: Compressor | None = None,
        compress_min_size: int = 256,
        cipher: Cipher | None = None,
    ) -> None:
        if serializer is not None and not isinstance(serializer, Serializer):
            raise EventSourcingConfigurationError(
                "serializer", type(serializer).__name__, "must have dumps() and loads()"
            )
        if compressor is not None and not isinstance(compressor, Compressor):
            raise EventSourcingConfigurationError(
                "compressor", type(compressor).__name__, "must have compress() and decompress()"
            )
        if cipher is not None and not isinstance(cipher, Cipher):
            raise EventSourcingConfigurationError(
                "cipher", type(cipher).__name__, "must have encrypt() and decrypt()"
            )
        if (
            isinstance(compress_min_size, bool)
            or not isinstance(compress_min_size, int)
            or compress_min_size < 0
        ):
            raise EventSourcingConfigurationError(
                "compress_min_size", compress_min_size, "must be an int >= 0"
            )
        self._serializer: Serializer[dict[str, Any]] = serializer or JsonSerializer[dict[str, Any]](
            sort_keys=True
        )
        self._compressor = compressor
        self._compress_min_size = compress_min_size
        self._cipher = cipher
        self._by_name: dict[str, type[Any]] = {}
        self._by_class: dict[type[Any], str] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for cls in types:
            self.register(cls)

    def register(self, event_class: type[Any], *, name: str | None = None) -> None:
        """Register ``event_class`` under ``name`` (its class name by default).

        Raises:
            EventSourcingConfigurationError: The class is not a dataclass or pydantic model, or the name
                is taken by another class.
        """
        if not isinstance(event_class, type) or not (
            dataclasses.is_dataclass(event_class) or hasattr(event_class, "model_validate")
        ):
            raise EventSourcingConfigurationError(
                "event_class", event_class, "must be a dataclass or a pydantic model class"
            )
        type_name = check_type_name(name if name is not None else event_class.__name__, "name")
        held = self._by_name.get(type_name)
        if held is not None and held is not event_class:
            raise EventSourcingConfigurationError(
                "name", type_name, f"is registered already for {held.__module__}.{held.__qualname__}"
            )
        self._by_name[type_name] = event_class
        self._by_class[event_class] = type_name

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator registering a function that upgrades ``event_type`` payloads from ``from_version``.

        Chains run in order on read: a payload stored at version 1 of a class now at version 3 goes
        through the upcasters from 1 and from 2.

        Examples:
            >>> codec = EventCodec()
            >>> @codec.upcaster("Renamed", from_version=1)
            ... def split_name(payload):
            ...     first, _, last = payload.pop("name").partition(" ")
            ...     return {**payload, "first": first, "last": last}
        """

        def register(function: Upcaster) -> Upcaster:
            self.add_upcaster(event_type, from_version, function)
            return function

        return register

    def add_upcaster(self, event_type: str, from_version: int, function: Upcaster) -> None:
        """Register ``function`` to upgrade ``event_type`` payloads from ``from_version`` to the next."""
        check_type_name(event_type)
        if isinstance(from_version, bool) or not isinstance(from_version, int) or from_version < 1:
            raise EventSourcingConfigurationError("from_version", from_version, "must be an int >= 1")
        if not callable(function):
            raise EventSourcingConfigurationError("function", function, "must be callable")
        key = (event_type, from_version)
        if key in self._upcasters:
            raise EventSourcingConfigurationError(
                "from_version", from_version, f"an upcaster for {event_type!r} from it is registered already"
            )
        self._upcasters[key] = function

    def type_name(self, event_class: type[Any]) -> str:
        """Return the name ``event_class`` is registered under.

        Raises:
            EventSerializationError: The class is not registered.
        """
        name = self._by_class.get(event_class)
        if name is None:
            raise EventSerializationError(
                "event",
                "dumps",
                f"{event_class.__qualname__} is not registered; pass it to EventCodec(types=...)",
                type_name=event_class.__name__,
            )
        return name

    # Encoding -------------------------------------------------------------------------------------

    def encode(self, event: DomainEvent, *, metadata: Mapping[str, Any] | None = None) -> EventData:
        """Encode one domain event; ``metadata`` (JSON-serializable) is stored beside it.

        Raises:
            EventSerializationError: The class is not registered or its payload cannot be serialized.
        """
        type_name = self.type_name(type(event))
        payload = _payload_of(event)
        try:
            raw = self._serializer.dumps(payload)
            meta = b"" if not metadata else self._serializer.dumps(to_jsonable(dict(metadata)))
        except SerializationError as exc:
            raise EventSerializationError("event", "dumps", exc.reason, type_name=type_name) from exc
        return EventData(
            event_id=event.event_id,
            event_type=type_name,
            data=self.seal(raw, event.event_id.bytes),
            metadata=meta,
            schema_version=getattr(type(event), "schema_version", 1),
            timestamp=event.timestamp,
        )

    def encode_all(self, events: Iterable[DomainEvent]) -> list[EventData]:
        """Encode several events, in order."""
        return [self.encode(event) for event in events]

    def seal(self, raw: bytes, associated_data: bytes) -> bytes:
        """Compress and encrypt ``raw`` as configured and prefix the one-byte header."""
        flags = _PLAIN
        if self._compressor is not None and len(raw) >= self._compress_min_size:
            raw = self._compressor.compress(raw)
            flags |= _COMPRESSED
        if self._cipher is not None:
            raw = self._cipher.encrypt(raw, associated_data)
            flags |= _ENCRYPTED
        return bytes((flags,)) + raw

    def unseal(self, data: bytes, associated_data: bytes) -> bytes:
        """Reverse `seal`.

        Raises:
            EventSerializationError: Unknown header, encrypted data without a cipher, or data that fails
                to decrypt or decompress.
        """
        if not data or data[0] & ~_KNOWN_FLAGS:
            raise EventSerializationError("event", "loads", "the payload has no valid header byte")
        flags, body = data[0], data[1:]
        try:
            if flags & _ENCRYPTED:
                if self._cipher is None:
                    raise EventSerializationError(  # noqa: TRY301
                        "event", "loads", "the payload is encrypted but the codec has no cipher"
                    )
                body = self._cipher.decrypt(body, associated_data)
            if flags & _COMPRESSED:
                if self._compressor is None:
                    body = zlib.decompress(body)
                else:
                    body = self._compressor.decompress(body)
        except EventSerializationError:
            raise
        except Exception as exc:
            raise EventSerializationError(
                "event", "loads", f"the payload cannot be opened ({type(exc).__name__})"
            ) from exc
        return body

    # Decoding -------------------------------------------------------------------------------------

    def knows(self, event_type: str) -> bool:
        """Return whether a class is registered under ``event_type``."""
        return event_type in self._by_name

    def decode(self, record: RecordedEvent) -> Any:  # noqa: ANN401
        """Decode a stored event into its registered class, upcasting older schema versions.

        Raises:
            UnknownEventTypeError: No class is registered under the record's type name.
            UpcastError: The stored schema version is newer than the class's, or an upcaster is missing.
            EventSerializationError: The payload cannot be opened or deserialized.
        """
        event_class = self._by_name.get(record.event_type)
        if event_class is None:
            raise UnknownEventTypeError(record.event_type)
        try:
            payload = self._serializer.loads(self.unseal(record.data, record.event_id.bytes))
        except SerializationError as exc:
            if isinstance(exc, EventSerializationError):
                raise
            raise EventSerializationError("event", "loads", exc.reason) from exc
        if not isinstance(payload, dict):
            raise EventSerializationError("event", "loads", "the payload is not a JSON object")
        payload = self._upcast(record.event_type, record.schema_version, event_class, payload)
        envelope = {
            "event_id": record.event_id,
            "stream_id": record.stream_id,
            "version": record.version,
            "timestamp": record.timestamp,
        }
        try:
            if hasattr(event_class, "model_validate"):
                return event_class.model_validate({**payload, **envelope})
            return event_class(**envelope, **_from_payload(event_class, payload))
        except (TypeError, ValueError) as exc:
            raise EventSerializationError(
                "event", "loads", f"the payload does not fit {event_class.__qualname__}: {exc}"
            ) from exc

    def decode_all(self, records: Sequence[RecordedEvent]) -> list[Any]:
        """Decode several records, in order."""
        return [self.decode(record) for record in records]

    def _upcast(
        self, event_type: str, stored: int, event_class: type[Any], payload: dict[str, Any]
    ) -> dict[str, Any]:
        current = int(getattr(event_class, "schema_version", 1))
        if stored > current:
            raise UpcastError(event_type, stored, current, "it was written by a newer version of the class")
        for version in range(stored, current):
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise UpcastError(event_type, stored, current, f"no upcaster from version {version}")
            try:
                payload = step(payload)
            except Exception as exc:
                raise UpcastError(
                    event_type, stored, current, f"the upcaster from version {version} failed: {exc!r}"
                ) from exc
            if not isinstance(payload, dict):
                raise UpcastError(
                    event_type, stored, current, f"the upcaster from {version} returned no dict"
                )
        return payload

    def __repr__(self) -> str:
        return f"EventCodec(types={sorted(self._by_name)})"


def _payload_of(event: object) -> dict[str, Any]:
    dump = getattr(event, "model_dump", None)
    if dump is not None:
        return dict(dump(mode="json", exclude=set(ENVELOPE_FIELDS)))
    if not dataclasses.is_dataclass(event) or isinstance(event, type):
        raise EventSerializationError(
            "event", "dumps", "events must be dataclasses or pydantic models", type_name=type(event).__name__
        )
    return {
        f.name: to_jsonable(getattr(event, f.name))
        for f in dataclasses.fields(event)
        if f.init and f.name not in ENVELOPE_FIELDS
    }


def to_jsonable(value: object) -> Any:  # noqa: ANN401, PLR0911
    """Turn dataclasses, UUIDs, datetimes, Decimals, enums, tuples and sets into JSON's own types."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_jsonable(v) for v in value), key=repr)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise EventSerializationError(
        "event", "dumps", f"cannot store a {type(value).__name__} in an event", type_name=type(value).__name__
    )


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _from_payload(cls: type[Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    hints = _hints(cls)
    return {name: from_jsonable(value, hints.get(name, Any)) for name, value in payload.items()}


def from_jsonable(value: Any, hint: Any) -> Any:  # noqa: ANN401, PLR0911 - any JSON value; a branch per type
    """Rebuild a value made by `to_jsonable`, guided by the type annotation ``hint``."""
    if value is None or hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return from_jsonable(value, options[0]) if len(options) == 1 else value
    if origin in (tuple, list, frozenset, set):
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return tuple(from_jsonable(v, a) for v, a in zip(value, args, strict=False))
        item = args[0] if args else Any
        return origin(from_jsonable(v, item) for v in value)
    if origin is dict:
        args = typing.get_args(hint)
        item = args[1] if len(args) == 2 else Any
        return {k: from_jsonable(v, item) for k, v in value.items()}
    if not isinstance(hint, type):
        return value
    if issubclass(hint, enum.Enum):
        return hint(value)
    if hint in (UUID, Decimal):
        return hint(value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is date:
        return date.fromisoformat(value)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return hint(**_from_payload(hint, value))
    return value
