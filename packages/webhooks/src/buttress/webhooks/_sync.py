"""`SyncWebhookReceiver`: the synchronous face of `WebhookReceiver`, for WSGI servers.

The rules are `WebhookReceiver`'s and `WebhookEndpoint`'s own (``_receiver``): verification, the
reading of a claim, the reporting of a guard's failure. Only the calls differ: a `SyncReplayGuard`
is called, not awaited. No event loop is involved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from ._receiver import (
    ReceiverBase,
    check_handled,
    claimed,
    guarding,
    log_unsettled,
    replay_key,
    settled,
)
from ._replay import SyncReplayGuard
from ._verify import Headers, VerifiedWebhook
from .exceptions import WebhooksUnavailableError

__all__ = ["SyncWebhookReceiver"]

logger = logging.getLogger(__name__)


class SyncWebhookReceiver(ReceiverBase[SyncReplayGuard]):
    """`WebhookReceiver`'s synchronous twin: verify, and hand each id to one handler until it succeeds.

    For Flask and Django (WSGI) views, and any code without an event loop. The rules are
    `WebhookReceiver`'s, with a `SyncReplayGuard` (`SyncMemoryReplayGuard`) called from the server's
    threads::

        receiver = SyncWebhookReceiver(WebhookVerifier(secret), replay_guard=SyncMemoryReplayGuard())

        @app.post("/webhooks")
        def webhooks() -> Response:
            try:
                with receiver.accept(request.headers, request.get_data()) as webhook:
                    process(webhook)  # raises: the id is released, the sender's retry is handled
            except ReplayedWebhookError:
                return Response(status=200)
            ...

    Args:
        verifier: A `Verifier` (`WebhookVerifier`, `StripeVerifier`, `GitHubVerifier` or yours).
        replay_guard: A `SyncReplayGuard`; ``None`` accepts replays that are still inside the
            timestamp tolerance.
        replay_ttl: How long handled ids are remembered; defaults to the verifier's ``replay_window``.
        lease: How long a delivery holds its id while its handler runs (60 s by default).

    Raises:
        WebhooksConfigurationError: A bad argument, or an async `ReplayGuard` (it belongs to
            `WebhookReceiver`).
    """

    __slots__ = ()
    _guard_kind = (SyncReplayGuard, False, "a SyncReplayGuard (claim, complete, release)", "WebhookReceiver")

    def receive(self, headers: Headers, body: bytes | str) -> VerifiedWebhook:
        """Verify the webhook and claim its id under the lease (see `WebhookReceiver.receive`).

        Raises:
            WebhookVerificationError: It is not authentic (a subclass says why).
            ReplayedWebhookError: A handler succeeded for it already, within the replay TTL.
            WebhookInFlightError: Another delivery of it holds the id under a running lease.
            WebhooksUnavailableError: The replay guard cannot be reached.
        """
        webhook = self.verify(headers, body)
        guard = self._guard
        if guard is None:
            return webhook
        key = replay_key(webhook)
        with guarding("claim", guard):
            claim = guard.claim(key, self._lease)
        return claimed(webhook, claim, guard)

    def complete(self, webhook: VerifiedWebhook) -> None:
        """Mark ``webhook``'s id handled (see `WebhookReceiver.complete`)."""
        guard = self._guard
        if guard is not None and settled(webhook):
            with guarding("complete", guard):
                guard.complete(webhook.replay_key, self._ttl)

    def forget(self, webhook: VerifiedWebhook) -> None:
        """Release ``webhook``'s claim so its retry is handled (see `WebhookReceiver.forget`)."""
        guard = self._guard
        if guard is not None and settled(webhook):
            assert webhook.claim_token is not None  # noqa: S101 - settled() checked it
            with guarding("release", guard):
                guard.release(webhook.replay_key, webhook.claim_token)

    def settle(self, webhook: VerifiedWebhook, *, handled: bool) -> bool:
        """`complete` (``handled``) or `forget` ``webhook``; log instead of raising if the guard is down.

        Returns:
            Whether the guard recorded it.
        """
        check_handled(handled)
        try:
            if handled:
                self.complete(webhook)
            else:
                self.forget(webhook)
        except WebhooksUnavailableError as exc:
            log_unsettled(exc, webhook, handled=handled)
            return False
        return True

    @contextmanager
    def accept(self, headers: Headers, body: bytes | str) -> Iterator[VerifiedWebhook]:
        """Receive the webhook for the ``with`` block: done if the block ends, released if it raises.

        Raises what `receive` raises (see `WebhookReceiver.accept` for the answer to each).
        """
        webhook = self.receive(headers, body)
        try:
            yield webhook
        except BaseException:
            self.settle(webhook, handled=False)
            raise
        self.settle(webhook, handled=True)
