"""Errors raised by buttress-fuzzing.

::

    ButtressError                                  (buttress.core)
    └── FuzzingError                               every error this package raises
        ├── FuzzingConfigurationError              (also ConfigurationError, ValueError) a FuzzingConfig
        │                                          argument out of range or of the wrong kind
        ├── FuzzingTypeError                       (also TypeError) an argument of the wrong type
        ├── TargetError                            (also ValueError) a target that cannot be loaded or
        │                                          called (``module:function`` not found, not callable)
        ├── MissingExtraError                      (also ImportError) an optional dependency is not
        │                                          installed; the message names the extra
        ├── CoverageUnavailableError               (also RuntimeError) no sys.monitoring tool id is free
        ├── CorruptCrashIndexError                 (also ValueError) the crash index cannot be read; the
        │                                          file is left as it was
        └── CrashesFoundError                      (also AssertionError) `assert_no_crashes` found crashes;
                                                   the message is the signature table

Two exceptions stand outside the tree on purpose, because they are crashes of the target, not
errors of this package: `InputTimeout` is what a target sees when its input runs past the deadline
(a `BaseException`, like `KeyboardInterrupt`, so a target's ``except Exception`` does not swallow
it), and `ServerErrorResponse` is what an `AsgiTarget` raises when the app answers 5xx.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from buttress.core import ArgumentTypeError, ButtressError, ConfigurationError, safe_repr
from buttress.core import MissingExtraError as CoreMissingExtraError

if TYPE_CHECKING:
    from ._signature import Frame
    from ._store import CrashRecord

__all__ = [
    "CorruptCrashIndexError",
    "CoverageUnavailableError",
    "CrashesFoundError",
    "FuzzingConfigurationError",
    "FuzzingError",
    "FuzzingTypeError",
    "InputTimeout",
    "MissingExtraError",
    "ServerErrorResponse",
    "TargetError",
]


class FuzzingError(ButtressError):
    """Root of every error buttress-fuzzing raises."""


class FuzzingConfigurationError(FuzzingError, ConfigurationError):
    """A `FuzzingConfig` argument is invalid; the message names it and what would be accepted.

    Attributes:
        parameter: The argument's name.
        value: The rejected value.
        reason: What is wrong and what to do.
    """


class FuzzingTypeError(FuzzingError, ArgumentTypeError):
    """An argument has the wrong type (see `buttress.core.ArgumentTypeError` for the attributes)."""


class TargetError(FuzzingError, ValueError):
    """A target cannot be used: a ``module:function`` spec that does not resolve, or a non-callable.

    Args:
        target: The target as given (a spec string or a repr).
        reason: What is wrong and what to do.

    Attributes:
        target: The target as given.
        reason: What is wrong.
    """

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"cannot use target {target}: {reason}")
        self.target = target
        self.reason = reason


class MissingExtraError(FuzzingError, CoreMissingExtraError):
    """An optional dependency is missing.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-fuzzing"


class CoverageUnavailableError(FuzzingError, RuntimeError):
    """Coverage guidance cannot start because every `sys.monitoring` tool id it may use is taken.

    Another tool (a debugger, a profiler, Hypothesis's explain phase, another fuzzer) holds them.
    Pass ``FuzzingConfig(coverage=False)`` to fuzz without guidance, or ``monitoring_tool_id=`` to
    pick a free id.

    Args:
        holders: ``{tool_id: tool_name}`` of the ids that were tried.

    Attributes:
        holders: ``{tool_id: tool_name}`` of the ids that were tried.
    """

    def __init__(self, holders: dict[int, str]) -> None:
        if not isinstance(holders, Mapping):
            raise FuzzingTypeError("holders", "a dict of tool ids to tool names", holders)
        taken = ", ".join(
            f"{safe_repr(tool_id)} (held by {safe_repr(name)})" for tool_id, name in holders.items()
        )
        super().__init__(
            f"no sys.monitoring tool id is free for coverage: {taken}; stop the other tool, pass "
            "monitoring_tool_id= with a free id, or fuzz without guidance with coverage=False"
        )
        self.holders = holders


class CorruptCrashIndexError(FuzzingError, ValueError):
    """The crash index (``index.json`` in ``crashes_dir``) cannot be read.

    The file is never rewritten while in this state: move it aside (or repair it) and run again.

    Args:
        path: The index file.
        reason: What is wrong with it.

    Attributes:
        path: The index file.
        reason: What is wrong with it.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"crash index {path} is corrupt ({reason}); it was left untouched: repair it or move it "
            "aside to start a new index"
        )
        self.path = path
        self.reason = reason


class CrashesFoundError(FuzzingError, AssertionError):
    """A campaign run by `assert_no_crashes` found crashes.

    Args:
        records: The distinct crashes found.
        table: The signature table shown as the message.

    Attributes:
        records: The distinct crashes found, one per signature.
    """

    def __init__(self, records: Sequence[CrashRecord], table: str) -> None:
        if not isinstance(records, Sequence):
            raise FuzzingTypeError("records", "a sequence of CrashRecord", records)
        if not isinstance(table, str):
            raise FuzzingTypeError("table", "a str", table)
        super().__init__(f"fuzzing found {len(records)} distinct crash(es):\n{table}")
        self.records = tuple(records)


class ServerErrorResponse(Exception):  # noqa: N818 - a crash kind, named for what the app did
    """The app answered with a 5xx status (or no response at all): a crash of an ASGI target.

    Its signature is the status with the method and route template, so one failing route is one
    crash however many inputs reach it.

    Args:
        status: The response status, or ``None`` when the app returned without starting a response.
        method: The request's method.
        route: The route template the request was made from.

    Attributes:
        status: The status, or ``None``.
        method: The method.
        route: The route template.
    """

    def __init__(self, status: int | None, method: str, route: str) -> None:
        what = f"status {status}" if status is not None else "no response"
        super().__init__(f"{method} {route} answered with {what}")
        self.status = status
        self.method = method
        self.route = route

    @property
    def signature_frames(self) -> tuple[Frame, ...]:
        """The pseudo-frame standing for the route (``POST /orders``, the status as its line)."""
        from ._signature import Frame  # noqa: PLC0415 - _signature imports this module

        return (Frame("<asgi>", f"{self.method} {self.route}", self.status),)


class InputTimeout(BaseException):
    """Raised inside a target whose input ran past ``FuzzingConfig.timeout``.

    Derives from `BaseException` so a target's ``except Exception`` does not hide a hang. The
    harness records it as a crash with its own signature.

    Args:
        seconds: The deadline that was passed.

    Attributes:
        seconds: The deadline that was passed.
    """

    def __init__(self, seconds: float) -> None:
        # Built by the harness from a checked timeout; any other value is shown, never a format error.
        shown = f"{seconds:g}" if isinstance(seconds, float) else safe_repr(seconds)
        super().__init__(f"input ran longer than {shown}s")
        self.seconds = seconds
