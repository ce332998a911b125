"""The core Protocols: runtime checks accept conforming classes and reject the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from buttress.core import (
    MISSING,
    AsyncRepository,
    CacheProvider,
    Clock,
    Command,
    CommandHandler,
    EventHandler,
    Identifiable,
    Missing,
    Query,
    QueryHandler,
    Serializer,
    SoftDeletable,
    SystemClock,
    Timestamped,
)


async def _coroutine(self: object, *args: object, **kwargs: object) -> None:
    return None


def _sync(self: object, *args: object, **kwargs: object) -> None:
    return None


# Each runtime-checkable Protocol with the members an implementation must have.
PROTOCOLS: dict[type, dict[str, object]] = {
    CacheProvider: dict.fromkeys(("get", "set", "delete", "exists", "clear"), _coroutine),
    AsyncRepository: dict.fromkeys(("get", "add", "update", "delete", "list"), _coroutine),
    EventHandler: {"handle": _coroutine},
    CommandHandler: {"handle": _coroutine},
    QueryHandler: {"handle": _coroutine},
    Serializer: {"dumps": _sync, "loads": _sync},
    Clock: {"now": _sync, "monotonic": _sync},
    Identifiable: {"id": 1},
    Timestamped: {"created_at": datetime.now(UTC), "updated_at": datetime.now(UTC)},
    SoftDeletable: {"deleted_at": None},
}


@st.composite
def protocol_and_members(draw: st.DrawFn) -> tuple[type, dict[str, object], bool]:
    protocol = draw(st.sampled_from(list(PROTOCOLS)))
    required = PROTOCOLS[protocol]
    keep = draw(st.sets(st.sampled_from(sorted(required))))
    extra = draw(st.dictionaries(st.sampled_from(["unrelated", "other", "name"]), st.just(_sync), max_size=2))
    members = {**extra, **{name: required[name] for name in keep}}
    return protocol, members, keep == set(required)


@given(protocol_and_members())
def test_runtime_checks_need_every_member(case: tuple[type, dict[str, object], bool]) -> None:
    """Property: a class passes isinstance for a runtime-checkable Protocol iff it has every member."""
    protocol, members, complete = case
    instance = type("Candidate", (), dict(members))()
    assert isinstance(instance, protocol) is complete


@dataclass(frozen=True)
class Order:
    id: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class DictRepository:
    def __init__(self) -> None:
        self.items: dict[int, Order] = {}

    async def get(self, id: int) -> Order | None:
        return self.items.get(id)

    async def add(self, entity: Order) -> None:
        self.items[entity.id] = entity

    async def update(self, entity: Order) -> None:
        self.items[entity.id] = entity

    async def delete(self, id: int) -> bool:
        return self.items.pop(id, None) is not None

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Order]:
        return list(self.items.values())[offset : offset + limit]


def test_a_plain_dataclass_is_an_identifiable_timestamped_soft_deletable_entity() -> None:
    now = datetime.now(UTC)
    order = Order(1, now, now)
    assert isinstance(order, Identifiable)
    assert isinstance(order, Timestamped)
    assert isinstance(order, SoftDeletable)
    assert not isinstance(object(), Identifiable)


def test_a_conforming_repository_passes_and_a_partial_one_fails() -> None:
    assert isinstance(DictRepository(), AsyncRepository)

    class NoList:
        async def get(self, id: int) -> None: ...
        async def add(self, entity: Order) -> None: ...
        async def update(self, entity: Order) -> None: ...
        async def delete(self, id: int) -> bool: ...

    assert not isinstance(NoList(), AsyncRepository)


def test_system_clock_is_a_clock() -> None:
    assert isinstance(SystemClock(), Clock)
    assert not isinstance(object(), Clock)


def test_missing_is_a_falsy_singleton_distinct_from_none() -> None:
    assert MISSING is Missing.MISSING
    assert MISSING is not None
    assert not MISSING
    assert repr(MISSING) == "MISSING"
    assert list(Missing) == [MISSING]


def test_command_and_query_are_nominal_bases_that_carry_their_result() -> None:
    # A memberless Protocol would match every object; these are bases a message derives from.
    @dataclass(frozen=True, slots=True)
    class Rename(Command[None]):
        name: str

    @dataclass(frozen=True, slots=True)
    class Lookup(Query[int]):
        key: str

    assert isinstance(Rename("x"), Command)
    assert isinstance(Lookup("k"), Query)
    assert not isinstance(object(), Command)
    assert not isinstance(Rename("x"), Query)
    assert not hasattr(Rename("x"), "__dict__")  # the bases add no state to a slotted message
    assert Command.__type_params__[0].__name__ == "R"
    assert Rename.__orig_bases__ == (Command[None],)  # type: ignore[attr-defined]
