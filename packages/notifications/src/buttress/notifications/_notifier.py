"""`Notifier` (decides, enqueues) and `DeliveryWorker` (claims, rate-limits, sends, retries, fails over)."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from buttress.core import Clock, check_count, check_seconds

from ._channels import Message, NotificationChannel, RecipientResult
from ._digest import DigestRule
from ._metrics import (
    CLAIMS,
    DEAD,
    DECISIONS,
    FAILED,
    LEASE_LOSSES,
    RATE_LIMIT_WAITS,
    SEND_DURATION,
    SENT,
    channel_kind,
)
from ._model import (
    DigestContext,
    DigestEntry,
    Job,
    Notification,
    NotificationStatus,
    Rendered,
    check_mapping,
    check_name,
    check_protocol,
)
from ._outbox import Claim, MemoryOutbox, Outbox
from ._preferences import (
    MemoryPreferenceStore,
    PreferenceDefaults,
    Preferences,
    PreferenceStore,
    Verdict,
    decide,
)
from ._ratelimit import Rate, RateLimiter
from ._templates import TemplateRegistry
from .exceptions import (
    DeliveryError,
    InvalidAddressError,
    NotificationsConfigurationError,
    NotificationsError,
    NotificationsTypeError,
    NotificationsUnavailableError,
    PermanentDeliveryError,
    TemplateError,
    TransientDeliveryError,
    UnknownChannelError,
)

__all__ = ["DeliveryWorker", "Notifier", "RetryPolicy"]

_log = logging.getLogger(__name__)
_Config = NotificationsConfigurationError
_MAX_BATCH: Final = 10_000
_MAX_CONCURRENCY: Final = 1_000
_MAX_LEASE: Final = 7 * 86_400.0
_MAX_DELAY: Final = 365 * 86_400.0
_MAX_RETRIES: Final = 1_000
_S = NotificationStatus
_UTC_ZONE: Final = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and when a channel retries transient failures.

    Args:
        delays: Seconds to wait before each retry; ``len(delays)`` retries, then the job is dead
            (or fails over).
        jitter: Each delay is multiplied by a random factor in ``[1 - jitter, 1 + jitter]``.
    """

    delays: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 1800.0)
    jitter: float = 0.1

    def __post_init__(self) -> None:
        delays: object = self.delays
        if isinstance(delays, str | bytes) or not isinstance(delays, Iterable):
            raise NotificationsTypeError("delays", "a sequence of seconds", delays)
        checked = tuple(
            check_seconds("delays", d, allow_zero=True, maximum=_MAX_DELAY, error=_Config) for d in delays
        )
        if len(checked) > _MAX_RETRIES:
            raise _Config("delays", len(checked), f"must hold at most {_MAX_RETRIES} delays")
        object.__setattr__(self, "delays", checked)
        jitter = check_seconds("jitter", self.jitter, allow_zero=True, maximum=1.0, error=_Config)
        if jitter >= 1:
            raise _Config("jitter", self.jitter, "must be in [0, 1)")
        object.__setattr__(self, "jitter", jitter)

    def delay(self, attempts: int) -> float | None:
        """Seconds before the next try after ``attempts`` tries, or ``None`` when retries are exhausted."""
        check_count("attempts", attempts, minimum=1, error=_Config)
        if attempts > len(self.delays):
            return None
        base = self.delays[attempts - 1]
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)  # noqa: S311 - jitter, not security


