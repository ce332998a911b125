"""The conventions check passes a package on the face and names each way of leaving it."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import conventions

EXCEPTIONS = '''
"""Errors.

DemoError
├── DemoConfigurationError
├── DemoTypeError
├── DemoUnavailableError
└── MissingExtraError
"""
from buttress.core import (
    ArgumentTypeError, BackendUnavailableError, ButtressError, ConfigurationError,
)
from buttress.core import MissingExtraError as CoreMissingExtraError

class DemoError(ButtressError):
    """Root."""

class DemoConfigurationError(DemoError, ConfigurationError):
    """Bad value."""

class DemoTypeError(DemoError, ArgumentTypeError):
    """Bad type."""

class DemoUnavailableError(DemoError, BackendUnavailableError):
    """Down."""

class MissingExtraError(DemoError, CoreMissingExtraError):
    """Extra."""
    distribution = "buttress-demo"
'''

INIT = '''
"""Demo."""
from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._memory import MemoryThing
from .exceptions import (
    DemoConfigurationError, DemoError, DemoTypeError, DemoUnavailableError, MissingExtraError,
)

if TYPE_CHECKING:
    from ._redis import RedisThing

__all__ = [
    "DemoConfigurationError", "DemoError", "DemoTypeError", "DemoUnavailableError",
    "MemoryThing", "MissingExtraError", "RedisThing",
]
__getattr__ = lazy_exports(__name__, {"RedisThing": "_redis"})
'''

MEMORY = """
import logging

from buttress.core import AsyncResource

from ._metrics import HITS

logger = logging.getLogger(__name__)


class MemoryThing(AsyncResource):
    async def get(self, key: str) -> None:
        HITS.add(1)
"""

REDIS = """
from typing import Self

from buttress.core import RedisBackend

from ._metrics import TELEMETRY


class RedisThing(RedisBackend):
    telemetry = TELEMETRY

    def __init__(self, client: object, *, prefix: str = "demo:") -> None:
        super().__init__(client, prefix=prefix)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "demo:") -> Self:
        return cls._from_url(url, lambda client: cls(client, prefix=prefix))
"""

METRICS = """
from buttress.core import Telemetry

TELEMETRY = Telemetry("buttress.demo")
HITS = TELEMETRY.counter("buttress.demo.hits", unit="{hit}")
"""

PYPROJECT = """
[project]
name = "buttress-demo"
version = "0.1.0"
requires-python = ">=3.12"
dependencies = ["buttress-core>=0.1.0,<0.2"]

[project.optional-dependencies]
redis = ["redis>=5"]
"""

TELEMETRY_PAGE = """# Telemetry

## buttress-demo

