"""TokenStoreContract passes a correct store and catches broken ones, without buttress-auth.

The reference is written against the Protocol's shape only, as a user's store would be; each flaw
is one method replaced in a subclass, and the suite must fail the checks named beside it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

STORE = """
import asyncio
import math
from datetime import datetime

from buttress.core import ArgumentTypeError, ConfigurationError


def check_id(name, value):
    if not isinstance(value, str):
        raise ArgumentTypeError(name, "a str", value)
    if not value or "\\x00" in value or len(value.encode()) > 256:
        raise ConfigurationError(name, value, "must be 1 to 256 bytes without NUL")
    return value


def seconds(name, value):
    if not isinstance(value, datetime):
        raise ArgumentTypeError(name, "a datetime", value)
    if value.tzinfo is None:
        raise ConfigurationError(name, value, "must be timezone-aware")
    return value.timestamp()


class DictStore:
    def __init__(self):
        self.revoked = {}
        self.cutoffs = {}

    def now(self):
        return datetime.now().timestamp()

    async def revoke(self, jti, *, expires_at):
        jti, until = check_id("jti", jti), seconds("expires_at", expires_at)
        if self.revoked.get(jti, 0) > self.now():
            return False
        if until > self.now():
            self.revoked[jti] = until
        return True

    async def revoke_all_for_user(self, user_id, *, cutoff, expires_at):
        user = check_id("user_id", user_id)
        at, until = seconds("cutoff", cutoff), seconds("expires_at", expires_at)
        held = self.cutoffs.get(user)
        if held is not None and held[1] > self.now():
            at, until = max(at, held[0]), max(until, held[1])
        self.cutoffs[user] = (at, until)

    async def is_revoked(self, jti, *, user_id, issued_at, family=None):
        keys = [check_id("jti", jti)] + ([check_id("family", family)] if family is not None else [])
        user, issued = check_id("user_id", user_id), seconds("issued_at", issued_at)
        if any(self.revoked.get(key, 0) > self.now() for key in keys):
            return True
        held = self.cutoffs.get(user)
        return held is not None and held[1] > self.now() and math.floor(issued) <= held[0]
"""

SUITE = """
import asyncio
from store import DictStore
from buttress.testing import TokenStoreContract


class Broken(DictStore):
{method}


class TestStore(TokenStoreContract):
    async def make_store(self):
        return Broken()
"""

BROKEN = {
    "revoke_always_wins": (
        "    async def revoke(self, jti, *, expires_at):\n"
        "        await super().revoke(jti, expires_at=expires_at)\n"
        "        return True",
        {
            "test_revoke_answers_true_once_then_false",
            "test_concurrent_revokes_of_one_jti_let_exactly_one_win",
        },
    ),
    "racy_revoke": (
        "    async def revoke(self, jti, *, expires_at):\n"
        "        held = self.revoked.get(jti, 0) > self.now()\n"
        "        await asyncio.sleep(0)  # looked, then writes: two steps\n"
        "        self.revoked[jti] = expires_at.timestamp()\n"
        "        return not held",
        {"test_concurrent_revokes_of_one_jti_let_exactly_one_win"},
    ),
    "ignores_the_family": (
        "    async def is_revoked(self, jti, *, user_id, issued_at, family=None):\n"
        "        return await super().is_revoked(jti, user_id=user_id, issued_at=issued_at)",
        {"test_a_revoked_family_revokes_its_tokens"},
    ),
    "never_expires": (
        "    async def revoke(self, jti, *, expires_at):\n"
        "        from datetime import timedelta\n"
        "        return await super().revoke(jti, expires_at=expires_at + timedelta(days=1))",
        {"test_an_entry_is_kept_until_it_expires", "test_revoking_what_expired_already_keeps_nothing"},
    ),
    "cutoff_moves_back": (
        "    async def revoke_all_for_user(self, user_id, *, cutoff, expires_at):\n"
        "        self.cutoffs[user_id] = (cutoff.timestamp(), expires_at.timestamp())",
        {"test_a_cutoff_never_moves_back"},
    ),
    "cutoff_spares_its_own_second": (
        "    async def is_revoked(self, jti, *, user_id, issued_at, family=None):\n"
        "        from datetime import timedelta\n"
        "        earlier = issued_at + timedelta(seconds=1)\n"
        "        return await super().is_revoked(jti, user_id=user_id, issued_at=earlier, family=family)",
        {"test_a_cutoff_revokes_the_users_earlier_tokens_only"},
    ),
    "cutoff_for_everyone": (
        "    async def is_revoked(self, jti, *, user_id, issued_at, family=None):\n"
        "        if any(issued_at.timestamp() <= at for at, until in self.cutoffs.values()):\n"
        "            return True\n"
        "        return await super().is_revoked(jti, user_id=user_id, issued_at=issued_at, family=family)",
        {"test_a_cutoff_revokes_the_users_earlier_tokens_only"},
    ),
    "takes_any_id": (
        "    async def revoke(self, jti, *, expires_at):\n"
        "        return await super().revoke(str(jti) or 'x', expires_at=expires_at)",
        {"test_bad_ids_are_refused_with_a_value_error", "test_wrong_types_are_refused_with_a_type_error"},
    ),
}


def test_a_store_with_only_the_protocols_shape_passes(contract_passes: Callable[..., int]) -> None:
    assert contract_passes(store=STORE, test_suite=SUITE.format(method="    pass")) == 14


@pytest.mark.parametrize("flaw", sorted(BROKEN))
def test_each_flaw_is_caught(contract_catches: Callable[..., set[str]], flaw: str) -> None:
    method, failing = BROKEN[flaw]
    contract_catches(failing, store=STORE, test_suite=SUITE.format(method=method))
