"""The endpoints: `WebhookEndpoint` (ASGI) and `WSGIWebhookEndpoint`, over one set of answers.

What an endpoint answers (`WebhookAnswer`) is decided here once, from what the receiver refused or
what the handler returned; the two endpoints differ only in how they read the request and send the
answer, and in whether they await the receiver and the handler.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final

from buttress.core import (
    ArgumentTypeError,
    ClientDisconnectedError,
    Receive,
    Scope,
    Send,
    StartResponse,
    UnreadableBodyError,
    WSGIEnviron,
    read_body,
    read_wsgi_body,
    respond,
    wsgi_headers,
    wsgi_respond,
)

from ._receiver import WebhookReceiver
from ._replay import retry_after_seconds
from ._sync import SyncWebhookReceiver
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
    WebhookVerificationError,
)

__all__ = [
    "DEFAULT_MAX_BODY",
    "Handler",
    "SyncHandler",
    "WSGIWebhookEndpoint",
    "WebhookAnswer",
    "WebhookEndpoint",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY: Final = 1024 * 1024
# Retry-After when the replay guard cannot be reached: long enough for a reconnect, short enough for
# senders that honour it (Svix's next retry is 5 s after the first attempt).
_GUARD_DOWN_RETRY: Final = "5"
_PLAIN: Final = (("content-type", "text/plain; charset=utf-8"),)

type Handler = Callable[[VerifiedWebhook], Awaitable[object]]
type SyncHandler = Callable[[VerifiedWebhook], object]


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """What a webhook endpoint answers: turn it into your framework's response in a view of your own.

    Attributes:
        status: The HTTP status.
        body: A short plain-text body (empty on a 204).
        headers: ``content-type`` (except on a 204) and, on a 503, ``retry-after``.
    """

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, status: int, body: bytes = b"", *extra: tuple[str, str]) -> WebhookAnswer:
        """An answer with the plain-text content type (none on a 204) and ``extra`` headers."""
        return cls(status, body, (*(() if status == 204 else _PLAIN), *extra))


HANDLER_FAILED: Final = WebhookAnswer.of(500, b"handler failed")
_NOT_POST: Final = WebhookAnswer.of(405, b"only POST is accepted", ("allow", "POST"))
_CUT_SHORT: Final = WebhookAnswer.of(400, b"the request body was cut short")
_TOO_LARGE: Final = WebhookAnswer.of(413, b"body too large")


def refusal(exc: WebhooksError) -> WebhookAnswer:
    """The answer to a webhook the receiver did not hand over."""
    if isinstance(exc, ReplayedWebhookError):
        return WebhookAnswer.of(200, b"already handled")
    if isinstance(exc, MissingHeaderError | MalformedHeaderError | InvalidBodyError):
        return WebhookAnswer.of(400, str(exc).encode())
    if isinstance(exc, WebhookVerificationError):
        return WebhookAnswer.of(401, b"webhook verification failed")
    if isinstance(exc, WebhookInFlightError):
        wait = str(retry_after_seconds(exc.retry_after))
        return WebhookAnswer.of(503, b"being handled by another delivery", ("retry-after", wait))
    # WebhooksUnavailableError: the replay guard is down. Nothing is wrong with the webhook.
    logger.warning("replay guard unavailable (%s); asking the sender to retry", type(exc).__name__)
    return WebhookAnswer.of(503, b"try again later", ("retry-after", _GUARD_DOWN_RETRY))


def outcome(result: object) -> tuple[WebhookAnswer, bool]:
    """The answer for a handler's return value, and whether the webhook counts as handled.

    Anything but an int is success (204); a 2xx is success as is; a 4xx or 5xx says it was not
    handled. An int that is no such status (1xx, 3xx, 600...) is a bug of the handler's: 500.
    """
    if isinstance(result, bool) or not isinstance(result, int):
        return WebhookAnswer.of(204), True
    if 200 <= result < 300:
        return WebhookAnswer.of(result), True
    if 400 <= result < 600:
        return WebhookAnswer.of(result, b"not handled"), False
    logger.error("the webhook handler returned %d, not a 2xx, 4xx or 5xx status; answered 500", result)
    return WebhookAnswer.of(500, b"not handled"), False


def check_max_body(max_body_size: object) -> int:
    """An endpoint's ``max_body_size``: a positive int."""
    if isinstance(max_body_size, bool) or not isinstance(max_body_size, int) or max_body_size < 1:
        raise WebhooksConfigurationError("max_body_size", max_body_size, "must be a positive int")
    return max_body_size


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

    It reads no path: route it at the exact URL senders post to (Starlette and FastAPI:
    ``Route("/webhooks", endpoint, methods=["POST"])``; Litestar: ``asgi("/webhooks",
    is_mount=True)``). A Starlette ``Mount`` serves only the paths below its prefix and answers the
    URL itself with a ``307``, which a sender's POST may not follow. Behind a view of your own,
    `answer` gives the same answer for headers and a body already read.

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
        self._max_body = check_max_body(max_body_size)
        self._handler = handler
        self._receiver = receiver if isinstance(receiver, WebhookReceiver) else WebhookReceiver(receiver)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        kind = scope.get("type")
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            return
        if scope.get("method") != "POST":
            await _send(send, _NOT_POST)
            return
        try:
            body = await read_body(receive, limit=self._max_body)
        except ClientDisconnectedError:
            # The sender went away mid-body: the answer likely reaches no one, and it retries.
            await _send(send, _CUT_SHORT)
            return
        except ArgumentTypeError:
            await _send(send, WebhookAnswer.of(400, b"the request body is not bytes"))
            return
        if body is None:
            await _send(send, _TOO_LARGE)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        await _send(send, await self.answer(headers, body))

    async def answer(self, headers: Headers, body: bytes) -> WebhookAnswer:
        """Verify, claim and handle one webhook whose body was read already; say what to answer.

        For a view of your own (a Starlette or Django view, say): the same rules as the endpoint,
        ``max_body_size`` included (a longer body is a 413, not handled).

        Raises:
            BaseException: Only a cancellation (or other non-`Exception`) of the handler, after
                releasing the claim.
        """
        if _too_large(body, self._max_body):
            return _TOO_LARGE
        try:
            webhook = await self._receiver.receive(headers, body)
        except WebhooksError as exc:
            return refusal(exc)
        try:
            result = await self._handler(webhook)
        except Exception:
            logger.exception("webhook handler failed for %s", webhook.replay_key)
            answer, handled = HANDLER_FAILED, False
        except BaseException:
            # Cancelled (a shutdown, a disconnect): not handled. Give the id back; if that cannot be
            # done, its lease runs out and the retry is handled.
            await self._receiver.settle(webhook, handled=False)
            raise
        else:
            answer, handled = outcome(result)
        await self._receiver.settle(webhook, handled=handled)
        return answer


