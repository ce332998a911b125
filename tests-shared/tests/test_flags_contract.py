"""FlagSourceContract and AuditSinkContract pass small correct implementations and catch broken ones.

buttress-feature-flags is not installed here: the reference implementations live in this file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from buttress.testing import AuditSinkContract, FlagSourceContract

REFERENCE = '''
import asyncio
from dataclasses import dataclass
from datetime import UTC
from types import SimpleNamespace


@dataclass(frozen=True)
class Flag:
    key: str
    enabled: bool = True
    description: str | None = None


@dataclass(frozen=True)
class Event:
    actor: str
    action: str
    flag_key: str
    before: object
    after: object
    timestamp: object


class DictSource:
    """A writable, watchable source."""

    def __init__(self, flags=()):
        self.flags = {flag.key: flag for flag in flags}
        self.changed = asyncio.Event()

    async def load(self):
        return SimpleNamespace(flags=dict(self.flags))

    async def get(self, key):
        return self.flags.get(key)

    async def put(self, flag):
        previous = self.flags.get(flag.key)
        self.flags[flag.key] = flag
        self.changed.set()
        return previous

    async def delete(self, key):
        previous = self.flags.pop(key, None)
        if previous is not None:
            self.changed.set()
        return previous

    async def wait_for_change(self, timeout):
        try:
            await asyncio.wait_for(self.changed.wait(), timeout)
        except TimeoutError:
            return False
        self.changed.clear()
        return True


class ListSink:
    def __init__(self):
        self.events = []

    async def record(self, event):
        self.events.append(event)

    async def history(self, flag_key, *, limit=None):
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError("limit must be positive")
        found = [event for event in self.events if event.flag_key == flag_key]
        return found if limit is None else found[-limit:]


class Factories:
    def make_flag(self, key, *, enabled=True, description=None):
        return Flag(key, enabled, description)

    def make_event(self, *, actor, action, flag_key, before, after, timestamp):
        return Event(actor, action, flag_key, before, after, timestamp.astimezone(UTC))
'''

namespace: dict[str, Any] = {"__name__": "flag_reference"}
# The same reference the inner runs import; compiled without this module's __future__ flags.
exec(compile(REFERENCE, "flag_reference", "exec", dont_inherit=True), namespace)  # noqa: S102


class TestDictSource(namespace["Factories"], FlagSourceContract):  # type: ignore[misc]
    async def make_source(self, flags: Any) -> Any:
        return namespace["DictSource"](flags)


class TestListSink(namespace["Factories"], AuditSinkContract):  # type: ignore[misc]
    async def make_sink(self) -> Any:
        return namespace["ListSink"]()


BROKEN_SOURCES = {
    "put-forgets-previous": (
        "async def put(self, flag):\n        self.flags[flag.key] = flag\n        return None",
        "test_put_returns_the_previous_definition",
    ),
    "delete-returns-bool": (
        "async def delete(self, key):\n        return self.flags.pop(key, None) is not None",
        "test_delete_returns_what_was_removed",
    ),
    "load-drops-disabled": (
        "async def load(self):\n"
        "        return SimpleNamespace(flags={k: f for k, f in self.flags.items() if f.enabled})",
        "test_load_returns_every_flag_given",
    ),
    "keys-fold-case": (
        "async def get(self, key):\n"
        "        return next((f for k, f in self.flags.items() if k.lower() == key.lower()), None)\n"
        "    async def put(self, flag):\n        previous = await self.get(flag.key)\n"
        "        self.flags = {k: f for k, f in self.flags.items() if k.lower() != flag.key.lower()}\n"
        "        self.flags[flag.key] = flag\n        self.changed.set()\n        return previous",
        "test_keys_are_distinct",
    ),
    "racy-put": (
        "async def put(self, flag):\n        previous = self.flags.get(flag.key)\n"
        "        await asyncio.sleep(0)\n"
        "        self.flags[flag.key] = flag\n        return previous",
        "test_concurrent_writes_of_one_key_report_one_history",
    ),
    "silent-watch": (
        "async def wait_for_change(self, timeout):\n"
        "        await asyncio.sleep(min(timeout, 0.3))\n        return False",
        "test_a_watchable_source_reports_a_write",
    ),
}


SOURCE = """
import asyncio
from buttress.testing import FlagSourceContract
from reference import DictSource, Factories

