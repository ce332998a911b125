"""Receiver helpers: `WebhookReceiver` (verify + replay guard) and the ASGI app `WebhookEndpoint`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from ._checks import MAX_SECONDS
from ._replay import ReplayGuard, check_ttl
from ._verify import Headers, VerifiedWebhook, Verifier
from .exceptions import (
    InvalidBodyError,
    MalformedHeaderError,
    MissingHeaderError,
    ReplayedWebhookError,
    StoreUnavailableError,
    WebhookConfigurationError,
    WebhookVerificationError,
)

__all__ = ["WebhookEndpoint", "WebhookReceiver"]

logger = logging.getLogger("buttress.webhooks")

# How long ids are remembered when the scheme signs no timestamp (GitHub) and no ttl is given.
_UNBOUNDED_REPLAY_TTL: Final = 7 * 24 * 3600.0
DEFAULT_MAX_BODY: Final = 1024 * 1024
_MAX_REPLAY_KEY: Final = 4096

type Scope = MutableMapping[str, Any]
type Message = MutableMapping[str, Any]
type Receive = Callable[[], Awaitable[Message]]
type Send = Callable[[Message], Awaitable[None]]
type Handler = Callable[[VerifiedWebhook], Awaitable[object]]


class WebhookReceiver:
    """Verifies webhooks and, with a replay guard, accepts each id once.

    Framework-independent: hand it the headers and the raw body from any server.

    Args:
        verifier: A `Verifier` (`WebhookVerifier`, `StripeVerifier`, `GitHubVerifier` or yours).
        replay_guard: Remembers accepted ids (`MemoryReplayGuard`, `RedisReplayGuard`); ``None`` accepts
            replays that are still inside the timestamp tolerance.
        replay_ttl: How long ids are remembered; defaults to the verifier's ``replay_window`` (twice
            the tolerance), or 7 days for schemes with no timestamp.

    Examples:
        >>> import asyncio
        >>> receiver = WebhookReceiver(WebhookVerifier(generate_secret()))
    """

    __slots__ = ("_guard", "_ttl", "_verifier")

    def __init__(
        self,
        verifier: Verifier,
        *,
        replay_guard: ReplayGuard | None = None,
        replay_ttl: float | None = None,
    ) -> None:
        if not callable(getattr(verifier, "verify", None)):
            raise WebhookConfigurationError(
                "verifier", type(verifier).__name__, "must have a verify() method"
            )
        if replay_guard is not None and not isinstance(replay_guard, ReplayGuard):
            raise WebhookConfigurationError(
                "replay_guard", type(replay_guard).__name__, "must be a ReplayGuard (claim, release) or None"
            )
        self._verifier = verifier
        self._guard = replay_guard
        window = getattr(verifier, "replay_window", None) if replay_ttl is None else replay_ttl
        # A window past MAX_SECONDS (a tolerance of decades) is remembered for MAX_SECONDS: for ever.
        if replay_ttl is None and isinstance(window, int | float) and window > MAX_SECONDS:
            window = MAX_SECONDS
        self._ttl = check_ttl(_UNBOUNDED_REPLAY_TTL if window is None else window)

    @property
    def verifier(self) -> Verifier:
        """The verifier in use."""
        return self._verifier

    def verify(self, headers: Headers, body: bytes | str) -> VerifiedWebhook:
        """Verify without the replay guard (synchronous).

        Raises:
            WebhookVerificationError: It is not authentic (a subclass says why). A verifier of your
                own that raises anything else has a bug: that is logged, and the webhook is refused
                with a plain `WebhookVerificationError`, so it is never processed and never a 500.
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
        """Verify the webhook and claim its id in the replay guard.

        Raises:
            WebhookVerificationError: It is not authentic (a subclass says why).
            ReplayedWebhookError: It was accepted before, within the replay TTL.
            StoreUnavailableError: The replay guard's server cannot be reached.
        """
        webhook = self.verify(headers, body)
        if self._guard is None:
            return webhook
        key = webhook.replay_key
        if not isinstance(key, str) or not 0 < len(key) <= _MAX_REPLAY_KEY or not key.isprintable():
            # Only a verifier of your own can get here: refuse what the guard could not remember.
            raise WebhookVerificationError(
                "the verified webhook's replay key is not 1 to 4096 printable chars"
            )
        if not await self._guard.claim(key, self._ttl):
            raise ReplayedWebhookError(key)
        return webhook

    async def forget(self, webhook: VerifiedWebhook) -> None:
        """Release ``webhook``'s id so its retry is accepted (call it when handling failed).

        Raises:
            WebhookConfigurationError: ``webhook`` is not a `VerifiedWebhook`.
        """
        if not isinstance(webhook, VerifiedWebhook):
            raise WebhookConfigurationError("webhook", type(webhook).__name__, "must be a VerifiedWebhook")
        if self._guard is not None:
            await self._guard.release(webhook.replay_key)


class WebhookEndpoint:
    """A small ASGI app that verifies each POST and hands the `VerifiedWebhook` to your handler.

    Answers: 2xx when the handler returns (``204``, or the int status it returns); ``200`` for a replay
    of an id already handled (so the sender stops retrying; the handler is not called); ``400`` for a
    missing or malformed header or body; ``401`` for a bad signature or timestamp; ``405`` for other
    methods; ``413`` for a body over ``max_body_size``; ``503`` when the replay guard is unreachable;
    ``500`` when the handler raises, after releasing the id so the sender's retry is accepted.

    Args:
        handler: ``async def handler(webhook: VerifiedWebhook) -> None | int``.
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
            raise WebhookConfigurationError("handler", type(handler).__name__, "must be an async callable")
        if isinstance(max_body_size, bool) or not isinstance(max_body_size, int) or max_body_size < 1:
            raise WebhookConfigurationError("max_body_size", max_body_size, "must be a positive int")
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
        body = await _read_body(receive, self._max_body)
        if body is None:
            await _respond(send, 413, b"body too large")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        await self._handle(headers, body, send)

    async def _handle(self, headers: dict[str, str], body: bytes, send: Send) -> None:
        try:
            webhook = await self._receiver.receive(headers, body)
        except ReplayedWebhookError:
            await _respond(send, 200, b"already received")
            return
        except (MissingHeaderError, MalformedHeaderError, InvalidBodyError) as exc:
            await _respond(send, 400, str(exc).encode())
            return
        except WebhookVerificationError:
            await _respond(send, 401, b"webhook verification failed")
            return
        except StoreUnavailableError:
            logger.warning("replay guard unavailable; asking the sender to retry")
            await _respond(send, 503, b"try again later", [(b"retry-after", b"5")])
            return
        try:
            result = await self._handler(webhook)
        except Exception:
            logger.exception("webhook handler failed for %s", webhook.replay_key)
            try:
                await self._receiver.forget(webhook)
            except StoreUnavailableError:
                # The id stays claimed until its TTL: the sender's retries are answered 200 until then.
                logger.warning("replay guard unavailable; could not release %s", webhook.replay_key)
            await _respond(send, 500, b"handler failed")
            return
        status = result if isinstance(result, int) and 200 <= result < 300 else 204
        await _respond(send, status, b"")


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body") or b""
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    raw = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if status == 204:
        raw = []
        body = b""
    await send({"type": "http.response.start", "status": status, "headers": raw + (headers or [])})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
