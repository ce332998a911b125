"""Every way stored bytes can be wrong is an `EventSerializationError`, never an untyped exception or a
wrongly typed field: bad values for annotations, bad JSON, non-UTF-8, upcasters, encryption, compression."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any, Literal, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.core import JsonSerializer, SerializationError
from buttress.event_sourcing import (
    AesGcmCipher,
    Aggregate,
    Event,
    EventCodec,
    EventData,
    EventSerializationError,
    EventSourcingConfigurationError,
    EventSourcingError,
    EventSourcingTypeError,
    MemoryEventStore,
    RecordedEvent,
    Repository,
    UnknownEventTypeError,
    UpcastError,
    ZlibCompressor,
    applies,
)

from .conftest import Account, Deposited, Opened, account_codec


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Size(IntEnum):
    SMALL = 1
    LARGE = 2


class Point(NamedTuple):
    x: int
    y: int


@dataclass(frozen=True)
class Line:
    sku: str
    price: Decimal
    quantity: int = 1


@dataclass(frozen=True)
class Rich(Event):
    count: int
    ratio: float
    flag: bool
    name: str
    price: Decimal
    ref: uuid.UUID
    when: datetime
    day: date
    colour: Colour
    size: Size
    tags: tuple[str, ...]
    pair: tuple[int, str]
    ids: frozenset[int]
    by_size: dict[Size, int]
    by_id: dict[int, str]
    lines: list[Line]
    point: Point
    mode: Literal["fast", "slow"]
    maybe: int | None = None
    either: int | str = 0


def rich(**changes: Any) -> Rich:
    values: dict[str, Any] = {
        "stream_id": "r",
        "version": 1,
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "name": "Ada",
        "price": Decimal("1.10"),
        "ref": uuid.UUID(int=7),
        "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "day": date(2026, 1, 2),
        "colour": Colour.RED,
        "size": Size.LARGE,
        "tags": ("a", "b"),
        "pair": (1, "x"),
        "ids": frozenset({3, 1}),
        "by_size": {Size.SMALL: 1},
        "by_id": {10: "ten"},
        "lines": [Line("s-1", Decimal("9.99"), 2)],
        "point": Point(1, 2),
        "mode": "fast",
    }
    values.update(changes)
    return Rich(**values)


def record_of(data: EventData, stream_id: str = "r", version: int = 1) -> RecordedEvent:
    return RecordedEvent(
        data.event_id,
        stream_id,
        version,
        1,
        data.event_type,
        data.data,
        data.metadata,
        data.schema_version,
        data.timestamp,
    )


def with_payload(payload: object, event_type: str = "Rich", schema_version: int = 1) -> RecordedEvent:
    raw = b"\x00" + json.dumps(payload).encode()
    return record_of(EventData(uuid.uuid4(), event_type, raw, schema_version=schema_version))


def good_payload() -> dict[str, Any]:
    codec = EventCodec([Rich])
    return json.loads(codec.encode(rich()).data[1:])


def test_rich_events_round_trip_with_every_supported_annotation() -> None:
    codec = EventCodec([Rich])
    event = rich(maybe=5, either="five")
    decoded = codec.decode(record_of(codec.encode(event)))
    assert decoded == event
    assert isinstance(decoded.by_size, dict)
    assert next(iter(decoded.by_size)) is Size.SMALL
    assert next(iter(decoded.by_id)) == 10
    assert isinstance(decoded.point, Point)
    assert isinstance(decoded.lines[0].price, Decimal)


def test_a_bad_decimal_is_a_serialization_error_not_invalid_operation() -> None:
    """Issue 17: a bad `Decimal` raised `decimal.InvalidOperation`."""
    codec = account_codec()
    for text in ("abc", "", "1e999999999999999999999", "sNaN", "1.2.3"):
        data = EventData(uuid.uuid4(), "Deposited", b"\x00" + json.dumps({"amount": text}).encode())
        with pytest.raises(
            EventSerializationError,
            match=r"amount: expected a (decimal number|Decimal that is not a signaling NaN)",
        ):
            codec.decode(record_of(data))


def test_a_string_for_an_int_field_is_a_serialization_error() -> None:
    """Issue 17: a dataclass event decoded ``{"amount": "abc"}`` for ``amount: int`` without error."""

    @dataclass(frozen=True)
    class Paid(Event):
        amount: int

    codec = EventCodec([Paid])
    data = EventData(uuid.uuid4(), "Paid", b'\x00{"amount":"abc"}')
    with pytest.raises(EventSerializationError, match="amount: expected an int, got str") as info:
        codec.decode(record_of(data))
    assert "abc" not in str(info.value)  # types are named, stored values never shown


BAD_VALUES: list[tuple[str, object, str]] = [
    ("count", "abc", "an int"),
    ("count", True, "an int"),
    ("count", 1.5, "an int"),
    ("count", None, "an int"),
    ("ratio", "1", "a number"),
    ("flag", 1, "a bool"),
    ("name", 5, "a str"),
    ("price", "abc", "a decimal number"),
    ("price", True, "a decimal number"),
    ("price", [1], "a decimal number"),
    ("ref", 5, "a UUID"),
    ("ref", "zz", "a UUID"),
    ("when", "garbage", "datetime"),
    ("when", "2026-01-02", "datetime"),
    ("when", 5, "datetime"),
    ("day", "2026-01-02T00:00:00", "date"),
    ("colour", "purple", "Colour"),
    ("colour", ["red"], "Colour"),
    ("size", 3, "Size"),
    ("tags", "abc", "a list"),
    ("tags", ["a", 1], "tags[1]: expected a str"),
    ("pair", [1], "a list of 2 items"),
    ("pair", [1, "x", 2], "a list of 2 items"),
    ("pair", ["x", "x"], "pair[0]: expected an int"),
    ("ids", [[1]], "ids[0]: expected an int"),
    ("ids", {"a": 1}, "a list"),
    ("by_size", [1], "an object"),
    ("by_size", {"9": 1}, "Size key"),
    ("by_id", {"x": "y"}, "an int key"),
    ("by_id", {"10": 5}, "expected a str"),
    ("lines", [5], "lines[0]: expected an object for Line"),
    ("lines", [{"sku": "s", "price": "1", "bogus": 1}], "member 'bogus'"),
    ("lines", [{"price": "1"}], "Line"),
    ("lines", [{"sku": "s", "price": "x"}], "lines[0].price: expected a decimal number"),
    ("point", {"x": 1}, "a list of 2 items"),
    ("mode", "medium", "one of 'fast', 'slow'"),
    ("maybe", "x", "an int or null"),
    ("either", 1.5, "an int or a str"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_VALUES)
def test_a_value_that_does_not_fit_its_annotation_is_refused_on_read(
    field: str, value: object, message: str
) -> None:
    payload = {**good_payload(), field: value}
    with pytest.raises(EventSerializationError, match=re.escape(message)):
        EventCodec([Rich]).decode(with_payload(payload))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"count": "abc"}, "count: expected an int"),
        ({"price": 0.1}, "price: expected a Decimal or an int"),
        ({"price": Decimal("sNaN")}, "signaling"),
        ({"day": datetime(2026, 1, 2, tzinfo=UTC)}, "day: expected a date"),
        ({"mode": "medium"}, "mode: expected one of"),
        ({"by_id": {(1, 2): "x"}}, "mapping key"),
        ({"lines": ["not a line"]}, r"lines\[0\]: expected a Line"),
        ({"tags": "abc"}, "tags: expected a list"),
    ],
)
def test_a_value_that_could_not_be_read_back_is_refused_on_write(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(EventSerializationError, match=message):
        EventCodec([Rich]).encode(rich(**changes))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({k: v for k, v in good_payload().items() if k != "count"}, "Rich"),
        ({**good_payload(), "unexpected": 1}, "member 'unexpected'"),
        ({**good_payload(), "version": 9}, "member 'version'"),
        ([1, 2], "not a JSON object"),
        ("text", "not a JSON object"),
    ],
)
def test_missing_unknown_and_envelope_members_are_refused(payload: object, message: str) -> None:
    with pytest.raises(EventSerializationError, match=message):
        EventCodec([Rich]).decode(with_payload(payload))


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff\xfe\xfd",  # not UTF-8
        b"\x00\xed\xa0\x80",  # an encoded surrogate
        b"\x00{",  # not JSON
        b"\x00" + b"[" * 100_000,  # nested past the recursion limit
        b'\x00{"amount": 1e400}',
        b"\x01not zlib",  # compressed flag, garbage body
        b"\x02short",  # encrypted flag without a cipher
        b"\xf0{}",  # unknown flags
        b"",  # no header at all
    ],
)
def test_bytes_that_are_not_a_payload_are_serialization_errors(raw: bytes) -> None:
    with pytest.raises(EventSerializationError):
        account_codec().decode(record_of(EventData(uuid.uuid4(), "Deposited", raw)))


def test_unknown_types_and_malformed_records_are_typed() -> None:
    codec = account_codec()
    with pytest.raises(UnknownEventTypeError):
        codec.decode(with_payload({}, event_type="Nope"))
    with pytest.raises(EventSourcingTypeError, match="RecordedEvent"):
        codec.decode("not a record")  # type: ignore[arg-type]
    odd = dataclasses.replace(with_payload({"amount": "1"}, event_type="Deposited"), schema_version="1")  # type: ignore[arg-type]
    with pytest.raises(EventSerializationError, match="schema version"):
        codec.decode(odd)
    wrong_data = dataclasses.replace(with_payload({"amount": "1"}, event_type="Deposited"), data="text")  # type: ignore[arg-type]
    with pytest.raises(EventSourcingError):
        codec.decode(wrong_data)


def test_upcaster_failures_and_their_output_are_checked() -> None:
    @dataclass(frozen=True)
    class Moved(Event):
        to: int
        schema_version = 2

    raising = EventCodec([Moved])
    raising.add_upcaster("Moved", 1, lambda payload: {"to": payload["missing"]})
    stored = with_payload({"where": 1}, event_type="Moved")
    with pytest.raises(UpcastError, match=r"failed \(KeyError\)"):
        raising.decode(stored)
    not_a_dict = EventCodec([Moved])
    not_a_dict.add_upcaster("Moved", 1, lambda payload: [payload])  # type: ignore[arg-type,return-value]
    with pytest.raises(UpcastError, match="no dict"):
        not_a_dict.decode(stored)
    wrong_type = EventCodec([Moved])
    wrong_type.add_upcaster("Moved", 1, lambda payload: {"to": "north"})
    with pytest.raises(EventSerializationError, match="to: expected an int"):
        wrong_type.decode(stored)


@dataclass(frozen=True)
class Secret(Event):
    note: str
    schema_version = 2


def sealed_codec(**options: Any) -> EventCodec:
    codec = EventCodec([Secret], cipher=AesGcmCipher(b"k" * 32), **options)
    codec.add_upcaster("Secret", 1, lambda payload: payload)
    return codec


@pytest.mark.parametrize(
    "change",
    [
        {"stream_id": "other"},
        {"version": 2},
        {"event_type": "Secret2"},
        {"schema_version": 1},
        {"timestamp": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=1)},
        {"event_id": uuid.uuid4()},
    ],
)
def test_an_edited_envelope_column_fails_to_decrypt(change: dict[str, Any]) -> None:
    """Encryption binds the payload to the whole envelope, not only the event id."""
    codec = sealed_codec()

    @dataclass(frozen=True)
    class Secret2(Secret):
        pass

    codec.register(Secret2)
    event = Secret(stream_id="s", version=1, note="hidden", timestamp=datetime(2026, 1, 1, tzinfo=UTC))
    record = record_of(codec.encode(event), "s", 1)
    assert codec.decode(record) == event
    with pytest.raises(EventSerializationError, match="authentication failed"):
        codec.decode(dataclasses.replace(record, **change))


def test_a_codec_with_a_cipher_refuses_plaintext_unless_migrating() -> None:
    plain = EventCodec([Secret]).encode(Secret(stream_id="s", version=1, note="forged"))
    assert plain.data[0] == 0
    with pytest.raises(EventSerializationError, match="not encrypted"):
        sealed_codec().decode(record_of(plain, "s"))
    assert sealed_codec(accept_plaintext=True).decode(record_of(plain, "s")).note == "forged"


class Exploding:
    """A serializer, compressor and cipher of the application's that fail their own way."""

    def dumps(self, value: object) -> bytes:
        raise KeyError("dumps")

    def loads(self, data: bytes) -> object:
        raise KeyError("loads")

    def compress(self, data: bytes) -> bytes:
        raise OSError("compress")

    def decompress(self, data: bytes) -> bytes:
        raise OSError("decompress")

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        raise RuntimeError("encrypt")

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        raise RuntimeError("decrypt")


