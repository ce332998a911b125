"""The campaign: generate, run, observe coverage, record crashes, minimise."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import importlib.util
import logging
import os
import random
import signal
import threading
import time
import traceback
from collections.abc import Callable, Coroutine, Generator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import FrameType, MappingProxyType
from typing import Any, TextIO

from ._config import FuzzingConfig
from ._coverage import CoverageMonitor
from ._metrics import CAMPAIGN_DURATION, CRASHES, EXECUTIONS, TIMEOUTS
from ._mutate import Mutator
from ._progress import Progress
from ._signature import CrashSignature, SignatureBuilder
from ._store import Corpus, CrashRecord, CrashStore, format_table
from ._targets import code_constants, default_scope, describe_target, is_async_target
from .exceptions import (
    CrashesFoundError,
    FuzzingConfigurationError,
    FuzzingError,
    FuzzingTypeError,
    InputTimeout,
)

__all__ = [
    "CorpusMinimization",
    "FuzzReport",
    "Fuzzer",
    "Reproduction",
    "assert_no_crashes",
    "assert_no_crashes_async",
]

logger = logging.getLogger(__name__)

type _Step = Generator[bytes, BaseException | None, None]
_TIME_CHECK_EVERY = 64
_HANG_MINIMIZE_BUDGET = 16
_TIMEOUT_TYPE = f"{InputTimeout.__module__}.{InputTimeout.__qualname__}"


@dataclass(frozen=True, slots=True)
class FuzzReport:
    """What a campaign did and found.

    Attributes:
        executions: Inputs run by the campaign (seeds included, minimisation runs not).
        minimize_executions: Extra runs spent minimising reproducers.
        crashes: The distinct crashes hit in this run, as recorded in the store (counts over all runs).
        new_crashes: Those whose signature was new to the store.
        crash_counts: Crashing executions per signature digest in this run.
        first_found: For each signature digest, the execution (1-based) that first hit it in this run.
        corpus_size: Inputs in the corpus at the end.
        coverage: Distinct coverage features (lines and branch edges) seen.
        timeouts: Inputs that ran past the timeout.
        elapsed: Seconds the campaign ran (by the config's clock).
        interrupted: Whether it was stopped by KeyboardInterrupt.
    """

    executions: int
    minimize_executions: int
    crashes: tuple[CrashRecord, ...]
    new_crashes: tuple[CrashRecord, ...]
    crash_counts: Mapping[str, int]
    first_found: Mapping[str, int]
    corpus_size: int
    coverage: int
    timeouts: int
    elapsed: float
    interrupted: bool = False

    @property
    def execs_per_second(self) -> float:
        """Campaign executions per second."""
        return self.executions / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def signatures(self) -> tuple[CrashSignature, ...]:
        """The signatures of `crashes`."""
        return tuple(r.signature for r in self.crashes)

    def table(self) -> str:
        """The crashes of this run as a text table."""
        return format_table(list(self.crashes))


@dataclass(frozen=True, slots=True)
class CorpusMinimization:
    """The result of `Fuzzer.minimize_corpus`.

    Attributes:
        before: Inputs before.
        after: Inputs kept: the smallest ones that together reach every feature the corpus reached.
        removed_files: Files deleted from ``corpus_dir``.
        coverage: Features the kept inputs reach.
    """

    before: int
    after: tuple[bytes, ...]
    removed_files: int
    coverage: int


@dataclass(frozen=True, slots=True)
class Reproduction:
    """The result of running one input with `Fuzzer.reproduce`.

    Attributes:
        signature: The crash's signature, or ``None`` if the input did not crash.
        exception: The exception (with its traceback), or ``None``.
    """

    signature: CrashSignature | None
    exception: BaseException | None

    @property
    def crashed(self) -> bool:
        """Whether the input crashed the target."""
        return self.exception is not None

    def traceback(self) -> str:
        """The formatted traceback, or an empty string."""
        return "".join(traceback.format_exception(self.exception)) if self.exception is not None else ""


@dataclass(slots=True)
class _Run:
    """Mutable state of one campaign."""

    rng: random.Random
    mutator: Mutator
    store: CrashStore
    corpus_dir: Corpus
    monitor: CoverageMonitor | None
    started: float
    corpus: list[bytes] = field(default_factory=list)
    cumulative: list[int] = field(default_factory=list)
    executions: int = 0
    minimize_executions: int = 0
    timeouts: int = 0
    crash_counts: dict[str, int] = field(default_factory=dict)
    first_found: dict[str, int] = field(default_factory=dict)
    new_digests: list[str] = field(default_factory=list)
    deadline_hit: bool = False

    def add(self, data: bytes) -> None:
        # Newer entries get more of the mutations (weight grows with position, as in libFuzzer's
        # vanilla schedule): each reached one step deeper than the ones before it.
        self.corpus.append(data)
        # Shorter entries get more too: a mutation is likelier to hit the byte that matters.
        weight = max(1, len(self.corpus) * 64 // (len(data) + 8))
        self.cumulative.append((self.cumulative[-1] if self.cumulative else 0) + weight)

    def pick(self) -> bytes:
        cumulative = self.cumulative
        return self.corpus[bisect.bisect_right(cumulative, int(self.rng.random() * cumulative[-1]))]


def _resolve_scope(items: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for item in items:
        if os.path.exists(item):
            found.append(os.path.realpath(item))
            continue
        try:
            spec = importlib.util.find_spec(item)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            raise FuzzingConfigurationError(
                "scope", item, "is neither an existing path nor an importable module"
            )
        if spec.submodule_search_locations:
            found.extend(os.path.realpath(p) for p in spec.submodule_search_locations)
        elif spec.origin:
            found.append(os.path.realpath(spec.origin))
    return found


class Fuzzer:
    """A coverage-guided fuzzing campaign against one target.

    The target is a sync or async callable taking ``bytes``, a `StructuredTarget` (values drawn
    from a Hypothesis strategy) or an `AsgiTarget`. Inputs that reach new lines or branches of the
    target's own code join the corpus and are mutated further; every crash is reduced to a
    `CrashSignature`, minimised once, and counted in the crash store.

    Examples:
        >>> def parse(data: bytes) -> None:
        ...     if data[:1] == b"{" and data[-1:] != b"}":
        ...         raise ValueError("unclosed")
        >>> report = Fuzzer(parse, FuzzingConfig(max_iterations=2_000, seed=1)).run()  # doctest: +SKIP
        >>> report.crashes[0].signature.exception_type  # doctest: +SKIP
        'ValueError'

    Args:
        target: What to fuzz.
        config: How.
        progress: A stream for progress lines (a live line if it is a terminal), or ``None``.

    Raises:
        FuzzingTypeError: ``target`` is not callable or ``config`` is not a `FuzzingConfig`.
        FuzzingConfigurationError: A ``scope`` entry is neither a path nor an importable module.
    """

    def __init__(
        self, target: Callable[..., object], config: FuzzingConfig, *, progress: TextIO | None = None
    ) -> None:
        if not callable(target):
            raise FuzzingTypeError("target", "a callable taking bytes", target)
        if not isinstance(config, FuzzingConfig):
            raise FuzzingTypeError("config", "a FuzzingConfig", config)
        self.target = target
        self.config = config
        self.name = describe_target(target)
        self.is_async = is_async_target(target)
        self.scope = _resolve_scope(config.scope) if config.scope else default_scope(target)
        self._progress_stream = progress
        self._signatures = SignatureBuilder(
            max_frames=config.max_frames,
            line_numbers=config.line_numbers,
            scope=self.scope,
            skip_functions=config.skip_functions,
        )
        self._expected = config.expected_exceptions
        self._armed = False
        self._alarm = False
        self._describe: Callable[[bytes], str] | None = getattr(target, "describe", None)
        self._timeout = 0.0
        self._input_id = 0
        self._alarm_seen = -1
        self._interrupted = False
        self._covered = 0
        self._progress = Progress(None, config.progress_interval)

    # -- public entry points -------------------------------------------------------------------

    def run(self) -> FuzzReport:
        """Run the campaign to its budget and return the report.

        An async target runs on one new event loop, reused for every input. Inside a running loop,
        use `run_async` instead.
        """
        if self.is_async:
            return self._run_in_new_loop(self.run_async())
        with self._session() as run:
            self._drive_sync(run, self._campaign(run))
            return self._report(run)

    async def run_async(self) -> FuzzReport:
        """Run the campaign on the running event loop (sync targets are called inline)."""
        with self._session() as run:
            await self._drive_async(run, self._campaign(run))
            return self._report(run)

    def minimize_corpus(self) -> CorpusMinimization:
        """Keep the smallest corpus inputs that together reach the same coverage; rewrite ``corpus_dir``.

        Raises:
            FuzzingError: Coverage is switched off (``coverage=False``).
        """
        if self.is_async:
            return self._run_in_new_loop(self.minimize_corpus_async())
        with self._session() as run:
            inputs = run.corpus_dir.load(self.config.max_input_size)
            kept = self._drive_sync(run, self._minimize(run, inputs))
            return self._finish_minimization(run, inputs, kept)

    async def minimize_corpus_async(self) -> CorpusMinimization:
        """`minimize_corpus` on the running event loop."""
        with self._session() as run:
            inputs = run.corpus_dir.load(self.config.max_input_size)
            kept = await self._drive_async(run, self._minimize(run, inputs))
            return self._finish_minimization(run, inputs, kept)

    def reproduce(self, data: bytes) -> Reproduction:
        """Run one input (a reproducer file's content) and return its signature if it crashes."""
        if not isinstance(data, bytes | bytearray):
            raise FuzzingTypeError("data", "bytes", data)
        if self.is_async:
            return self._run_in_new_loop(self.reproduce_async(data))
        with self._alarm_installed():
            exc = self._execute_sync(bytes(data))
        return Reproduction(self._signatures.signature(exc) if exc is not None else None, exc)

    async def reproduce_async(self, data: bytes) -> Reproduction:
        """`reproduce` on the running event loop."""
        if not isinstance(data, bytes | bytearray):
            raise FuzzingTypeError("data", "bytes", data)
        with self._alarm_installed():
            exc = await self._execute_async(bytes(data))
        return Reproduction(self._signatures.signature(exc) if exc is not None else None, exc)

    def signature(self, exc: BaseException) -> CrashSignature:
        """The signature this campaign gives an exception (same scope and settings)."""
        return self._signatures.signature(exc)

    # -- drivers ---------------------------------------------------------------------------------

    @staticmethod
    def _run_in_new_loop[R](coro: Coroutine[Any, Any, R]) -> R:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coro.close()
            raise FuzzingError("an event loop is running in this thread: await the *_async method instead")
        with asyncio.Runner() as runner:
            result: R = runner.run(coro)
            return result

    def _drive_sync[R](self, run: _Run, steps: Generator[bytes, BaseException | None, R]) -> R | None:
        execute = self._execute_sync
        try:
            data = next(steps)
            while True:
                data = steps.send(execute(data))
        except StopIteration as stop:
            result: R = stop.value
            return result
        except KeyboardInterrupt:
            run.deadline_hit = True
            self._interrupted = True
            return None

    async def _drive_async[R](self, run: _Run, steps: Generator[bytes, BaseException | None, R]) -> R | None:
        execute = self._execute_async
        try:
            data = next(steps)
            while True:
                data = steps.send(await execute(data))
        except StopIteration as stop:
            result: R = stop.value
            return result
        except KeyboardInterrupt:
            run.deadline_hit = True
            self._interrupted = True
            return None

    # -- one execution -------------------------------------------------------------------------

    def _execute_sync(self, data: bytes) -> BaseException | None:
        target = self.target
        if not self._alarm:
            return self._execute_unarmed(data)
        self._input_id += 1
        try:
            self._armed = True
            target(data)
        except self._expected:
            return None
        except (Exception, InputTimeout, SystemExit) as exc:  # noqa: BLE001 - every failure is a crash
            return exc
        finally:
            self._armed = False
        return None

    def _execute_unarmed(self, data: bytes) -> BaseException | None:
        timeout = self.config.timeout
        start = time.perf_counter() if timeout is not None else 0.0
        try:
            self.target(data)
        except self._expected:
            return None
        except (Exception, InputTimeout, SystemExit) as exc:  # noqa: BLE001 - every failure is a crash
            return exc
        if timeout is not None and time.perf_counter() - start > timeout:
            return InputTimeout(timeout)
        return None

    async def _execute_async(self, data: bytes) -> BaseException | None:  # noqa: PLR0911
        if not self.is_async:
            return self._execute_sync(data)
        timeout = self.config.timeout
        try:
            awaitable = self.target(data)
            if awaitable is None:  # a structured target skipping an input the strategy cannot use
                return None
            if timeout is None:
                await awaitable  # type: ignore[misc]
                return None
            deadline = asyncio.timeout(timeout)
            try:
                async with deadline:
                    await awaitable  # type: ignore[misc]
            except TimeoutError as exc:
                if not deadline.expired():
                    raise
                hang = InputTimeout(timeout)
                where = exc.__context__ if exc.__context__ is not None else exc
                return hang.with_traceback(where.__traceback__)
        except self._expected:
            return None
        except (Exception, InputTimeout, SystemExit) as exc:  # noqa: BLE001 - every failure is a crash
            return exc
        return None

    # -- setup -----------------------------------------------------------------------------------

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        # The timer ticks every ``timeout`` seconds; an input still running at two ticks in a row has
        # run for at least ``timeout``. No system call per input, at the price of stopping a hang
        # after between one and two timeouts.
        current = self._input_id
        if self._armed and current == self._alarm_seen:
            self._armed = False
            raise InputTimeout(self._timeout)
        self._alarm_seen = current

    @contextlib.contextmanager
    def _alarm_installed(self) -> Iterator[None]:
        """Interrupt sync targets with SIGALRM when possible (Unix, main thread); see the README."""
        usable = (
            self.config.timeout is not None
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )
        if not usable:
            self._alarm = False
            yield
            return
        self._timeout = float(self.config.timeout or 0.0)
        previous = signal.signal(signal.SIGALRM, self._on_alarm)
        self._alarm = True
        self._alarm_seen = -1
        signal.setitimer(signal.ITIMER_REAL, self._timeout, self._timeout)
        try:
            yield
        finally:
            self._alarm = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @contextlib.contextmanager
    def _session(self) -> Iterator[_Run]:
        config = self.config
        store = CrashStore(config.crashes_dir)  # a corrupt index stops us here, before any run
        monitor = CoverageMonitor(self.scope, config.monitoring_tool_id) if config.coverage else None
        rng = random.Random(config.seed)  # noqa: S311 - seeded on purpose: a campaign replays
        tokens = list(config.dictionary)
        if config.code_constants:
            probe = monitor or CoverageMonitor(self.scope)
            tokens.extend(t for t in code_constants(probe.in_scope) if t not in tokens)
        mutator = Mutator(
            rng,
            tokens,
            min_size=config.min_input_size,
            max_size=config.max_input_size,
            max_mutations=config.max_mutations,
        )
        run = _Run(rng, mutator, store, Corpus(config.corpus_dir), monitor, config.clock.monotonic())
        self._interrupted = False
        self._progress = Progress(self._progress_stream, config.progress_interval)
        with self._alarm_installed():
            if monitor is not None:
                monitor.start()
            try:
                yield run
            finally:
                if monitor is not None:
                    monitor.stop()
                store.flush()

    # -- the campaign ----------------------------------------------------------------------------

    def _budget_left(self, run: _Run) -> bool:
        config = self.config
        if run.deadline_hit:
            return False
        if config.max_iterations is not None and run.executions >= config.max_iterations:
            return False
        if config.max_time is not None and run.executions % _TIME_CHECK_EVERY == 0:
            now = config.clock.monotonic()
            if now - run.started >= config.max_time:
                run.deadline_hit = True
                return False
            if self._progress.due(now):
                self._show(run, now)
        elif self._progress.enabled and run.executions % 256 == 0:
            now = config.clock.monotonic()
            if self._progress.due(now):
                self._show(run, now)
        return True

    def _campaign(self, run: _Run) -> _Step:
        config = self.config
        seeds = run.corpus_dir.load(config.max_input_size)
        seeds = [s for s in seeds if len(s) >= config.min_input_size]
        if not seeds:
            seeds = [run.mutator.random_input() if config.min_input_size else b""]
        for seed in seeds:
            if not self._budget_left(run):
                return
            exc = yield seed
            target = self._observe(run, seed, exc, seed=True)
            if target is not None:
                yield from self._shrink(run, seed, target)
        if not run.corpus:
            run.add(seeds[0])
        mutate = run.mutator.mutate
        while self._budget_left(run):
            parent = run.pick()
            data = mutate(parent, run.pick() if len(run.corpus) > 1 else None)
            exc = yield data
            target = self._observe(run, data, exc)
            if target is not None:
                yield from self._shrink(run, data, target)

    def _observe(
        self, run: _Run, data: bytes, exc: BaseException | None, *, seed: bool = False
    ) -> CrashSignature | None:
        """Account for one campaign execution; return the signature if it is new and needs minimising."""
        run.executions += 1
        monitor = run.monitor
        new = monitor.take_new() if monitor is not None else ()
        if exc is None:
            if new or (seed and monitor is None):
                run.add(data)
                if not seed:
                    run.corpus_dir.add(data)
            return None
        signature = self._signatures.signature(exc)
        digest = signature.digest
        if isinstance(exc, InputTimeout):
            run.timeouts += 1
        run.crash_counts[digest] = run.crash_counts.get(digest, 0) + 1
        first_in_run = digest not in run.first_found
        if first_in_run:
            run.first_found[digest] = run.executions
        _, is_new = self._record(run, signature, data, exc)
        if is_new:
            run.new_digests.append(digest)
            run.store.flush()
        if first_in_run:
            self._progress.message(f"crash #{run.executions}: {signature} [{signature.id}]")
            logger.info("new crash %s after %d executions: %s", signature.id, run.executions, signature)
        return signature if is_new and self.config.minimize_budget else None

    def _record(
        self, run: _Run, signature: CrashSignature, data: bytes, exc: BaseException
    ) -> tuple[CrashRecord, bool]:
        known = run.store.get(signature)
        details = "" if known is not None and len(data) >= known.size else self._details(data, exc)
        return run.store.record(
            signature,
            data,
            when=self.config.clock.now(),
            message=str(exc),
            details=details,
            target=self.name,
        )

    def _details(self, data: bytes, exc: BaseException) -> str:
        text = "".join(traceback.format_exception(exc))
        shown = data[:512]
        text += f"\ninput ({len(data)} bytes): {shown!r}{'...' if len(data) > len(shown) else ''}\n"
        if self._describe is not None:
            with contextlib.suppress(Exception):
                text += f"{self._describe(data)}\n"
        return text

    def _shrink(self, run: _Run, data: bytes, signature: CrashSignature) -> _Step:
        """Delete chunks (halving their size) while the input still crashes with ``signature``."""
        budget = self.config.minimize_budget
        if signature.exception_type == _TIMEOUT_TYPE:
            # Every attempt that still hangs costs a whole timeout: try a few cuts only.
            budget = min(budget, _HANG_MINIMIZE_BUDGET)
        minimum = self.config.min_input_size
        best = data
        best_exc: BaseException | None = None
        chunk = max(1, len(best) // 2)
        while budget > 0 and best:
            at = 0
            while at < len(best) and budget > 0:
                candidate = best[:at] + best[at + chunk :]
                if len(candidate) < minimum:
                    at += chunk
                    continue
                exc = yield candidate
                budget -= 1
                run.minimize_executions += 1
                if exc is None:
                    if run.monitor is not None and run.monitor.take_new():
                        run.add(candidate)
                        run.corpus_dir.add(candidate)
                    at += chunk
                    continue
                other = self._signatures.signature(exc)
                if other == signature:
                    best, best_exc = candidate, exc
                else:
                    if other not in run.store:
                        self._record(run, other, candidate, exc)
                        run.new_digests.append(other.digest)
                    at += chunk
            if chunk == 1:
                break
            chunk //= 2
        if best_exc is not None:
            run.store.replace_reproducer(signature, best, self._details(best, best_exc))

    def _minimize(
        self, run: _Run, inputs: list[bytes]
    ) -> Generator[bytes, BaseException | None, list[bytes]]:
        monitor = run.monitor
        if monitor is None:
            raise FuzzingError("corpus minimisation needs coverage: FuzzingConfig(coverage=True)")
        monitor.measure_mode(True)
        measured: list[tuple[bytes, set[int]]] = []
        try:
            for data in sorted(set(inputs), key=lambda d: (len(d), d)):
                monitor.take_current()
                exc = yield data
                features = monitor.take_current()
                run.minimize_executions += 1
                if exc is None:
                    measured.append((data, features))
        finally:
            monitor.measure_mode(False)
        covered: set[int] = set()
        kept: list[bytes] = []
        for data, features in measured:
            if not features <= covered:
                kept.append(data)
                covered |= features
        self._covered = len(covered)
        return kept

    def _finish_minimization(
        self, run: _Run, inputs: list[bytes], kept: list[bytes] | None
    ) -> CorpusMinimization:
        if kept is None:  # interrupted: leave the directory alone
            return CorpusMinimization(len(inputs), tuple(inputs), 0, 0)
        removed = run.corpus_dir.replace_all(kept)
        return CorpusMinimization(len(inputs), tuple(kept), removed, self._covered)

    # -- output ----------------------------------------------------------------------------------

    def _show(self, run: _Run, now: float) -> None:
        coverage = len(run.monitor.seen) if run.monitor is not None else 0
        line = Progress.line(
            executions=run.executions,
            elapsed=now - run.started,
            corpus=len(run.corpus),
            coverage=coverage,
            crashes=len(run.crash_counts),
            total=len(run.store),
        )
        self._progress.show(now, line)

    def _report(self, run: _Run) -> FuzzReport:
        now = self.config.clock.monotonic()
        store = run.store
        crashes = tuple(
            record for digest in run.crash_counts if (record := self._lookup(store, digest)) is not None
        )
        new = tuple(r for d in dict.fromkeys(run.new_digests) if (r := self._lookup(store, d)) is not None)
        coverage = len(run.monitor.seen) if run.monitor is not None else 0
        self._progress.close(
            Progress.line(
                executions=run.executions,
                elapsed=now - run.started,
                corpus=len(run.corpus),
                coverage=coverage,
                crashes=len(run.crash_counts),
                total=len(store),
            )
            + (" (interrupted)" if self._interrupted else " (done)")
        )
        _measure(run, len(new), now - run.started, interrupted=self._interrupted)
        return FuzzReport(
            executions=run.executions,
            minimize_executions=run.minimize_executions,
            crashes=crashes,
            new_crashes=new,
            crash_counts=MappingProxyType(dict(run.crash_counts)),
            first_found=MappingProxyType(dict(run.first_found)),
            corpus_size=len(run.corpus),
            coverage=coverage,
            timeouts=run.timeouts,
            elapsed=now - run.started,
            interrupted=self._interrupted,
        )

    @staticmethod
    def _lookup(store: CrashStore, digest: str) -> CrashRecord | None:
        return store.by_digest(digest)


def _helper_config(config: FuzzingConfig | None, overrides: dict[str, Any]) -> FuzzingConfig:
    base = config if config is not None else FuzzingConfig(max_iterations=5_000)
    if not isinstance(base, FuzzingConfig):
        raise FuzzingTypeError("config", "a FuzzingConfig", base)
    return replace(base, **overrides) if overrides else base


def _raise_on_crashes(report: FuzzReport) -> FuzzReport:
    if report.crashes:
        raise CrashesFoundError(report.crashes, report.table())
    return report


def assert_no_crashes(
    target: Callable[..., object],
    config: FuzzingConfig | None = None,
    /,
    **overrides: Any,  # noqa: ANN401 - FuzzingConfig's fields, checked by FuzzingConfig
) -> FuzzReport:
    """Run a short campaign; raise `CrashesFoundError` (an `AssertionError`) with the table if it crashes.

    The pytest integration: call it in a test. Defaults: 5,000 iterations, seed 0, so the test is
    deterministic; pass a config or override its fields by keyword
    (``assert_no_crashes(parse, max_iterations=20_000, crashes_dir=tmp_path)``). An async target runs
    on a new event loop; in an async test use `assert_no_crashes_async`.

    Examples:
        >>> def test_parser_survives_fuzzing(tmp_path):  # doctest: +SKIP
        ...     assert_no_crashes(parse, max_iterations=20_000, crashes_dir=tmp_path / "crashes")

    Returns:
        The report, when nothing crashed.
    """
    return _raise_on_crashes(Fuzzer(target, _helper_config(config, overrides)).run())


async def assert_no_crashes_async(
    target: Callable[..., object],
    config: FuzzingConfig | None = None,
    /,
    **overrides: Any,  # noqa: ANN401 - FuzzingConfig's fields, checked by FuzzingConfig
) -> FuzzReport:
    """`assert_no_crashes` on the running event loop (for async tests and loop-bound resources)."""
    return _raise_on_crashes(await Fuzzer(target, _helper_config(config, overrides)).run_async())


def _measure(run: _Run, new: int, elapsed: float, *, interrupted: bool) -> None:
    """Report one campaign to the package's instruments."""
    EXECUTIONS.add(run.executions, {"fuzzing.phase": "campaign"})
    if run.minimize_executions:
        EXECUTIONS.add(run.minimize_executions, {"fuzzing.phase": "minimize"})
    if new:
        CRASHES.add(new, {"fuzzing.novelty": "new"})
    if len(run.crash_counts) > new:
        CRASHES.add(len(run.crash_counts) - new, {"fuzzing.novelty": "known"})
    if run.timeouts:
        TIMEOUTS.add(run.timeouts)
    outcome = "interrupted" if interrupted else "done"
    CAMPAIGN_DURATION.record(max(elapsed, 0.0), {"fuzzing.outcome": outcome})