class WSGIWebhookEndpoint:
    """`WebhookEndpoint`'s WSGI twin: verifies each POST and hands the webhook to a plain function.

    The answers are `WebhookEndpoint`'s (204 handled, 200 replay, 503 with ``Retry-After`` in flight
    or guard down, 500 or the handler's 4xx/5xx not handled, 400/401 refused, 405 not a POST, 413
    over ``max_body_size``), plus ``411`` for a body of unknown length the server did not delimit.
    The body is never read past ``Content-Length``, and no event loop is involved. Serve it where a
    WSGI app goes (werkzeug's ``DispatcherMiddleware`` at the exact path, in Flask), or call
    `answer` from a view (Django, Flask).

    Args:
        handler: ``def handler(webhook: VerifiedWebhook) -> None | int``. Returning normally is
            success; an int from 400 to 599 says it was not handled (answered as is, claim released).
        receiver: A `SyncWebhookReceiver`, or a bare `Verifier` (no replay guard).
        max_body_size: The largest body read, in bytes.

    Raises:
        WebhooksTypeError: ``handler`` is not callable, or is an ``async def`` (it belongs to
            `WebhookEndpoint`).
        WebhooksConfigurationError: A bad ``max_body_size`` or receiver.

    Examples:
        >>> def handle(webhook: VerifiedWebhook) -> None:
        ...     print(webhook.json())
        >>> app = WSGIWebhookEndpoint(handle, WebhookVerifier(generate_secret()))
    """

    __slots__ = ("_handler", "_max_body", "_receiver")

    def __init__(
        self,
        handler: SyncHandler,
        receiver: SyncWebhookReceiver | Verifier,
        *,
        max_body_size: int = DEFAULT_MAX_BODY,
    ) -> None:
        if not callable(handler) or inspect.iscoroutinefunction(handler):
            raise WebhooksTypeError("handler", "a plain (not async) callable", handler)
        self._max_body = check_max_body(max_body_size)
        self._handler = handler
        self._receiver = (
            receiver if isinstance(receiver, SyncWebhookReceiver) else SyncWebhookReceiver(receiver)
        )

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one WSGI request."""
        if environ.get("REQUEST_METHOD") != "POST":
            return _start(start_response, _NOT_POST)
        try:
            body = read_wsgi_body(environ, limit=self._max_body)
        except UnreadableBodyError as exc:
            return _start(start_response, WebhookAnswer.of(exc.status, exc.reason.encode()))
        except ClientDisconnectedError:
            return _start(start_response, _CUT_SHORT)
        if body is None:
            return _start(start_response, _TOO_LARGE)
        return _start(start_response, self.answer(dict(wsgi_headers(environ)), body))

    def answer(self, headers: Headers, body: bytes) -> WebhookAnswer:
        """Verify, claim and handle one webhook whose body was read already; say what to answer.

        For a view of your own (Django's ``request.headers, request.body``; Flask's
        ``request.headers, request.get_data()``): the same rules as the endpoint, ``max_body_size``
        included (a longer body is a 413, not handled).
        """
        if _too_large(body, self._max_body):
            return _TOO_LARGE
        try:
            webhook = self._receiver.receive(headers, body)
        except WebhooksError as exc:
            return refusal(exc)
        try:
            result = self._handler(webhook)
        except Exception:
            logger.exception("webhook handler failed for %s", webhook.replay_key)
            answer, handled = HANDLER_FAILED, False
        except BaseException:
            self._receiver.settle(webhook, handled=False)
            raise
        else:
            answer, handled = outcome(result)
            if inspect.isawaitable(result):  # an async handler this endpoint cannot run
                _discard(result)
                logger.error(
                    "the webhook handler returned an awaitable: async handlers go to WebhookEndpoint"
                )
                answer, handled = HANDLER_FAILED, False
        self._receiver.settle(webhook, handled=handled)
        return answer


async def _send(send: Send, answer: WebhookAnswer) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers]
    await respond(send, answer.status, headers=headers, body=answer.body)


def _start(start_response: StartResponse, answer: WebhookAnswer) -> list[bytes]:
    return wsgi_respond(start_response, answer.status, headers=answer.headers, body=answer.body)


def _too_large(body: object, limit: int) -> bool:
    """Whether a body a view read is over the endpoint's limit (one that is not bytes is refused later)."""
    return isinstance(body, bytes | bytearray | memoryview | str) and len(body) > limit


def _discard(awaitable: object) -> None:
    close = getattr(awaitable, "close", None)  # a coroutine never awaited would warn when collected
    if callable(close):
        close()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
