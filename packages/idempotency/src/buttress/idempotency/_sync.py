"""The synchronous face: `SyncIdempotencySlot` and `IdempotencyWSGIMiddleware`, for WSGI servers.

The rules are the async face's own: a slot's decisions come from `SlotRules` (``_core``), the
middleware's from `HttpRules` (``_http``). Only the calls differ: a `SyncIdempotencyStore` is
called, not awaited, the heartbeat is a timer thread, and the body comes from ``wsgi.input``. No
event loop is involved.
"""

from __future__ import annotations

import inspect
import io
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from types import TracebackType
from typing import Self

from buttress.core import (
    BackendUnavailableError,
    ClientDisconnectedError,
    ExcInfo,
    StartResponse,
    UnreadableBodyError,
    WSGIApp,
    WSGIEnviron,
    read_wsgi_body,
    wsgi_headers,
    wsgi_respond,
)

from ._core import DEFAULT_LEASE, DEFAULT_RETENTION, SlotRules
from ._http import HttpRules, Problem, default_store_status
from ._types import StoredResponse, SyncIdempotencyStore
from .exceptions import (
    FingerprintMismatchError,
    IdempotencyError,
    IdempotencyTypeError,
    KeyInFlightError,
    LeaseLostError,
)

__all__ = ["IdempotencyWSGIMiddleware", "SyncIdempotencySlot"]

logger = logging.getLogger(__name__)

type EnvironPrincipal = Callable[[WSGIEnviron], str | None]
type EnvironRoute = Callable[[WSGIEnviron], str]


class SyncIdempotencySlot(SlotRules):
    """`IdempotencySlot`'s synchronous twin, over a `SyncIdempotencyStore`: use it with ``with``.

    The same rules (replay, run once and record, 409 in flight, 422 mismatch, ``fail_open``, lease
    lost), decided by the same code; the heartbeat that renews the lease while the block runs is a
    timer thread::

        with SyncIdempotencySlot(store, message.id, digest(message.body)) as slot:
            if slot.replay is not None:
                return slot.replay.body
            result = charge(message)
            slot.complete(StoredResponse(body=result))

    Args:
        store: A `SyncIdempotencyStore` (`SyncMemoryStore`).
        key: The store key (see `idempotent`).
        fingerprint: What the operation is.
        lease: Seconds the claim holds without renewal.
        retention: Seconds the outcome is kept and replayed.
        heartbeat: Seconds between renewals; a third of ``lease`` by default, ``0`` for none.
        fail_open: When the store cannot be reached, run the block unguarded.

    Raises:
        IdempotencyTypeError: ``store`` is not a `SyncIdempotencyStore` (an async store belongs to
            `IdempotencySlot`), or another argument has the wrong type.
        IdempotencyConfigurationError: An argument is out of range (as for `idempotent`).
    """

    __slots__ = ("_beat", "_timer")

    def __init__(
        self,
        store: SyncIdempotencyStore,
        key: str,
        fingerprint: str,
        *,
        lease: float = DEFAULT_LEASE,
        retention: float = DEFAULT_RETENTION,
        heartbeat: float | None = None,
        fail_open: bool = False,
    ) -> None:
        check_sync_store(store)
        super().__init__(
            store,
            key,
            fingerprint,
            lease=lease,
            retention=retention,
            heartbeat=heartbeat,
            fail_open=fail_open,
        )
        self._store: SyncIdempotencyStore = store
        self._timer: threading.Timer | None = None
        # Held around each renewal and while the slot finishes: a renewal is never cut off halfway,
        # and none starts after the outcome was stored (it would find the lease gone).
        self._beat = threading.Lock()

    def __enter__(self) -> Self:
        try:
            claim = self._store.claim(self.key, self.fingerprint, lease=self._lease)
        except BackendUnavailableError as exc:
            self._unguarded(exc)
            return self
        if self._entered(claim):
            self._schedule()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop_heartbeat()
        if self._done or self.token is None:
            return
        if exc_type is None:
            self.complete(StoredResponse())
            return
        try:
            self.release()
        except BackendUnavailableError as error:
            logger.warning("could not release idempotency key after a failure (lease will expire): %s", error)

    def complete(self, response: StoredResponse) -> None:
        """Record ``response`` as the key's outcome (see `IdempotencySlot.complete`)."""
        if not isinstance(response, StoredResponse):
            raise IdempotencyTypeError("response", "a StoredResponse", response)
        if self.token is None:
            return
        self._finish()
        self._stop_heartbeat()
        if not self._store.complete(self.key, self.token, response, retention=self._retention):
            raise self._lost()

    def release(self) -> bool:
        """Give the key up without an outcome (see `IdempotencySlot.release`)."""
        if self.token is None:
            return False
        self._finish()
        self._stop_heartbeat()
        return self._store.release(self.key, self.token)

    def _schedule(self) -> None:
        assert self._heartbeat is not None  # noqa: S101 - only called with a heartbeat
        timer = threading.Timer(self._heartbeat, self._renew)
        timer.daemon = True  # a renewal never keeps the process alive
        self._timer = timer
        timer.start()

    def _renew(self) -> None:
        with self._beat:
            token = self.token
            if token is None or self._done:
                return
            try:
                alive = self._store.renew(self.key, token, lease=self._lease)
            except BackendUnavailableError as exc:
                logger.warning("idempotency lease renewal failed, retrying at the next beat: %s", exc)
                alive = True
            if self._renewed(alive):
                self._schedule()

    def _stop_heartbeat(self) -> None:
        with self._beat:  # waits for a renewal in flight
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


