"""The conventions check: fails when a package leaves the suite's face.

    python tools/conventions.py              # every package
    python tools/conventions.py caching csp  # some

The face is described in ``docs/contributing.md`` ("The face"); each rule below names the line it
enforces. The check reads the packages' files and imports their public modules (so run it where the
workspace is installed: ``uvx nox -s conventions``). It prints one line per finding and exits 1 if
there is any.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final, Protocol

ROOT: Final = Path(__file__).resolve().parent.parent

# The driver a backend extra installs decides its name: extras are named after the service.
SERVICE_EXTRAS: Final = {"redis": "redis", "asyncpg": "postgres", "aiosmtplib": "smtp", "httpx": "http"}

# Packages that serve the others: plumbing (core) and tests (testing). No instruments of their own;
# their base classes and test servers are not backends.
SUPPORT_PACKAGES: Final = frozenset({"core", "testing"})

# Exceptions that are not errors of the package, with the reason they live in exceptions.py.
FOREIGN_EXCEPTIONS: Final = {
    # A fuzz target raises it to report a 5xx answer, and the fuzzer catches it as a finding;
    # InputTimeout is a BaseException so a target's `except Exception` cannot swallow the timeout.
    "fuzzing": frozenset({"ServerErrorResponse", "InputTimeout"}),
}

# Packages that are the suite's OpenTelemetry integration itself, and why: they depend on
# opentelemetry-api and import it (its instruments are named by the semantic conventions, not under
# buttress.<package>); their own counters still go through core's Telemetry.
OPENTELEMETRY_PACKAGES: Final = {
    "observability": "sets up the SDK, makes spans and the conventions' http.server.request.duration itself",
}

# Method and parameter names the face replaced.
RETIRED_CLASSMETHODS: Final = {"from_dsn": "connect", "open": "connect"}

# Core's bases of every object that holds a pool, a client or a task: each gives aclose().
RESOURCE_BASES: Final = frozenset({"AsyncResource", "BackgroundTask", "PostgresBackend", "RedisBackend"})
# Core's backend bases that bind a subclass's `telemetry` when a backend is made.
BOUND_BASES: Final = frozenset({"PostgresBackend", "RedisBackend"})

# Classes with a from_url classmethod that are not core RedisBackends, and why. Every other one is:
# its client (owned or borrowed), its prefix and its outages are core's, not a private copy.
FROM_URL_EXEMPT: Final = {
    ("caching", "RedisCache"): "a cache (policy) over a RedisStorage, which RedisStorage.from_url opens",
    ("caching", "TieredCache"): "a cache (policy) over a TieredStorage, which TieredStorage.from_url opens",
    ("caching", "TieredStorage"): "two storages composed through the Protocol; its Redis parts, the "
    "RedisStorage L2 and the InvalidationChannel, are RedisBackends on the client it opens",
}
RETIRED_PARAMETERS: Final = {"table_prefix": "table=", "dsn": "connect(dsn)"}

INSTRUMENT_METHODS: Final = frozenset({"counter", "histogram", "up_down_counter", "observe"})
TELEMETRY_ROW: Final = re.compile(r"^\|\s*`(buttress\.[a-z0-9_.]+)`\s*\|")


@dataclass(frozen=True)
class Package:
    """One distribution of the workspace."""

    name: str  # "event-sourcing"
    directory: Path

    @property
    def module(self) -> str:
        return self.name.replace("-", "_")

    @property
    def import_name(self) -> str:
        return f"buttress.{self.module}"

    @property
    def source(self) -> Path:
        return self.directory / "src" / "buttress" / self.module

    @property
    def pyproject(self) -> dict[str, object]:
        with (self.directory / "pyproject.toml").open("rb") as file:
            return tomllib.load(file)


def packages() -> dict[str, Package]:
    found = {
        path.name: Package(path.name, path) for path in sorted((ROOT / "packages").iterdir()) if path.is_dir()
    }
    found["testing"] = Package("testing", ROOT / "tests-shared")
    return found


class Rule(Protocol):
    def __call__(self, package: Package) -> Iterator[str]: ...


RULES: list[Rule] = []


def rule(check: Rule) -> Rule:
    RULES.append(check)
    return check


# --- files -----------------------------------------------------------------------------------------


@rule
def files(package: Package) -> Iterator[str]:
    """A package has its README, CHANGELOG, py.typed, error module, tests and docs pages."""
    needed = [
        package.directory / "README.md",
        package.directory / "CHANGELOG.md",
        package.source / "py.typed",
        package.source / "exceptions.py",
        package.source / "__init__.py",
        package.directory
        / "tests"
        / ("test_hostile_api.py" if package.name == "testing" else "test_hostile.py"),
        ROOT / "docs" / "packages" / package.name / "index.md",
        ROOT / "docs" / "packages" / package.name / "api.md",
    ]
    for path in needed:
        if not path.exists():
            yield f"missing {path.relative_to(ROOT)}"
    if not any((package.directory / "tests" / "typing").glob("check_*.py")):
        yield f"missing tests/typing/check_*.py (assert_type checks) in {package.directory.relative_to(ROOT)}"
    for path in sorted((package.directory / "tests").glob("test_contract*.py")):
        if package.name != "testing":
            yield f"{path.relative_to(ROOT)}: a package's conformance tests are tests/test_conformance.py"
    api = ROOT / "docs" / "packages" / package.name / "api.md"
    if api.exists() and f"::: {package.import_name}" not in api.read_text():
        yield f"{api.relative_to(ROOT)} does not document {package.import_name}"


# --- pyproject -------------------------------------------------------------------------------------


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


@rule
def pyproject(package: Package) -> Iterator[str]:
    """Name, Python floor, a core dependency, extras named after their service, no OpenTelemetry pin."""
    project = _project(package)
    if project.get("name") != f"buttress-{package.name}":
        yield f"pyproject name is {project.get('name')!r}, not 'buttress-{package.name}'"
    if project.get("requires-python") != ">=3.12":
        yield f"requires-python is {project.get('requires-python')!r}, not '>=3.12'"
    dependencies = [_requirement_name(r) for r in project.get("dependencies", [])]
    if package.name != "core" and "buttress-core" not in dependencies:
        yield "does not depend on buttress-core"
    for name in dependencies:
        if name.startswith("buttress-") and name not in ("buttress-core",):
            yield f"depends on the sibling {name}: packages talk through core's Protocols"
        if name == "opentelemetry-sdk":
            yield "depends on opentelemetry-sdk: a library never installs the SDK"
        if name == "opentelemetry-api" and package.name not in OPENTELEMETRY_PACKAGES:
            yield "depends on opentelemetry-api: core's Telemetry binds it when the application has it"
    for extra, requirements in project.get("optional-dependencies", {}).items():
        drivers = [SERVICE_EXTRAS.get(_requirement_name(r)) for r in requirements]
        # An extra named after a driver, or one that installs nothing but a driver, is a backend's
        # extra: it takes the service's name. A feature extra (webpush, encryption) keeps its own.
        service = SERVICE_EXTRAS.get(extra) or (drivers[0] if len(drivers) == 1 else None)
        if service is not None and extra != service:
            yield f"extra {extra!r} installs {', '.join(requirements)}: name it {service!r}"


# --- errors ----------------------------------------------------------------------------------------


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _project(package: Package) -> dict[str, Any]:
    project = package.pyproject.get("project")
    return project if isinstance(project, dict) else {}


def _has_backend(package: Package) -> bool:
    extras = _project(package).get("optional-dependencies", {})
    installs = {_requirement_name(r) for requirements in extras.values() for r in requirements}
    return package.name not in ("testing",) and bool(installs & {"redis", "asyncpg", "aiosmtplib"})


@rule
def errors(package: Package) -> Iterator[str]:
    """The error vocabulary: <S>Error, <S>ConfigurationError, <S>TypeError, <S>UnavailableError."""
    core = importlib.import_module("buttress.core")
    module = _import(f"{package.import_name}.exceptions")
    if module is None:
        yield f"{package.import_name}.exceptions cannot be imported"
        return
    classes = {
        name: value
        for name, value in vars(module).items()
        if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__
    }
    if package.name == "core":
        return
    roots = [c for c in classes.values() if core.ButtressError in c.__bases__]
    if len(roots) != 1:
        yield f"exceptions.py has {len(roots)} classes deriving directly from ButtressError, not 1 root"
        return
    root = roots[0]
    stem = root.__name__.removesuffix("Error")
    expected = {
        f"{stem}ConfigurationError": core.ConfigurationError,
        f"{stem}TypeError": core.ArgumentTypeError,
    }
    if _has_backend(package):
        expected[f"{stem}UnavailableError"] = core.BackendUnavailableError
    if _project(package).get("optional-dependencies"):
        expected["MissingExtraError"] = core.MissingExtraError
    for name, base in expected.items():
        error = classes.get(name)
        if error is None:
            yield f"exceptions.py has no {name}"
        elif not issubclass(error, root) or not issubclass(error, base):
            yield f"{name} must derive from {root.__name__} and core's {base.__name__}"
    foreign = FOREIGN_EXCEPTIONS.get(package.name, frozenset())
    for name, error in classes.items():
        if name in foreign:
            continue
        if not issubclass(error, root):
            yield f"{name} does not derive from the package's root {root.__name__}"
        for base, own in (
            (core.ConfigurationError, f"{stem}ConfigurationError"),
            (core.ArgumentTypeError, f"{stem}TypeError"),
            (core.BackendUnavailableError, f"{stem}UnavailableError"),
        ):
            if issubclass(error, base) and own in classes and not issubclass(error, classes[own]):
                yield f"{name} is a core {base.__name__} but not a {own}"
    public = _import(package.import_name)
    exported = set(getattr(public, "__all__", ())) if public is not None else set()
    for name in classes:
        if name not in exported and name not in foreign:
            yield f"{name} is not exported from {package.import_name}"


# --- source ----------------------------------------------------------------------------------------


def _sources(package: Package) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(package.source.rglob("*.py")):
        if "_vendor" in path.parts:
            continue
        yield path, ast.parse(path.read_text(), str(path))


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"


def _public_class(path: Path, node: ast.ClassDef) -> bool:
    return not node.name.startswith("_")


@rule
def source(package: Package) -> Iterator[str]:
    """Loggers by __name__, no sibling imports, one verb per act, no private lazy-loading copies."""
    resources = _descendants(package, RESOURCE_BASES)
    if package.name not in SUPPORT_PACKAGES:
        yield from _redis_backends(package)
    for path, tree in _sources(package):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _dotted(node.func) in ("logging.getLogger", "getLogger"):
                args = node.args  # no argument: the root logger, to attach a handler to
                if args and not (isinstance(args[0], ast.Name) and args[0].id == "__name__"):
                    yield f"{_where(path, node)}: loggers are logging.getLogger(__name__)"
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield from _sibling(package, path, node, node.module)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield from _sibling(package, path, node, alias.name)
            # core's bases (PostgresBackend) leave connect() to each backend; testing's servers are processes
            if (
                isinstance(node, ast.ClassDef)
                and _public_class(path, node)
                and package.name not in SUPPORT_PACKAGES
            ):
                yield from _class_face(path, node, resources)
            if (
                isinstance(node, ast.FunctionDef)
                and node.name == "__getattr__"
                and path.name == "__init__.py"
                and node.col_offset == 0
            ):
                yield f"{_where(path, node)}: lazy exports use core's lazy_exports, not a private __getattr__"


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _sibling(package: Package, path: Path, node: ast.AST, module: str) -> Iterator[str]:
    parts = module.split(".")
    if parts[0] != "buttress" or len(parts) < 2:
        return
    allowed = {"core", package.module}
    if parts[1] not in allowed:
        yield f"{_where(path, node)}: imports buttress.{parts[1]}; packages talk through core's Protocols"


def _decorators(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {_dotted(d) for d in node.decorator_list}


def _class_face(path: Path, node: ast.ClassDef, resources: frozenset[str]) -> Iterator[str]:
    methods = {
        item.name: item for item in node.body if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    for name, method in methods.items():
        if name in RETIRED_CLASSMETHODS and "classmethod" in _decorators(method):
            yield f"{_where(path, method)}: {node.name}.{name} is {RETIRED_CLASSMETHODS[name]} in the face"
        if name == "close" and isinstance(method, ast.AsyncFunctionDef):
            yield f"{_where(path, method)}: {node.name}.close is async: the face's verb is aclose()"
    init = methods.get("__init__")
    parameters = [a.arg for a in (*init.args.args, *init.args.kwonlyargs)] if init is not None else []
    # A backend: named after its server, or built on a pool. Factories hand what they make to a
    # pool, discovery records describe a server, and an acquire context is scoped by its pool.
    named = node.name.startswith(("Postgres", "Redis")) and not node.name.endswith(("Factory", "Service"))
    protocol = any(_dotted(base).split(".")[-1] == "Protocol" for base in node.bases)
    backend = (named or "pool" in parameters) and not node.name.endswith("Context") and not protocol
    if backend and "aclose" not in methods and not _derives_resource(node, resources):
        yield f"{_where(path, node)}: {node.name} holds a pool or client but has no aclose()"
    if init is None:
        return
    for parameter in parameters:
        if parameter == "dsn" and not node.name.startswith("Postgres"):
            continue  # a connection factory is made from a DSN; a backend connects with one
        if parameter in RETIRED_PARAMETERS:
            face = RETIRED_PARAMETERS[parameter]
            yield f"{_where(path, init)}: {node.name}({parameter}=...) is {face} in the face"
    if node.name.startswith("Postgres") and "pool" in parameters and "connect" not in methods:
        yield f"{_where(path, node)}: {node.name} takes a pool but has no connect() classmethod"
    if node.name.startswith("Redis") and "client" in parameters and "from_url" not in methods:
        yield f"{_where(path, node)}: {node.name} takes a client but has no from_url() classmethod"
    if node.name.startswith("Postgres") and "prefix" in parameters:
        yield f"{_where(path, init)}: {node.name}(prefix=...): PostgreSQL backends take table="


def _redis_backends(package: Package) -> Iterator[str]:
    """A class with a ``from_url`` classmethod derives from core's RedisBackend, or says why not."""
    backends = _descendants(package, frozenset({"RedisBackend"}))
    found: set[str] = set()
    for path, tree in _sources(package):
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef) or not any(
                isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                and item.name == "from_url"
                and "classmethod" in _decorators(item)
                for item in node.body
            ):
                continue
            found.add(node.name)
            if node.name not in backends and (package.name, node.name) not in FROM_URL_EXEMPT:
                yield (
                    f"{_where(path, node)}: {node.name}.from_url: a Redis backend derives from core's "
                    "RedisBackend (client, prefix, outages), or FROM_URL_EXEMPT says why it does not"
                )
    for name, exempt in FROM_URL_EXEMPT:
        if name == package.name and (exempt not in found or exempt in backends):
            yield f"FROM_URL_EXEMPT names {exempt}, which is not a from_url class apart from RedisBackend"


