"""`IdempotencyMiddleware`: the Idempotency-Key header for any ASGI application."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable

from buttress.core import (
    ArgumentTypeError,
    ASGIApp,
    BackendUnavailableError,
    ClientDisconnectedError,
    Message,
    Receive,
    Scope,
    Send,
    read_body,
    respond,
)

from ._core import DEFAULT_LEASE, DEFAULT_RETENTION, Heartbeats, IdempotencySlot, checked_claim
from ._http import _TRANSIENT_4XX, HttpRules, Problem, default_store_status
from ._keys import framed_identity, route_frames
from ._types import IdempotencyStore, StoredResponse, stored_response
from .exceptions import (
    FingerprintMismatchError,
    IdempotencyError,
    IdempotencyTypeError,
    KeyInFlightError,
    LeaseLostError,
)

__all__ = ["IdempotencyMiddleware", "default_store_status"]

logger = logging.getLogger(__name__)

type PrincipalExtractor = Callable[[Scope], Awaitable[str | None] | str | None]
type RouteExtractor = Callable[[Scope], str]


def _path(scope: Scope) -> str:
    return str(scope["path"])


class IdempotencyMiddleware(HttpRules):
    """Pure ASGI middleware implementing the ``Idempotency-Key`` header (IETF httpapi draft-06).

    For a request whose method is in ``methods`` and that carries the header, the middleware buffers
    the body, fingerprints the request (method, route, query string, body digest,
    ``fingerprint_headers``) and claims
    the key, scoped to the principal and the route, through the same engine as `idempotent`:

    - first use: the application runs (it receives the buffered body as usual); the response is
      streamed to the client as it comes and captured up to ``max_response_bytes``; when the last
      chunk arrives the outcome is stored, then the chunk is sent. Statuses ``store_status`` rejects
      (5xx by default) and exceptions release the key, so a retry runs again; so does a response over
      the size limit (it is still sent in full);
    - a completed key: the stored status, headers and body are replayed with ``Idempotent-Replayed:
      true``, and the application does not run;
    - a key in flight: 409 with ``Retry-After``; a key reused for a different request: 422; a malformed
      key (or a missing one where ``required``): 400; a request body over ``max_request_bytes``: 413;
      the store unreachable: 503 with ``Retry-After`` and the application not run (unless
      ``fail_open``). These are RFC 9457 ``application/problem+json`` bodies.

    Args:
        app: The ASGI application to wrap.
        store: Where records live (`MemoryStore`, `RedisStore`, `PostgresStore` or yours).
        methods: The methods the header applies to; others pass straight through.
        required: Whether requests with those methods must carry a key (400 without), or a function of
            the scope deciding it per route.
        header: The request header holding the key.
        replayed_header: The response header marking a replay; ``None`` leaves replays unmarked.
        principal: Who is calling, from the scope (sync or async): the authenticated user, or a hash
            of the API key. Keys are scoped to it, so clients cannot collide or read each other's
            responses. ``None`` (the default) puts every caller in one scope: set it in multi-tenant
            services.
        route: The route a key is scoped to; default the request path.
        fingerprint_headers: Request headers (besides method, route and body) that make two requests
            different, such as ``content-type``.
        lease: Seconds a claim holds without renewal; a crashed worker's key is free after it.
        heartbeat: The most seconds between lease renewals while the handler runs (default
            ``lease / 3``, ``0`` for none); one timer renews every request's lease.
        retention: Seconds a completed response is kept and replayed (default 24 hours).
        store_status: Which response statuses are stored (default `default_store_status`).
        max_request_bytes: The largest request body buffered for fingerprinting (413 beyond).
        max_response_bytes: The largest response body stored; larger ones are sent but not stored.
        fail_open: When the store cannot be reached, run the application without protection instead
            of answering 503.
        retry_after: Seconds advertised in ``Retry-After`` on a 503.
        problem_type: The prefix of the ``type`` URI of problem responses.

    Whatever a request carries, the middleware answers it with the application's response, a replay
    or a 4xx problem, never a 5xx of its own making: an ``Idempotency-Key`` that is malformed (NUL,
    CR/LF, non-ASCII, a lone surrogate, an unterminated or overlong sf-string) is a 400, and client
    input never reaches the store (keys and fingerprints are digests), so it can neither fail there
    nor look like a store outage. Only an unreachable store gives a 503, and only when failing closed.

    Raises:
        IdempotencyConfigurationError: A setting is out of range: a method or header name that is
            not an HTTP token, a duration that is not finite or past 100 years, a size below 1.
        IdempotencyTypeError: A setting has the wrong type (``methods=5``, a callback that is not
            callable, a flag that is not a bool).
    """

    def __init__(
        self,
        app: ASGIApp,
        store: IdempotencyStore,
        *,
        methods: Iterable[str] = ("POST", "PATCH"),
        required: bool | Callable[[Scope], bool] = False,
        header: str = "Idempotency-Key",
        replayed_header: str | None = "Idempotent-Replayed",
        principal: PrincipalExtractor | None = None,
        route: RouteExtractor | None = None,
        fingerprint_headers: Iterable[str] = (),
        lease: float = DEFAULT_LEASE,
        heartbeat: float | None = None,
        retention: float = DEFAULT_RETENTION,
        store_status: Callable[[int], bool] = default_store_status,
        max_request_bytes: int = 10 * 1024 * 1024,
        max_response_bytes: int = 1024 * 1024,
        fail_open: bool = False,
        retry_after: int = 1,
        problem_type: str = "urn:buttress:idempotency:",
    ) -> None:
        if not callable(app):
            raise IdempotencyTypeError("app", "an ASGI application", app)
        if not isinstance(store, IdempotencyStore):
            raise IdempotencyTypeError(
                "store", "an IdempotencyStore (claim, complete, release, renew)", store
            )
        super().__init__(
            methods=methods,
            required=required,
            header=header,
            replayed_header=replayed_header,
            principal=principal,
            route=route,
            fingerprint_headers=fingerprint_headers,
            lease=lease,
            heartbeat=heartbeat,
            retention=retention,
            store_status=store_status,
            max_request_bytes=max_request_bytes,
            max_response_bytes=max_response_bytes,
            fail_open=fail_open,
            retry_after=retry_after,
            problem_type=problem_type,
            default_route=_path,
        )
        self.app = app
        self.store = store
        self._claim = checked_claim(store)
        self._beats = None if self._beat is None else Heartbeats(self._beat)
        # The framed method and route of the routes seen first (see `route_frames`), at most 1,024.
        self._frames: dict[tuple[str, str], tuple[bytes, bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection; other scopes and methods pass straight through."""
        method = scope.get("method")
        if scope.get("type") != "http" or not (
            method in self._methods if method.__class__ is str else self._guards(method)
        ):
            await self.app(scope, receive, send)
            return
        try:
            raw = self._find_key(scope)
            if raw is None:
                await self.app(scope, receive, send)
                return
            client_key = self._client_key(raw)
            # The whole request body; one cut short is a 400 (as the WSGI twin and the suite's other
            # endpoints answer it, though likely no one hears it), past the limit a 413.
            try:
                body = await read_body(receive, limit=self._max_request)
            except ClientDisconnectedError:
                raise Problem(
                    400, "bad-body", "Unreadable request body", "the request body was cut short"
                ) from None
            except ArgumentTypeError:
                raise Problem(
                    400, "bad-body", "Unreadable request body", "a body chunk is not bytes"
                ) from None
            if body is None:
                raise self._too_large()
            await self._guarded(scope, receive, send, client_key, body)
        except Problem as problem:
            await self._send_problem(send, problem)

    def _find_key(self, scope: Scope) -> bytes | None:
        raw: bytes | None = None
        for name, value in scope.get("headers", ()):
            if name == self._header or name.lower() == self._header:
                if raw is not None:
                    raise self._duplicated()
                raw = value
        if raw is None and self._is_required(scope):
            raise self._missing()
        return raw

    def _digests(self, scope: Scope, client_key: str, body: bytes, principal: object) -> tuple[str, str]:
        """The store key and the fingerprint of the request (see `HttpRules._identity`)."""
        if self._route is _path:
            route = scope["path"]
            if route.__class__ is not str:
                route = str(route)
        else:
            route = self._route(scope)
        method = scope["method"]
        query = scope.get("query_string") or b""
        if (
            not self._fp_headers
            and route.__class__ is str
            and method.__class__ is str
            and query.__class__ is bytes
            and (principal is None or principal.__class__ is str)
        ):
            # The usual request: the same digests as `_identity`, with the route's part kept per route.
            frames = self._frames.get((method, route))
            if frames is None:
                frames = route_frames(method, route)
                if len(self._frames) < _ROUTES_KEPT:
                    self._frames[method, route] = frames
            who = _NOBODY if principal is None else _framed(principal)
            return framed_identity(client_key, who, frames, query, body)
        return self._identity(
            client_key,
            body,
            method=method,
            route=route,
            headers=(
                [(bytes(name), bytes(value)) for name, value in scope["headers"]] if self._fp_headers else ()
            ),
            query=bytes(query),
            principal=principal,
        )

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, client_key: str, body: bytes
    ) -> None:
        principal: object = None
        if self._principal is not None:
            found = self._principal(scope)
            principal = await found if inspect.isawaitable(found) else found
        key, fingerprint = self._digests(scope, client_key, body, principal)
        # The settings were checked once, at construction; the key and fingerprint are digests.
        slot = IdempotencySlot._checked(
            self.store,
            key,
            fingerprint,
            self._lease,
            self._retention,
            self._beat,
            self._fail_open,
            self._claim,
            self._beats,
        )
        try:
            await slot.__aenter__()
        except (KeyInFlightError, FingerprintMismatchError, BackendUnavailableError) as exc:
            raise self._refused(exc) from None
        if slot.replay is not None:
            await self._send_replay(send, slot.replay)
            return
        capture = _Capture(self, slot, send)
        try:
            await self.app(scope, _replaying(body, receive), capture.send)
        except BaseException as exc:
            await capture.settle_after(exc)
            await slot.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await capture.settle()
        if capture._storing and slot.claimed:
            await capture.finish()
        if not slot._done or slot._timer is not None or slot._renewal is not None:
            await slot.__aexit__(None, None, None)  # else it has nothing left to do

    async def _send_replay(self, send: Send, response: StoredResponse) -> None:
        # Sent as stored, byte for byte: the application's own status and headers (any status it
        # sent, 600-999 included), which `respond` would normalise.
        headers = self._replay_headers(response)
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body, "more_body": False})

    async def _send_problem(self, send: Send, problem: Problem) -> None:
        headers, body = self._problem_response(problem)
        await respond(send, problem.status, headers=headers, body=body)