@pytest.mark.parametrize("part", ["serializer", "compressor", "cipher"])
def test_failing_plugged_in_parts_are_serialization_errors(part: str) -> None:
    options: dict[str, Any] = {part: Exploding()}
    if part == "compressor":
        options["compress_min_size"] = 0
    codec = account_codec(**options)
    event = Opened(stream_id="s", version=1, owner="ada")
    with pytest.raises(EventSerializationError):
        codec.encode(event)
    flags = {"serializer": 0, "compressor": 1, "cipher": 2}[part]
    with pytest.raises(EventSerializationError):
        codec.decode(record_of(EventData(uuid.uuid4(), "Opened", bytes([flags]) + b"{}"), "s"))


def test_unresolvable_annotations_are_refused_at_registration() -> None:
    @dataclass(frozen=True)
    class Forward(Event):
        thing: NotDefinedAnywhere  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(EventSourcingConfigurationError, match="annotations"):
        EventCodec([Forward])


# Properties ---------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from([f.name for f in dataclasses.fields(Rich)] + ["x"]), json_values))
def test_any_json_payload_decodes_to_well_typed_fields_or_a_serialization_error(
    changes: dict[str, Any],
) -> None:
    """Property: whatever JSON is stored, decoding gives an event whose fields have their annotated
    types, or raises `EventSerializationError` (never another exception, never a mistyped field)."""
    payload = {**good_payload(), **changes}
    try:
        event = EventCodec([Rich]).decode(with_payload(payload))
    except EventSerializationError:
        return
    assert type(event.count) is int
    assert type(event.ratio) in (int, float)
    assert isinstance(event.flag, bool)
    assert isinstance(event.name, str)
    assert isinstance(event.price, Decimal)
    assert isinstance(event.ref, uuid.UUID)
    assert isinstance(event.when, datetime)
    assert type(event.day) is date
    assert isinstance(event.colour, Colour)
    assert isinstance(event.size, Size)
    assert isinstance(event.tags, tuple)
    assert all(isinstance(t, str) for t in event.tags)
    assert all(isinstance(k, Size) for k in event.by_size)
    assert all(isinstance(k, int) and isinstance(v, str) for k, v in event.by_id.items())
    assert all(isinstance(line, Line) and isinstance(line.price, Decimal) for line in event.lines)
    assert isinstance(event.point, Point)
    assert event.mode in ("fast", "slow")
    assert event.maybe is None or isinstance(event.maybe, int)


