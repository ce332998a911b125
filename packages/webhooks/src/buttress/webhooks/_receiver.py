"""Receiver helpers: `WebhookReceiver` (verify + replay guard) and the ASGI app `WebhookEndpoint`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Final

from buttress.core import ArgumentTypeError, ClientDisconnectedError, Receive, Scope, Send, read_body, respond

from ._checks import MAX_SECONDS
from ._metrics import REFUSALS, UNAVAILABLE
from ._replay import (
    DEFAULT_LEASE,
    ReplayClaim,
    ReplayGuard,
    ReplayStatus,
    check_ttl,
    retry_after_seconds,
)
from ._verify import Headers, VerifiedWebhook, Verifier
from .exceptions import (
    InvalidBodyError,
    MalformedHeaderError,
    MissingHeaderError,
    ReplayedWebhookError,
    WebhookInFlightError,
    WebhooksConfigurationError,
    WebhooksError,
    WebhooksTypeError,
    WebhooksUnavailableError,
    WebhookVerificationError,
)

__all__ = ["WebhookEndpoint", "WebhookReceiver"]

logger = logging.getLogger(__name__)

# How long ids are remembered when the scheme signs no timestamp (GitHub) and no ttl is given.
_UNBOUNDED_REPLAY_TTL: Final = 7 * 24 * 3600.0
DEFAULT_MAX_BODY: Final = 1024 * 1024
_MAX_REPLAY_KEY: Final = 4096
# Retry-After when the replay guard cannot be reached: long enough for a reconnect, short enough for
# senders that honour it (Svix's next retry is 5 s after the first attempt).
_GUARD_DOWN_RETRY: Final = b"5"
_REPLAYED: Final = {"webhooks.reason": "replay"}
_IN_FLIGHT: Final = {"webhooks.reason": "in_flight"}
_GUARD: Final = {"webhooks.component": "replay_guard"}

type Handler = Callable[[VerifiedWebhook], Awaitable[object]]


class WebhookReceiver:
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

    __slots__ = ("_guard", "_lease", "_ttl", "_verifier")

    def __init__(
        self,
        verifier: Verifier,
        *,
        replay_guard: ReplayGuard | None = None,
        replay_ttl: float | None = None,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        if not callable(getattr(verifier, "verify", None)):
            raise WebhooksConfigurationError(
                "verifier", type(verifier).__name__, "must have a verify() method"
            )
        if replay_guard is not None and not isinstance(replay_guard, ReplayGuard):
            raise WebhooksConfigurationError(
                "replay_guard",
                type(replay_guard).__name__,
                "must be a ReplayGuard (claim, complete, release) or None",
            )
        self._verifier = verifier
        self._guard = replay_guard
        window = getattr(verifier, "replay_window", None) if replay_ttl is None else replay_ttl
        # A window past MAX_SECONDS (a tolerance of decades) is remembered for MAX_SECONDS: for ever.
        if replay_ttl is None and isinstance(window, int | float) and window > MAX_SECONDS:
            window = MAX_SECONDS
        self._ttl = check_ttl(_UNBOUNDED_REPLAY_TTL if window is None else window)
        self._lease = check_ttl(lease, "lease")

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
        try:
            return self._verifier.verify(headers, body)
        except WebhookVerificationError:
            raise
        except Exception as exc:
            logger.warning(
                "%s.verify raised %s instead of a WebhookVerificationError; the webhook is refused",
                type(self._verifier).__name__,
                type(exc).__name__,
                exc_info=True,
            )
            raise WebhookVerificationError(
                f"the verifier failed ({type(exc).__name__}); the webhook is refused"
            ) from exc

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
        key = webhook.replay_key
        if not isinstance(key, str) or not 0 < len(key) <= _MAX_REPLAY_KEY or not key.isprintable():
            # Only a verifier of your own can get here: refuse what the guard could not remember.
            raise WebhookVerificationError(
                "the verified webhook's replay key is not 1 to 4096 printable chars"
            )
        # A guard of your own may return anything: checked, not trusted.
        claim: object = await _guarded("claim", guard, guard.claim(key, self._lease))
        if not isinstance(claim, ReplayClaim):
            logger.error(
                "%s.claim returned %s, not a ReplayClaim", type(guard).__name__, type(claim).__name__
            )
            raise WebhooksUnavailableError("replay guard", type(guard).__name__, "claim: not a ReplayClaim")
        if claim.status is ReplayStatus.DONE:
            REFUSALS.add(1, _REPLAYED)
            raise ReplayedWebhookError(key)
        if claim.status is ReplayStatus.IN_FLIGHT:
            REFUSALS.add(1, _IN_FLIGHT)
            raise WebhookInFlightError(key, claim.lease_left)
        return replace(webhook, claim_token=claim.token)

    async def complete(self, webhook: VerifiedWebhook) -> None:
        """Mark ``webhook``'s id handled: its retries and replays are answered as replays from now on.

        Call it only once the handler has succeeded.

        Raises:
            WebhooksConfigurationError: ``webhook`` is not a `VerifiedWebhook`.
            WebhooksUnavailableError: The replay guard's server cannot be reached (the claim then runs
                out with its lease, and a later delivery of the id is handled again).
        """
        if not isinstance(webhook, VerifiedWebhook):
            raise WebhooksTypeError("webhook", "a VerifiedWebhook", webhook)
        guard = self._guard
        if guard is not None and webhook.claim_token is not None:
            await _guarded("complete", guard, guard.complete(webhook.replay_key, self._ttl))

    async def forget(self, webhook: VerifiedWebhook) -> None:
        """Release ``webhook``'s claim so its retry is handled (call it when handling failed).

        Only this delivery's own claim is released: not a done mark, nor a claim another delivery
        took after this one's lease ran out.

        Raises:
            WebhooksConfigurationError: ``webhook`` is not a `VerifiedWebhook`.
            WebhooksUnavailableError: The replay guard's server cannot be reached (the claim then runs
                out with its lease; until then a retry gets `WebhookInFlightError`, never a replay).
        """
        if not isinstance(webhook, VerifiedWebhook):
            raise WebhooksTypeError("webhook", "a VerifiedWebhook", webhook)
        guard = self._guard
        if guard is not None and webhook.claim_token is not None:
            await _guarded("release", guard, guard.release(webhook.replay_key, webhook.claim_token))

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
        if not isinstance(handled, bool):
            raise WebhooksConfigurationError("handled", handled, "must be a bool")
        try:
            if handled:
                await self.complete(webhook)
            else:
                await self.forget(webhook)
        except WebhooksUnavailableError as exc:
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
            return False
        return True


async def _guarded[T](operation: str, guard: ReplayGuard, call: Awaitable[T]) -> T:
    """Await a guard's ``call``; anything but a typed `WebhooksUnavailableError` is a guard bug, logged."""
    try:
        return await call
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


