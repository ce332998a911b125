"""`check_bound_when_made`: a backend's instruments are made when it is, not on its first request.

A package's backend binds its `Telemetry` when it is made (``PostgresBackend.telemetry``,
``RedisBackend.telemetry``), so the application pays for the meter and the instruments at start-up.
The process a test runs in has bound most packages' instruments long before, so the check runs in a
new interpreter, where nothing is bound yet::

    def test_making_the_store_binds_the_package_s_instruments() -> None:
        made = check_bound_when_made(
            "buttress.auth._metrics:TELEMETRY",
            "from buttress.auth import RedisTokenStore; RedisTokenStore.from_url('redis://localhost')",
        )
        assert "buttress.auth.store.evictions" in made
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Final

from buttress.core import check_text

from .exceptions import MissingExtraError, TestingConfigurationError, TestingTypeError

__all__ = ["check_bound_when_made"]

_WHERE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
_MAX_CODE: Final = 64 * 1024
_TIMEOUT: Final = 60.0

# Run in the new interpreter: the Telemetry's meter is made alone (its instruments stay unbound) and
# its instrument factories record what they make, while `make` runs and when `bind()` runs after it.
_SCRIPT: Final = """
import importlib, json, sys

from buttress.core import Telemetry

module, _, name = sys.argv[1].partition(":")
try:
    telemetry = getattr(importlib.import_module(module), name)
except (ImportError, AttributeError) as exc:
    telemetry = exc
if not isinstance(telemetry, Telemetry):
    print("verdict:" + json.dumps({"refused": type(telemetry).__name__}))
    raise SystemExit(0)
meter = telemetry.meter()
if meter is None:
    print("verdict:" + json.dumps({"refused": None}))
    raise SystemExit(0)
made = []


def recording(create):
    def record(name, *args, **kwargs):
        made.append(name)
        return create(name, *args, **kwargs)

    return record


for kind in ("counter", "up_down_counter", "histogram"):
    setattr(meter, f"create_{kind}", recording(getattr(meter, f"create_{kind}")))
exec(compile(sys.stdin.read(), "<make>", "exec"), {"__name__": "__make__"})
when_made = list(made)
telemetry.bind()
print("verdict:" + json.dumps({"made": when_made, "late": made[len(when_made):]}))
"""


def check_bound_when_made(telemetry: str, make: str) -> list[str]:
    """Check, in a new interpreter, that running ``make`` binds every instrument of ``telemetry``.

    The interpreter imports the `Telemetry`, runs ``make`` (statements that make a backend), then
    calls ``bind()``: every instrument must have been made by ``make``, none by that late ``bind()``,
    and at least one made at all. Nothing connects unless ``make`` does (redis-py and a
    ``from_url`` connect on first use).

    Args:
        telemetry: Where the package's `Telemetry` is, as ``"module:name"``
            (``"buttress.caching._metrics:TELEMETRY"``).
        make: Python statements that make the backend.

    Returns:
        The names of the instruments ``make`` made, in the order it made them.

    Raises:
        AssertionError: ``make`` made no instrument, left some to be made later, or raised (its
            traceback in the message).
        TestingConfigurationError: ``telemetry`` is not ``"module:name"`` of an importable
            `Telemetry`, or ``make`` is empty, longer than 64 KiB, or holds NUL or a lone surrogate.
        TestingTypeError: ``telemetry`` or ``make`` is not a str.
        MissingExtraError: opentelemetry-api is not installed (the ``telemetry`` extra).
    """
    where = check_text("telemetry", telemetry, error=TestingConfigurationError, type_error=TestingTypeError)
    if not _WHERE.fullmatch(where):
        raise TestingConfigurationError(
            "telemetry", where, "must be 'module:name', such as 'pkg._metrics:TELEMETRY'"
        )
    code = check_text(
        "make", make, max_bytes=_MAX_CODE, error=TestingConfigurationError, type_error=TestingTypeError
    )
    try:
        done = subprocess.run(  # noqa: S603 - our own script; make is the test's own code
            [sys.executable, "-c", _SCRIPT, where],
            input=code,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"making the backend took more than {_TIMEOUT:g} s") from None
    if done.returncode != 0:
        raise AssertionError(f"making the backend failed:\n{done.stderr[-4000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("verdict:")]
    if not lines:
        raise AssertionError("making the backend ended the interpreter before the check could run")
    verdict = json.loads(lines[-1].removeprefix("verdict:"))
    if "refused" in verdict:
        if verdict["refused"] is None:
            raise MissingExtraError("check_bound_when_made", "telemetry")
        reason = f"names no importable buttress.core Telemetry ({verdict['refused']})"
        raise TestingConfigurationError("telemetry", where, reason)
    made: list[str] = verdict["made"]
    if verdict["late"]:
        raise AssertionError(f"made on first use rather than when the backend was made: {verdict['late']}")
    if not made:
        raise AssertionError("making the backend made no instrument: it binds nothing")
    return made