rich_events = st.builds(
    rich,
    count=st.integers(),
    ratio=st.floats(allow_nan=False, allow_infinity=False),
    name=st.text(),
    price=st.decimals(allow_nan=False, allow_infinity=False),
    ref=st.uuids(),
    when=st.datetimes(timezones=st.just(UTC)),
    day=st.dates(),
    tags=st.lists(st.text(max_size=5), max_size=3).map(tuple),
    ids=st.frozensets(st.integers(), max_size=4),
    by_id=st.dictionaries(st.integers(), st.text(max_size=5), max_size=3),
    lines=st.lists(
        st.builds(Line, st.text(max_size=5), st.decimals(allow_nan=False), st.integers()), max_size=3
    ),
    maybe=st.none() | st.integers(),
    either=st.integers() | st.text(max_size=5),
)


@given(rich_events, st.booleans())
def test_whatever_encodes_decodes_to_an_equal_event(event: Rich, encrypted: bool) -> None:
    """Property: what the codec writes, it reads back equal (writing checks what reading checks)."""
    options: dict[str, Any] = {"compressor": ZlibCompressor(), "compress_min_size": 64}
    if encrypted:
        options["cipher"] = AesGcmCipher(b"k" * 32)
    codec = EventCodec([Rich], **options)
    assert codec.decode(record_of(codec.encode(event))) == event


