"""`WebhookReceiver` (verify + replay guard), and the rules its synchronous twin shares with it.

The functions below hold every decision (how a verifier's bug is refused, which replay keys are
remembered, what a guard's claim means, how a guard's failure is reported); `WebhookReceiver` and
`SyncWebhookReceiver` (``_sync``) only call the guard, one awaiting it and one not.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import ClassVar, Final

from ._checks import MAX_SECONDS
from ._metrics import REFUSALS, UNAVAILABLE
from ._replay import (
    DEFAULT_LEASE,
    ReplayClaim,
    ReplayGuard,
    ReplayStatus,
    SyncReplayGuard,
    check_ttl,
)
from ._verify import Headers, VerifiedWebhook, Verifier
from .exceptions import (
    ReplayedWebhookError,
    WebhookInFlightError,
    WebhooksConfigurationError,
    WebhooksTypeError,
    WebhooksUnavailableError,
    WebhookVerificationError,
)

__all__ = ["WebhookReceiver"]

logger = logging.getLogger(__name__)

# How long ids are remembered when the scheme signs no timestamp (GitHub) and no ttl is given.
_UNBOUNDED_REPLAY_TTL: Final = 7 * 24 * 3600.0
_MAX_REPLAY_KEY: Final = 4096
_REPLAYED: Final = {"webhooks.reason": "replay"}
_IN_FLIGHT: Final = {"webhooks.reason": "in_flight"}
_GUARD: Final = {"webhooks.component": "replay_guard"}


class ReceiverBase[G: (ReplayGuard, SyncReplayGuard)]:
    """What `WebhookReceiver` and `SyncWebhookReceiver` share: the arguments, their checks, `verify`.

    A subclass names the guard it takes (``ReplayGuard`` awaited, ``SyncReplayGuard`` called) and the
    twin that takes the other kind, for the error that points a wrong guard to it.
    """

    __slots__ = ("_guard", "_lease", "_ttl", "_verifier")

    # (the Protocol, whether its claim is awaited, how it is described, the receiver for the other kind)
    _guard_kind: ClassVar[tuple[type, bool, str, str]]

    def __init__(
        self,
        verifier: Verifier,
        *,
        replay_guard: G | None = None,
        replay_ttl: float | None = None,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        kind, awaited, described, twin = self._guard_kind
        if replay_guard is not None and (
            not isinstance(replay_guard, kind)
            or inspect.iscoroutinefunction(getattr(replay_guard, "claim", None)) is not awaited
        ):
            other = "a SyncReplayGuard" if awaited else "an async ReplayGuard"
            raise WebhooksConfigurationError(
                "replay_guard",
                type(replay_guard).__name__,
                f"must be {described} or None; {other} goes to {twin}",
            )
        self._verifier = check_verifier(verifier)
        self._guard: G | None = replay_guard
        self._ttl, self._lease = check_ttls(verifier, replay_ttl, lease)

    @property
    def verifier(self) -> Verifier:
        """The verifier in use."""
        return self._verifier

    def verify(self, headers: Headers, body: bytes | str) -> VerifiedWebhook:
        """Verify without the replay guard (synchronous).

        Raises:
            WebhookVerificationError: It is not authentic (a subclass says why). A verifier of your
                own that raises anything but a `WebhookVerificationError` has a bug: that is logged, and
                the webhook is refused with a plain `WebhookVerificationError`, so it is never
                processed and never a 500.
        """
        return verify_with(self._verifier, headers, body)


class WebhookReceiver(ReceiverBase[ReplayGuard]):
    """Verifies webhooks and, with a replay guard, hands each id to one handler until it succeeds.

    Framework-independent: hand it the headers and the raw body from any server, and handle the
    webhook inside `accept`::

        async with receiver.accept(request.headers, await request.body()) as webhook:
            await process(webhook)  # raises: the id is released, the sender's retry is handled

    The id is claimed under a short ``lease`` while the handler runs and marked done (a replay for
    ``replay_ttl`` seconds) only when it succeeded. A retry that finds the lease still running gets a
    `WebhookInFlightError`; one that comes after a failure, or after the lease ran out, is handled.
    So no webhook is answered as a replay unless a handler succeeded for it; a duplicate is possible
    only when a handler succeeded but its done mark could not be written, or ran past its lease.

    Args:
        verifier: A `Verifier` (`WebhookVerifier`, `StripeVerifier`, `GitHubVerifier` or yours).
        replay_guard: Remembers ids (`MemoryReplayGuard`, `RedisReplayGuard`); ``None`` accepts
            replays that are still inside the timestamp tolerance.
        replay_ttl: How long handled ids are remembered; defaults to the verifier's ``replay_window``
            (twice the tolerance), or 7 days for schemes with no timestamp.
        lease: How long a delivery holds its id while its handler runs (60 s by default). Make it
            longer than your handler's longest run: a retry after the lease may run the handler again.

    Examples:
        >>> import asyncio
        >>> receiver = WebhookReceiver(WebhookVerifier(generate_secret()))
    """

    __slots__ = ()
    _guard_kind = (ReplayGuard, True, "a ReplayGuard (async claim, complete, release)", "SyncWebhookReceiver")

    async def receive(self, headers: Headers, body: bytes | str) -> VerifiedWebhook:
        """Verify the webhook and claim its id under the lease; `complete` or `forget` it afterwards.

        Prefer `accept`, which does both. A claimed webhook left without either is free again when
        its lease runs out (a retry then runs the handler again).

        Returns:
            The webhook, carrying its claim (`VerifiedWebhook.claim_token`) when there is a guard.

        Raises:
            WebhookVerificationError: It is not authentic (a subclass says why).
            ReplayedWebhookError: A handler succeeded for it already, within the replay TTL.
            WebhookInFlightError: Another delivery of it holds the id under a running lease.
            WebhooksUnavailableError: The replay guard's server cannot be reached.
        """
        webhook = self.verify(headers, body)
        guard = self._guard
        if guard is None:
            return webhook
        key = replay_key(webhook)
        with guarding("claim", guard):
            claim = await guard.claim(key, self._lease)
        return claimed(webhook, claim, guard)

    async def complete(self, webhook: VerifiedWebhook) -> None:
        """Mark ``webhook``'s id handled: its retries and replays are answered as replays from now on.

        Call it only once the handler has succeeded.

        Raises:
            WebhooksConfigurationError: ``webhook`` is not a `VerifiedWebhook`.
            WebhooksUnavailableError: The replay guard's server cannot be reached (the claim then runs
                out with its lease, and a later delivery of the id is handled again).
        """
        guard = self._guard
        if guard is not None and settled(webhook):
            with guarding("complete", guard):
                await guard.complete(webhook.replay_key, self._ttl)

    async def forget(self, webhook: VerifiedWebhook) -> None:
        """Release ``webhook``'s claim so its retry is handled (call it when handling failed).

        Only this delivery's own claim is released: not a done mark, nor a claim another delivery
        took after this one's lease ran out.

        Raises:
            WebhooksConfigurationError: ``webhook`` is not a `VerifiedWebhook`.
            WebhooksUnavailableError: The replay guard's server cannot be reached (the claim then runs
                out with its lease; until then a retry gets `WebhookInFlightError`, never a replay).
        """
        guard = self._guard
        if guard is not None and settled(webhook):
            assert webhook.claim_token is not None  # noqa: S101 - settled() checked it
            with guarding("release", guard):
                await guard.release(webhook.replay_key, webhook.claim_token)

    @asynccontextmanager
    async def accept(self, headers: Headers, body: bytes | str) -> AsyncIterator[VerifiedWebhook]:
        """Receive the webhook for the ``async with`` block: done if the block ends, released if it raises.

        A done mark or release that cannot be written (the guard is down) is logged, not raised: the
        block's own outcome stands, and the claim runs out with its lease.

        Raises:
            WebhookVerificationError: It is not authentic (answer 400/401), including
                `ReplayedWebhookError` (answer 2xx: it was handled).
            WebhookInFlightError: Another delivery is being handled (answer 503 with ``Retry-After``).
            WebhooksUnavailableError: The replay guard cannot be reached (answer 503 with ``Retry-After``).
        """
        webhook = await self.receive(headers, body)
        try:
            yield webhook
        except BaseException:
            await self.settle(webhook, handled=False)
            raise
        await self.settle(webhook, handled=True)

    async def settle(self, webhook: VerifiedWebhook, *, handled: bool) -> bool:
        """`complete` (``handled``) or `forget` ``webhook``; log instead of raising if the guard is down.

        Returns:
            Whether the guard recorded it.

        Raises:
            WebhooksConfigurationError: ``webhook`` is not a `VerifiedWebhook`, or ``handled`` not a bool.
        """
        check_handled(handled)
        try:
            if handled:
                await self.complete(webhook)
            else:
                await self.forget(webhook)
        except WebhooksUnavailableError as exc:
            log_unsettled(exc, webhook, handled=handled)
            return False
        return True


def check_verifier(verifier: object) -> Verifier:
    """``verifier`` if it has a ``verify`` method (a `Verifier`)."""
    if not callable(getattr(verifier, "verify", None)):
        raise WebhooksConfigurationError("verifier", type(verifier).__name__, "must have a verify() method")
    return verifier  # type: ignore[return-value]


def check_ttls(verifier: object, replay_ttl: float | None, lease: float) -> tuple[float, float]:
    """The replay TTL (the verifier's window by default) and the lease, checked."""
    window = getattr(verifier, "replay_window", None) if replay_ttl is None else replay_ttl
    # A window past MAX_SECONDS (a tolerance of decades) is remembered for MAX_SECONDS: for ever.
    if replay_ttl is None and isinstance(window, int | float) and window > MAX_SECONDS:
        window = MAX_SECONDS
    return check_ttl(_UNBOUNDED_REPLAY_TTL if window is None else window), check_ttl(lease, "lease")


def check_handled(handled: object) -> None:
    """``settle``'s ``handled`` must be a bool."""
    if not isinstance(handled, bool):
        raise WebhooksConfigurationError("handled", handled, "must be a bool")


def verify_with(verifier: Verifier, headers: Headers, body: bytes | str) -> VerifiedWebhook:
    """``verifier.verify``, where anything but a `WebhookVerificationError` is a bug: logged, refused."""
    try:
        return verifier.verify(headers, body)
    except WebhookVerificationError:
        raise
    except Exception as exc:
        logger.warning(
            "%s.verify raised %s instead of a WebhookVerificationError; the webhook is refused",
            type(verifier).__name__,
            type(exc).__name__,
            exc_info=True,
        )
        raise WebhookVerificationError(
            f"the verifier failed ({type(exc).__name__}); the webhook is refused"
        ) from exc


def replay_key(webhook: VerifiedWebhook) -> str:
    """The key a guard remembers ``webhook`` by: 1 to 4096 printable characters, or it is refused."""
    key = webhook.replay_key
    if not isinstance(key, str) or not 0 < len(key) <= _MAX_REPLAY_KEY or not key.isprintable():
        # Only a verifier of your own can get here: refuse what the guard could not remember.
        raise WebhookVerificationError("the verified webhook's replay key is not 1 to 4096 printable chars")
    return key


def claimed(webhook: VerifiedWebhook, claim: object, guard: object) -> VerifiedWebhook:
    """``webhook`` with its claim token, if ``claim`` (a guard's answer) took the id; else the refusal.

    Raises:
        ReplayedWebhookError: A handler succeeded for the id already.
        WebhookInFlightError: Another delivery holds the id under a running lease.
        WebhooksUnavailableError: The guard answered something other than a `ReplayClaim`.
    """
    # A guard of your own may return anything: checked, not trusted.
    if not isinstance(claim, ReplayClaim):
        logger.error("%s.claim returned %s, not a ReplayClaim", type(guard).__name__, type(claim).__name__)
        raise WebhooksUnavailableError("replay guard", type(guard).__name__, "claim: not a ReplayClaim")
    if claim.status is ReplayStatus.DONE:
        REFUSALS.add(1, _REPLAYED)
        raise ReplayedWebhookError(webhook.replay_key)
    if claim.status is ReplayStatus.IN_FLIGHT:
        REFUSALS.add(1, _IN_FLIGHT)
        raise WebhookInFlightError(webhook.replay_key, claim.lease_left)
    return replace(webhook, claim_token=claim.token)


def settled(webhook: object) -> bool:
    """Whether ``webhook`` (a `VerifiedWebhook`, or a typed error) holds a claim to complete or release."""
    if not isinstance(webhook, VerifiedWebhook):
        raise WebhooksTypeError("webhook", "a VerifiedWebhook", webhook)
    return webhook.claim_token is not None


@contextmanager
def guarding(operation: str, guard: object) -> Iterator[None]:
    """Around one guard call: anything but a typed `WebhooksUnavailableError` is a guard bug, logged.

    Both kinds count as an unavailable guard. A plain ``with`` serves the async calls too.
    """
    try:
        yield
    except WebhooksUnavailableError:
        UNAVAILABLE.add(1, _GUARD)
        raise
    except Exception as exc:
        UNAVAILABLE.add(1, _GUARD)
        logger.error(
            "%s.%s raised %s; treated as an unavailable guard",
            type(guard).__name__,
            operation,
            type(exc).__name__,
            exc_info=True,
        )
        raise WebhooksUnavailableError(
            "replay guard", type(guard).__name__, f"{operation}: {type(exc).__name__}"
        ) from exc


def log_unsettled(exc: WebhooksUnavailableError, webhook: VerifiedWebhook, *, handled: bool) -> None:
    """Say what a done mark or release the guard could not write means for the sender's next delivery."""
    if handled:
        logger.warning(
            "replay guard unavailable (%s); %s was handled but is not marked done: a delivery "
            "of it after its lease may be handled again",
            exc.reason,
            webhook.replay_key,
        )
    else:
        logger.warning(
            "replay guard unavailable (%s); %s stays claimed until its lease runs out, then a "
            "retry is handled",
            exc.reason,
            webhook.replay_key,
        )
