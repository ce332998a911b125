"""Line and branch coverage of the target's own code with `sys.monitoring` (PEP 669).

Two modes share one claimed tool id:

* **novelty** (the fuzz loop): a location reports once and is then disabled for the rest of the
  campaign (a branch once both of its directions were seen). An input costs nothing for code that
  was already covered, so the only overhead left is on inputs that find something new, which are
  exactly the ones worth paying for.
* **measure** (corpus minimisation, `Fuzzer.features_of`): every in-scope location reports every
  time, giving each input's full feature set.

Code outside the scope (the standard library, installed packages, this harness) answers its first
event with `sys.monitoring.DISABLE`, so it is never seen again. Features are ints: a hash of the
code object's identity with the line, or with the branch's source and destination offsets.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from types import CodeType
from typing import Any, Final

from .exceptions import CoverageUnavailableError

__all__ = ["CoverageMonitor"]

_HARNESS_DIR = os.path.dirname(os.path.realpath(__file__)) + os.sep
#: Ids tried in order: 4 and 5 are unassigned by convention; 3 is Hypothesis's explain phase.
_PREFERRED_IDS: Final = (4, 5, 3)
_TOOL_NAME: Final = "buttress-fuzzing"


def _branch_events() -> int:
    events = sys.monitoring.events
    # 3.12 and 3.13 have BRANCH; 3.14 splits it into BRANCH_LEFT and BRANCH_RIGHT.
    left = getattr(events, "BRANCH_LEFT", None)
    right = getattr(events, "BRANCH_RIGHT", None)
    if isinstance(left, int) and isinstance(right, int):
        return left | right
    branch: int = events.BRANCH
    return branch


class CoverageMonitor:
    """Claims a `sys.monitoring` tool id and collects features of in-scope code.

    Args:
        scope: Absolute files or directories whose code is the target's own.
        tool_id: The id to claim, or ``None`` to try 4, 5 and 3 in turn.
    """

    def __init__(self, scope: Iterable[str], tool_id: int | None = None) -> None:
        self._scope = tuple(os.path.realpath(s) for s in scope)
        self._requested = tool_id
        self._tool_id: int | None = None
        self._files: dict[str, bool] = {}
        self.seen: set[int] = set()
        self.new: list[int] = []
        self.current: set[int] = set()
        self._branch_targets: dict[tuple[int, int], int] = {}
        self._measuring = False

    @property
    def tool_id(self) -> int | None:
        """The claimed id, or ``None`` when not started."""
        return self._tool_id

    def in_scope(self, filename: str) -> bool:
        """Whether code from this file is the target's own."""
        known = self._files.get(filename)
        if known is not None:
            return known
        real = os.path.realpath(filename) if not filename.startswith("<") else filename
        result = not real.startswith(_HARNESS_DIR) and any(
            real == s or real.startswith(s + os.sep) for s in self._scope
        )
        self._files[filename] = result
        return result

    def start(self) -> None:
        """Claim a tool id and switch on line and branch events in novelty mode."""
        if self._tool_id is not None:
            return
        mon = sys.monitoring
        candidates = (self._requested,) if self._requested is not None else _PREFERRED_IDS
        holders: dict[int, str] = {}
        for candidate in candidates:
            holder = mon.get_tool(candidate)
            if holder is not None:
                holders[candidate] = holder
                continue
            try:
                mon.use_tool_id(candidate, _TOOL_NAME)
            except ValueError:  # taken between the check and the claim, by another thread
                holders[candidate] = mon.get_tool(candidate) or "another tool"
                continue
            self._tool_id = candidate
            break
        else:
            raise CoverageUnavailableError(holders)
        # Locations disabled by an earlier campaign (ours or another tool's) would stay silent.
        mon.restart_events()
        self._install(measure=False)

    def _install(self, *, measure: bool) -> None:
        tool = self._tool_id
        assert tool is not None  # noqa: S101 - guarded by start()
        mon = sys.monitoring
        self._measuring = measure
        line: Callable[..., Any] = self._line_measure if measure else self._line_novel
        branch: Callable[..., Any] = self._branch_measure if measure else self._branch_novel
        branches = _branch_events()
        mon.register_callback(tool, mon.events.LINE, line)
        for event in (getattr(mon.events, n, 0) for n in ("BRANCH", "BRANCH_LEFT", "BRANCH_RIGHT")):
            if event and event & branches:
                mon.register_callback(tool, event, branch)
        mon.set_events(tool, mon.events.LINE | branches)

    def measure_mode(self, enabled: bool) -> None:
        """Switch between novelty mode (default) and measure mode (every event, every time)."""
        if self._tool_id is None or enabled == self._measuring:
            return
        sys.monitoring.restart_events()
        self._install(measure=enabled)

    def stop(self) -> None:
        """Switch events off and give the tool id back."""
        tool = self._tool_id
        if tool is None:
            return
        mon = sys.monitoring
        mon.set_events(tool, 0)
        mon.register_callback(tool, mon.events.LINE, None)
        for name in ("BRANCH", "BRANCH_LEFT", "BRANCH_RIGHT"):
            event = getattr(mon.events, name, 0)
            if event:
                mon.register_callback(tool, event, None)
        mon.free_tool_id(tool)
        self._tool_id = None

    def take_new(self) -> list[int]:
        """Features first seen since the last call (novelty mode)."""
        new = self.new
        if new:
            self.new = []
        return new

    def take_current(self) -> set[int]:
        """Features reached since the last call (measure mode)."""
        current = self.current
        self.current = set()
        return current

    # The callbacks are the hot path: keep them short.

    def _line_novel(self, code: CodeType, line: int) -> object:
        if not self.in_scope(code.co_filename):
            return sys.monitoring.DISABLE
        feature = hash((id(code), line))
        if feature not in self.seen:
            self.seen.add(feature)
            self.new.append(feature)
        return sys.monitoring.DISABLE

    def _branch_novel(self, code: CodeType, source: int, destination: int) -> object:
        if not self.in_scope(code.co_filename):
            return sys.monitoring.DISABLE
        feature = hash((id(code), source, destination))
        if feature in self.seen:
            return None
        self.seen.add(feature)
        self.new.append(feature)
        key = (id(code), source)
        count = self._branch_targets.get(key, 0) + 1
        self._branch_targets[key] = count
        # A conditional branch has two ways out: stay on until both were seen.
        return sys.monitoring.DISABLE if count >= 2 else None

    def _line_measure(self, code: CodeType, line: int) -> object:
        if not self.in_scope(code.co_filename):
            return sys.monitoring.DISABLE
        self.current.add(hash((id(code), line)))
        return None

    def _branch_measure(self, code: CodeType, source: int, destination: int) -> object:
        if not self.in_scope(code.co_filename):
            return sys.monitoring.DISABLE
        self.current.add(hash((id(code), source, destination)))
        return None