class Tally(Aggregate[str]):
    """An aggregate whose state is annotated, so a snapshot's state is checked as strictly as events."""

    total: int = 0

    @applies(Deposited)
    def _deposited(self, event: Deposited) -> None:
        self.total += int(event.amount)


async def test_restore_state_checks_annotated_attributes_and_refuses_private_names() -> None:
    aggregate = Tally("a")
    aggregate.restore_state({"total": 5})
    assert aggregate.total == 5
    with pytest.raises(EventSerializationError, match="expected an int"):
        aggregate.restore_state({"total": "five"})
    for name in ("_pending", "version", "id", "not an identifier"):
        with pytest.raises(EventSourcingConfigurationError):
            aggregate.restore_state({name: 1})
    store = MemoryEventStore()
    accounts = Repository(Tally, store, account_codec(), snapshots=store)
    aggregate = Tally("b")
    aggregate.trigger(Deposited, amount=Decimal(4))
    await accounts.save(aggregate)
    await accounts.take_snapshot(aggregate)
    assert (await accounts.load("b")).total == 4


def test_a_serializer_returning_text_is_refused() -> None:
    class TextSerializer(JsonSerializer[dict[str, Any]]):
        def dumps(self, value: dict[str, Any]) -> bytes:
            return "text"  # type: ignore[return-value]

    with pytest.raises(EventSerializationError, match="not bytes"):
        EventCodec([Opened], serializer=TextSerializer()).encode(Opened(stream_id="s", version=1, owner="a"))
    assert issubclass(EventSerializationError, SerializationError)


def test_trigger_refuses_fields_that_do_not_fit_before_applying_them() -> None:
    account = Account.open("t", "ada")
    with pytest.raises(
        EventSourcingConfigurationError, match="amount: expected a Decimal or an int, got str"
    ):
        account.trigger(Deposited, amount="abc")
    with pytest.raises(EventSourcingConfigurationError, match="do not fit Deposited"):
        account.trigger(Deposited, amount=Decimal(1), colour="red")
    assert account.version == 1
    assert account.balance == 0
    assert len(account.pending_events) == 1
