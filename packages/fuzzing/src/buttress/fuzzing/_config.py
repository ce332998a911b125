"""`FuzzingConfig`: every knob of a campaign, validated at construction."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from buttress.core import Clock, SystemClock

from ._checks import directory, exception_types, positive_float, positive_int, strings, tokens
from .exceptions import FuzzingConfigurationError, FuzzingTypeError

__all__ = ["FuzzingConfig"]

_MAX_TOOL_ID = 5


@dataclass(frozen=True, slots=True)
class FuzzingConfig:
    """How a campaign runs: its budget, input sizes, directories and crash grouping.

    Every argument is checked here, so a misconfigured campaign never starts: a bad value raises
    `FuzzingConfigurationError` (a `ValueError`) and a value of the wrong type `FuzzingTypeError`
    (a `TypeError`). ``corpus_dir`` and ``crashes_dir`` are created when missing.

    Args:
        max_iterations: Stop after this many executions. A campaign bounded by iterations alone is
            reproducible: the same seed, target and corpus give the same inputs in the same order.
        max_time: Stop after this many seconds (measured with ``clock``). At least one of
            ``max_iterations`` and ``max_time`` is required; with both, the first reached stops.
        seed: Seed of the campaign's random generator.
        min_input_size: Generated inputs are at least this many bytes long.
        max_input_size: Generated inputs are at most this many bytes long.
        timeout: Seconds one input may run before it counts as a hang (`InputTimeout`), or
            ``None`` for no limit. See the README for how sync and async targets are interrupted.
        corpus_dir: Seeds are read from it and inputs that reach new coverage are written to it.
        crashes_dir: One minimised reproducer per crash signature and ``index.json`` go here.
        dictionary: Tokens (bytes or str) the mutator inserts and overwrites with, such as
            keywords and magic numbers of the input format.
        code_constants: Also use the bytes and str constants found in the target's own code as
            dictionary tokens.
        expected_exceptions: Exception types the target may raise on bad input; they are not crashes.
        max_frames: How many of the target's own frames (innermost first) make a crash signature.
        line_numbers: Put line numbers in signatures. Off by default, so a signature survives edits
            that move code around; on, two raises of one type in one function are told apart.
        skip_functions: Qualified names (``fnmatch`` patterns) of your own helpers to leave out of
            signatures, such as an ``abort()`` every error goes through.
        scope: Files, directories or module names whose code counts as the target's own, for
            coverage and signatures. Empty means: the package (or the file) the target is defined in.
        coverage: Guide mutations with `sys.monitoring` line and branch coverage. Off, the campaign
            mutates its seeds at random.
        monitoring_tool_id: The `sys.monitoring` tool id to claim; ``None`` tries 4, 5 and 3.
        max_mutations: Up to this many mutations are stacked on each generated input.
        minimize_budget: Executions spent minimising each new crash's reproducer.
        progress_interval: Seconds between progress lines when the output is not a terminal.
        clock: Where time comes from (for the time budget and first/last-seen stamps).
    """

    max_iterations: int | None = None
    max_time: float | None = None
    seed: int = 0
    min_input_size: int = 0
    max_input_size: int = 4096
    timeout: float | None = 1.0
    corpus_dir: Path | None = None
    crashes_dir: Path | None = None
    dictionary: tuple[bytes, ...] = ()
    code_constants: bool = True
    expected_exceptions: tuple[type[BaseException], ...] = ()
    max_frames: int = 3
    line_numbers: bool = False
    skip_functions: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    coverage: bool = True
    monitoring_tool_id: int | None = None
    max_mutations: int = 5
    minimize_budget: int = 2000
    progress_interval: float = 10.0
    clock: Clock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.max_iterations is None and self.max_time is None:
            raise FuzzingConfigurationError(
                "max_iterations", None, "give max_iterations, max_time or both, so the campaign ends"
            )
        if self.max_iterations is not None:
            positive_int("max_iterations", self.max_iterations)
        if self.max_time is not None:
            set_(self, "max_time", positive_float("max_time", self.max_time))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise FuzzingTypeError("seed", "an int", self.seed)
        positive_int("min_input_size", self.min_input_size, minimum=0)
        positive_int("max_input_size", self.max_input_size)
        if self.min_input_size > self.max_input_size:
            raise FuzzingConfigurationError(
                "min_input_size",
                self.min_input_size,
                f"must not exceed max_input_size={self.max_input_size}",
            )
        if self.timeout is not None:
            set_(self, "timeout", positive_float("timeout", self.timeout))
        set_(self, "corpus_dir", directory("corpus_dir", self.corpus_dir))
        set_(self, "crashes_dir", directory("crashes_dir", self.crashes_dir))
        set_(self, "dictionary", tokens(self.dictionary))
        set_(self, "expected_exceptions", exception_types(self.expected_exceptions))
        positive_int("max_frames", self.max_frames)
        positive_int("max_mutations", self.max_mutations)
        positive_int("minimize_budget", self.minimize_budget, minimum=0)
        set_(self, "progress_interval", positive_float("progress_interval", self.progress_interval))
        for name in ("line_numbers", "coverage", "code_constants"):
            if not isinstance(getattr(self, name), bool):
                raise FuzzingTypeError(name, "a bool", getattr(self, name))
        set_(self, "skip_functions", strings("skip_functions", self.skip_functions))
        set_(self, "scope", strings("scope", self.scope))
        tool_id = self.monitoring_tool_id
        if tool_id is not None:
            positive_int("monitoring_tool_id", tool_id, minimum=0)
            if tool_id > _MAX_TOOL_ID:
                raise FuzzingConfigurationError("monitoring_tool_id", tool_id, "must be between 0 and 5")
        if not (
            callable(getattr(self.clock, "monotonic", None)) and callable(getattr(self.clock, "now", None))
        ):
            raise FuzzingTypeError("clock", "a Clock (with now() and monotonic())", self.clock)
