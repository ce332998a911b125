"""The `Outbox` Protocol, `Claim`, and `MemoryOutbox` (the embedded default, one process)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from buttress.core import Clock, SystemClock, check_count, check_seconds, check_text

from ._model import Job, NotificationStatus, check_instant, check_protocol
from .exceptions import NotificationNotFoundError, NotificationsConfigurationError, NotificationsTypeError

__all__ = ["Claim", "MemoryOutbox", "Outbox"]

_Config = NotificationsConfigurationError

_S = NotificationStatus
_MAX_LIMIT: Final = 10_000
_MAX_LEASE: Final = 7 * 86_400.0


@dataclass(frozen=True, slots=True)
class Claim:
    """Jobs a worker holds under one lease: a single message, or every entry of one digest."""

    token: str
    jobs: tuple[Job, ...]

    def __post_init__(self) -> None:
        check_text("token", self.token, max_bytes=200, error=_Config, type_error=NotificationsTypeError)
        jobs: object = self.jobs
        if not isinstance(jobs, tuple) or not all(isinstance(j, Job) for j in jobs):
            raise NotificationsTypeError("jobs", "a tuple of Job", jobs)
        if not jobs:
            raise _Config("jobs", jobs, "must hold at least one Job")

    @property
    def digest(self) -> bool:
        """Whether this claim is a digest group."""
        return self.jobs[0].digest_group is not None


class Outbox(Protocol):
    """**Protocol**: durable storage of `Job` values that workers claim under a lease.

    ``enqueue`` stores jobs (a job whose ``dedupe_key`` and channel match a stored one is not stored
    again; the stored one is returned). ``claim`` hands each due job, or each due digest group
    whole, to exactly one worker until its lease runs out. ``settle`` writes a claim's outcome, and
    is ignored for jobs whose lease was lost to another worker.
    """

    @property
    def clock(self) -> Clock:
        """The outbox's time source."""
        ...

    async def enqueue(self, jobs: Sequence[Job]) -> list[Job]:
        """Store ``jobs``; return what is stored for each (the earlier job for a duplicate)."""
        ...

    async def claim(self, *, limit: int, lease: float) -> list[Claim]:
        """Lease up to ``limit`` due single jobs and up to ``limit`` due digest groups."""
        ...

    async def settle(self, claim: Claim, outcome: Sequence[Job], new: Sequence[Job] = ()) -> None:
        """Write the new state of a claim's jobs (and enqueue ``new`` ones, e.g. failovers)."""
        ...

    async def jobs(self, notification_id: str) -> list[Job]:
        """Every job of one notification, by channel."""
        ...

    async def requeue(self, job_id: str) -> Job:
        """Move a dead or failed job back to pending, due now, with its attempts reset."""
        ...

    async def counts(self) -> dict[NotificationStatus, int]:
        """How many jobs are in each state."""
        ...

    async def purge(self, before: datetime) -> int:
        """Delete final jobs (sent, failed, suppressed, dead) created before ``before``; return how many."""
        ...