| instrument | kind | unit | attributes | what it measures |
|---|---|---|---|---|
| `buttress.demo.hits` | counter | {hit} | | hits |
"""


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A one-package workspace whose package is on the face."""
    package = tmp_path / "packages" / "demo"
    source = package / "src" / "buttress" / "demo"
    files = {
        package / "pyproject.toml": PYPROJECT,
        package / "README.md": "# demo\n",
        package / "CHANGELOG.md": "# Changelog\n",
        source / "py.typed": "",
        source / "__init__.py": INIT,
        source / "exceptions.py": EXCEPTIONS,
        source / "_memory.py": MEMORY,
        source / "_redis.py": REDIS,
        source / "_metrics.py": METRICS,
        package / "tests" / "typing" / "check_api.py": "",
        package / "tests" / "test_hostile.py": "",
        package / "tests" / "test_metrics.py": "def test_hits(metric_reader): ...\n",
        tmp_path / "docs" / "packages" / "demo" / "index.md": "# demo\n",
        tmp_path / "docs" / "packages" / "demo" / "api.md": "::: buttress.demo\n",
        tmp_path / "docs" / "telemetry.md": TELEMETRY_PAGE,
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    monkeypatch.setattr(conventions, "ROOT", tmp_path)
    monkeypatch.setattr(conventions, "packages", lambda: {"demo": conventions.Package("demo", package)})
    monkeypatch.syspath_prepend(str(package / "src"))
    yield source
    for name in [m for m in sys.modules if m == "buttress.demo" or m.startswith("buttress.demo.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def findings() -> list[str]:
    for name in [m for m in sys.modules if m == "buttress.demo" or m.startswith("buttress.demo.")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    return conventions.check(["demo"])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def test_a_package_on_the_face_passes(demo: Path) -> None:
    assert findings() == []


def test_a_literal_logger_name_is_found(demo: Path) -> None:
    edit(demo / "_memory.py", "getLogger(__name__)", 'getLogger("demo")')
    assert any("loggers are logging.getLogger(__name__)" in f for f in findings())


def test_a_sibling_import_is_found(demo: Path) -> None:
    edit(demo / "_memory.py", "import logging\n", "import logging\n\nimport buttress.caching\n")
    assert any("imports buttress.caching" in f for f in findings())


def test_a_retired_verb_and_parameter_are_found(demo: Path) -> None:
    (demo / "_postgres.py").write_text(
        textwrap.dedent("""
        class PostgresThing:
            def __init__(self, pool: object, *, table_prefix: str = "x") -> None: ...

            @classmethod
            def from_dsn(cls, dsn: str) -> "PostgresThing": ...

            async def close(self) -> None: ...
        """)
    )
    found = findings()
    for text in (
        "PostgresThing.from_dsn is connect",
        "PostgresThing(table_prefix=...) is table=",
        "takes a pool but has no connect()",
        "PostgresThing.close is async",
        "holds a pool or client but has no aclose()",
    ):
        assert any(text in f for f in found), text


def test_a_missing_error_of_the_vocabulary_is_found(demo: Path) -> None:
    edit(
        demo / "exceptions.py",
        "class DemoUnavailableError(DemoError, BackendUnavailableError):",
        "class DemoUnavailableError(DemoError):",
    )
    assert any(
        "DemoUnavailableError must derive from DemoError and core's BackendUnavailableError" in f
        for f in findings()
    )


def test_an_error_outside_the_tree_is_found(demo: Path) -> None:
    with (demo / "exceptions.py").open("a") as file:
        file.write("\nclass StoreUnavailableError(BackendUnavailableError):\n    '''Down.'''\n")
    found = findings()
    assert any("StoreUnavailableError does not derive from the package's root" in f for f in found)
    assert any(
        "StoreUnavailableError is a core BackendUnavailableError but not a DemoUnavailableError" in f
        for f in found
    )


def test_an_extra_named_after_its_driver_is_found(demo: Path) -> None:
    edit(
        demo.parents[2] / "pyproject.toml",
        'redis = ["redis>=5"]',
        'redis = ["redis>=5"]\nasyncpg = ["asyncpg>=0.30"]',
    )
    assert any("extra 'asyncpg' installs asyncpg>=0.30: name it 'postgres'" in f for f in findings())


def test_an_undocumented_or_stale_instrument_is_found(demo: Path) -> None:
    edit(demo / "_metrics.py", '"buttress.demo.hits"', '"buttress.demo.lookups"')
    found = findings()
    assert any("buttress.demo.lookups is not listed in docs/telemetry.md" in f for f in found)
    assert any("lists buttress.demo.hits, which buttress-demo does not define" in f for f in found)


def test_a_package_without_instruments_or_metric_tests_is_found(demo: Path) -> None:
    (demo.parents[2] / "tests" / "test_metrics.py").write_text("def test_nothing(): ...\n")
    assert any("no test reads the package's metrics" in f for f in findings())
    (demo / "_metrics.py").write_text("")
    edit(demo / "_memory.py", "from ._metrics import HITS\n", "")
    edit(demo / "_memory.py", "        HITS.add(1)\n", "        return None\n")
    assert any("exports no OpenTelemetry instrument" in f for f in findings())


def test_opentelemetry_imports_are_found_unless_the_package_is_the_integration(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit(
        demo / "_memory.py",
        "from ._metrics import HITS\n",
        "from ._metrics import HITS\nfrom opentelemetry import trace\n",
    )
    edit(
        demo.parents[2] / "pyproject.toml",
        '"buttress-core>=0.1.0,<0.2"',
        '"buttress-core>=0.1.0,<0.2", "opentelemetry-api"',
    )
    found = findings()
    assert any("imports opentelemetry: instruments go through core's Telemetry" in f for f in found)
    assert any("depends on opentelemetry-api" in f for f in found)
    monkeypatch.setattr(conventions, "OPENTELEMETRY_PACKAGES", {"demo": "the integration"})
    assert findings() == []


def test_a_private_lazy_getattr_is_found(demo: Path) -> None:
    edit(
        demo / "__init__.py",
        '__getattr__ = lazy_exports(__name__, {"RedisThing": "_redis"})',
        "def __getattr__(name: str) -> object:\n    raise AttributeError(name)",
    )
    assert any("lazy exports use core's lazy_exports" in f for f in findings())


_POSTGRES = """
from buttress.core import PostgresBackend

from ._metrics import TELEMETRY


class PostgresThing(PostgresBackend):
    \"\"\"A thing on PostgreSQL.\"\"\"

    telemetry = TELEMETRY
"""


def test_a_postgres_backend_that_does_not_bind_its_telemetry_is_found(demo: Path) -> None:
    (demo / "_postgres.py").write_text(_POSTGRES)
    assert not any("PostgresThing" in f for f in findings())
    edit(demo / "_postgres.py", "    telemetry = TELEMETRY\n", "")
    assert any("PostgresThing derives from PostgresBackend without `telemetry" in f for f in findings())


def test_a_redis_backend_that_does_not_bind_its_telemetry_is_found(demo: Path) -> None:
    edit(demo / "_redis.py", "    telemetry = TELEMETRY\n", "")
    assert any("RedisThing derives from RedisBackend without `telemetry" in f for f in findings())


def test_a_redis_backend_base_that_does_not_bind_is_found_though_its_subclass_does(demo: Path) -> None:
    """The class right under RedisBackend names the Telemetry, as the package's own bases do."""
    edit(
        demo / "_redis.py",
        "class RedisThing(RedisBackend):",
        "class _Base(RedisBackend):\n    pass\n\n\nclass RedisThing(_Base):",
    )
    assert any("_Base derives from RedisBackend without `telemetry" in f for f in findings())


def test_a_redis_backend_without_from_url_is_found(demo: Path) -> None:
    edit(demo / "_redis.py", "def from_url(", "def connect_url(")
    assert any("RedisThing takes a client but has no from_url()" in f for f in findings())


def test_a_from_url_class_off_redis_backend_is_found(demo: Path) -> None:
    edit(demo / "_redis.py", "import RedisBackend", "import AsyncResource")
    edit(demo / "_redis.py", "class RedisThing(RedisBackend):", "class RedisThing(AsyncResource):")
    expected = "RedisThing.from_url: a Redis backend derives from core's RedisBackend"
    assert any(expected in f for f in findings())


def test_a_redis_backend_through_the_packages_own_base_passes(demo: Path) -> None:
    edit(
        demo / "_redis.py",
        "class RedisThing(RedisBackend):\n    telemetry = TELEMETRY\n",
        "class _Base(RedisBackend):\n    telemetry = TELEMETRY\n\n\nclass RedisThing(_Base):\n",
    )
    assert findings() == []


def test_an_exempt_from_url_class_passes_and_a_stale_exemption_is_found(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conventions, "FROM_URL_EXEMPT", {("demo", "RedisThing"): "a front over a backend"})
    assert any("FROM_URL_EXEMPT names RedisThing" in f for f in findings())  # it is a RedisBackend
    edit(demo / "_redis.py", "import RedisBackend", "import AsyncResource")
    edit(demo / "_redis.py", "class RedisThing(RedisBackend):", "class RedisThing(AsyncResource):")
    assert findings() == []


def test_a_renamed_conformance_file_is_found(demo: Path) -> None:
    (demo.parents[2] / "tests" / "test_contracts.py").write_text("")
    assert any("conformance tests are tests/test_conformance.py" in f for f in findings())


def test_the_drift_table_says_what_the_package_does(demo: Path) -> None:
    table = conventions.drift()
    assert "| closing | `aclose()`: demo |" in table
    assert "| unavailable error | `DemoUnavailableError`: demo |" in table
    assert "| lazy loading of extras | `core lazy_exports`: demo |" in table
    assert "| logger names | `__name__`: demo |" in table


def test_the_drift_table_survives_a_package_that_cannot_be_imported(demo: Path) -> None:
    """A package whose modules do not import (not installed in this venv) is still tabled, not a crash."""
    (demo / "exceptions.py").write_text("raise ImportError('not installed here')\n")
    for name in [m for m in sys.modules if m == "buttress.demo" or m.startswith("buttress.demo.")]:
        del sys.modules[name]
    table = conventions.drift()
    assert "| closing | `aclose()`: demo |" in table
    assert "DemoUnavailableError" not in table