def _base_names(node: ast.ClassDef) -> set[str]:
    # `Base`, `core.Base` and `Base[T]` all name Base.
    return {_dotted(b.value if isinstance(b, ast.Subscript) else b).split(".")[-1] for b in node.bases}


def _derives_resource(node: ast.ClassDef, resources: frozenset[str] = RESOURCE_BASES) -> bool:
    return bool(_base_names(node) & resources)


def _descendants(package: Package, roots: frozenset[str]) -> frozenset[str]:
    """``roots`` and the package's classes that derive from one of them, through its own bases too."""
    bases = {
        node.name: _base_names(node)
        for _, tree in _sources(package)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }
    found = set(roots)
    while grown := {name for name, named in bases.items() if name not in found and named & found}:
        found |= grown
    return frozenset(found)


# --- telemetry -------------------------------------------------------------------------------------


def _instruments(package: Package) -> dict[str, str]:
    found: dict[str, str] = {}
    for path, tree in _sources(package):
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in INSTRUMENT_METHODS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and node.args[0].value.startswith("buttress.")
            ):
                found[node.args[0].value] = _where(path, node)
    return found


def _documented(package: Package) -> set[str]:
    page = ROOT / "docs" / "telemetry.md"
    if not page.exists():
        return set()
    names: set[str] = set()
    inside = False
    for line in page.read_text().splitlines():
        if line.startswith("## "):
            inside = line.strip() == f"## buttress-{package.name}"
            continue
        match = TELEMETRY_ROW.match(line)
        if inside and match:
            names.add(match.group(1))
    return names