class MemoryOutbox:
    """An `Outbox` in memory: the embedded default for one process (lost on exit).

    Args:
        clock: The time source.
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        if clock is not None:
            check_protocol("clock", clock, ("now", "monotonic"), "Clock")
        self._clock = clock if clock is not None else SystemClock()
        self._jobs: dict[str, Job] = {}
        self._dedupe: dict[tuple[str, str], str] = {}
        self._tokens: dict[str, str] = {}

    @property
    def clock(self) -> Clock:
        """The outbox's time source."""
        return self._clock

    async def enqueue(self, jobs: Sequence[Job]) -> list[Job]:
        """Store ``jobs``; return what is stored for each."""
        stored: list[Job] = []
        for job in check_jobs("jobs", jobs):
            if job.dedupe_key is not None:
                existing = self._dedupe.get((job.dedupe_key, job.channel))
                if existing is not None:
                    stored.append(self._jobs[existing])
                    continue
                self._dedupe[(job.dedupe_key, job.channel)] = job.id
            self._jobs[job.id] = job
            stored.append(job)
        return stored

    async def claim(self, *, limit: int, lease: float) -> list[Claim]:
        """Lease up to ``limit`` due jobs and up to ``limit`` due digest groups."""
        limit, lease = check_claim(limit, lease)
        now = self._clock.now()
        until = now + timedelta(seconds=lease)
        singles: list[Job] = []
        groups: dict[str, list[Job]] = {}
        for job in sorted((j for j in self._jobs.values() if _due(j, now)), key=lambda j: j.available_at):
            if job.digest_group is None:
                if len(singles) < limit:
                    singles.append(job)
            elif job.digest_group in groups or len(groups) < limit:
                groups.setdefault(job.digest_group, []).append(job)
        # A group goes out whole: members whose own time has not come (preferences changed between
        # enqueues) ride along, so a window never yields two digests.
        for job in self._jobs.values():
            members = groups.get(job.digest_group or "")
            if members is not None and job not in members and job.status is _S.BATCHED:
                members.append(job)
        claims = [self._lease([job], until) for job in singles]
        claims += [self._lease(members, until) for members in groups.values()]
        return claims

    def _lease(self, jobs: list[Job], until: datetime) -> Claim:
        token = secrets.token_hex(8)
        leased = tuple(
            j.but(status=_S.SENDING, lease_until=until, attempts=j.attempts + 1)
            for j in sorted(jobs, key=lambda j: (j.created_at, j.id))
        )
        for job in leased:
            self._jobs[job.id] = job
            self._tokens[job.id] = token
        return Claim(token, leased)

    async def settle(self, claim: Claim, outcome: Sequence[Job], new: Sequence[Job] = ()) -> None:
        """Write the claim's outcome (ignored for jobs whose lease another worker took)."""
        outcome, new = check_settle(claim, outcome, new)
        for job in outcome:
            if self._tokens.get(job.id) != claim.token:
                continue
            del self._tokens[job.id]
            self._jobs[job.id] = job.but(lease_until=None)
        await self.enqueue(new)

    async def jobs(self, notification_id: str) -> list[Job]:
        """Every job of one notification."""
        check_text("notification_id", notification_id, error=_Config, type_error=NotificationsTypeError)
        return sorted(
            (j for j in self._jobs.values() if j.notification_id == notification_id), key=lambda j: j.channel
        )

    async def get(self, job_id: str) -> Job:
        """The job with this id.

        Raises:
            NotificationNotFoundError: No such job.
        """
        job = self._jobs.get(check_text("job_id", job_id, error=_Config, type_error=NotificationsTypeError))
        if job is None:
            raise NotificationNotFoundError(job_id)
        return job

    async def requeue(self, job_id: str) -> Job:
        """Move a dead or failed job back to pending, due now."""
        job = await self.get(job_id)
        if job.status not in (_S.DEAD, _S.FAILED):
            raise _Config("job_id", job_id, f"is {job.status}, not dead or failed")
        job = job.but(
            status=_S.PENDING, attempts=0, available_at=self._clock.now(), reason=None, digest_group=None
        )
        self._jobs[job_id] = job
        return job

    async def purge(self, before: datetime) -> int:
        """Delete final jobs (sent, failed, suppressed, dead) created before ``before``; return how many."""
        check_instant("before", before)
        gone = [j for j in self._jobs.values() if j.status.final and j.created_at < before]
        for job in gone:
            del self._jobs[job.id]
            self._tokens.pop(job.id, None)
            if job.dedupe_key is not None and self._dedupe.get((job.dedupe_key, job.channel)) == job.id:
                del self._dedupe[(job.dedupe_key, job.channel)]
        return len(gone)

    async def counts(self) -> dict[NotificationStatus, int]:
        """How many jobs are in each state."""
        found: dict[NotificationStatus, int] = {}
        for job in self._jobs.values():
            found[job.status] = found.get(job.status, 0) + 1
        return found

    def snapshot(self) -> list[Job]:
        """Every job, oldest first (for tests and dashboards)."""
        return sorted(self._jobs.values(), key=lambda j: (j.created_at, j.id))


def check_jobs(parameter: str, jobs: object) -> list[Job]:
    """The jobs of an ``enqueue`` or ``settle`` call, checked: a sequence of `Job`."""
    if isinstance(jobs, str | bytes) or not isinstance(jobs, Sequence | Iterable):
        raise NotificationsTypeError(parameter, "a sequence of Job", jobs)
    checked = list(jobs)
    for job in checked:
        if not isinstance(job, Job):
            raise NotificationsTypeError(parameter, "a sequence of Job", job)
    return checked


def check_claim(limit: object, lease: object) -> tuple[int, float]:
    """The arguments of ``claim``, checked."""
    checked_limit = check_count("limit", limit, minimum=1, maximum=_MAX_LIMIT, error=_Config)
    checked_lease = check_seconds("lease", lease, maximum=_MAX_LEASE, error=_Config)
    return checked_limit, checked_lease


def check_settle(claim: object, outcome: object, new: object) -> tuple[list[Job], list[Job]]:
    """The arguments of ``settle``, checked."""
    if not isinstance(claim, Claim):
        raise NotificationsTypeError("claim", "a Claim", claim)
    return check_jobs("outcome", outcome), check_jobs("new", new)


def _due(job: Job, now: datetime) -> bool:
    if job.status in (_S.PENDING, _S.BATCHED):
        return job.available_at <= now
    return job.status is _S.SENDING and job.lease_until is not None and job.lease_until <= now