class Notifier:
    """Turns a `Notification` into outbox jobs, one per channel, after checking preferences.

    For each channel: an opt-out suppresses (recorded with its reason); a category with a
    `DigestRule` is batched until its window closes (critical ones are not); quiet hours hold the
    job until they end (critical ones are not held); the rest are due now. The template is rendered
    once, at send time, so a bad context fails the caller, not a worker.

    Args:
        templates: The registry holding every template named by notifications and digest rules.
        channels: The channels, by their ``name``.
        outbox: Where jobs go; a `MemoryOutbox` by default.
        preferences: Where preferences are read; a `MemoryPreferenceStore` by default.
        defaults: Choices that apply when a user made none.
        digests: Category → `DigestRule`.
        failover: Channel → the channel to try when it fails for good (push → email, say).
        clock: The time source (the outbox's by default).
    """

    def __init__(
        self,
        *,
        templates: TemplateRegistry,
        channels: Iterable[NotificationChannel[Any]],
        outbox: Outbox | None = None,
        preferences: PreferenceStore | None = None,
        defaults: PreferenceDefaults | None = None,
        digests: Mapping[str, DigestRule] | None = None,
        failover: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(templates, TemplateRegistry):
            raise NotificationsTypeError("templates", "a TemplateRegistry", templates)
        self.templates = templates
        self.channels: dict[str, NotificationChannel[Any]] = {}
        given: object = channels
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            raise NotificationsTypeError("channels", "an iterable of channels", given)
        for channel in channels:
            check_protocol("channels", channel, ("name", "prepare", "deliver"), "NotificationChannel")
            self.channels[check_name("channel.name", channel.name)] = channel
        _check_collaborators(outbox, preferences, defaults, clock)
        self.outbox: Outbox = outbox if outbox is not None else MemoryOutbox(clock=clock)
        self.clock: Clock = clock if clock is not None else self.outbox.clock
        self.preferences: PreferenceStore = (
            preferences if preferences is not None else MemoryPreferenceStore()
        )
        self.defaults = defaults or PreferenceDefaults()
        self.digests: dict[str, DigestRule] = check_mapping("digests", digests)
        for category, rule in self.digests.items():
            check_name("digests", category)
            if not isinstance(rule, DigestRule):
                raise _Config("digests", category, "values must be DigestRule")
            if rule.template not in templates:
                raise _Config("digests", rule.template, "names an unregistered template")
        self.failover: dict[str, str] = check_mapping("failover", failover)
        for primary, secondary in self.failover.items():
            for name in (primary, secondary):
                if not isinstance(name, str):
                    raise NotificationsTypeError("failover", "a mapping of channel names", name)
                if name not in self.channels:
                    raise UnknownChannelError(name)

    async def send(
        self, notification: Notification[Any], *, channels: Sequence[str] | None = None
    ) -> list[Job]:
        """Decide and enqueue ``notification`` on ``channels`` (default: every channel it has an address for).

        Returns:
            One `Job` per channel, as stored (with status ``pending``, ``batched`` or ``suppressed``).

        Raises:
            UnknownChannelError: A named channel is not registered.
            TemplateError: The template is unknown or cannot render this context.
            InvalidAddressError: An address (or a failover channel's address) is not exactly one
                valid address for its channel. Nothing was stored.
        """
        if not isinstance(notification, Notification):
            raise NotificationsTypeError("notification", "a Notification", notification)
        recipient = notification.recipient
        names = self._channel_names(recipient.addresses, channels)
        content = self.templates.render(notification.template, notification.context)
        for name in names:
            self._check_address(name, notification, content)
            fallback = self.failover.get(name)
            if fallback is not None:
                self._check_address(fallback, notification, content)
        preferences = await self.preferences.get(recipient.id)
        zone = preferences.zone if preferences is not None else _UTC_ZONE
        now = self.clock.now()
        decided = [self._job(notification, name, content, preferences, zone, now) for name in names]
        stored = await self.outbox.enqueue([job for job, _ in decided])
        for job, decision in decided:
            kind = channel_kind(self.channels[job.channel])
            DECISIONS.add(1, {"notification.channel.kind": kind, "notification.decision": decision})
        return stored

    def _channel_names(self, addresses: Mapping[str, str], channels: object) -> list[str]:
        if channels is None:
            return [c for c in self.channels if c in addresses]
        if isinstance(channels, str) or not isinstance(channels, Iterable):
            raise NotificationsTypeError("channels", "a sequence of channel names", channels)
        names: list[str] = []
        for name in channels:
            if not isinstance(name, str):
                raise NotificationsTypeError("channels", "a sequence of channel names", name)
            if name not in self.channels:
                raise UnknownChannelError(name)
            if name not in names:  # naming a channel twice sends once
                names.append(name)
        return names

    def _check_address(self, name: str, notification: Notification[Any], content: Rendered) -> None:
        """Refuse, before anything is stored, an address the channel cannot send to.

        The channel's own ``prepare`` is the judge: it is synchronous, does no I/O, and checks the
        address the way the channel will use it (one bare email address, one E.164 number...).
        """
        address = notification.recipient.addresses.get(name, "")
        if not address:
            return  # "no address": the job is recorded as suppressed
        message = Message(notification.id, notification.recipient.id, address, content, notification.critical)
        try:
            self.channels[name].prepare(message)
        except InvalidAddressError as exc:
            raise InvalidAddressError(exc.kind, exc.value, exc.reason, channel=name) from None
        except NotificationsError:
            raise
        except Exception as exc:
            raise InvalidAddressError(
                "recipient",
                address,
                f"the channel cannot prepare a message for it ({type(exc).__name__})",
                channel=name,
            ) from exc

    def _job(  # noqa: PLR0917 - private, called once
        self,
        n: Notification[Any],
        channel: str,
        content: Rendered,
        prefs: Preferences | None,
        zone: ZoneInfo,
        now: datetime,
    ) -> tuple[Job, str]:
        """The job for one channel, and the decision taken: send, hold, suppress or digest."""
        job = Job(
            id=uuid.uuid4().hex,
            notification_id=n.id,
            recipient_id=n.recipient.id,
            channel=channel,
            address=n.recipient.addresses.get(channel, ""),
            category=n.category,
            content=content,
            created_at=now,
            available_at=now,
            critical=n.critical,
            dedupe_key=n.dedupe_key,
        )
        if not job.address:
            return job.but(status=_S.SUPPRESSED, reason=f"no address for {channel}"), "suppress"
        decision = decide(prefs, channel, n.category, now=now, critical=n.critical, defaults=self.defaults)
        if decision.verdict is Verdict.SUPPRESS:
            return job.but(status=_S.SUPPRESSED, reason=decision.reason), "suppress"
        fallback = self.failover.get(channel)
        if fallback is not None and n.recipient.addresses.get(fallback):
            fb = decide(prefs, fallback, n.category, now=now, critical=n.critical, defaults=self.defaults)
            if fb.verdict is not Verdict.SUPPRESS:
                job = job.but(fallback_channel=fallback, fallback_address=n.recipient.addresses[fallback])
        rule = self.digests.get(n.category)
        if rule is not None and not n.critical:
            closes = rule.closes_at(now, zone)
            release = (prefs.quiet_until(closes) if prefs is not None else None) or closes
            batched = job.but(
                status=_S.BATCHED,
                available_at=release,
                digest_group=rule.group(n.recipient.id, channel, closes),
                digest_key=rule.key,
                digest_template=rule.template,
            )
            return batched, "digest"
        if decision.verdict is Verdict.HOLD and decision.release_at is not None:
            return job.but(available_at=decision.release_at, reason="held by quiet hours"), "hold"
        return job, "send"


class DeliveryWorker:
    """Claims due jobs from the outbox and delivers them; run one or many (they share nothing but the outbox).

    Transient failures are retried with the channel's `RetryPolicy`; when retries run out the job is
    dead, and a permanent failure fails it, each time failing over to the job's fallback channel
    when it has one. Rate limits are checked before each send: a job over its limit is put back,
    due when a token will be there, without counting an attempt.

    A worker that loses its claim stops sending it: once the outbox cannot record an outcome (its
    server crashed, the connection dropped), no further send of that batch starts, and no send
    starts once less than half the lease is left (the rest of the batch is put back, due at once).
    So an outbox outage makes at most ``concurrency`` messages per worker go out twice: those whose
    send finished while their outcome could not be written.

    Args:
        notifier: Supplies the outbox, channels, templates and clock.
        retry: The default retry policy.
        retries: Per-channel policies.
        limiter: Where token buckets live; no limits without one.
        recipient_rate: The bucket every recipient gets (keyed ``recipient:<id>``).
        channel_rates: Channel name → bucket (keyed ``channel:<name>``), e.g. a provider's quota.
        lease: Seconds a claim is held before another worker may take it; make it at least twice
            the slowest send (an SMTP timeout, say).
        batch: How many jobs (and digest groups) one `run_once` claims.
        concurrency: How many sends one worker has in flight at once.
    """

    def __init__(
        self,
        notifier: Notifier,
        *,
        retry: RetryPolicy | None = None,
        retries: Mapping[str, RetryPolicy] | None = None,
        limiter: RateLimiter | None = None,
        recipient_rate: Rate | None = None,
        channel_rates: Mapping[str, Rate] | None = None,
        lease: float = 60.0,
        batch: int = 50,
        concurrency: int = 10,
    ) -> None:
        if not isinstance(notifier, Notifier):
            raise NotificationsTypeError("notifier", "a Notifier", notifier)
        check_count("batch", batch, minimum=1, maximum=_MAX_BATCH, error=_Config)
        check_count("concurrency", concurrency, minimum=1, maximum=_MAX_CONCURRENCY, error=_Config)
        self._lease = check_seconds("lease", lease, maximum=_MAX_LEASE, error=_Config)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise NotificationsTypeError("retry", "a RetryPolicy", retry)
        self._retries: dict[str, RetryPolicy] = check_mapping("retries", retries)
        if not all(isinstance(p, RetryPolicy) for p in self._retries.values()):
            raise _Config("retries", "<values>", "values must be RetryPolicy")
        if limiter is not None:
            check_protocol("limiter", limiter, ("acquire",), "RateLimiter")
        if recipient_rate is not None and not isinstance(recipient_rate, Rate):
            raise NotificationsTypeError("recipient_rate", "a Rate", recipient_rate)
        self._channel_rates: dict[str, Rate] = check_mapping("channel_rates", channel_rates)
        if not all(isinstance(r, Rate) for r in self._channel_rates.values()):
            raise _Config("channel_rates", "<values>", "values must be Rate")
        if (recipient_rate is not None or self._channel_rates) and limiter is None:
            raise _Config("limiter", None, "rates need a limiter")
        self.notifier = notifier
        self._retry = retry or RetryPolicy()
        self._limiter = limiter
        self._recipient_rate = recipient_rate
        self._batch = batch
        self._concurrency = concurrency

    async def run_once(self) -> int:
        """Claim what is due and process it; return how many claims were processed.

        Raises:
            NotificationsUnavailableError: The outbox or the rate limiter could not be reached. The sends
                already in flight finished; the rest of the batch was not sent, and was put back
                (or, with the outbox down, is claimed again when its lease runs out).
        """
        claims = await self.notifier.outbox.claim(limit=self._batch, lease=self._lease)
        if not claims:
            return 0
        for claim in claims:
            CLAIMS.add(1, {"notification.claim.kind": "digest" if claim.digest else "single"})
        batch = _Batch(claims, self._lease)
        await asyncio.gather(*(self._work(batch) for _ in range(min(self._concurrency, len(claims)))))
        # What was not sent goes back, due at once (a claim another worker took meanwhile is not
        # touched: its lease token differs). If the outbox is down, its lease runs out instead.
        outbox = _Shielded(self.notifier.outbox)
        now = self.notifier.clock.now()
        rest = [*batch.late, *batch.waiting]
        late = {id(claim) for claim in batch.late}
        try:
            while rest:
                claim = rest[0]
                await outbox.settle(claim, _put_back(claim, now))
                rest.pop(0)
                if id(claim) in late:
                    LEASE_LOSSES.add(1, {"notification.lease.reason": "expiring"})
        except NotificationsUnavailableError:
            # The failed settle counted its own claim; the rest were not tried and run out too.
            if len(rest) > 1:
                LEASE_LOSSES.add(len(rest) - 1, {"notification.lease.reason": "unavailable"})
            if batch.error is None:
                raise
        if batch.error is not None:
            raise batch.error
        return batch.started

    async def _work(self, batch: _Batch) -> None:
        """One of ``concurrency`` lanes: process claims one after another while the batch holds."""
        while batch.error is None and batch.waiting:
            claim = batch.waiting.popleft()
            if self.notifier.clock.now() >= batch.start_by(claim):
                batch.late.append(claim)  # too little lease left: another worker may take it mid-send
                continue
            batch.started += 1
            try:
                await self._process(claim)
            except Exception as exc:  # noqa: BLE001 - re-raised by run_once once every lane stopped
                # The outcome could not be written (or something broke): stop the whole batch, so
                # nothing more is sent that would be sent again when the lease runs out.
                if batch.error is None:
                    batch.error = exc

    async def drain(self, *, max_rounds: int = 1000) -> int:
        """Call `run_once` until nothing is due; return the number of claims processed."""
        check_count("max_rounds", max_rounds, minimum=1, error=_Config)
        total = 0
        for _ in range(max_rounds):
            done = await self.run_once()
            if done == 0:
                break
            total += done
        return total

    async def run(self, *, poll_interval: float = 1.0) -> None:
        """Process forever, sleeping ``poll_interval`` when nothing is due (cancel to stop).

        An outbox or rate limiter that cannot be reached is logged and retried after ``poll_interval``;
        the claims it interrupted are taken again when their lease runs out.
        """
        check_seconds("poll_interval", poll_interval, maximum=3600.0, error=_Config)
        while True:
            try:
                done = await self.run_once()
            except NotificationsUnavailableError as exc:
                _log.warning("notification worker: %s; retrying in %.1f s", exc, poll_interval)
                done = 0
            if done == 0:
                await asyncio.sleep(poll_interval)

    async def _process(self, claim: Claim) -> None:
        outbox = _Shielded(self.notifier.outbox)
        first = claim.jobs[0]
        now = self.notifier.clock.now()
        channel = self.notifier.channels.get(first.channel)
        kind = {"notification.channel.kind": channel_kind(channel)}
        try:
            wait, scope = await self._rate_wait(first)
        except NotificationsUnavailableError:
            await outbox.settle(claim, _put_back(claim, now))  # not sent: due again at once
            raise
        if wait > 0:
            RATE_LIMIT_WAITS.add(1, {**kind, "notification.rate_limit.scope": scope})
            await outbox.settle(claim, _put_back(claim, now + timedelta(seconds=wait)))
            return
        try:
            content = self._content(claim)
        except TemplateError as exc:
            FAILED.add(1, {**kind, "notification.outcome": "permanent"})
            await outbox.settle(claim, [j.but(status=_S.FAILED, reason=str(exc)) for j in claim.jobs])
            return
        error: DeliveryError | None
        if channel is None:
            error = PermanentDeliveryError(first.channel, "no such channel is registered")
        else:
            started = self.notifier.clock.monotonic()
            error = await self._deliver(channel, first, content)
            SEND_DURATION.record(max(0.0, self.notifier.clock.monotonic() - started), kind)
        if error is None:
            SENT.add(1, kind)
            await outbox.settle(claim, [j.but(status=_S.SENT, reason=None) for j in claim.jobs])
            return
        FAILED.add(1, {**kind, "notification.outcome": "transient" if error.retryable else "permanent"})
        outcome, new = self._after_failure(claim, error, now)
        if outcome and outcome[0].status is _S.DEAD:
            DEAD.add(len(outcome), kind)
        await outbox.settle(claim, outcome, new)

    async def _rate_wait(self, job: Job) -> tuple[float, str]:
        """Seconds until ``job`` may be sent (0.0: now), and which bucket said so."""
        if self._limiter is None:
            return 0.0, ""
        rate = self._channel_rates.get(job.channel)
        if rate is not None:
            wait = await self._limiter.acquire(f"channel:{job.channel}", rate)
            if wait > 0:
                return wait, "channel"
        if self._recipient_rate is not None:
            wait = await self._limiter.acquire(f"recipient:{job.recipient_id}", self._recipient_rate)
            if wait > 0:
                return wait, "recipient"
        return 0.0, ""

    def _content(self, claim: Claim) -> Rendered:
        first = claim.jobs[0]
        if not claim.digest or first.digest_template is None:
            return first.content
        entries = [
            DigestEntry(
                notification_id=j.notification_id,
                category=j.category,
                subject=j.content.subject,
                text=j.content.text,
                html=j.content.html,
                created_at=j.created_at,
            )
            for j in claim.jobs
        ]
        context = DigestContext(key=first.digest_key or "", count=len(entries), entries=entries)
        return self.notifier.templates.render(first.digest_template, context)

    async def _deliver(
        self, channel: NotificationChannel[Any], job: Job, content: Rendered
    ) -> DeliveryError | None:
        message = Message(job.notification_id, job.recipient_id, job.address, content, critical=job.critical)
        try:
            payload = channel.prepare(message)
        except NotificationsConfigurationError as exc:
            # Stored before addresses were checked at send (or the digest cannot be built): no retry
            # will change it, so it fails now instead of dying slowly with a traceback per attempt.
            return PermanentDeliveryError(job.channel, f"the message cannot be prepared: {exc.reason}")
        except Exception as exc:  # noqa: BLE001 - a channel bug must not kill the worker; retry it
            _log.exception("channel %s raised while preparing", job.channel)
            return TransientDeliveryError(job.channel, f"unexpected {type(exc).__name__}")
        try:
            results = await channel.deliver(payload)
        except DeliveryError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - a channel bug must not kill the worker; retry it
            _log.exception("channel %s raised while delivering", job.channel)
            return TransientDeliveryError(job.channel, f"unexpected {type(exc).__name__}")
        return _outcome(job, results)

    def _after_failure(
        self, claim: Claim, error: DeliveryError, now: datetime
    ) -> tuple[list[Job], list[Job]]:
        first = claim.jobs[0]
        if error.retryable:
            delay = self._retries.get(first.channel, self._retry).delay(first.attempts)
            if delay is not None:
                back = _S.BATCHED if claim.digest else _S.PENDING
                later = now + timedelta(seconds=delay)
                return [j.but(status=back, available_at=later, reason=str(error)) for j in claim.jobs], []
            final = _S.DEAD
        else:
            final = _S.FAILED
        new: list[Job] = []
        outcome: list[Job] = []
        for job in claim.jobs:
            reason = str(error)
            if job.fallback_channel is not None and job.fallback_address:
                reason = f"{reason}; failed over to {job.fallback_channel}"
                new.append(_failover(job, now))
            outcome.append(job.but(status=final, reason=reason))
        return outcome, new


def _check_collaborators(outbox: object, preferences: object, defaults: object, clock: object) -> None:
    if outbox is not None:
        check_protocol("outbox", outbox, ("clock", "enqueue", "claim", "settle"), "Outbox")
    if preferences is not None:
        check_protocol("preferences", preferences, ("get", "put", "delete"), "PreferenceStore")
    if defaults is not None and not isinstance(defaults, PreferenceDefaults):
        raise NotificationsTypeError("defaults", "a PreferenceDefaults", defaults)
    if clock is not None:
        check_protocol("clock", clock, ("now", "monotonic"), "Clock")


def _outcome(job: Job, results: Sequence[RecipientResult]) -> DeliveryError | None:
    """The job's error from a channel's results, or ``None`` when it was delivered."""
    mine = [r for r in results if r.address == job.address]
    if mine:
        return mine[0].error
    # A channel fanning out to several endpoints (a user's browsers) succeeds when one accepted.
    if any(r.ok for r in results):
        return None
    errors = [r.error for r in results if r.error is not None]
    return errors[0] if errors else PermanentDeliveryError(job.channel, "the channel reported no result")


class _Batch:
    """The claims of one `DeliveryWorker.run_once`, shared by its lanes."""

    def __init__(self, claims: Sequence[Claim], lease: float) -> None:
        self.waiting = deque(claims)
        self.late: list[Claim] = []
        self.started = 0
        self.error: Exception | None = None
        self._half = timedelta(seconds=lease / 2)

    def start_by(self, claim: Claim) -> datetime:
        """The last instant a send of ``claim`` may start: half its lease before the lease ends."""
        until = claim.jobs[0].lease_until
        return until - self._half if until is not None else datetime.max.replace(tzinfo=UTC)


def _put_back(claim: Claim, due: datetime) -> list[Job]:
    """The claim's jobs back in the queue, due at ``due``, without counting an attempt."""
    back = _S.BATCHED if claim.digest else _S.PENDING
    return [j.but(status=back, attempts=j.attempts - 1, available_at=due) for j in claim.jobs]


class _Shielded:
    """Settles that survive the worker's cancellation.

    A message that went out is recorded as sent even while the worker is being stopped, so it is not
    sent again when the lease runs out.
    """

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def settle(self, claim: Claim, outcome: Sequence[Job], new: Sequence[Job] = ()) -> None:
        try:
            await asyncio.shield(self._outbox.settle(claim, outcome, new))
        except NotificationsUnavailableError:
            # The outcome is not written: the claim stays leased until its lease runs out.
            LEASE_LOSSES.add(1, {"notification.lease.reason": "unavailable"})
            raise


def _failover(job: Job, now: datetime) -> Job:
    if job.fallback_channel is None or job.fallback_address is None:  # pragma: no cover - checked by caller
        raise _Config("fallback_channel", None, "the job has no fallback")
    return Job(
        id=uuid.uuid4().hex,
        notification_id=job.notification_id,
        recipient_id=job.recipient_id,
        channel=job.fallback_channel,
        address=job.fallback_address,
        category=job.category,
        content=job.content,
        created_at=now,
        available_at=now,
        critical=job.critical,
        reason=f"failover from {job.channel}",
    )