@rule
def telemetry(package: Package) -> Iterator[str]:
    """Instruments through core's Telemetry, named under the package, listed on the telemetry page, tested."""
    if package.name in SUPPORT_PACKAGES:
        return
    instruments = _instruments(package)
    if not instruments:
        yield "exports no OpenTelemetry instrument through core's Telemetry"
    for name, where in sorted(instruments.items()):
        if not name.startswith(f"{package.import_name}."):
            yield f"{where}: instrument {name} is not under {package.import_name}."
    documented = _documented(package)
    for name in sorted(set(instruments) - documented):
        yield f"instrument {name} is not listed in docs/telemetry.md under buttress-{package.name}"
    for name in sorted(documented - set(instruments)):
        yield f"docs/telemetry.md lists {name}, which buttress-{package.name} does not define"
    tests = package.directory / "tests"
    if instruments and not any("metric_reader" in p.read_text() for p in tests.rglob("test_*.py")):
        yield "no test reads the package's metrics (buttress-testing's metric_reader fixture)"
    if instruments:
        yield from _bound_at_start(package)
    if package.name in OPENTELEMETRY_PACKAGES:
        return
    for path, tree in _sources(package):
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("opentelemetry"):
                yield f"{_where(path, node)}: imports {node.module}: instruments go through core's Telemetry"


