"""The framework-agnostic engine: `idempotent` (a context manager) and `execute` (a one-call form)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from buttress.core import BackendUnavailableError, JsonSerializer, Serializer

from ._metrics import LEASE_LOSSES, REQUESTS
from ._types import Claim, ClaimOutcome, IdempotencyStore, StoredResponse
from ._validation import check_bool, check_positive, check_store_text
from .exceptions import (
    FingerprintMismatchError,
    IdempotencyConfigurationError,
    IdempotencyTypeError,
    KeyInFlightError,
    LeaseLostError,
)

__all__ = ["DEFAULT_LEASE", "DEFAULT_RETENTION", "IdempotencySlot", "SlotRules", "execute", "idempotent"]

logger = logging.getLogger(__name__)

DEFAULT_LEASE = 30.0
"""Seconds an in-flight claim holds its key without a heartbeat."""

DEFAULT_RETENTION = 24 * 60 * 60.0
"""Seconds a completed outcome is kept and replayed: 24 hours."""


def heartbeat_interval(lease: float, heartbeat: float | None) -> float | None:
    """The seconds between renewals: ``lease / 3`` by default, ``None`` for ``0`` (no heartbeat)."""
    if isinstance(heartbeat, bool):
        raise IdempotencyConfigurationError("heartbeat", heartbeat, "must be seconds, 0 or None, not a bool")
    if heartbeat is None:
        return lease / 3
    # Only an int or a float is compared with 0 here: Decimal("sNaN") == 0 raises InvalidOperation.
    if isinstance(heartbeat, int | float) and heartbeat == 0:
        return None
    seconds = check_positive("heartbeat", heartbeat)
    if seconds >= lease:
        raise IdempotencyConfigurationError("heartbeat", heartbeat, "must be shorter than the lease")
    return seconds


class SlotRules:
    """What an async and a sync slot share: the checked settings and every decision on a claim.

    `IdempotencySlot` and `SyncIdempotencySlot` (``_sync``) only call the store, one awaiting it.
    """

    __slots__ = (
        "_done",
        "_fail_open",
        "_heartbeat",
        "_lease",
        "_retention",
        "_store",
        "entered",
        "fingerprint",
        "guarded",
        "key",
        "lease_lost",
        "replay",
        "token",
    )

    def __init__(
        self,
        store: object,
        key: str,
        fingerprint: str,
        *,
        lease: float,
        retention: float,
        heartbeat: float | None,
        fail_open: bool,
    ) -> None:
        self._store = store
        self.key = check_store_text("key", key)
        self.fingerprint = check_store_text("fingerprint", fingerprint)
        self._lease = check_positive("lease", lease)
        self._retention = check_positive("retention", retention)
        self._heartbeat = heartbeat_interval(self._lease, heartbeat)
        self._fail_open = check_bool("fail_open", fail_open)
        self.replay: StoredResponse | None = None
        self.token: str | None = None
        self.guarded = True
        self.lease_lost = False
        self.entered = False
        self._done = False

    def _unguarded(self, exc: BackendUnavailableError) -> None:
        """The store could not be reached for the claim: raise, or (``fail_open``) run unguarded."""
        if not self._fail_open:
            raise exc
        logger.warning("idempotency store unavailable, running unguarded (fail_open): %s", exc)
        self.guarded, self.entered = False, True
        REQUESTS.add(1, {"idempotency.outcome": "unguarded"})

    def _entered(self, claim: Claim) -> bool:
        """Take in the store's answer to the claim; whether the slot holds the key (start the heartbeat).

        Raises:
            KeyInFlightError: Another live claim holds the key.
            FingerprintMismatchError: The key holds a different request.
        """
        self.entered = True
        outcome = claim.outcome
        if outcome == ClaimOutcome.CLAIMED:
            REQUESTS.add(1, {"idempotency.outcome": "executed"})
            self.token = claim.token
            return self._heartbeat is not None
        if outcome == ClaimOutcome.COMPLETED:
            REQUESTS.add(1, {"idempotency.outcome": "replayed"})
            self.replay = claim.response
            return False
        if outcome == ClaimOutcome.IN_FLIGHT:
            REQUESTS.add(1, {"idempotency.outcome": "in_flight"})
            raise KeyInFlightError(self.key, claim.retry_after)
        REQUESTS.add(1, {"idempotency.outcome": "fingerprint_mismatch"})
        raise FingerprintMismatchError(self.key)

    @property
    def claimed(self) -> bool:
        """True while this slot holds the key: the operation should run and its outcome be recorded."""
        return self.token is not None and not self._done

    def _finish(self) -> None:
        if self._done:
            raise IdempotencyConfigurationError("slot", self.key, "was completed or released already")
        self._done = True

    def _lost(self) -> LeaseLostError:
        """The store would not take the outcome: the lease had run out."""
        if not self.lease_lost:  # a renewal that found it gone counted it already
            LEASE_LOSSES.add(1, {"idempotency.operation": "complete"})
        self.lease_lost = True
        return LeaseLostError(self.key)

    def _renewed(self, alive: bool) -> bool:
        """Take in a renewal's answer; whether to keep beating."""
        if not alive:
            self.lease_lost = True
            LEASE_LOSSES.add(1, {"idempotency.operation": "renew"})
            logger.warning("idempotency lease lost while the operation ran; its outcome will not be stored")
            return False
        return not self._done


