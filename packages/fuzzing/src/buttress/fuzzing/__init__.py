"""buttress-fuzzing: a coverage-guided, asyncio-native fuzzer with crash deduplication by signature.

Coverage comes from `sys.monitoring` (PEP 669) on the target's own code only; inputs that reach new
lines or branches join the corpus and are mutated further; every crash is reduced to a
`CrashSignature` (exception type + the target's innermost frames) and stored once, minimised::

    from buttress.fuzzing import Fuzzer, FuzzingConfig

    def parse(data: bytes) -> None: ...

    report = Fuzzer(parse, FuzzingConfig(max_iterations=100_000, crashes_dir="crashes")).run()
    print(report.table())

Async targets run on one event loop (``await Fuzzer(target, config).run_async()``); `structured`
draws values from a Hypothesis strategy; `AsgiTarget` sends generated HTTP requests to an ASGI app.
"""

from __future__ import annotations

from ._asgi import AsgiTarget, HttpRequest
from ._config import FuzzingConfig
from ._fuzzer import (
    CorpusMinimization,
    Fuzzer,
    FuzzReport,
    Reproduction,
    assert_no_crashes,
    assert_no_crashes_async,
)
from ._mutate import INTERESTING_INTEGERS, Mutator
from ._signature import CrashSignature, Frame, SignatureBuilder
from ._store import Corpus, CrashRecord, CrashStore, format_table
from ._targets import FuzzTarget, StructuredTarget, load_target, structured
from .exceptions import (
    CorruptCrashIndexError,
    CoverageUnavailableError,
    CrashesFoundError,
    FuzzingConfigurationError,
    FuzzingError,
    FuzzingTypeError,
    InputTimeout,
    MissingExtraError,
    ServerErrorResponse,
    TargetError,
)

__version__ = "0.1.0"

__all__ = [
    "INTERESTING_INTEGERS",
    "AsgiTarget",
    "Corpus",
    "CorpusMinimization",
    "CorruptCrashIndexError",
    "CoverageUnavailableError",
    "CrashRecord",
    "CrashSignature",
    "CrashStore",
    "CrashesFoundError",
    "Frame",
    "FuzzReport",
    "FuzzTarget",
    "Fuzzer",
    "FuzzingConfig",
    "FuzzingConfigurationError",
    "FuzzingError",
    "FuzzingTypeError",
    "HttpRequest",
    "InputTimeout",
    "MissingExtraError",
    "Mutator",
    "Reproduction",
    "ServerErrorResponse",
    "SignatureBuilder",
    "StructuredTarget",
    "TargetError",
    "__version__",
    "assert_no_crashes",
    "assert_no_crashes_async",
    "format_table",
    "load_target",
    "structured",
]