def _bound_at_start(package: Package) -> Iterator[str]:
    """Each class right under core's PostgresBackend or RedisBackend names the package's Telemetry.

    The backend base binds it when a backend is made, so the first request makes no instrument.
    """
    for path, tree in _sources(package):
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = sorted(_base_names(node) & BOUND_BASES)
            if not bases:
                continue
            if not any(
                isinstance(item, ast.Assign | ast.AnnAssign)
                and any(
                    isinstance(target, ast.Name) and target.id == "telemetry"
                    for target in (item.targets if isinstance(item, ast.Assign) else [item.target])
                )
                for item in node.body
            ):
                yield (
                    f"{_where(path, node)}: {node.name} derives from {bases[0]} without "
                    "`telemetry = TELEMETRY`: its instruments would bind on the first request"
                )


# --- the public surface ----------------------------------------------------------------------------


@rule
def surface(package: Package) -> Iterator[str]:
    """__all__ exists and every public Protocol a user implements has a conformance test."""
    module = _import(package.import_name)
    if module is None:
        yield f"{package.import_name} cannot be imported"
        return
    names = getattr(module, "__all__", None)
    if not names:
        yield f"{package.import_name} has no __all__"
        return
    if package.name in ("core", "testing"):
        return
    protocols = []
    for name in names:
        try:
            value = getattr(module, name)
        except ImportError:  # a backend whose extra is not installed
            continue
        except AttributeError:
            yield f"{name} is in __all__ but {package.import_name} does not define it"
            continue
        if inspect.isclass(value) and getattr(value, "_is_protocol", False):
            members = set(getattr(value, "__protocol_attrs__", ())) or {"?"}
            if members != {"__call__"}:  # a callback signature is not an implementation to conform
                protocols.append(name)
    if protocols and not (package.directory / "tests" / "test_conformance.py").exists():
        yield f"public Protocols {', '.join(protocols)} but no tests/test_conformance.py"


