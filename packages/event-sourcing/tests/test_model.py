"""Aggregates, the codec (upcasting, compression, encryption) and the repository on the memory store."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar

import pytest

from buttress.core import ConflictError, JsonSerializer, NotFoundError
from buttress.event_sourcing import (
    ANY,
    NO_STREAM,
    AesGcmCipher,
    AggregateNotFoundError,
    ConcurrencyError,
    DomainEvent,
    DuplicateEventError,
    Event,
    EventCodec,
    EventData,
    EventSerializationError,
    EventSourcingConfigurationError,
    EventSourcingError,
    EventSourcingTypeError,
    EveryNEvents,
    MemoryEventStore,
    RecordedEvent,
    Repository,
    Snapshot,
    SnapshotIntegrityError,
    UnknownEventTypeError,
    UpcastError,
    ZlibCompressor,
    applies,
    canonical_bytes,
)

from .conftest import Account, Deposited, Opened, Withdrawn, account_codec, snapshot_record


def record_of(data: EventData, stream_id: str = "s", version: int = 1, position: int = 1) -> RecordedEvent:
    return RecordedEvent(
        data.event_id,
        stream_id,
        version,
        position,
        data.event_type,
        data.data,
        data.metadata,
        data.schema_version,
        data.timestamp,
    )


# Aggregates ----------------------------------------------------------------------------------


def test_trigger_applies_and_keeps_events_pending() -> None:
    account = Account.open("acc-1", "ada")
    account.deposit(Decimal("10.50"))
    assert (account.owner, account.balance, account.version) == ("ada", Decimal("10.50"), 2)
    pending = account.pending_events
    assert [type(e) for e in pending] == [Opened, Deposited]
    assert [e.version for e in pending] == [1, 2]
    assert all(isinstance(e, DomainEvent) for e in pending)
    assert all(e.timestamp.tzinfo is not None for e in pending)
    assert account.collect_events() == list(pending)
    assert account.pending_events == ()


def test_events_are_immutable() -> None:
    event = Opened(stream_id="a", version=1, owner="ada")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.owner = "eve"  # type: ignore[misc]
    assert event.event_type == "Opened"
    assert Opened.schema_version == 1


def test_apply_refuses_events_out_of_order_or_of_another_stream() -> None:
    account = Account("acc-2")
    with pytest.raises(EventSourcingError, match="cannot apply"):
        account.apply(Opened(stream_id="acc-2", version=2, owner="x"))
    with pytest.raises(EventSourcingError, match="cannot apply"):
        account.apply(Opened(stream_id="other", version=1, owner="x"))


def test_an_event_without_an_applier_is_an_error() -> None:
    @dataclass(frozen=True)
    class Closed(Event):
        pass

    account = Account("acc-3")
    with pytest.raises(EventSourcingError, match=r"@applies\(Closed\)"):
        account.trigger(Closed)


def test_appliers_are_inherited_and_match_event_subclasses() -> None:
    @dataclass(frozen=True)
    class BigDeposit(Deposited):
        pass

    class Savings(Account):
        pass

    savings = Savings("sav-1")
    savings.trigger(BigDeposit, amount=Decimal(1000))
    assert savings.balance == Decimal(1000)


def test_applies_needs_event_classes() -> None:
    with pytest.raises(EventSourcingConfigurationError, match="event_classes"):
        applies()
    with pytest.raises(EventSourcingConfigurationError, match="event_classes"):
        applies("Deposited")  # type: ignore[arg-type]


# Codec ---------------------------------------------------------------------------------------


class Colour(Enum):
    RED = "red"


@dataclass(frozen=True)
class Rich(Event):
    when: datetime
    day: date
    ref: uuid.UUID
    price: Decimal
    colour: Colour
    tags: tuple[str, ...]
    maybe: int | None = None


def test_the_codec_round_trips_rich_payloads() -> None:
    codec = EventCodec([Rich])
    event = Rich(
        stream_id="r",
        version=1,
        when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        day=date(2026, 1, 2),
        ref=uuid.uuid4(),
        price=Decimal("1.10"),
        colour=Colour.RED,
        tags=("a", "b"),
        maybe=None,
    )
    data = codec.encode(event)
    assert data.event_type == "Rich"
    assert data.schema_version == 1
    assert b"stream_id" not in data.data  # the envelope lives in the store's columns
    assert codec.decode(record_of(data, "r")) == event


def test_unregistered_and_unknown_types_are_errors() -> None:
    codec = EventCodec([Opened])
    with pytest.raises(EventSerializationError, match="not registered"):
        codec.encode(Deposited(stream_id="s", version=1, amount=Decimal(1)))
    data = EventData(uuid.uuid4(), "Vanished", b"\x00{}")
    with pytest.raises(UnknownEventTypeError) as info:
        codec.decode(record_of(data))
    assert info.value.event_type == "Vanished"


def test_a_name_cannot_be_registered_twice() -> None:
    codec = EventCodec([Opened])
    with pytest.raises(EventSourcingConfigurationError, match="registered already"):
        codec.register(Deposited, name="Opened")
    with pytest.raises(EventSourcingConfigurationError):
        codec.register(int)
    codec.register(Deposited, name="bank.Deposited")
    assert codec.type_name(Deposited) == "bank.Deposited"


def test_upcasters_chain_from_old_schema_versions() -> None:
    @dataclass(frozen=True)
    class Named(Event):
        first: str
        last: str
        title: str
        schema_version = 3

    codec = EventCodec([Named])

    @codec.upcaster("Named", from_version=1)
    def split(payload: dict[str, Any]) -> dict[str, Any]:
        first, _, last = payload.pop("name").partition(" ")
        return {**payload, "first": first, "last": last}

    codec.add_upcaster("Named", 2, lambda payload: {**payload, "title": "-"})
    old = EventData(uuid.uuid4(), "Named", b"\x00" + JsonSerializer[Any]().dumps({"name": "Ada Lovelace"}))
    decoded = codec.decode(record_of(old))
    assert (decoded.first, decoded.last, decoded.title) == ("Ada", "Lovelace", "-")
    assert codec.encode(decoded).schema_version == 3


def test_missing_or_failing_upcasters_and_newer_versions_are_upcast_errors() -> None:
    @dataclass(frozen=True)
    class V2(Event):
        x: int
        schema_version = 2

    codec = EventCodec([V2])
    stored_v1 = EventData(uuid.uuid4(), "V2", b'\x00{"x":1}', schema_version=1)
    with pytest.raises(UpcastError, match="no upcaster from version 1"):
        codec.decode(record_of(stored_v1))
    stored_v3 = EventData(uuid.uuid4(), "V2", b'\x00{"x":1}', schema_version=3)
    with pytest.raises(UpcastError, match="newer"):
        codec.decode(record_of(stored_v3))
    codec.add_upcaster("V2", 1, lambda payload: payload["missing"])
    with pytest.raises(UpcastError, match="failed") as info:
        codec.decode(record_of(stored_v1))
    assert (info.value.stored_version, info.value.current_version) == (1, 2)
    with pytest.raises(EventSourcingConfigurationError):
        codec.add_upcaster("V2", 1, lambda payload: payload)


def test_compression_applies_to_large_payloads_only() -> None:
    codec = account_codec(compressor=ZlibCompressor(9), compress_min_size=64)
    small = codec.encode(Opened(stream_id="s", version=1, owner="ada"))
    large = codec.encode(Opened(stream_id="s", version=1, owner="a" * 5000))
    assert small.data[0] == 0
    assert large.data[0] == 1
    assert len(large.data) < 200
    assert codec.decode(record_of(large)).owner == "a" * 5000
    # A codec without a compressor still reads what a compressing one wrote.
    assert account_codec().decode(record_of(large)).owner == "a" * 5000


def test_encryption_hides_payloads_and_binds_them_to_their_event() -> None:
    key = AesGcmCipher.generate_key()
    codec = account_codec(cipher=AesGcmCipher(key), compressor=ZlibCompressor())
    first = codec.encode(Opened(stream_id="s", version=1, owner="secret-owner"))
    second = codec.encode(Opened(stream_id="s", version=1, owner="other"))
    assert b"secret-owner" not in first.data
    assert codec.decode(record_of(first)).owner == "secret-owner"
    moved = dataclasses.replace(second, data=first.data)
    with pytest.raises(EventSerializationError, match=r"cannot be opened|authentication"):
        codec.decode(record_of(moved))
    tampered = dataclasses.replace(first, data=first.data[:-1] + bytes([first.data[-1] ^ 1]))
    with pytest.raises(EventSerializationError):
        codec.decode(record_of(tampered))
    with pytest.raises(EventSerializationError, match="no cipher"):
        account_codec().decode(record_of(first))
    with pytest.raises(EventSerializationError):
        account_codec(cipher=AesGcmCipher(AesGcmCipher.generate_key(128))).decode(record_of(first))
    assert "redacted" in repr(AesGcmCipher(key))


def test_bad_codec_arguments_are_rejected() -> None:
    with pytest.raises(EventSourcingConfigurationError, match="key"):
        AesGcmCipher(b"short")
    with pytest.raises(EventSourcingConfigurationError, match="level"):
        ZlibCompressor(0)
    with pytest.raises(EventSourcingTypeError, match="serializer"):
        EventCodec(serializer=object())  # type: ignore[arg-type]
    with pytest.raises(EventSourcingConfigurationError, match="compress_min_size"):
        EventCodec(compress_min_size=-1)
    # A value of the wrong type is a TypeError, a bad value of the right type a ValueError.
    for wrong in (
        lambda: ZlibCompressor("6"),  # type: ignore[arg-type]
        lambda: AesGcmCipher("a key as text"),  # type: ignore[arg-type]
        lambda: AesGcmCipher.generate_key(256.0),  # type: ignore[arg-type]
        lambda: EventCodec(compress_min_size="256"),  # type: ignore[arg-type]
        lambda: EveryNEvents("100"),  # type: ignore[arg-type]
    ):
        with pytest.raises(EventSourcingTypeError) as info:
            wrong()
        assert isinstance(info.value, TypeError)
    with pytest.raises(EventSerializationError, match="header"):
        EventCodec([Opened]).decode(record_of(EventData(uuid.uuid4(), "Opened", b"\xf0{}")))


def test_unserializable_payloads_are_serialization_errors() -> None:
    @dataclass(frozen=True)
    class Odd(Event):
        thing: object

    with pytest.raises(EventSerializationError, match="JSON can hold"):
        EventCodec([Odd]).encode(Odd(stream_id="s", version=1, thing=object()))


# Memory store specifics -------------------------------------------------------------------------


async def test_expected_version_zero_means_no_stream() -> None:
    store = MemoryEventStore()
    await store.append("z", [EventData(uuid.uuid4(), "T", b"")], 0)
    with pytest.raises(ConcurrencyError) as info:
        await store.append("z", [EventData(uuid.uuid4(), "T", b"")], 0)
    assert info.value.expected is NO_STREAM
    assert isinstance(info.value, ConflictError)
    assert "no stream" in str(info.value)
    assert "version 1" in str(info.value)


BAD_VALUE = EventSourcingConfigurationError
BAD_TYPE = EventSourcingTypeError


@pytest.mark.parametrize(
    ("call", "parameter", "error"),
    [
        (lambda s: s.append("", [EventData(uuid.uuid4(), "T", b"")], ANY), "stream_id", BAD_VALUE),
        (lambda s: s.append(7, [EventData(uuid.uuid4(), "T", b"")], ANY), "stream_id", BAD_TYPE),
        (lambda s: s.append("s", "not events", ANY), "events", BAD_TYPE),
        (lambda s: s.append("s", [b"raw"], ANY), r"events\[0\]", BAD_TYPE),
        (lambda s: s.append("s", [EventData(uuid.uuid4(), "", b"")], ANY), "event_type", BAD_VALUE),
        (lambda s: s.append("s", [EventData(uuid.uuid4(), "T", "text")], ANY), "data", BAD_TYPE),  # type: ignore[arg-type]
        (
            lambda s: s.append("s", [EventData(uuid.uuid4(), "T", b"", schema_version=0)], ANY),
            "schema_version",
            BAD_VALUE,
        ),
        (
            lambda s: s.append("s", [EventData(uuid.uuid4(), "T", b"", timestamp=datetime(2026, 1, 1))], ANY),
            "timestamp",
            BAD_VALUE,
        ),
        (lambda s: s.append("s", [EventData(uuid.UUID(int=1), "T", b"")] * 2, ANY), "twice", BAD_VALUE),
        (lambda s: s.append("s", [EventData(uuid.uuid4(), "T", b"")], True), "expected_version", BAD_TYPE),
        (lambda s: s.read("s", from_version=0), "from_version", BAD_VALUE),
        (lambda s: s.read_all(0, limit=True), "limit", BAD_TYPE),
        (lambda s: s.save_checkpoint("", 1), "name", BAD_VALUE),
        (lambda s: s.save_checkpoint("p", -1), "position", BAD_VALUE),
    ],
)
async def test_bad_store_input_is_a_typed_error(call: Any, parameter: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=parameter) as info:
        await call(MemoryEventStore())
    assert isinstance(info.value, ValueError if error is EventSourcingConfigurationError else TypeError)


async def test_a_reused_id_reports_where_it_is_stored() -> None:
    store = MemoryEventStore()
    event = EventData(uuid.uuid4(), "T", b"")
    await store.append("a", [EventData(uuid.uuid4(), "T", b""), event], NO_STREAM)
    with pytest.raises(DuplicateEventError) as info:
        await store.append("b", [event], ANY)
    assert (info.value.event_id, info.value.stored_stream_id, info.value.stored_version) == (
        event.event_id,
        "a",
        2,
    )
    # The same batch at another version of its own stream is a reuse too.
    with pytest.raises(DuplicateEventError):
        await store.append("a", [event], 5)


async def test_wait_for_events_wakes_on_append_and_times_out_otherwise() -> None:
    import asyncio  # noqa: PLC0415

    store = MemoryEventStore()
    assert await store.wait_for_events(0, 0.01) is False
    waiter = asyncio.ensure_future(store.wait_for_events(0, 5))
    await asyncio.sleep(0)
    await store.append("w", [EventData(uuid.uuid4(), "T", b"")], NO_STREAM)
    assert await waiter is True
    assert await store.wait_for_events(0, 0.01) is True


# Repository ------------------------------------------------------------------------------------


async def test_save_then_load_rebuilds_the_aggregate() -> None:
    store = MemoryEventStore()
    accounts = Repository(Account, store, account_codec())
    account = Account.open("r-1", "ada")
    account.deposit(Decimal(5))
    account.withdraw(Decimal(2))
    result = await accounts.save(account)
    assert result is not None
    assert result.version == 3
    assert account.pending_events == ()
    assert await accounts.save(account) is None
    loaded = await accounts.load("r-1")
    assert (loaded.owner, loaded.balance, loaded.version, loaded.history) == (
        "ada",
        Decimal(3),
        3,
        ["+5", "-2"],
    )


async def test_a_concurrent_change_is_a_concurrency_error_with_both_versions() -> None:
    store = MemoryEventStore()
    accounts = Repository(Account, store, account_codec())
    await accounts.save(Account.open("r-2", "ada"))
    first, second = await accounts.load("r-2"), await accounts.load("r-2")
    first.deposit(Decimal(1))
    second.deposit(Decimal(2))
    await accounts.save(first)
    with pytest.raises(ConcurrencyError) as info:
        await accounts.save(second)
    assert (info.value.stream_id, info.value.expected, info.value.actual) == ("r-2", 1, 2)
    assert second.pending_events  # kept, so the caller can inspect them
    assert (await accounts.load("r-2")).balance == Decimal(1)


async def test_loading_an_unknown_aggregate_is_not_found() -> None:
    accounts = Repository(Account, MemoryEventStore(), account_codec())
    with pytest.raises(AggregateNotFoundError) as info:
        await accounts.load("nobody")
    assert isinstance(info.value, NotFoundError)


async def test_the_policy_snapshots_and_load_uses_snapshot_plus_tail() -> None:
    store = MemoryEventStore()
    accounts = Repository(Account, store, account_codec(), snapshots=store, policy=EveryNEvents(10))
    account = Account.open("r-3", "ada")
    for n in range(8):
        account.deposit(Decimal(n))
    await accounts.save(account)
    assert await store.load_snapshot("r-3") is None  # version 9: no multiple of 10 crossed
    account.deposit(Decimal(100))
    account.deposit(Decimal(200))
    await accounts.save(account)
    snapshot = await store.load_snapshot("r-3")
    assert snapshot is not None
    assert snapshot.version == 11
    eleventh = (await store.read("r-3"))[10]
    assert snapshot.last_event_id == eleventh.event_id
    assert snapshot.state_hash == snapshot_record("r-3", 11, eleventh.event_id, snapshot.state).state_hash
    account.withdraw(Decimal(1))
    await accounts.save(account)
    loaded = await accounts.load("r-3")
    replayed = await accounts.load("r-3", use_snapshot=False)
    assert loaded.snapshot_state() == replayed.snapshot_state() == account.snapshot_state()
    assert loaded.version == replayed.version == 12


async def test_a_corrupted_snapshot_is_logged_counted_and_replayed(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryEventStore()
    accounts = Repository(Account, store, account_codec(), snapshots=store)
    account = Account.open("r-4", "ada")
    account.deposit(Decimal(7))
    await accounts.save(account)
    await accounts.take_snapshot(account)
    good = await store.load_snapshot("r-4")
    assert good is not None
    forged = dataclasses.replace(good, state=good.state.replace(b"7", b"9"))
    await store.save_snapshot(forged)
    with caplog.at_level(logging.WARNING, logger="buttress.event_sourcing"):
        loaded = await accounts.load("r-4")
    assert loaded.balance == Decimal(7)
    assert accounts.snapshot_integrity_failures == 1
    assert "fails its integrity check (its SHA-256 does not match" in caplog.text
    assert "r-4" in caplog.text
    assert "9" not in caplog.text.split("version")[0]  # the state itself is never logged

    strict = Repository(Account, store, account_codec(), snapshots=store, strict_snapshots=True)
    with pytest.raises(SnapshotIntegrityError) as info:
        await strict.load("r-4")
    assert (info.value.stream_id, info.value.version, info.value.expected_hash) == ("r-4", 2, good.state_hash)
    assert strict.snapshot_integrity_failures == 1


async def test_a_separate_snapshot_store_gives_the_same_loads_and_fallback() -> None:
    events, snapshots = MemoryEventStore(), MemoryEventStore()
    accounts = Repository(Account, events, account_codec(), snapshots=snapshots, policy=EveryNEvents(3))
    account = Account.open("r-6", "ada")
    for n in range(7):
        account.deposit(Decimal(n))
    await accounts.save(account)
    assert await events.load_snapshot("r-6") is None
    stored = await snapshots.load_snapshot("r-6")
    assert stored is not None
    assert stored.version == 8
    account.deposit(Decimal(100))
    await accounts.save(account)
    assert (await accounts.load("r-6")).snapshot_state() == account.snapshot_state()
    latest = await snapshots.load_snapshot("r-6")
    assert latest is not None
    assert latest.version == 9
    await snapshots.save_snapshot(dataclasses.replace(latest, state=b'{"balance":"0"}'))
    fallback = await accounts.load("r-6")
    assert fallback.snapshot_state() == account.snapshot_state()
    assert accounts.snapshot_integrity_failures == 1


async def test_read_with_snapshot_returns_the_tail_after_the_snapshot() -> None:
    store = MemoryEventStore()
    await store.append("t", [EventData(uuid.uuid4(), "T", b"") for _ in range(5)], NO_STREAM)
    snapshot, tail = await store.read_with_snapshot("t")
    assert snapshot is None
    assert [e.version for e in tail] == [1, 2, 3, 4, 5]
    third = (await store.read("t"))[2]
    await store.save_snapshot(snapshot_record("t", 3, third.event_id, aggregate_type="X"))
    snapshot, tail = await store.read_with_snapshot("t")
    assert snapshot is not None
    assert snapshot.version == 3
    assert [e.version for e in tail] == [3, 4, 5]  # from the snapshot's own last event on
    await store.save_snapshot(dataclasses.replace(snapshot, version=4))  # hash no longer matches
    damaged, everything = await store.read_with_snapshot("t")
    assert damaged is not None
    assert [e.version for e in everything] == [1, 2, 3, 4, 5]


async def test_take_snapshot_needs_a_store_and_saved_events() -> None:
    store = MemoryEventStore()
    with pytest.raises(EventSourcingConfigurationError, match="snapshot store"):
        await Repository(Account, store, account_codec()).take_snapshot(Account("x"))
    accounts = Repository(Account, store, account_codec(), snapshots=store)
    with pytest.raises(EventSourcingConfigurationError, match="unsaved"):
        await accounts.take_snapshot(Account.open("x", "ada"))


async def test_an_older_snapshot_never_replaces_a_newer_one() -> None:
    store = MemoryEventStore()
    newer = snapshot_record("s", 5, uuid.uuid4())
    await store.save_snapshot(newer)
    older = snapshot_record("s", 3, uuid.uuid4())
    await store.save_snapshot(older)
    assert await store.load_snapshot("s") == newer
    # ... unless the newer one is damaged: a row whose version was raised never blocks good snapshots.
    raised = dataclasses.replace(newer, version=500)
    await store.save_snapshot(raised)
    assert await store.load_snapshot("s") == raised  # 500 >= 5: stored (the repository will reject it)
    await store.save_snapshot(older)
    assert await store.load_snapshot("s") == older


def test_bad_repository_arguments_are_rejected() -> None:
    store = MemoryEventStore()
    with pytest.raises(EventSourcingConfigurationError, match="aggregate_type"):
        Repository(int, store, account_codec())  # type: ignore[type-var]
    with pytest.raises(EventSourcingTypeError, match="store"):
        Repository(Account, object(), account_codec())  # type: ignore[arg-type]
    with pytest.raises(EventSourcingTypeError, match="codec"):
        Repository(Account, store, object())  # type: ignore[arg-type]
    with pytest.raises(EventSourcingConfigurationError, match="policy"):
        Repository(Account, store, account_codec(), policy=EveryNEvents(5))
    with pytest.raises(EventSourcingConfigurationError, match="n"):
        EveryNEvents(0)


def test_canonical_bytes_are_key_order_independent_and_reject_nan() -> None:
    assert canonical_bytes({"b": 1, "a": [1, "é"]}) == canonical_bytes({"a": [1, "é"], "b": 1})
    assert canonical_bytes({"a": "é"}) == '{"a":"é"}'.encode()
    with pytest.raises(EventSerializationError):
        canonical_bytes({"x": float("nan")})
    snap = Snapshot.of("s", 1, {"a": 1}, aggregate_type="Account", last_event_id=uuid.uuid4())
    assert snap.verify()
    assert not dataclasses.replace(snap, state={"a": 2}).verify()
    for change in ({"version": 2}, {"stream_id": "t"}, {"aggregate_type": "Other"}, {"schema_version": 2}):
        assert not dataclasses.replace(snap, **change).verify()  # type: ignore[arg-type]
    assert not dataclasses.replace(snap, last_event_id=uuid.uuid4()).verify()


async def test_the_withdrawn_reference_survives_a_snapshot() -> None:
    store = MemoryEventStore()
    accounts = Repository(Account, store, account_codec(), snapshots=store)
    account = Account.open("r-5", "ada")
    account.withdraw(Decimal("0.5"))
    await accounts.save(account)
    await accounts.take_snapshot(account)
    loaded = await accounts.load("r-5")
    assert loaded.balance == Decimal("-0.5")
    assert isinstance(loaded.balance, Decimal)
    assert loaded.history == ["-0.5"]
    assert isinstance(Withdrawn.schema_version, int)


def test_pydantic_models_are_events_too() -> None:
    """Runs where pydantic is installed (it is not a dependency of this package)."""
    pydantic = pytest.importorskip("pydantic")

    class Renamed(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        model_config = pydantic.ConfigDict(frozen=True)
        event_id: uuid.UUID = pydantic.Field(default_factory=uuid.uuid4)
        stream_id: str
        version: int
        timestamp: datetime = pydantic.Field(default_factory=lambda: datetime.now(UTC))
        name: str
        price: Decimal
        schema_version: ClassVar[int] = 1

        @property
        def event_type(self) -> str:
            return "Renamed"

    codec = EventCodec([Renamed])
    event = Renamed(stream_id="p", version=1, name="Ada", price=Decimal("2.50"))
    assert isinstance(event, DomainEvent)
    data = codec.encode(event)
    assert b"stream_id" not in data.data
    assert codec.decode(record_of(data, "p")) == event