def check_sync_store(store: object) -> None:
    """``store`` must be a `SyncIdempotencyStore`, not an async one."""
    if not isinstance(store, SyncIdempotencyStore) or _is_async(store):
        raise IdempotencyTypeError(
            "store",
            "a SyncIdempotencyStore (claim, complete, release, renew); an async store goes to the ASGI side",
            store,
        )


def _is_async(store: object) -> bool:
    return inspect.iscoroutinefunction(getattr(store, "claim", None))


def _path(environ: WSGIEnviron) -> str:
    return str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))


class IdempotencyWSGIMiddleware(HttpRules):
    """`IdempotencyMiddleware`'s WSGI twin: the ``Idempotency-Key`` header for any WSGI application.

    The same rules and answers (a replay with ``Idempotent-Replayed: true``; 400 malformed or
    missing key, 409 in flight, 422 mismatch, 413 too large, 503 store unreachable, as RFC 9457
    problems), over a `SyncIdempotencyStore` called from the server's threads; no event loop is
    involved. Wrap Flask's ``app.wsgi_app`` or Django's ``get_wsgi_application()``::

        app.wsgi_app = IdempotencyWSGIMiddleware(app.wsgi_app, SyncMemoryStore())

    The request body is buffered (up to ``max_request_bytes``, never read past ``Content-Length``)
    and handed to the application as ``wsgi.input``. The response is passed on chunk by chunk as the
    application yields it and kept up to ``max_response_bytes``; once the last chunk is out it is
    stored, and a response the application did not finish (an exception, a client that left) releases
    the key.

    Args:
        app: The WSGI application to wrap.
        store: Where records live: `SyncMemoryStore` (one process) or a `SyncIdempotencyStore` of
            your own.
        required: Whether requests must carry a key, or a function of the environ deciding it.
        principal: Who is calling, from the environ (the authenticated user, a hash of the API key).
        route: The route a key is scoped to, from the environ; default ``SCRIPT_NAME + PATH_INFO``.

    The other arguments are `IdempotencyMiddleware`'s: ``methods``, ``header``, ``replayed_header``,
    ``fingerprint_headers``, ``lease``, ``heartbeat``, ``retention``, ``store_status``,
    ``max_request_bytes``, ``max_response_bytes``, ``fail_open``, ``retry_after``, ``problem_type``.

    Raises:
        IdempotencyConfigurationError: A setting is out of range.
        IdempotencyTypeError: A setting has the wrong type, or ``store`` is an async store.
    """

    def __init__(
        self,
        app: WSGIApp,
        store: SyncIdempotencyStore,
        *,
        methods: Iterable[str] = ("POST", "PATCH"),
        required: bool | Callable[[WSGIEnviron], bool] = False,
        header: str = "Idempotency-Key",
        replayed_header: str | None = "Idempotent-Replayed",
        principal: EnvironPrincipal | None = None,
        route: EnvironRoute | None = None,
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
            raise IdempotencyTypeError("app", "a WSGI application", app)
        check_sync_store(store)
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
        self._environ_key = "HTTP_" + self._header.decode("ascii").upper().replace("-", "_")

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        """Handle one WSGI request; other methods pass straight through."""
        if not self._guards(environ.get("REQUEST_METHOD")):
            return self.app(environ, start_response)
        try:
            raw = environ.get(self._environ_key)
            if raw is None:
                if self._is_required(environ):
                    raise self._missing()
                return self.app(environ, start_response)
            client_key = self._client_key(_header_bytes(raw))
            body = self._read_body(environ)
            return self._guarded(environ, start_response, client_key, body)
        except Problem as problem:
            headers, document = self._problem_response(problem)
            fields = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
            return wsgi_respond(start_response, problem.status, headers=fields, body=document)

    def _read_body(self, environ: WSGIEnviron) -> bytes:
        try:
            body = read_wsgi_body(environ, limit=self._max_request)
        except UnreadableBodyError as exc:
            if exc.status == 411:
                raise Problem(411, "length-required", "Length required", exc.reason) from None
            raise Problem(400, "bad-body", "Unreadable request body", exc.reason) from None
        except ClientDisconnectedError:
            raise Problem(
                400, "bad-body", "Unreadable request body", "the request body was cut short"
            ) from None
        if body is None:
            raise self._too_large()
        return body

    def _guarded(
        self, environ: WSGIEnviron, start_response: StartResponse, client_key: str, body: bytes
    ) -> Iterable[bytes]:
        route = self._route(environ)
        principal = None if self._principal is None else self._principal(environ)
        key, fingerprint = self._identity(
            client_key,
            body,
            method=str(environ["REQUEST_METHOD"]),
            route=route,
            headers=(
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in wsgi_headers(environ)
                if self._fp_headers
            ),
            query=str(environ.get("QUERY_STRING", "")).encode("latin-1"),
            principal=principal,
        )
        slot = SyncIdempotencySlot(
            self.store,
            key,
            fingerprint,
            lease=self._lease,
            retention=self._retention,
            heartbeat=self._heartbeat,
            fail_open=self._fail_open,
        )
        try:
            slot.__enter__()
        except (KeyInFlightError, FingerprintMismatchError, BackendUnavailableError) as exc:
            raise self._refused(exc) from None
        if slot.replay is not None:
            replay = slot.replay
            return _start(start_response, replay.status, self._replay_headers(replay), replay.body)
        return _Capture(self, slot, environ, body, start_response)


def _header_bytes(value: object) -> object:
    """A WSGI header value (a latin-1 native str) as the bytes that were sent."""
    if isinstance(value, str):
        return value.encode("latin-1", "replace")
    return value


def _status_code(status: str) -> int:
    code = status.split(" ", 1)[0]
    return int(code) if code.isdigit() and len(code) == 3 else 0


def _start(
    start_response: StartResponse, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> list[bytes]:
    """Send a stored response as it was, its headers the application's (a length added if it had none)."""
    fields = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
    if not any(name.lower() == "content-length" for name, _ in fields) and status not in (204, 304):
        fields.append(("Content-Length", str(len(body))))
    start_response(_status_line(status), fields)
    return [body] if body else []


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Status {status}"


class _Capture:
    """The application's response, passed on chunk by chunk and kept (up to the limit) to be stored.

    A WSGI response is an iterable the server drains and then closes: the outcome is stored when the
    last chunk has been handed over, and a response that ends any other way (the application raised,
    the server closed it early because the client left) releases the key.
    """

    def __init__(
        self,
        middleware: IdempotencyWSGIMiddleware,
        slot: SyncIdempotencySlot,
        environ: WSGIEnviron,
        body: bytes,
        start_response: StartResponse,
    ) -> None:
        self._middleware = middleware
        self._slot = slot
        self._start_response = start_response
        self._storing = slot.claimed
        self._status = 0
        self._headers: tuple[tuple[bytes, bytes], ...] = ()
        self._chunks: list[bytes] = []
        self._size = 0
        self._finished = False
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = True
        try:
            self._result: Iterable[bytes] = middleware.app(environ, self._start)
        except BaseException as exc:
            self._slot.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def _start(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], object]:
        self._status = _status_code(status)
        if self._status == 0:  # no status a replay could repeat
            self._give_up()
        try:
            self._headers = tuple((n.encode("latin-1"), v.encode("latin-1")) for n, v in headers)
        except (UnicodeEncodeError, AttributeError):
            self._give_up()
        if self._storing and not self._middleware._storable(self._status):
            self._give_up()
        if exc_info is not None:
            self._give_up()
            return self._start_response(status, headers, exc_info)
        write = self._start_response(status, headers)

        def legacy_write(data: bytes) -> object:
            # The legacy write() bypasses the iterable: a response sent through it is not kept.
            if self._storing:
                self._give_up()
            return write(data)

        return legacy_write

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._result:
                self._keep(chunk)
                yield chunk
        except BaseException as exc:
            self._slot.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._finished = True
        if self._storing:
            self._store()

    def _keep(self, chunk: bytes) -> None:
        if not self._storing:
            return
        self._size += len(chunk)
        if self._size > self._middleware._max_response:
            self._give_up()
        else:
            self._chunks.append(bytes(chunk))

    def close(self) -> None:
        """The server is done with the response: release a key whose response never finished."""
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            if not self._finished and self._slot.claimed:
                self._give_up()
            self._slot._stop_heartbeat()

    def _store(self) -> None:
        self._storing = False
        body = b"".join(self._chunks)
        self._chunks = []
        try:
            response = StoredResponse(self._status, self._headers, body)
        except IdempotencyError as exc:  # a status past 999: sent as the application gave it, not stored
            logger.warning("not storing an idempotent response the application sent: %s", exc)
            self._release()
            return
        try:
            self._slot.complete(response)
        except LeaseLostError as exc:
            logger.warning("%s", exc)
        except BackendUnavailableError as exc:
            logger.warning("could not store an idempotent response (the lease will expire): %s", exc)

    def _give_up(self) -> None:
        self._storing = False
        self._chunks = []
        self._release()

    def _release(self) -> None:
        if not self._slot.claimed:
            return
        try:
            self._slot.release()
        except BackendUnavailableError as exc:
            logger.warning("could not release idempotency key (the lease will expire): %s", exc)