def check(names: list[str]) -> list[str]:
    known = packages()
    unknown = [n for n in names if n not in known]
    if unknown:
        return [f"unknown package(s): {', '.join(unknown)}"]
    findings: list[str] = []
    for name in names or list(known):
        for check_rule in RULES:
            findings.extend(f"buttress-{name}: {finding}" for finding in check_rule(known[name]))
    return findings


# --- the drift table --------------------------------------------------------------------------------


def _facts(package: Package) -> dict[str, set[str]]:
    """What each package does, convention by convention, as the issue's drift table counts it."""
    facts: dict[str, set[str]] = {key: set() for key in DRIFT}
    for path, tree in _sources(package):
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name.startswith("Postgres"):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name in (
                        "connect",
                        "from_dsn",
                        "open",
                    ):
                        kind = "async " if isinstance(item, ast.AsyncFunctionDef) else "sync "
                        facts["postgres construction"].add(kind + item.name)
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name in (
                        "__init__",
                        "connect",
                    ):
                        arguments = (*item.args.args, *item.args.kwonlyargs)
                        names = {a.arg for a in arguments}
                        # a schema= naming a PostgreSQL schema (a str), not search's document Schema
                        named = {
                            a.arg
                            for a in arguments
                            if a.arg != "schema" or "str" in ast.unparse(a.annotation or ast.Constant(""))
                        }
                        facts["table argument"] |= named & {"table", "table_prefix", "prefix", "schema"}
                        if item.name == "connect":
                            sized = {"min_size", "max_size"} <= names
                            facts["pool size"].add("a parameter" if sized else "fixed")
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                for item in node.body:
                    if isinstance(item, ast.AsyncFunctionDef) and item.name in ("close", "aclose"):
                        facts["closing"].add(item.name + "()")
                if _derives_resource(node):
                    facts["closing"].add("aclose()")
            if (
                isinstance(node, ast.Call)
                and _dotted(node.func) in ("logging.getLogger", "getLogger")
                and node.args
            ):
                first = node.args[0]
                literal = isinstance(first, ast.Constant)
                facts["logger names"].add("literal" if literal else "__name__")
            if (
                isinstance(node, ast.FunctionDef)
                and node.name == "__getattr__"
                and path.name == "__init__.py"
            ):
                facts["lazy loading of extras"].add("private __getattr__")
            if isinstance(node, ast.Call) and _dotted(node.func).endswith("lazy_exports"):
                facts["lazy loading of extras"].add("core lazy_exports")
    for extra, requirements in _project(package).get("optional-dependencies", {}).items():
        if any(_requirement_name(r) == "asyncpg" for r in requirements):
            facts["postgres extra"].add(extra)
    module = _import(f"{package.import_name}.exceptions")
    core = importlib.import_module("buttress.core")
    for name, value in (vars(module) if module is not None else {}).items():
        if not inspect.isclass(value):
            continue
        # The package's own class that derives directly from core's (its subclasses are refinements).
        if core.BackendUnavailableError in value.__bases__:
            facts["unavailable error"].add(name)
        if core.ArgumentTypeError in value.__bases__:
            facts["wrong-type error"].add(name)
    if _instruments(package):
        facts["metrics"].add(f"{len(_instruments(package))} instruments")
    tests = package.directory / "tests"
    for path in sorted([*tests.glob("test_conformance.py"), *tests.glob("test_contract*.py")]):
        facts["conformance file"].add(path.name)
    return facts


DRIFT: Final = (
    "postgres construction",
    "table argument",
    "pool size",
    "closing",
    "postgres extra",
    "unavailable error",
    "wrong-type error",
    "lazy loading of extras",
    "logger names",
    "metrics",
    "conformance file",
)


def drift() -> str:
    """The issue's drift table, measured: for each convention, who does what."""
    rows = ["| convention | what the packages do |", "|---|---|"]
    facts = {name: _facts(package) for name, package in packages().items() if name not in ("core", "testing")}
    for key in DRIFT:
        seen: dict[str, list[str]] = {}
        for name, found in facts.items():
            for value in sorted(found[key]):
                seen.setdefault(value, []).append(name)
        cells = [
            f"`{value}`: {', '.join(names)}"
            for value, names in sorted(seen.items(), key=lambda i: -len(i[1]))
        ]
        rows.append(f"| {key} | {'; '.join(cells) or '—'} |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--drift"]:
        print(drift())
        return 0
    findings = check(argv)
    for finding in findings:
        print(finding)
    checked = len(argv) or len(packages())
    print(f"conventions: {len(findings)} finding(s) in {checked} package(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
