"""`EventCodec`: domain events to stored `EventData` and back, with upcasting, compression and encryption."""

from __future__ import annotations

import dataclasses
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from buttress.core import JsonSerializer, SerializationError, Serializer

from ._events import ENVELOPE_FIELDS, DomainEvent
from ._records import EventData, RecordedEvent, check_type_name
from ._values import Converter, Mismatch, build, dump_fields, field_converters, load_fields, to_jsonable
from .exceptions import (
    EventSerializationError,
    EventSourcingConfigurationError,
    EventSourcingTypeError,
    UnknownEventTypeError,
    UpcastError,
)

__all__ = ["Cipher", "Compressor", "EventCodec", "Upcaster", "ZlibCompressor"]

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
        if isinstance(level, bool) or not isinstance(level, int):
            raise EventSourcingTypeError("level", "an int", level)
        if not 1 <= level <= 9:
            raise EventSourcingConfigurationError("level", level, "must be an int from 1 to 9")
        self.level = level

    def compress(self, data: bytes) -> bytes:
        """Compress with zlib at ``level``."""
        _check_bytes(data, "data")
        return zlib.compress(data, self.level)

    def decompress(self, data: bytes) -> bytes:
        """Decompress zlib data.

        Raises:
            EventSerializationError: ``data`` is not zlib data.
        """
        _check_bytes(data, "data")
        try:
            return zlib.decompress(data)
        except zlib.error:
            raise EventSerializationError("zlib", "loads", "the data is not zlib-compressed") from None

    def __repr__(self) -> str:
        return f"ZlibCompressor(level={self.level})"