_ROUTES_KEPT = 1024
_NOBODY = bytes(8)  # the framed empty principal


def _framed(principal: str | None) -> bytes:
    """The principal as `framed_identity` takes it (``None`` is every caller's one scope, as ``""``)."""
    if not principal:
        return _NOBODY
    who = principal.encode("utf-8", "surrogatepass")
    return len(who).to_bytes(8, "big") + who


# Last-chunk tasks of cancelled requests, kept until they finish (the loop holds tasks weakly).
_DETACHED: set[asyncio.Task[None]] = set()


def _detach(task: asyncio.Task[None]) -> None:
    """Let ``task`` finish on its own; what it raises is logged, not lost."""
    _DETACHED.add(task)
    task.add_done_callback(_detached_done)


def _detached_done(task: asyncio.Task[None]) -> None:
    _DETACHED.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("the last chunk of a cancelled request's response failed: %r", task.exception())


def _replaying(body: bytes, receive: Receive) -> Receive:
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


_PENDING: object = object()  # the held last chunk's write has not been answered yet


class _Capture:
    """Forwards the application's response while keeping a copy of it to store.

    The last chunk leaves only once the outcome is stored, and the application does not wait through
    that write: its ``send`` returns at once. With a store that can queue the write without awaiting
    it (`RedisStore` with batching), the chunk is held here and the write answers through `_written`,
    with no task of its own: the middleware sends the chunk when the application has returned, or a
    task does as soon as the write is answered if the application is still running. With any other
    store the write and the chunk run in a task of their own. Either way a request cancelled during
    the write still has its outcome stored.
    """

    __slots__ = (
        "_abandoned",
        "_chunks",
        "_headers",
        "_held",
        "_last",
        "_middleware",
        "_outcome",
        "_send",
        "_size",
        "_slot",
        "_status",
        "_storing",
        "_waiter",
    )

    def __init__(self, middleware: IdempotencyMiddleware, slot: IdempotencySlot, send: Send) -> None:
        self._middleware = middleware
        self._slot = slot
        self._send = send
        self._storing = slot.claimed
        self._status = 0
        self._headers: tuple[tuple[bytes, bytes], ...] = ()
        self._chunks: list[bytes] = []
        self._size = 0
        self._last: asyncio.Task[None] | None = None
        self._held: Message | None = None
        self._outcome: object = _PENDING
        self._waiter: asyncio.Future[None] | None = None
        self._abandoned = False

    async def send(self, message: Message) -> None:
        if self._last is not None or self._held is not None:
            await self.settle()  # anything after the last chunk follows it out
        kind = message["type"]
        if kind == "http.response.start":
            self._status = status = message["status"]
            self._headers = tuple([(bytes(n), bytes(v)) for n, v in message.get("headers", ())])
            if self._storing and not (
                status.__class__ is int and status < 500 and status not in _TRANSIENT_4XX  # the default
                if self._middleware._default_statuses
                else self._middleware._storable(status)
            ):
                await self._give_up()
        elif kind == "http.response.body":
            if self._storing:
                chunk = message.get("body", b"")
                self._size += len(chunk)
                if self._size > self._middleware._max_response:
                    await self._give_up()
                else:
                    self._chunks.append(bytes(chunk))
                    if not message.get("more_body", False):
                        if self._store_before(message):
                            return
                        await self._slot.release()  # not storable: a retry runs again
        elif self._storing:
            await self._give_up()  # trailers, pathsend, zero-copy: not something we can replay faithfully
        await self._send(message)

    def _store_before(self, message: Message) -> bool:
        """Start storing the outcome, ``message`` (the last chunk) to leave once it is stored.

        ``False`` when the response cannot be stored (a status past 999): the caller releases the key
        and sends the chunk as it is.
        """
        self._storing = False
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks = []
        try:
            response = stored_response(self._status, self._headers, body)
        except IdempotencyError as exc:  # a status past 999: sent as the application gave it, not stored
            logger.warning("not storing an idempotent response the application sent: %s", exc)
            return False
        if self._slot._complete_soon(response, self._written):
            self._held = message
            return True
        self._last = asyncio.get_running_loop().create_task(self._store_then_send(response, message))
        return True

    async def _store_then_send(self, response: StoredResponse, message: Message) -> None:
        try:
            await self._slot.complete(response)
        except LeaseLostError as exc:
            logger.warning("%s", exc)
        except BackendUnavailableError as exc:
            logger.warning("could not store an idempotent response (the lease will expire): %s", exc)
        await self._send(message)

    def _written(self, outcome: bool | BaseException) -> None:
        """The held chunk's write was answered: wake the middleware, or send the chunk from a task."""
        self._outcome = outcome
        waiter = self._waiter
        if waiter is None:
            task = asyncio.get_running_loop().create_task(self._send_held())
            if self._abandoned:
                _detach(task)  # the request was cancelled while the application ran
            else:
                self._last = task  # the application is still running: the chunk leaves now
        elif not waiter.done():
            waiter.set_result(None)
        elif waiter.cancelled():  # the request was cancelled while waiting for the write
            _detach(asyncio.get_running_loop().create_task(self._send_held()))

    async def _send_held(self) -> None:
        message, self._held = self._held, None
        if message is None:
            return
        outcome = self._outcome
        if outcome is False:
            logger.warning("%s", self._slot._lost())
        elif isinstance(outcome, BackendUnavailableError):
            logger.warning("could not store an idempotent response (the lease will expire): %s", outcome)
        elif isinstance(outcome, BaseException):
            raise outcome
        await self._send(message)

    async def settle(self) -> None:
        """Wait until the last chunk is stored and sent; raise what sending it raised."""
        if self._held is not None and self._last is None:
            if self._outcome is _PENDING:
                waiter = self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await waiter
                except asyncio.CancelledError:
                    if not waiter.cancelled():  # answered, but this request was cancelled before it resumed
                        _detach(asyncio.get_running_loop().create_task(self._send_held()))
                    raise
            await self._send_held()
            return
        last, self._last = self._last, None
        if last is None:
            return
        if last.done():
            last.result()
            return
        try:
            await asyncio.shield(last)
        except asyncio.CancelledError:
            if not last.done():  # this request was cancelled, not the write: let the write finish
                _detach(last)
            raise

    async def settle_after(self, error: BaseException) -> None:
        """After the application raised ``error``: let the last chunk's store and send finish first.

        A response the application sent in full before raising is stored, as it would be had the
        application not raised; what sending its last chunk raises gives way to ``error``.
        """
        if isinstance(error, asyncio.CancelledError):
            if self._held is not None and self._last is None and self._outcome is _PENDING:
                self._abandoned = True  # `_written` sends the chunk when the write is answered
                return
            last = self._last
            if last is not None and not last.done():
                self._last = None
                _detach(last)
                return
        if self._last is None and self._held is None:
            return
        try:
            await self.settle()
        except Exception as exc:  # noqa: BLE001 - the application's error is the one raised
            logger.warning("could not send the last chunk of a response before an error: %r", exc)

    async def _give_up(self) -> None:
        self._storing = False
        self._chunks = []
        try:
            await self._slot.release()
        except BackendUnavailableError as exc:
            logger.warning("could not release idempotency key (the lease will expire): %s", exc)

    async def finish(self) -> None:
        """After the application returned: release a key whose response never finished."""
        if self._storing and self._slot.claimed:
            await self._give_up()