class WebhookEndpoint:
    """A small ASGI app that verifies each POST and hands the `VerifiedWebhook` to your handler.

    Answers (senders such as Stripe and Svix retry on anything but 2xx):

    - ``204``, or the 2xx the handler returns: handled; the id is marked done.
    - ``200`` without calling the handler: a replay of an id a handler succeeded for (so the sender
      stops retrying).
    - ``503`` with ``Retry-After``: another delivery of the id is being handled (its lease has that
      long to run), or the replay guard is unreachable. Nothing is wrong with the webhook: the sender
      retries.
    - ``500`` when the handler raises, or the 4xx/5xx status it returns: not handled; the claim is
      released so the retry is handled (or, with the guard down, runs out with its lease).
    - ``400`` for a missing or malformed header or body; ``401`` for a bad signature or timestamp;
      ``405`` for other methods; ``413`` for a body over ``max_body_size``.

    Args:
        handler: ``async def handler(webhook: VerifiedWebhook) -> None | int``. Returning normally is
            success; an int from 400 to 599 says it was not handled (answered as is, claim released).
        receiver: A `WebhookReceiver`, or a bare `Verifier` (no replay guard).
        max_body_size: The largest body read, in bytes.

    Examples:
        >>> async def handle(webhook: VerifiedWebhook) -> None:
        ...     print(webhook.json())
        >>> app = WebhookEndpoint(handle, WebhookVerifier(generate_secret()))
    """

    __slots__ = ("_handler", "_max_body", "_receiver")

    def __init__(
        self,
        handler: Handler,
        receiver: WebhookReceiver | Verifier,
        *,
        max_body_size: int = DEFAULT_MAX_BODY,
    ) -> None:
        if not callable(handler):
            raise WebhooksTypeError("handler", "an async callable", handler)
        if isinstance(max_body_size, bool) or not isinstance(max_body_size, int) or max_body_size < 1:
            raise WebhooksConfigurationError("max_body_size", max_body_size, "must be a positive int")
        self._handler = handler
        self._receiver = receiver if isinstance(receiver, WebhookReceiver) else WebhookReceiver(receiver)
        self._max_body = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        kind = scope.get("type")
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            return
        if scope.get("method") != "POST":
            await _respond(send, 405, b"only POST is accepted", [(b"allow", b"POST")])
            return
        try:
            body = await read_body(receive, limit=self._max_body)
        except ClientDisconnectedError:
            # The sender went away mid-body: the answer likely reaches no one, and it retries.
            await _respond(send, 400, b"the request body was cut short")
            return
        except ArgumentTypeError:
            await _respond(send, 400, b"the request body is not bytes")
            return
        if body is None:
            await _respond(send, 413, b"body too large")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        await self._handle(headers, body, send)

    async def _handle(self, headers: dict[str, str], body: bytes, send: Send) -> None:
        try:
            webhook = await self._receiver.receive(headers, body)
        except WebhooksError as exc:
            await _respond(send, *_refusal(exc))
            return
        try:
            result = await self._handler(webhook)
        except Exception:
            logger.exception("webhook handler failed for %s", webhook.replay_key)
            await self._receiver.settle(webhook, handled=False)
            await _respond(send, 500, b"handler failed")
            return
        except BaseException:
            # Cancelled (a shutdown, a disconnect): not handled. Give the id back; if that cannot be
            # done, its lease runs out and the retry is handled.
            await self._receiver.settle(webhook, handled=False)
            raise
        status = _handler_status(result)
        if status >= 400:  # the handler said it did not handle the webhook
            await self._receiver.settle(webhook, handled=False)
            await _respond(send, status, b"not handled")
            return
        await self._receiver.settle(webhook, handled=True)
        await _respond(send, status, b"")


