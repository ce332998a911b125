"""`DeliveryWorker`: claims due deliveries from an `Outbox`, signs and sends them (extra ``http``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

from buttress.core import AsyncResource, Clock, Owned

from ._checks import positive_int, positive_number
from ._delivery import Attempt, DeadDelivery, DeliveryStatus, decide
from ._endpoints import Endpoint
from ._metrics import CLAIM_SIZE, DEAD, DELIVERIES, DELIVERY_DURATION, ENDPOINT_HEALTH, UNAVAILABLE
from ._outbox import Claim, Outbox, Outcome, SendSignal
from ._ssrf import NetworkPolicy
from ._standard import WebhookSigner
from ._transport import Resolver, SafeTransport
from .exceptions import (
    EndpointNotFoundError,
    UnsafeDestinationError,
    WebhooksConfigurationError,
    WebhooksTypeError,
    WebhooksUnavailableError,
)

try:
    import httpx
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    from .exceptions import MissingExtraError

    raise MissingExtraError("DeliveryWorker", "http") from exc

__all__ = ["DeliveryWorker"]

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT: Final = "buttress-webhooks/0.1"
# What a User-Agent may hold: printable ASCII and tab (no CR/LF: no header injection).
_HEADER_VALUE: Final = re.compile(r"[\t\x20-\x7e]*")
# Rounds in flight at once in run() and drain(): one sends while the other records and claims.
_PIPELINES: Final = 2
_OUTBOX_DOWN: Final = {"webhooks.component": "outbox"}
_LEASE_EXPIRED: Final = {"webhooks.reason": "lease_expired"}
_LAST_FAILED: Final = {"webhooks.reason": "last_attempt_failed"}
_STARTED_FAILING: Final = {"webhooks.change": "failing"}

type DeadCallback = Callable[[DeadDelivery], Awaitable[None]]
type DisabledCallback = Callable[[Endpoint], Awaitable[None]]


class _RateLimiter:
    """Per-endpoint token buckets on the clock's monotonic reading (one worker's view)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def wait(self, endpoint: Endpoint) -> float:
        """Take a token; return 0, or the seconds until one is free (then nothing is taken)."""
        rate = endpoint.rate_limit
        if rate is None:
            return 0.0
        now = self._clock.monotonic()
        tokens, last = self._buckets.get(endpoint.id, (float(rate), now))
        tokens = min(float(rate), tokens + (now - last) * rate)
        if tokens >= 1:
            self._buckets[endpoint.id] = (tokens - 1, now)
            return 0.0
        self._buckets[endpoint.id] = (tokens, now)
        return (1 - tokens) / rate