class EventCodec:
    """Encodes domain events into `EventData` for a store, and decodes `RecordedEvent` back.

    The envelope (id, stream, version, timestamp) goes into the store's own columns; the remaining fields
    are the payload, serialized with ``serializer`` (compact sorted JSON by default), then optionally
    compressed (payloads of at least ``compress_min_size`` bytes) and encrypted. A one-byte header records
    which, so a codec reads what an earlier configuration wrote (except that a codec with a cipher refuses
    unencrypted payloads unless ``accept_plaintext=True``). Encryption binds each payload to its whole
    envelope (event id, stream id, version, type name, schema version and timestamp), so a ciphertext
    moved onto another event, or an envelope column edited in the store, fails to decrypt.

    Dataclass events: fields are checked against their annotations when they are written and when they are
    read back; `UUID`, `datetime`, `date`, `Decimal`, enums, tuples, sets, mappings, unions, literals and
    nested dataclasses are converted to JSON and back. A stored payload that does not fit the class
    (``{"amount": "abc"}`` for ``amount: int``, a missing or unknown field) is an
    `EventSerializationError` naming the field. Pydantic models are dumped with
    ``model_dump(mode="json")`` and rebuilt with ``model_validate``.

    Args:
        types: Event classes to register under their class names.
        serializer: Turns a payload dict into bytes and back.
        compressor: Compresses large payloads; ``None`` stores them as they are.
        compress_min_size: Payloads shorter than this many bytes are not compressed.
        cipher: Encrypts every payload; ``None`` stores them in the clear.
        accept_plaintext: With a cipher, also read payloads stored without encryption (while migrating a
            store to encryption). Off by default, so nobody can swap a ciphertext for a plaintext.

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
        accept_plaintext: bool = False,
    ) -> None:
        if serializer is not None and not isinstance(serializer, Serializer):
            raise EventSourcingTypeError("serializer", "an object with dumps() and loads()", serializer)
        if compressor is not None and not isinstance(compressor, Compressor):
            raise EventSourcingTypeError(
                "compressor", "an object with compress() and decompress()", compressor
            )
        if cipher is not None and not isinstance(cipher, Cipher):
            raise EventSourcingTypeError("cipher", "an object with encrypt() and decrypt()", cipher)
        if isinstance(compress_min_size, bool) or not isinstance(compress_min_size, int):
            raise EventSourcingTypeError("compress_min_size", "an int", compress_min_size)
        if compress_min_size < 0:
            raise EventSourcingConfigurationError(
                "compress_min_size", compress_min_size, "must be an int >= 0"
            )
        if not isinstance(accept_plaintext, bool):
            raise EventSourcingTypeError("accept_plaintext", "a bool", accept_plaintext)
        _check_iterable(types, "types", "an iterable of event classes")
        self._serializer: Serializer[dict[str, Any]] = serializer or JsonSerializer[dict[str, Any]](
            sort_keys=True
        )
        self._compressor = compressor
        self._compress_min_size = compress_min_size
        self._cipher = cipher
        self._accept_plaintext = accept_plaintext
        self._by_name: dict[str, type[Any]] = {}
        self._by_class: dict[type[Any], str] = {}
        self._fields: dict[type[Any], list[tuple[str, Converter]] | None] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for cls in types:
            self.register(cls)

    def register(self, event_class: type[Any], *, name: str | None = None) -> None:
        """Register ``event_class`` under ``name`` (its class name by default).

        Raises:
            EventSourcingConfigurationError: The class is not a dataclass or pydantic model, its
                annotations cannot be resolved, or the name is taken by another class.
        """
        pydantic = isinstance(event_class, type) and callable(getattr(event_class, "model_validate", None))
        if not isinstance(event_class, type) or not (dataclasses.is_dataclass(event_class) or pydantic):
            raise EventSourcingConfigurationError(
                "event_class", event_class, "must be a dataclass or a pydantic model class"
            )
        type_name = check_type_name(name if name is not None else event_class.__name__, "name")
        held = self._by_name.get(type_name)
        if held is not None and held is not event_class:
            raise EventSourcingConfigurationError(
                "name", type_name, f"is registered already for {held.__module__}.{held.__qualname__}"
            )
        fields = None
        if not pydantic:
            try:
                fields = [(n, c) for n, c in field_converters(event_class) if n not in ENVELOPE_FIELDS]
            except (Mismatch, RecursionError) as exc:
                reason = exc.describe() if isinstance(exc, Mismatch) else "a type refers to itself"
                raise EventSourcingConfigurationError(
                    "event_class", event_class.__qualname__, f"its annotations cannot be used: {reason}"
                ) from None
        self._by_name[type_name] = event_class
        self._by_class[event_class] = type_name
        self._fields[event_class] = fields

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
        check_type_name(event_type)
        _check_from_version(from_version)

        def register(function: Upcaster) -> Upcaster:
            self.add_upcaster(event_type, from_version, function)
            return function

        return register

    def add_upcaster(self, event_type: str, from_version: int, function: Upcaster) -> None:
        """Register ``function`` to upgrade ``event_type`` payloads from ``from_version`` to the next."""
        check_type_name(event_type)
        _check_from_version(from_version)
        if not callable(function):
            raise EventSourcingTypeError("function", "a callable", function)
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
        try:
            name = self._by_class.get(event_class)
        except TypeError:  # an unhashable argument is no registered class either
            name = None
        if name is None:
            label = getattr(event_class, "__qualname__", type(event_class).__name__)
            raise EventSerializationError(
                "event",
                "dumps",
                f"{label} is not registered; pass it to EventCodec(types=...)",
                type_name=type(event_class).__name__,
            )
        return name

    # Encoding -------------------------------------------------------------------------------------

    def encode(self, event: DomainEvent, *, metadata: Mapping[str, Any] | None = None) -> EventData:
        """Encode one domain event; ``metadata`` (JSON-serializable) is stored beside it, unencrypted.

        Raises:
            EventSerializationError: The class is not registered, a field does not fit its annotation,
                or the payload cannot be serialized.
        """
        event_class = type(event)
        type_name = self.type_name(event_class)
        if metadata is not None and not isinstance(metadata, Mapping):
            raise EventSourcingTypeError("metadata", "a mapping", metadata)
        event_id, stream_id, version, timestamp = _envelope_of(event)
        schema_version = _schema_version(event_class)
        fields = self._fields[event_class]
        try:
            if fields is None:
                payload = dict(event.model_dump(mode="json", exclude=set(ENVELOPE_FIELDS)))  # type: ignore[attr-defined]
            else:
                payload = dump_fields(fields, event)
        except Mismatch as exc:
            raise EventSerializationError("event", "dumps", exc.describe(), type_name=type_name) from None
        except RecursionError:
            raise EventSerializationError(
                "event", "dumps", "the payload is nested too deeply", type_name=type_name
            ) from None
        except Exception as exc:  # a pydantic model that cannot dump itself
            raise EventSerializationError(
                "event", "dumps", f"the payload cannot be built ({type(exc).__name__})", type_name=type_name
            ) from exc
        raw = self._dumps(payload, type_name)
        meta = b"" if not metadata else self._dumps(to_jsonable(dict(metadata)), type_name)
        associated = b""
        if self._cipher is not None:
            associated = _associated_data(event_id, stream_id, version, type_name, schema_version, timestamp)
        return EventData(
            event_id=event_id,
            event_type=type_name,
            data=self.seal(raw, associated),
            metadata=meta,
            schema_version=schema_version,
            timestamp=timestamp,
        )

    def encode_all(self, events: Iterable[DomainEvent]) -> list[EventData]:
        """Encode several events, in order."""
        _check_iterable(events, "events", "an iterable of events")
        return [self.encode(event) for event in events]

    def _dumps(self, payload: dict[str, Any], type_name: str) -> bytes:
        try:
            raw = self._serializer.dumps(payload)
        except SerializationError as exc:
            raise EventSerializationError("event", "dumps", exc.reason, type_name=type_name) from exc
        except Exception as exc:  # a serializer of the application's that fails its own way
            raise EventSerializationError(
                "event", "dumps", f"the serializer failed ({type(exc).__name__})", type_name=type_name
            ) from exc
        if not isinstance(raw, bytes):
            raise EventSerializationError(
                "event",
                "dumps",
                f"the serializer returned {type(raw).__name__}, not bytes",
                type_name=type_name,
            )
        return raw

    def seal(self, raw: bytes, associated_data: bytes) -> bytes:
        """Compress and encrypt ``raw`` as configured and prefix the one-byte header.

        Raises:
            EventSerializationError: The compressor or the cipher failed.
        """
        _check_bytes(raw, "raw")
        _check_bytes(associated_data, "associated_data")
        flags = _PLAIN
        try:
            if self._compressor is not None and len(raw) >= self._compress_min_size:
                raw = self._compressor.compress(raw)
                flags |= _COMPRESSED
            if self._cipher is not None:
                raw = self._cipher.encrypt(raw, associated_data)
                flags |= _ENCRYPTED
        except EventSerializationError:
            raise
        except Exception as exc:
            raise EventSerializationError(
                "event", "dumps", f"the payload cannot be sealed ({type(exc).__name__})"
            ) from exc
        if not isinstance(raw, bytes):
            raise EventSerializationError("event", "dumps", "the compressor or cipher returned no bytes")
        return bytes((flags,)) + raw

    def unseal(self, data: bytes, associated_data: bytes) -> bytes:
        """Reverse `seal`.

        Raises:
            EventSerializationError: Unknown header, encrypted data without a cipher, plaintext where the
                codec requires encryption, or data that fails to decrypt or decompress.
        """
        _check_bytes(data, "data")
        _check_bytes(associated_data, "associated_data")
        if not data or data[0] & ~_KNOWN_FLAGS:
            raise EventSerializationError("event", "loads", "the payload has no valid header byte")
        flags, body = data[0], data[1:]
        if self._cipher is not None and not flags & _ENCRYPTED and not self._accept_plaintext:
            raise EventSerializationError(
                "event",
                "loads",
                "the payload is not encrypted but this codec has a cipher; pass accept_plaintext=True "
                "to read payloads written before encryption was turned on",
            )
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
        if not isinstance(body, bytes):
            raise EventSerializationError("event", "loads", "the compressor or cipher returned no bytes")
        return body

    # Decoding -------------------------------------------------------------------------------------

    def knows(self, event_type: str) -> bool:
        """Return whether a class is registered under ``event_type``."""
        return isinstance(event_type, str) and event_type in self._by_name

    def decode(self, record: RecordedEvent) -> Any:  # noqa: ANN401
        """Decode a stored event into its registered class, upcasting older schema versions.

        Raises:
            UnknownEventTypeError: No class is registered under the record's type name.
            UpcastError: The stored schema version is newer than the class's, or an upcaster is missing
                or fails.
            EventSerializationError: The payload cannot be opened or deserialized, or does not fit the
                class (a field of the wrong type, a missing or unknown field).
        """
        if not isinstance(record, RecordedEvent):
            raise EventSourcingTypeError("record", "a RecordedEvent (what a store's read returns)", record)
        event_type = record.event_type
        event_class = self._by_name.get(event_type) if isinstance(event_type, str) else None
        if event_class is None:
            raise UnknownEventTypeError(str(event_type)[:200])
        stored_version = record.schema_version
        if isinstance(stored_version, bool) or not isinstance(stored_version, int) or stored_version < 1:
            raise EventSerializationError("event", "loads", "the stored schema version is not an int >= 1")
        associated = b""
        if self._cipher is not None:
            associated = _associated_data(
                record.event_id,
                record.stream_id,
                record.version,
                event_type,
                stored_version,
                record.timestamp,
            )
        payload = self._loads(self.unseal(record.data, associated))
        payload = self._upcast(event_type, stored_version, event_class, payload)
        envelope = {
            "event_id": record.event_id,
            "stream_id": record.stream_id,
            "version": record.version,
            "timestamp": record.timestamp,
        }
        fields = self._fields[event_class]
        try:
            if fields is None:
                return event_class.model_validate({**payload, **envelope})
            return build(event_class, {**envelope, **load_fields(fields, payload)})
        except Mismatch as exc:
            raise EventSerializationError(
                "event", "loads", f"the payload does not fit {event_class.__qualname__}: {exc.describe()}"
            ) from None
        except RecursionError:
            raise EventSerializationError("event", "loads", "the payload is nested too deeply") from None
        except Exception as exc:  # pydantic's ValidationError, or a model validator's own error
            raise EventSerializationError(
                "event",
                "loads",
                f"the payload does not fit {event_class.__qualname__} ({type(exc).__name__})",
            ) from exc

    def decode_all(self, records: Sequence[RecordedEvent]) -> list[Any]:
        """Decode several records, in order."""
        _check_iterable(records, "records", "a sequence of RecordedEvent")
        return [self.decode(record) for record in records]

    def _loads(self, raw: bytes) -> dict[str, Any]:
        try:
            payload = self._serializer.loads(raw)
        except EventSerializationError:
            raise
        except SerializationError as exc:
            raise EventSerializationError("event", "loads", exc.reason) from exc
        except Exception as exc:  # RecursionError from deep JSON, or an application serializer's own error
            raise EventSerializationError(
                "event", "loads", f"the payload cannot be deserialized ({type(exc).__name__})"
            ) from exc
        if not isinstance(payload, dict):
            raise EventSerializationError("event", "loads", "the payload is not a JSON object")
        return payload

    def _upcast(
        self, event_type: str, stored: int, event_class: type[Any], payload: dict[str, Any]
    ) -> dict[str, Any]:
        current = _schema_version(event_class)
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
                    event_type,
                    stored,
                    current,
                    f"the upcaster from version {version} failed ({type(exc).__name__})",
                ) from exc
            if not isinstance(payload, dict):
                raise UpcastError(
                    event_type, stored, current, f"the upcaster from {version} returned no dict"
                )
        return payload

    def __repr__(self) -> str:
        return f"EventCodec(types={sorted(self._by_name)})"


def _check_from_version(from_version: object) -> None:
    if isinstance(from_version, bool) or not isinstance(from_version, int):
        raise EventSourcingTypeError("from_version", "an int", from_version)
    if not 1 <= from_version < _MAX_INT32:
        raise EventSourcingConfigurationError("from_version", from_version, "must be an int >= 1")


def _check_iterable(value: object, parameter: str, what: str) -> None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise EventSourcingTypeError(parameter, what, value)


def _check_bytes(value: object, parameter: str) -> None:
    if not isinstance(value, bytes):
        raise EventSourcingTypeError(parameter, "bytes", value)


_MAX_INT32 = 2**31
_MAX_INT64 = 2**63
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _schema_version(event_class: type[Any]) -> int:
    version = getattr(event_class, "schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < _MAX_INT32:
        raise EventSourcingConfigurationError(
            "schema_version", version, f"of {event_class.__qualname__} must be an int from 1 to 2**31 - 1"
        )
    return version


def _envelope_of(event: object) -> tuple[UUID, str, int, datetime]:
    """The envelope fields of a domain event, checked: they go into the store's columns."""
    event_id = getattr(event, "event_id", None)
    stream_id = getattr(event, "stream_id", None)
    version = getattr(event, "version", None)
    timestamp = getattr(event, "timestamp", None)
    if not isinstance(event_id, UUID):
        raise EventSourcingTypeError("event.event_id", "a UUID", event_id)
    if not isinstance(stream_id, str):
        raise EventSourcingTypeError("event.stream_id", "a str", stream_id)
    if isinstance(version, bool) or not isinstance(version, int):
        raise EventSourcingTypeError("event.version", "an int", version)
    if not 0 < version < _MAX_INT64:
        raise EventSourcingConfigurationError("event.version", version, "must be an int >= 1")
    if not isinstance(timestamp, datetime):
        raise EventSourcingTypeError("event.timestamp", "a timezone-aware datetime", timestamp)
    if timestamp.utcoffset() is None:
        raise EventSourcingConfigurationError(
            "event.timestamp", timestamp, "must be a timezone-aware datetime"
        )
    return event_id, stream_id, version, timestamp


_AAD_TAG = b"buttress.event_sourcing/event/1\x00"


def _associated_data(  # noqa: PLR0917 - private; one argument per envelope field
    event_id: object,
    stream_id: object,
    version: object,
    event_type: str,
    schema_version: int,
    timestamp: object,
) -> bytes:
    """What a ciphertext is bound to: the event's whole envelope, length-prefixed.

    Anything that cannot be laid out (a stored row with a field out of range, say) is an error of the
    payload, like a failed decryption.
    """
    try:
        stream = stream_id.encode()  # type: ignore[attr-defined]
        kind = event_type.encode()
        micros = (timestamp - _EPOCH) // _MICROSECOND  # type: ignore[operator]
        return b"".join(
            (
                _AAD_TAG,
                event_id.bytes,  # type: ignore[attr-defined]
                struct.pack(">qiqI", version, schema_version, micros, len(stream)),
                stream,
                struct.pack(">I", len(kind)),
                kind,
            )
        )
    except (AttributeError, TypeError, ValueError, OverflowError, struct.error) as exc:
        raise EventSerializationError(
            "event", "loads", f"the envelope cannot be bound to the payload ({type(exc).__name__})"
        ) from None