def _refusal(exc: WebhooksError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """The answer to a webhook `WebhookReceiver.receive` did not hand over."""
    if isinstance(exc, ReplayedWebhookError):
        return 200, b"already handled", []
    if isinstance(exc, MissingHeaderError | MalformedHeaderError | InvalidBodyError):
        return 400, str(exc).encode(), []
    if isinstance(exc, WebhookVerificationError):
        return 401, b"webhook verification failed", []
    if isinstance(exc, WebhookInFlightError):
        wait = str(retry_after_seconds(exc.retry_after)).encode()
        return 503, b"being handled by another delivery", [(b"retry-after", wait)]
    # WebhooksUnavailableError: the replay guard is down. Nothing is wrong with the webhook.
    logger.warning("replay guard unavailable (%s); asking the sender to retry", type(exc).__name__)
    return 503, b"try again later", [(b"retry-after", _GUARD_DOWN_RETRY)]


def _handler_status(result: object) -> int:
    """The status for a handler's return value: its 2xx or 4xx/5xx int, 204 for anything else but an int.

    An int that is no such status (1xx, 3xx, 600...) is a bug of the handler's: not handled, 500.
    """
    if isinstance(result, bool) or not isinstance(result, int):
        return 204
    if 200 <= result < 300 or 400 <= result < 600:
        return result
    logger.error("the webhook handler returned %d, not a 2xx, 4xx or 5xx status; answered 500", result)
    return 500


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    kind = [] if status == 204 else [(b"content-type", b"text/plain; charset=utf-8")]
    await respond(send, status, headers=[*kind, *(headers or [])], body=body)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