class IdempotencySlot(SlotRules):
    """One claim on a key, made by `idempotent`: replay what is stored, or run once and record.

    Use it as an async context manager. Entering claims the key:

    - stored outcome: `replay` holds it; do not run the operation, return the replay;
    - free key: `replay` is ``None``; run the operation, then `complete` with its outcome. Leaving the
      block without calling `complete` or `release` completes with an empty outcome; leaving it with
      an exception (cancellation included) releases the key, so a retry runs again;
    - another live claim: entering raises `KeyInFlightError`; a different fingerprint,
      `FingerprintMismatchError`; a store that cannot be reached, `IdempotencyUnavailableError` (or, with
      ``fail_open``, the block runs unguarded: `guarded` is false and nothing is recorded).

    While the block runs, a heartbeat renews the lease every ``heartbeat`` seconds. If a renewal finds
    the lease gone (the worker stalled past it and another claimed the key), `lease_lost` turns true
    and `complete` raises `LeaseLostError`.

    Attributes:
        key: The store key.
        fingerprint: The request fingerprint.
        replay: The stored outcome when the key was completed before, else ``None``.
        guarded: False when the store was unreachable and ``fail_open`` let the block run unguarded.
        lease_lost: True once a renewal found the lease gone.
        entered: True once the claim was answered (whatever the answer).
    """

    __slots__ = ("_beats", "_claim", "_renewal", "_timer")

    def __init__(
        self,
        store: IdempotencyStore,
        key: str,
        fingerprint: str,
        *,
        lease: float = DEFAULT_LEASE,
        retention: float = DEFAULT_RETENTION,
        heartbeat: float | None = None,
        fail_open: bool = False,
    ) -> None:
        if not isinstance(store, IdempotencyStore):
            raise IdempotencyTypeError(
                "store", "an IdempotencyStore (claim, complete, release, renew)", store
            )
        super().__init__(
            store,
            key,
            fingerprint,
            lease=lease,
            retention=retention,
            heartbeat=heartbeat,
            fail_open=fail_open,
        )
        self._store: IdempotencyStore = store
        self._claim = checked_claim(store)
        self._beats: Heartbeats | None = None
        # The heartbeat's timer of its own, or the shared `Heartbeats` that holds the slot.
        self._timer: asyncio.TimerHandle | Heartbeats | None = None
        self._renewal: asyncio.Task[None] | None = None

    @classmethod
    def _checked(  # noqa: PLR0917 - private, called once per request with every setting
        cls,
        store: IdempotencyStore,
        key: str,
        fingerprint: str,
        lease: float,
        retention: float,
        heartbeat: float | None,
        fail_open: bool,
        claim: CheckedClaim | None,
        beats: Heartbeats | None = None,
    ) -> IdempotencySlot:
        """A slot from arguments its caller checked already, once (the middleware, per request).

        ``key`` and ``fingerprint`` are SHA-256 hex digests, ``store`` an `IdempotencyStore`, the
        durations checked seconds, ``heartbeat`` the interval itself (`heartbeat_interval`'s answer)
        ``claim`` `checked_claim`'s answer for ``store`` and ``beats`` the middleware's shared
        heartbeat (for ``heartbeat`` seconds), if it has one.
        """
        slot = cls.__new__(cls)
        slot._store = store
        slot._claim = claim
        slot._beats = beats
        slot.key = key
        slot.fingerprint = fingerprint
        slot._lease = lease
        slot._retention = retention
        slot._heartbeat = heartbeat
        slot._fail_open = fail_open
        slot.replay = None
        slot.token = None
        slot.guarded = True
        slot.lease_lost = False
        slot.entered = False
        slot._done = False
        slot._timer = None
        slot._renewal = None
        return slot

    async def __aenter__(self) -> Self:
        try:
            if self._claim is not None:
                claim = await self._claim(self.key, self.fingerprint, self._lease)
            else:
                claim = await self._store.claim(self.key, self.fingerprint, lease=self._lease)
        except BackendUnavailableError as exc:
            self._unguarded(exc)
            return self
        if self._entered(claim):
            self._schedule()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._timer is not None or self._renewal is not None:
            await self._stop_heartbeat()
        if self._done or self.token is None:
            return
        if exc_type is None:
            await self.complete(StoredResponse())
            return
        try:
            await self.release()
        except BackendUnavailableError as error:
            logger.warning("could not release idempotency key after a failure (lease will expire): %s", error)

    async def complete(self, response: StoredResponse) -> None:
        """Record ``response`` as the key's outcome, replayed to every retry for the retention period.

        Does nothing for a replay or an unguarded (fail-open) slot.

        Raises:
            LeaseLostError: The lease ran out before the outcome was stored (see `lease_lost`).
            IdempotencyUnavailableError: The store cannot be reached; the lease will run out by itself.
            IdempotencyConfigurationError: The slot was completed or released already.
        """
        if not isinstance(response, StoredResponse):
            raise IdempotencyTypeError("response", "a StoredResponse", response)
        if self.token is None:
            return
        self._finish()
        if self._timer is not None or self._renewal is not None:
            await self._stop_heartbeat()
        if not await self._store.complete(self.key, self.token, response, retention=self._retention):
            raise self._lost()

    def _complete_soon(
        self, response: StoredResponse, answer: Callable[[bool | BaseException], None]
    ) -> bool:
        """`complete`, started now and answered through ``answer``; ``False`` (nothing done) if it cannot.

        It can when the store queues a write without awaiting (`RedisStore` with batching) and no
        renewal is under way (the write must not overtake it). ``answer`` gets whether the store took
        the outcome (``False``: the lease had run out, see `_lost`), or the exception it raised. The
        caller holds a token (`claimed`).
        """
        start = getattr(self._store, "_complete_soon", None)
        renewal = self._renewal
        if start is None or (renewal is not None and not renewal.done()) or self.token is None:
            return False
        if not start(self.key, self.token, response, self._retention, answer):
            return False
        self._done = True
        if self._timer is not None:
            self._stop_timer()
        return True

    async def release(self) -> bool:
        """Give the key up without an outcome, so the next request with it runs again.

        Returns whether the store still held this claim (``False`` if the lease had run out).

        Raises:
            IdempotencyUnavailableError: The store cannot be reached; the lease will run out by itself.
            IdempotencyConfigurationError: The slot was completed or released already.
        """
        if self.token is None:
            return False
        self._finish()
        if self._timer is not None or self._renewal is not None:
            await self._stop_heartbeat()
        return await self._store.release(self.key, self.token)

    # --- heartbeat: a timer that starts a renewal only when it fires, so short requests pay nothing ---

    def _schedule(self) -> None:
        assert self._heartbeat is not None  # noqa: S101 - only called with a heartbeat
        beats = self._beats
        if beats is not None and beats.add(self):
            self._timer = beats
            return
        self._timer = asyncio.get_running_loop().call_later(self._heartbeat, self._fire)

    def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if isinstance(timer, Heartbeats):
            timer.discard(self)
        elif timer is not None:
            timer.cancel()

    def _fire(self) -> None:
        self._timer = None
        if not self._done:
            self._renewal = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        token = self.token
        if token is None or self._done:
            return
        try:
            alive = await self._store.renew(self.key, token, lease=self._lease)
        except BackendUnavailableError as exc:
            logger.warning("idempotency lease renewal failed, retrying at the next beat: %s", exc)
            alive = True
        if self._renewed(alive):
            self._schedule()

    async def _stop_heartbeat(self) -> None:
        if self._timer is not None:
            self._stop_timer()
        renewal, self._renewal = self._renewal, None
        if renewal is not None and not renewal.done() and renewal is not asyncio.current_task():
            # Let a renewal in flight finish: cancelling a call mid-command would cost its connection.
            await asyncio.shield(renewal)