class DeliveryWorker(AsyncResource):
    """Delivers webhooks from an `Outbox`: claim, sign, POST, record, schedule.

    With a `PostgresOutbox`, run as many as you like, in as many processes: each claims due deliveries
    with ``FOR UPDATE SKIP LOCKED`` under a lease, so each delivery goes to one worker at a time; a
    `MemoryOutbox` serves the workers of one process. A worker that dies mid-
    delivery leaves the lease to run out; the delivery is then due again and another worker sends it
    (the receiver sees the same ``webhook-id``, and deduplicates on it).

    Outcome rules: 2xx within ``timeout`` is success; 3xx (redirects are never followed), 4xx, 5xx,
    timeouts and connection errors are failures retried on ``outbox.schedule``; 429/502/503/504 wait
    for their ``Retry-After`` (at most ``max_retry_after``); 410 Gone disables the endpoint and cancels
    its pending deliveries; after the last attempt the delivery is dead and ``on_dead`` is called; an
    endpoint whose attempts have all failed for ``disable_after`` is disabled (``on_endpoint_disabled``).

    Args:
        outbox: Where deliveries come from: any `Outbox` (`MemoryOutbox`, `PostgresOutbox`, your own).
        policy: The SSRF guard's address rules (public addresses only by default). Ignored when
            ``client`` is given: then the client's transport is responsible.
        resolver: How host names are resolved by the guard.
        verify: TLS verification of ``https`` endpoints: ``True`` (certifi's CAs), ``False``, a CA
            file or directory, or an ``ssl.SSLContext``. Ignored when ``client`` is given. A certificate
            that does not verify (unknown CA, wrong host name) fails the attempt like a refused
            connection: it is retried on ``outbox.schedule``.
        client: An httpx client to send with (its redirects must be off; the worker never closes
            it); one with `SafeTransport` is built, and closed by `aclose`, when omitted.
        timeout: Seconds an attempt may take, in all.
        lease: Seconds a claim is held; must exceed ``timeout``, so a live worker never loses its lease.
        batch_size: Deliveries claimed per round.
        concurrency: Deliveries in flight at once.
        max_retry_after: The longest ``Retry-After`` honoured, in seconds.
        disable_after: How long an endpoint may fail without a success before it is disabled
            (``None``: never).
        response_body_limit: Bytes of each answer kept in the attempt log.
        user_agent: The ``User-Agent`` header.
        poll_interval: Seconds `run` waits when nothing was due. A send through an outbox of this
            process (`MemoryOutbox`, `PostgresOutbox` outside a caller's transaction) wakes it at
            once; the poll finds what other processes, and callers' transactions, committed.
        on_dead: ``async`` callback for a delivery whose last attempt failed.
        on_endpoint_disabled: ``async`` callback for an endpoint the worker disabled.
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        policy: NetworkPolicy | None = None,
        resolver: Resolver | None = None,
        verify: bool | str | ssl.SSLContext = True,
        client: httpx.AsyncClient | None = None,
        timeout: float = 15.0,
        lease: float = 60.0,
        batch_size: int = 16,
        concurrency: int = 16,
        max_retry_after: float = 24 * 3600.0,
        disable_after: timedelta | None = timedelta(days=5),
        response_body_limit: int = 1024,
        user_agent: str = DEFAULT_USER_AGENT,
        poll_interval: float = 1.0,
        on_dead: DeadCallback | None = None,
        on_endpoint_disabled: DisabledCallback | None = None,
    ) -> None:
        if not isinstance(outbox, Outbox):
            raise WebhooksTypeError("outbox", "an Outbox (claim, settle, release, cancel_endpoint)", outbox)
        self.outbox: Outbox = outbox
        self._timeout = positive_number("timeout", timeout)
        self._lease = positive_number("lease", lease)
        self._batch = positive_int("batch_size", batch_size)
        self._slots = asyncio.Semaphore(positive_int("concurrency", concurrency))
        # The last delivery of a round may wait for ceil(2 x batch / concurrency) attempts (two rounds
        # share the slots) before it ends; its lease must outlast that.
        worst = self._timeout * -(-_PIPELINES * self._batch // concurrency)
        if self._lease <= worst:
            raise WebhooksConfigurationError(
                "lease", lease, f"must exceed timeout x ceil(2 x batch_size / concurrency) = {worst:g} s"
            )
        self._max_retry_after = positive_number("max_retry_after", max_retry_after)
        if disable_after is not None and (
            not isinstance(disable_after, timedelta) or disable_after <= timedelta(0)
        ):
            raise WebhooksConfigurationError(
                "disable_after", disable_after, "must be a positive timedelta or None"
            )
        self._disable_after = disable_after
        self._body_limit = positive_int("response_body_limit", response_body_limit)
        self._poll = positive_number("poll_interval", poll_interval)
        if (
            not isinstance(user_agent, str)
            or not _HEADER_VALUE.fullmatch(user_agent)
            or len(user_agent) > 1024
        ):
            raise WebhooksConfigurationError(
                "user_agent", user_agent, "must be printable ASCII, at most 1024"
            )
        self._user_agent = user_agent
        for name, callback in (("on_dead", on_dead), ("on_endpoint_disabled", on_endpoint_disabled)):
            if callback is not None and not callable(callback):
                raise WebhooksConfigurationError(
                    name, type(callback).__name__, "must be an async callable or None"
                )
        if client is not None and not isinstance(client, httpx.AsyncClient):
            raise WebhooksTypeError("client", "an httpx.AsyncClient", client)
        self._on_dead = on_dead
        self._on_disabled = on_endpoint_disabled
        super().__init__()
        self._client = (
            client
            if client is not None
            else httpx.AsyncClient(
                transport=SafeTransport(
                    policy,
                    resolver=resolver,
                    verify=verify,
                    # One connection per slot: a larger pool only costs httpcore time scanning it.
                    limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
                ),
                timeout=self._timeout,
                follow_redirects=False,
                trust_env=False,
            )
        )
        self._owned = Owned(self._client, None if client is not None else self._client.aclose)
        self._signers: dict[tuple[str, tuple[str, ...]], WebhookSigner] = {}
        self._limiter = _RateLimiter(outbox.clock)
        self._token_prefix = secrets.token_hex(6)
        self._rounds = 0

    @property
    def clock(self) -> Clock:
        """The outbox's clock, which the worker uses too."""
        return self.outbox.clock

    async def run_once(self) -> int:
        """Claim one batch of due deliveries and attempt each.

        Deliveries found with no attempt left (the lease of their last attempt ran out: a worker died
        or hung) are dead; ``on_dead`` is called for each. If the worker is cancelled mid-round, the
        results it has are recorded and the claims it had not started sending are given back without
        using an attempt; an attempt in flight keeps its lease, which runs out, and counts.

        Returns:
            How many due deliveries the round took: claimed, or found dead.
        """
        self._rounds += 1
        token = f"{self._token_prefix}-{self._rounds}"
        claims, dead = await self.outbox.claim(limit=self._batch, lease=self._lease, token=token)
        CLAIM_SIZE.record(len(claims) + len(dead))
        if claims:
            await self._deliver(claims)
        for item in dead:
            await self._buried(item)
        return len(claims) + len(dead)

    async def _deliver(self, claims: list[Claim]) -> None:
        started: set[int] = set()
        tasks: list[asyncio.Task[Outcome | None]] = []
        endpoints: dict[str, Endpoint | None] = {}
        try:
            for endpoint_id in sorted({c.endpoint_id for c in claims}):
                try:
                    endpoints[endpoint_id] = await self.outbox.endpoints.get(endpoint_id)
                except EndpointNotFoundError:
                    endpoints[endpoint_id] = None
            tasks = [asyncio.create_task(self._process(c, endpoints[c.endpoint_id], started)) for c in claims]
            results = await asyncio.gather(*tasks)
        except BaseException:
            # Cancelled (shutdown) or failed: what was not sent goes back without using an attempt.
            await asyncio.shield(self._give_back(claims, tasks, started, endpoints))
            raise
        outcomes = [r for r in results if r is not None]
        settled_at = self.clock.now()
        held, failing = await self.outbox.settle(outcomes)
        await self._consequences(outcomes, held, failing, endpoints, settled_at)

    async def _give_back(
        self,
        claims: list[Claim],
        tasks: list[asyncio.Task[Outcome | None]],
        started: set[int],
        endpoints: dict[str, Endpoint | None],
    ) -> None:
        """On cancellation: record the finished results, release the claims never sent."""
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        finished = [t.result() for t in tasks if t.done() and not t.cancelled() and t.exception() is None]
        outcomes = [o for o in finished if o is not None]
        unsent = [c for c in claims if c.delivery_id not in started]
        try:
            if outcomes:
                settled_at = self.clock.now()
                held, failing = await self.outbox.settle(outcomes)
                await self._consequences(outcomes, held, failing, endpoints, settled_at)
            released = await self.outbox.release(unsent)
        except WebhooksUnavailableError as exc:
            UNAVAILABLE.add(1, _OUTBOX_DOWN)
            logger.warning("cancelled with the outbox unavailable; leases will run out: %s", exc)
            return
        logger.info("cancelled: recorded %d results, gave back %d unsent claims", len(outcomes), released)

    async def run(self, *, stop: asyncio.Event | None = None) -> None:
        """Deliver until ``stop`` is set (or the task is cancelled); survive database outages.

        Two rounds run at once, sharing the ``concurrency`` slots: while one records its results and
        claims again, the other keeps the slots busy.
        """
        if stop is not None and not isinstance(stop, asyncio.Event):
            raise WebhooksTypeError("stop", "an asyncio.Event or None", stop)
        stop = stop if stop is not None else asyncio.Event()
        await asyncio.gather(*(self._loop(stop) for _ in range(_PIPELINES)))

    async def _loop(self, stop: asyncio.Event) -> None:
        signal = getattr(self.outbox, "_sends", None)
        sent = signal.subscribe() if isinstance(signal, SendSignal) else None
        try:
            while not stop.is_set():
                if sent is not None:
                    sent.clear()  # before claiming: a send during the claim wakes the next wait
                try:
                    claimed = await self.run_once()
                except WebhooksUnavailableError as exc:
                    UNAVAILABLE.add(1, _OUTBOX_DOWN)
                    logger.warning("webhook outbox unavailable, retrying in %.1f s: %s", self._poll, exc)
                    await _wait_for_any((stop,), self._poll)
                    continue
                if not claimed:
                    await _wait_for_any((stop,) if sent is None else (stop, sent), self._poll)
        finally:
            if isinstance(signal, SendSignal) and sent is not None:
                signal.unsubscribe(sent)

    async def drain(self, *, max_rounds: int = 1000) -> int:
        """Run rounds (two at once, as `run` does) until nothing is due now; return how many were claimed."""
        budget = iter(range(positive_int("max_rounds", max_rounds)))

        async def loop() -> int:
            total = 0
            for _ in budget:
                claimed = await self.run_once()
                if not claimed:
                    break
                total += claimed
            return total

        return sum(await asyncio.gather(*(loop() for _ in range(_PIPELINES))))

    async def _process(self, claim: Claim, endpoint: Endpoint | None, started: set[int]) -> Outcome | None:
        if endpoint is None or not endpoint.enabled:
            return Outcome(claim, DeliveryStatus.CANCELLED, None, None)
        wait = self._limiter.wait(endpoint)
        if wait > 0:
            await self.outbox.release([claim], until=self.clock.now() + timedelta(seconds=wait))
            return None
        async with self._slots:
            started.add(claim.delivery_id)
            attempt, retry_after = await self._attempt(claim, endpoint)
        decision = decide(
            status_code=attempt.status_code,
            retry_after=retry_after,
            attempt=claim.attempt,
            schedule=self.outbox.schedule,
            now=self.clock.now(),
            max_retry_after=self._max_retry_after,
        )
        attempt = replace(attempt, outcome=decision.outcome)
        measured = {"webhooks.outcome": decision.outcome}
        DELIVERIES.add(1, measured)
        DELIVERY_DURATION.record(attempt.latency, measured)
        return Outcome(claim, decision.status, decision.next_attempt_at, attempt)

    async def _consequences(
        self,
        outcomes: list[Outcome],
        held: set[int],
        failing: dict[str, datetime],
        endpoints: dict[str, Endpoint | None],
        settled_at: datetime,
    ) -> None:
        gone: set[str] = set()
        for outcome in outcomes:
            claim, attempt = outcome.claim, outcome.attempt
            if attempt is None:
                continue
            if claim.delivery_id not in held:
                logger.warning(
                    "delivery %s outlived its lease; its result was logged, not applied", claim.delivery_id
                )
                continue
            if attempt.outcome == "gone":
                gone.add(claim.endpoint_id)
            elif outcome.status is DeliveryStatus.DEAD:
                await self._dead(claim, attempt)
        for since in failing.values():
            if since >= settled_at:  # this batch's failure started the endpoint's failing period
                ENDPOINT_HEALTH.add(1, _STARTED_FAILING)
        now = self.clock.now()
        for endpoint_id in sorted(gone):
            await self._disable(endpoint_id, "the endpoint answered 410 Gone", "gone")
        if self._disable_after is None:
            return
        for endpoint_id, since in sorted(failing.items()):
            if endpoint_id not in gone and endpoints.get(endpoint_id) and now - since >= self._disable_after:
                await self._disable(endpoint_id, f"every attempt failed since {since.isoformat()}", "failing")

    async def _attempt(self, claim: Claim, endpoint: Endpoint) -> tuple[Attempt, str | None]:
        started_at = self.clock.now()
        signer = self._signer(endpoint)
        headers = {
            **endpoint.headers,
            "content-type": "application/json",
            "user-agent": self._user_agent,
            **signer.headers(claim.body, msg_id=claim.message_id, timestamp=started_at),
        }
        status: int | None = None
        body = ""
        error: str | None = None
        retry_after: str | None = None
        began = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.stream(
                    "POST", endpoint.url, content=claim.body, headers=headers
                ) as response:
                    status = response.status_code
                    retry_after = response.headers.get("retry-after")
                    body = await self._read_start(response)
        except TimeoutError:
            error = f"timed out after {self._timeout:g} s"
        except UnsafeDestinationError as exc:
            error = f"refused by the SSRF guard: {exc.reason}"
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            # InvalidURL: a URL httpx cannot send to (an IDNA host it refuses) is the attempt's failure.
            error = f"{type(exc).__name__}: {exc}"[:500]
        latency = time.perf_counter() - began
        attempt = Attempt(
            delivery_id=claim.delivery_id,
            message_id=claim.message_id,
            endpoint_id=claim.endpoint_id,
            attempt=claim.attempt,
            started_at=started_at,
            status_code=status,
            latency=latency,
            response_body=body,
            error=error,
            outcome="",
        )
        return attempt, retry_after

    async def _read_start(self, response: httpx.Response) -> str:
        kept = bytearray()
        async for chunk in response.aiter_bytes():
            kept += chunk[: self._body_limit - len(kept)]
            if len(kept) >= self._body_limit:
                break
        return kept.decode("utf-8", errors="replace")

    def _signer(self, endpoint: Endpoint) -> WebhookSigner:
        keys = endpoint.signing_secrets(self.clock.now())
        cache_key = (endpoint.id, keys)
        signer = self._signers.get(cache_key)
        if signer is None:
            if len(self._signers) > 10_000:
                self._signers.clear()
            signer = self._signers[cache_key] = WebhookSigner(keys, clock=self.clock)
        return signer

    async def _disable(self, endpoint_id: str, reason: str, why: str) -> None:
        try:
            current = await self.outbox.endpoints.get(endpoint_id)
        except EndpointNotFoundError:
            return
        if not current.enabled:
            return
        disabled = await self.outbox.endpoints.update(
            replace(current, enabled=False, disabled_reason=reason, updated_at=self.clock.now())
        )
        cancelled = await self.outbox.cancel_endpoint(endpoint_id)
        ENDPOINT_HEALTH.add(1, {"webhooks.change": "disabled", "webhooks.reason": why})
        logger.warning(
            "disabled webhook endpoint %s (%s); cancelled %d deliveries", endpoint_id, reason, cancelled
        )
        if self._on_disabled is not None:
            await _quietly(self._on_disabled(disabled), "on_endpoint_disabled")

    async def _buried(self, dead: DeadDelivery) -> None:
        DEAD.add(1, _LEASE_EXPIRED)
        logger.warning(
            "webhook delivery %s to %s is dead after %d attempts: %s",
            dead.delivery_id,
            dead.endpoint_id,
            dead.attempts,
            dead.last_error,
        )
        if self._on_dead is not None:
            await _quietly(self._on_dead(dead), "on_dead")

    async def _dead(self, claim: Claim, attempt: Attempt) -> None:
        DEAD.add(1, _LAST_FAILED)
        logger.warning(
            "webhook delivery %s to %s is dead after %d attempts",
            claim.delivery_id,
            claim.endpoint_id,
            claim.attempt,
        )
        if self._on_dead is not None:
            dead = DeadDelivery(
                delivery_id=claim.delivery_id,
                message_id=claim.message_id,
                endpoint_id=claim.endpoint_id,
                event_type=claim.event_type,
                attempts=claim.attempt,
                last_status_code=attempt.status_code,
                last_error=attempt.error,
            )
            await _quietly(self._on_dead(dead), "on_dead")

    async def _aclose(self) -> None:
        """Close the HTTP client if the worker built it."""
        await self._owned.release()


async def _wait_for_any(events: tuple[asyncio.Event, ...], timeout: float) -> None:
    """Return when one of ``events`` is set, or after ``timeout`` seconds."""
    if len(events) == 1:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(events[0].wait(), timeout)
        return
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def _quietly(call: Awaitable[None], name: str) -> None:
    try:
        await call
    except Exception:
        logger.exception("the %s callback raised", name)
