"""The idempotency store contract passes a small correct store and catches broken ones."""

from __future__ import annotations

import inspect
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from buttress.core import ConfigurationError
from buttress.testing import IdempotencyStoreContract


@dataclass(frozen=True)
class Claim:
    outcome: str
    token: str | None = None
    response: Any = None
    retry_after: float | None = None


class DictStore:
    """A small but correct idempotency store: records are (fingerprint, token, response, expires_at)."""

    def __init__(self) -> None:
        self.records: dict[str, list[Any]] = {}

    def _live(self, key: str) -> list[Any] | None:
        record = self.records.get(key)
        if record is not None and record[3] <= time.monotonic():
            del self.records[key]
            return None
        return record

    @staticmethod
    def _seconds(name: str, value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ConfigurationError(name, value, "must be a positive finite number")
        return value

    async def claim(self, key: str, fingerprint: str, *, lease: float) -> Claim:
        lease = self._seconds("lease", lease)
        record = self._live(key)
        if record is None:
            token = secrets.token_hex(8)
            self.records[key] = [fingerprint, token, None, time.monotonic() + lease]
            return Claim("claimed", token=token)
        if record[0] != fingerprint:
            return Claim("mismatch")
        if record[1] is None:
            return Claim("completed", response=record[2])
        return Claim("in_flight", retry_after=record[3] - time.monotonic())

    async def complete(self, key: str, token: str, response: Any, *, retention: float) -> bool:
        retention = self._seconds("retention", retention)
        record = self._live(key)
        if record is None or record[1] is None or record[1] != token:
            return False
        record[1:] = [None, response, time.monotonic() + retention]
        return True

    async def release(self, key: str, token: str) -> bool:
        record = self._live(key)
        if record is None or record[1] is None or record[1] != token:
            return False
        del self.records[key]
        return True

    async def renew(self, key: str, token: str, *, lease: float) -> bool:
        lease = self._seconds("lease", lease)
        record = self._live(key)
        if record is None or record[1] is None or record[1] != token:
            return False
        record[3] = time.monotonic() + lease
        return True


class TestDictStore(IdempotencyStoreContract):
    short_lease = 0.1

    async def make_store(self) -> Any:
        return DictStore()


# Broken stores, each wrong in one way the contract promises to catch, and a test that must fail.
BROKEN_STORES: dict[str, tuple[str, str]] = {
    "no_fencing_on_complete": (
        "async def complete(self, key, token, response, *, retention):\n"
        "        record = self._live(key)\n"
        "        if record is None or record[1] is None:\n"
        "            return False\n"
        "        record[1:] = [None, response, time.monotonic() + retention]\n"
        "        return True",
        "test_only_the_token_holder_can_complete_release_or_renew",
    ),
    "leases_never_expire": (
        "async def claim(self, key, fingerprint, *, lease):\n"
        "        return await super().claim(key, fingerprint, lease=1e9)",
        "test_an_expired_lease_frees_the_key_and_fences_the_old_holder",
    ),
    "fingerprint_ignored": (
        "async def claim(self, key, fingerprint, *, lease):\n"
        "        return await super().claim(key, 'same', lease=lease)",
        "test_a_held_key_is_a_mismatch_for_another_fingerprint",
    ),
    "claim_not_atomic": (
        "async def claim(self, key, fingerprint, *, lease):\n"
        "        exists = self._live(key) is not None\n"
        "        await asyncio.sleep(0)\n"
        "        if not exists:\n"
        "            self.records.pop(key, None)\n"
        "        return await super().claim(key, fingerprint, lease=lease)",
        "test_concurrent_claims_of_one_key_give_it_to_exactly_one",
    ),
    "renew_does_nothing": (
        "async def renew(self, key, token, *, lease):\n"
        "        return self._live(key) is not None and self._live(key)[1] == token",
        "test_renew_keeps_a_lease_alive",
    ),
    "headers_dropped": (
        "async def complete(self, key, token, response, *, retention):\n"
        "        slim = type(response)(response.status, (), response.body)\n"
        "        return await super().complete(key, token, slim, retention=retention)",
        "test_complete_then_claim_replays_the_exact_response",
    ),
    "retention_ignored": (
        "async def complete(self, key, token, response, *, retention):\n"
        "        return await super().complete(key, token, response, retention=1e9)",
        "test_a_completed_record_expires_after_its_retention",
    ),
    "release_keeps_the_record": (
        "async def release(self, key, token):\n"
        "        record = self._live(key)\n"
        "        return record is not None and record[1] == token",
        "test_release_frees_the_key",
    ),
    "zero_lease_accepted": (
        "async def claim(self, key, fingerprint, *, lease):\n"
        "        return await super().claim(key, fingerprint, lease=lease if lease > 0 else 1)",
        "test_a_lease_that_is_not_a_positive_finite_number_is_rejected",
    ),
}


STORE = """
import asyncio, time
from buttress.testing import IdempotencyStoreContract
from dict_store import DictStore

class Broken(DictStore):
    {method}

class TestBroken(IdempotencyStoreContract):
    short_lease = 0.05
    expiry_wait = 0.5

    async def make_store(self):
        return Broken()
"""


@pytest.mark.parametrize("flaw", sorted(BROKEN_STORES))
def test_the_idempotency_contract_catches_a_broken_store(
    contract_catches: Callable[..., set[str]], flaw: str
) -> None:
    method, failing_test = BROKEN_STORES[flaw]
    module = STORE.format(method=method)
    contract_catches(failing_test, "-k", failing_test, test_broken=module, dict_store=_dict_store_source())


def test_the_correct_store_passes_under_pytester_too(contract_passes: Callable[..., int]) -> None:
    """The inner harness itself is sound: the unbroken store passes every check there."""
    passed = contract_passes(
        test_fine="""
from buttress.testing import IdempotencyStoreContract
from dict_store import DictStore

class TestFine(IdempotencyStoreContract):
    short_lease = 0.05

    async def make_store(self):
        return DictStore()
""",
        dict_store=_dict_store_source(),
    )
    assert passed == len(_contract_tests())


def _contract_tests() -> list[str]:
    names = [n for n in dir(IdempotencyStoreContract) if n.startswith("test_")]
    counts = {
        "test_every_response_shape_round_trips": 4,
        "test_a_lease_that_is_not_a_positive_finite_number_is_rejected": 4,
        "test_a_retention_that_is_not_a_positive_finite_number_is_rejected": 3,
    }
    return [f"{n}[{i}]" for n in names for i in range(counts.get(n, 1))]


def _dict_store_source() -> str:
    header = (
        "import math, secrets, time\nfrom dataclasses import dataclass\nfrom typing import Any\n"
        "from buttress.core import ConfigurationError\n\n"
    )
    return header + inspect.getsource(Claim) + "\n\n" + inspect.getsource(DictStore)