type CheckedClaim = Callable[[str, str, float], Awaitable[Claim]]


class Heartbeats:
    """One timer for the heartbeats of many slots (a middleware's), instead of a timer per slot.

    Every ``interval / 2`` seconds, while it holds slots, a sweep renews the slots that were already
    held at the sweep before, and keeps the others for the next one: a slot is renewed between
    ``interval / 2`` and ``interval`` seconds after it joined (its claim, or its last renewal), never later
    than its own timer would have renewed it. A renewed slot joins again; a finished slot leaves at once
    (`discard`), so the sweeps hold only live slots. One event loop at a time: a slot made on another
    loop, while this one holds slots, keeps a timer of its own.
    """

    __slots__ = ("_due", "_fresh", "_interval", "_loop", "_timer")

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._fresh: dict[IdempotencySlot, bool] = {}  # joined since the last sweep
        self._due: dict[IdempotencySlot, bool] = {}  # held at the last sweep: renewed at the next
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def add(self, slot: IdempotencySlot) -> bool:
        """Hold ``slot`` until its next renewal; ``False`` if it runs on another loop than the held ones."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._timer is not None:
                return False
            self._loop = loop
        self._fresh[slot] = True
        if self._timer is None:
            self._timer = loop.call_later(self._interval / 2, self._sweep)
        return True

    def discard(self, slot: IdempotencySlot) -> None:
        """Let ``slot`` go: it finished, or it renews by itself."""
        if not self._fresh.pop(slot, False):
            self._due.pop(slot, None)

    def _sweep(self) -> None:
        due, self._due, self._fresh = self._due, self._fresh, {}
        self._timer = None
        for slot in due:
            slot._fire()  # starts the slot's renewal, which joins again when it succeeds
        if (self._due or self._fresh) and self._loop is not None and not self._loop.is_closed():
            self._timer = self._loop.call_later(self._interval / 2, self._sweep)


def checked_claim(store: object) -> CheckedClaim | None:
    """The store's claim for arguments checked already, if it has one (`RedisStore._claim_checked`).

    A slot checks its key, fingerprint and lease when it is made, so the store need not check them again.
    A store whose class overrides ``claim`` (``_own_claim`` false) is claimed through its override.
    """
    claim = getattr(store, "_claim_checked", None)
    return claim if callable(claim) and getattr(store, "_own_claim", False) is True else None


def idempotent(
    store: IdempotencyStore,
    key: str,
    fingerprint: str,
    *,
    lease: float = DEFAULT_LEASE,
    retention: float = DEFAULT_RETENTION,
    heartbeat: float | None = None,
    fail_open: bool = False,
) -> IdempotencySlot:
    """Guard one operation with an idempotency key, for queue consumers, RPC handlers and HTTP alike.

    ::

        async with idempotent(store, message.id, digest(message.body)) as slot:
            if slot.replay is not None:
                return slot.replay.body
            result = await charge(message)
            await slot.complete(StoredResponse(body=result))

    Args:
        store: Where records live.
        key: The store key; scope it to its owner first (see `scope_key`). At most 1,024 UTF-8
            bytes, without NUL or lone surrogates, so that every store can hold it.
        fingerprint: What the operation is (a digest, within the same limits as ``key``); the key
            reused with another fingerprint raises `FingerprintMismatchError`.
        lease: Seconds the claim holds without renewal; a crashed worker's key is free after it.
        retention: Seconds the outcome is kept and replayed.
        heartbeat: Seconds between lease renewals while the block runs; default a third of ``lease``;
            ``0`` turns renewal off.
        fail_open: When the store cannot be reached, run the block unguarded instead of raising
            `IdempotencyUnavailableError`.

    Durations are finite numbers of seconds above zero and at most 100 years.

    Returns:
        An `IdempotencySlot` to enter with ``async with``.

    Raises:
        IdempotencyConfigurationError: An argument is out of range (a key that is empty, too long or
            holds NUL, a duration that is not finite or past 100 years, a heartbeat not shorter than
            the lease).
        IdempotencyTypeError: An argument has the wrong type.
    """
    return IdempotencySlot(
        store, key, fingerprint, lease=lease, retention=retention, heartbeat=heartbeat, fail_open=fail_open
    )


async def execute[T](
    store: IdempotencyStore,
    key: str,
    fingerprint: str,
    operation: Callable[[], Awaitable[T]],
    *,
    serializer: Serializer[T] | None = None,
    lease: float = DEFAULT_LEASE,
    retention: float = DEFAULT_RETENTION,
    heartbeat: float | None = None,
    fail_open: bool = False,
) -> T:
    """Run ``operation`` at most once per key and return its result, replaying the stored one after.

    The result is stored through ``serializer`` (JSON by default), so a retry gets an equal value
    without running the operation. An exception from the operation releases the key and propagates.
    Raises what `idempotent` raises; the arguments are the same.

    Examples:
        >>> import asyncio
        >>> from buttress.idempotency import MemoryStore
        >>> store, calls = MemoryStore(), []
        >>> async def charge() -> dict[str, int]:
        ...     calls.append(1)
        ...     return {"amount": 100}
        >>> async def twice() -> list[dict[str, int]]:
        ...     return [await execute(store, "order-7", "charge:100", charge) for _ in range(2)]
        >>> asyncio.run(twice()), len(calls)
        ([{'amount': 100}, {'amount': 100}], 1)
    """
    if not callable(operation):
        raise IdempotencyTypeError("operation", "a callable returning an awaitable", operation)
    if serializer is not None and not isinstance(serializer, Serializer):
        raise IdempotencyTypeError("serializer", "a Serializer (dumps and loads)", serializer)
    codec: Serializer[T] = serializer if serializer is not None else JsonSerializer[T]()
    slot = idempotent(
        store, key, fingerprint, lease=lease, retention=retention, heartbeat=heartbeat, fail_open=fail_open
    )
    async with slot:
        if slot.replay is not None:
            return codec.loads(slot.replay.body)
        pending = operation()
        if not inspect.isawaitable(pending):
            raise IdempotencyTypeError("operation", "a callable returning an awaitable", pending)
        result = await pending
        if slot.claimed:
            await slot.complete(StoredResponse(body=codec.dumps(result)))
        return result