class Broken(DictSource):
    {method}

class TestBroken(Factories, FlagSourceContract):
    change_wait = 0.5

    async def make_source(self, flags):
        return Broken(flags)
"""


@pytest.mark.parametrize("flaw", sorted(BROKEN_SOURCES))
def test_the_source_contract_catches_a_broken_source(
    contract_catches: Callable[..., set[str]], flaw: str
) -> None:
    method, failing_test = BROKEN_SOURCES[flaw]
    module = SOURCE.format(method=method)
    contract_catches(failing_test, "-p", "no:randomly", reference=REFERENCE, test_broken=module)


BROKEN_SINKS = {
    "history-newest-first": (
        "async def history(self, flag_key, *, limit=None):\n"
        "        found = [e for e in self.events if e.flag_key == flag_key][::-1]\n"
        "        return found if limit is None else found[:limit]",
        "test_every_action_round_trips",
    ),
    "history-not-per-flag": (
        "async def history(self, flag_key, *, limit=None):\n        return list(self.events)",
        "test_history_is_per_flag",
    ),
    "limit-keeps-oldest": (
        "async def history(self, flag_key, *, limit=None):\n"
        "        found = [e for e in self.events if e.flag_key == flag_key]\n"
        "        return found if limit is None else found[:limit]",
        "test_limit_keeps_the_newest",
    ),
    "drops-before": (
        "async def record(self, event):\n        import dataclasses\n"
        "        self.events.append(dataclasses.replace(event, before=None))",
        "test_every_action_round_trips",
    ),
    "naive-timestamps": (
        "async def record(self, event):\n        import dataclasses\n"
        "        naive = event.timestamp.replace(tzinfo=None)\n"
        "        self.events.append(dataclasses.replace(event, timestamp=naive))",
        "test_every_action_round_trips",
    ),
    "accepts-zero-limit": (
        "async def history(self, flag_key, *, limit=None):\n"
        "        return [e for e in self.events if e.flag_key == flag_key][-(limit or 10**9):]",
        "test_a_bad_limit_is_a_value_error",
    ),
}


SINK = """
from buttress.testing import AuditSinkContract
from reference import Factories, ListSink

class Broken(ListSink):
    {method}

class TestBroken(Factories, AuditSinkContract):
    async def make_sink(self):
        return Broken()
"""


@pytest.mark.parametrize("flaw", sorted(BROKEN_SINKS))
def test_the_sink_contract_catches_a_broken_sink(
    contract_catches: Callable[..., set[str]], flaw: str
) -> None:
    method, failing_test = BROKEN_SINKS[flaw]
    contract_catches(failing_test, reference=REFERENCE, test_broken=SINK.format(method=method))


def test_the_correct_reference_passes_inner_runs_too(contract_passes: Callable[..., int]) -> None:
    passed = contract_passes(
        reference=REFERENCE,
        test_good="""
from buttress.testing import AuditSinkContract, FlagSourceContract
from reference import DictSource, Factories, ListSink

class TestSource(Factories, FlagSourceContract):
    async def make_source(self, flags):
        return DictSource(flags)

class TestReadOnly(Factories, FlagSourceContract):
    writable = False

    async def make_source(self, flags):
        source = DictSource(flags)
        return type("ReadOnly", (), {"load": source.load})()

class TestSink(Factories, AuditSinkContract):
    async def make_sink(self):
        return ListSink()
""",
    )
    assert passed >= 20


def test_subclasses_must_provide_their_factories() -> None:
    with pytest.raises(NotImplementedError, match="make_source"):
        asyncio.run(FlagSourceContract().make_source([]))
    with pytest.raises(NotImplementedError, match="make_flag"):
        FlagSourceContract().make_flag("x")
    with pytest.raises(NotImplementedError, match="make_sink"):
        asyncio.run(AuditSinkContract().make_sink())
    with pytest.raises(NotImplementedError, match="make_event"):
        AuditSinkContract().make_event(
            actor="a", action="create", flag_key="k", before=None, after=None, timestamp=datetime.now(UTC)
        )
