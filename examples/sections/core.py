"""The tour's buttress-core section."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from buttress.core import (
    MISSING,
    AsyncRepository,
    ButtressError,
    ConfigurationError,
    ConflictError,
    JsonSerializer,
    NotFoundError,
    SystemClock,
    redact_url,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "a duplicate add is refused: ConflictError",
    "Redis: not set: embedded defaults only",
)
REAL: tuple[str, ...] = ("Redis: redis://",)


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    created_at: datetime


class CustomerRepository:
    """An AsyncRepository in a dozen lines: the Protocol is all a package needs from you."""

    def __init__(self) -> None:
        self._rows: dict[int, Customer] = {}

    async def get(self, id: int) -> Customer | None:
        return self._rows.get(id)

    async def add(self, entity: Customer) -> None:
        if entity.id in self._rows:
            raise ConflictError("customer", entity.id, "exists already")
        self._rows[entity.id] = entity

    async def update(self, entity: Customer) -> None:
        if entity.id not in self._rows:
            raise NotFoundError("customer", entity.id)
        self._rows[entity.id] = entity

    async def delete(self, id: int) -> bool:
        return self._rows.pop(id, None) is not None

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Customer]:
        if limit < 1:
            raise ConfigurationError("limit", limit, "must be at least 1")
        return list(self._rows.values())[offset : offset + limit]


async def run(tour: Tour) -> None:
    clock = SystemClock()
    repo: AsyncRepository[Customer, int] = CustomerRepository()
    await repo.add(Customer(1, "Ada", clock.now()))
    tour.say(f"repository conforms to AsyncRepository: {isinstance(repo, AsyncRepository)}")
    try:
        await repo.add(Customer(1, "Ada again", clock.now()))
    except ConflictError as exc:
        tour.say(f"a duplicate add is refused: ConflictError({exc})")
    try:
        await repo.update(Customer(2, "Grace", clock.now()))
    except LookupError as exc:
        tour.say(f"an unknown update is a LookupError too: {type(exc).__name__}({exc})")
    first = await repo.get(1)
    if first is not None:
        await repo.update(replace(first, name="Ada Lovelace"))
    tour.say(f"after update: {[c.name for c in await repo.list()]}")

    serializer = JsonSerializer[object]()
    payload = serializer.dumps({"id": 1, "tags": ["vip"], "note": None})
    tour.say(f"JsonSerializer round trip: {payload.decode()} -> {serializer.loads(payload)}")
    try:
        serializer.dumps({1, 2})
    except ButtressError as exc:
        tour.say(f"what JSON cannot hold is a typed error: {type(exc).__name__}: {exc}")
    tour.say(f"a miss is MISSING, not None: {MISSING!r} (falsy: {not MISSING})")
    tour.say(f"clock: {clock.now().astimezone(UTC).isoformat(timespec='seconds')} (UTC, timezone-aware)")
    for name, url in (("Redis", tour.redis_url), ("PostgreSQL", tour.postgres_dsn)):
        where = redact_url(url) if url else "not set: embedded defaults only"
        tour.say(f"{name}: {where}")
