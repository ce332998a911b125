"""Sessions for the buttress workspace. ``nox`` with no arguments runs what CI runs.

Every package is tested in isolation: its session's virtualenv holds the package installed from its
wheel, the extras it declares, its ``test`` dependency group and nothing else from the workspace, so
a test that imports an undeclared sibling or library fails there.

    nox -l                                   # list sessions
    nox -s "tests-3.12(package='core')"      # one package on one Python
    nox -s "lowest(package='caching')"       # the same at every declared floor (not in the default run)
    nox -s frameworks                        # each framework example under real servers, over HTTP
    nox -s bench -- caching                  # benchmarks of the named packages
    nox -s explore                           # the randomized hypothesis pass, on a time budget
    nox -s explore -- webhooks --seed 123    # replay one package's pass with a printed seed
    nox -s fuzz                              # fuzz every public parser for a bounded time
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path

import nox

nox.needs_version = ">=2025.5.1"
nox.options.default_venv_backend = "uv"

ROOT = Path(__file__).parent
PYTHONS = ["3.12", "3.13"]
# The hypothesis profile the tests sessions run, wherever they run: README's command and CI agree.
TEST_PROFILE = "ci"
# Seconds the randomized pass may search (the last package run may overrun it by its own length).
EXPLORE_SECONDS = float(os.environ.get("BUTTRESS_EXPLORE_SECONDS", "300"))


def _discover() -> dict[str, Path]:
    """Map each package's short name (``core``, ``caching``, ``testing``) to its directory."""
    found = {p.parent.name: p.parent for p in sorted((ROOT / "packages").glob("*/pyproject.toml"))}
    found["testing"] = ROOT / "tests-shared"
    return found


PACKAGES = _discover()


def _project(directory: Path) -> dict[str, object]:
    with (directory / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def _dist_name(directory: Path) -> str:
    project = _project(directory)["project"]
    assert isinstance(project, dict)
    name = project["name"]
    assert isinstance(name, str)
    return name


def _import_name(directory: Path) -> str:
    (module,) = (
        p.name for p in (directory / "src" / "buttress").iterdir() if p.is_dir() and p.name[0] != "_"
    )
    return f"buttress.{module}"


WORKSPACE = {_dist_name(d): d for d in PACKAGES.values()}


def _requirement_name(requirement: str) -> str:
    name = requirement
    for stop in "[<>=!~;@ ":
        name = name.split(stop, 1)[0]
    return name.strip().lower().replace("_", "-")


def _extras(directory: Path) -> list[str]:
    project = _project(directory)["project"]
    assert isinstance(project, dict)
    return sorted(project.get("optional-dependencies", {}))


def _test_group(directory: Path) -> list[str]:
    groups = _project(directory).get("dependency-groups", {})
    assert isinstance(groups, dict)
    return [r for r in groups.get("test", []) if isinstance(r, str)]


def _dependencies(directory: Path, extras: set[str]) -> list[str]:
    project = _project(directory)["project"]
    assert isinstance(project, dict)
    requirements = list(project.get("dependencies", []))
    for extra in sorted(extras):
        requirements.extend(project.get("optional-dependencies", {}).get(extra, []))
    return requirements


def _requested_extras(requirement: str) -> set[str]:
    if "[" not in requirement:
        return set()
    inside = requirement.split("[", 1)[1].split("]", 1)[0]
    return {e.strip() for e in inside.split(",") if e.strip()}


def _resolve(roots: list[str]) -> tuple[dict[str, set[str]], list[str]]:
    """Split requirements into workspace packages (with the extras asked of each, transitively) and the rest.

    Only the workspace side is followed transitively: other requirements reach the installer as
    written and it reads their dependencies from the wheels.
    """
    workspace: dict[str, set[str]] = {}
    external: list[str] = []
    pending = list(roots)
    while pending:
        requirement = pending.pop()
        name = _requirement_name(requirement)
        if name not in WORKSPACE:
            external.append(requirement)
            continue
        extras = _requested_extras(requirement)
        if name in workspace and extras <= workspace[name]:
            continue
        workspace.setdefault(name, set()).update(extras)
        pending.extend(
            r for r in _dependencies(WORKSPACE[name], workspace[name]) if _requirement_name(r) in WORKSPACE
        )
    return workspace, external


def _build_wheels(session: nox.Session, names: list[str], out: Path) -> dict[str, Path]:
    """Build a wheel of each named workspace package into ``out``; map each name to its wheel."""
    wheels: dict[str, Path] = {}
    for name in names:
        before = set(out.glob("*.whl"))
        session.run(
            "uv",
            "build",
            "--quiet",
            "--wheel",
            "--no-sources",
            "--out-dir",
            str(out),
            str(WORKSPACE[name]),
            external=True,
        )
        (wheel,) = set(out.glob("*.whl")) - before
        wheels[name] = wheel
    return wheels


def _install_isolated(session: nox.Session, package: str, *, with_tests: bool, lowest: bool = False) -> None:
    """Install one package from its wheel (with every extra and its test group when testing) and nothing else.

    Workspace packages are installed from wheels built now, by direct reference, so no index can
    substitute a published version for the code under test. With ``lowest``, every requirement the
    installed workspace packages declare (dependencies of the extras asked) is passed to the
    installer as well and resolved with ``--resolution lowest-direct``: each library at the lowest
    version its floor allows (the installer does not count the requirements inside a wheel as
    direct), what those libraries need at its newest.
    """
    directory = PACKAGES[package]
    name = _dist_name(directory)
    roots = [f"{name}[{','.join(_extras(directory))}]" if with_tests and _extras(directory) else name]
    if with_tests:
        roots += _test_group(directory)
    workspace, external = _resolve(roots)
    options: list[str] = []
    if lowest:
        external += [
            r
            for n, x in sorted(workspace.items())
            for r in _dependencies(WORKSPACE[n], x)
            if _requirement_name(r) not in WORKSPACE
        ]
        options = ["--resolution", "lowest-direct"]
    out = Path(tempfile.mkdtemp(prefix="buttress-wheels-"))
    try:
        wheels = _build_wheels(session, sorted(workspace), out)
        pinned = [
            f"{n}{'[' + ','.join(sorted(x)) + ']' if x else ''} @ {wheels[n].as_uri()}"
            for n, x in workspace.items()
        ]
        session.install(*options, *pinned, *external)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _sync(session: nox.Session, *args: str) -> None:
    """Install the workspace (editable) with the given groups/extras into the session's virtualenv."""
    session.run_install(
        "uv",
        "sync",
        "--frozen",
        "--inexact",
        *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )


def _pytest(session: nox.Session, package: str) -> None:
    """Run ``package``'s tests from the root, derandomized (the ``ci`` profile), with the posargs."""
    tests_dir = PACKAGES[package] / "tests"
    session.chdir(ROOT)
    session.run(
        "pytest",
        str(tests_dir.relative_to(ROOT)),
        "-p",
        "no:cacheprovider",
        f"--hypothesis-profile={TEST_PROFILE}",
        *session.posargs,
    )


@nox.session(python=PYTHONS)
@nox.parametrize("package", list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    """Run one package's tests in a virtualenv holding only that package and what it declares."""
    _install_isolated(session, package, with_tests=True)
    _pytest(session, package)


@nox.session(python=PYTHONS[0])
@nox.parametrize("package", list(PACKAGES))
def lowest(session: nox.Session, package: str) -> None:
    """Run one package's tests with every library it declares at its declared floor (not in ``nox``).

    The virtualenv is the ``tests`` session's (the wheel, every extra, the ``test`` group) resolved
    with ``--resolution lowest-direct``: a floor in a ``pyproject.toml`` is a version this passed on.
    """
    _install_isolated(session, package, with_tests=True, lowest=True)
    # The versions the run used, printed: the evidence for a floor.
    session.run(
        "uv",
        "pip",
        "list",
        "--python",
        str(Path(session.virtualenv.location) / "bin" / "python"),
        external=True,
    )
    _pytest(session, package)


@nox.session(python=PYTHONS[0])
@nox.parametrize("package", list(PACKAGES))
def bare(session: nox.Session, package: str) -> None:
    """Install one package alone (no extras, no test tools) and import every public module."""
    _install_isolated(session, package, with_tests=False)
    directory = PACKAGES[package]
    src = directory / "src"
    modules = sorted(
        ".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        for p in src.rglob("*.py")
        if not any(part.startswith("_") and part != "__init__.py" for part in p.relative_to(src).parts)
    )
    script = (
        "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n    print('ok', m)\n"
    )
    with tempfile.TemporaryDirectory() as empty:
        session.chdir(empty)
        session.run("python", "-I", "-W", "error", "-c", script, *modules)


@nox.session(python=PYTHONS[0])
def tour(session: nox.Session) -> None:
    """Run the tour's tests: every section on embedded defaults and on the real servers."""
    _sync(session, "--all-packages", "--all-extras", "--group", "dev")
    session.chdir(ROOT)
    session.run("pytest", "examples/test_tour.py", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=PYTHONS[0])
def frameworks(session: nox.Session) -> None:
    """Serve each framework example (examples/frameworks) under real servers and drive it over HTTP."""
    _sync(session, "--all-packages", "--all-extras", "--group", "dev")
    session.chdir(ROOT)
    session.run("pytest", "examples/frameworks/tests", "-p", "no:cacheprovider", *session.posargs)


def _explore_arguments(posargs: list[str]) -> tuple[list[str], int | None]:
    packages: list[str] = []
    seed: int | None = None
    words = iter(posargs)
    for word in words:
        if word == "--seed":
            seed = int(next(words))
        elif word.startswith("--seed="):
            seed = int(word.split("=", 1)[1])
        else:
            packages.append(word)
    unknown = [p for p in packages if p not in PACKAGES]
    if unknown:
        raise ValueError(f"unknown packages: {', '.join(unknown)}")
    return packages, seed


@nox.session(python=PYTHONS[0])
def explore(session: nox.Session) -> None:
    """The randomized pass: every property and state-machine test, new seeds, a fixed time budget.

    The ``tests`` sessions run the derandomized ``ci`` profile, so they reproduce anywhere but
    explore the same examples on every run. This session keeps searching: it cycles through the
    packages in a random order, running each one's hypothesis-driven tests (``pytest --explore``)
    with a fresh ``--hypothesis-seed``, and starts no package after ``BUTTRESS_EXPLORE_SECONDS``
    (300 by default) have passed (named packages each run once at least). Each
    run's seed is printed; a failure is saved to the example database (``.hypothesis/``) and
    reported with the command that replays it. ``-- <package> ... --seed N`` replays one run.
    """
    _sync(session, "--all-packages", "--all-extras", "--group", "dev")
    try:
        wanted, seed = _explore_arguments(list(session.posargs))
    except ValueError as exc:
        session.error(str(exc))
    packages = wanted or list(PACKAGES)
    if not wanted:
        # Everything on a budget: a new order each run, so the packages a budget leaves out change.
        packages = random.SystemRandom().sample(packages, len(packages))
    session.chdir(ROOT)
    python = Path(session.virtualenv.location) / "bin" / "python"
    deadline = time.monotonic() + EXPLORE_SECONDS
    failures: list[str] = []
    runs = 0
    # Named packages: each once at least (once only when replaying a seed), more while the budget
    # lasts. All packages: no package starts after the budget is spent.
    minimum = len(packages) if wanted else 1
    while runs == 0 or (seed is None and time.monotonic() < deadline):
        for package in packages:
            if runs >= minimum and time.monotonic() >= deadline:
                break
            run_seed = seed if seed is not None else secrets.randbelow(2**32)
            tests_dir = str((PACKAGES[package] / "tests").relative_to(ROOT))
            session.log(f"explore {package} with --hypothesis-seed={run_seed}")
            # subprocess, not session.run: pytest's "no tests" exit (5) is a normal outcome here.
            command = [str(python), "-m", "pytest", tests_dir, "-p", "no:cacheprovider", "-q", "--explore"]
            code = subprocess.call([*command, f"--hypothesis-seed={run_seed}"])
            runs += 1
            if code not in (0, 5):
                failures.append(f"uvx nox -s explore -- {package} --seed {run_seed}")
    session.log(f"explore: {runs} runs over {len(packages)} packages")
    if failures:
        session.error("explore found failures; replay each with:\n  " + "\n  ".join(failures))


@nox.session(python=PYTHONS[0])
def fuzz(session: nox.Session) -> None:
    """Fuzz every public parser of the suite with buttress-fuzzing for a bounded time (fuzz/run.py).

    ``BUTTRESS_FUZZ_SECONDS`` (120 by default) is shared between the targets; arguments after
    ``--`` go to ``fuzz/run.py`` (target names, ``--seed N``, ``--seconds S``, ``--update-corpus``).
    """
    _sync(session, "--all-packages", "--all-extras", "--group", "dev")
    session.chdir(ROOT)
    session.run("python", str(ROOT / "fuzz" / "run.py"), *session.posargs)


@nox.session(python=PYTHONS[0])
def lint(session: nox.Session) -> None:
    """Ruff (check and format) over the tree, and zizmor over the GitHub workflows."""
    session.install("ruff>=0.15", "zizmor>=1.20")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("zizmor", "--offline", "--min-severity", "low", ".github/workflows")


@nox.session(python=PYTHONS[0])
def conventions(session: nox.Session) -> None:
    """The suite's face (docs/contributing.md): error names, connect/from_url/aclose, extras, loggers,
    telemetry listed and tested, no sibling imports. ``nox -s conventions -- caching`` checks one."""
    _sync(session, "--all-packages", "--all-extras", "--group", "dev")
    session.run("pytest", "tools", "-p", "no:cacheprovider", "-q")
    session.run("python", str(ROOT / "tools" / "conventions.py"), *session.posargs)


@nox.session(python=PYTHONS[0])
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package's source and its tests/typing checks."""
    _sync(session, "--all-packages", "--all-extras", "--group", "lint")
    targets = [str(d / "src" / "buttress") for d in PACKAGES.values()]
    targets += [str(d / "tests" / "typing") for d in PACKAGES.values() if (d / "tests" / "typing").is_dir()]
    targets += ["examples", "fuzz", "tools/conventions.py", "noxfile.py", ".github/scripts", ".ci/lanes.py"]
    session.run(
        "mypy",
        "--strict",
        *targets,
        env={
            "MYPYPATH": os.pathsep.join(
                [*(str(d / "src") for d in PACKAGES.values()), str(ROOT / "fuzz"), str(ROOT / "examples")]
            )
        },
    )


@nox.session(python=PYTHONS[0])
def docs(session: nox.Session) -> None:
    """Build the documentation site with --strict (every reference must resolve)."""
    _sync(session, "--only-group", "docs")
    site = Path(tempfile.mkdtemp(prefix="buttress-site-"))
    try:
        session.run("mkdocs", "build", "--strict", "--site-dir", str(site), env={"NO_MKDOCS_2_WARNING": "1"})
    finally:
        shutil.rmtree(site, ignore_errors=True)


@nox.session(python=PYTHONS[0])
def build(session: nox.Session) -> None:
    """Build every package without workspace sources, install each wheel in a clean venv, import it."""
    out = Path(tempfile.mkdtemp(prefix="buttress-dist-"))
    try:
        session.run("uv", "build", "--all-packages", "--no-sources", "--out-dir", str(out), external=True)
        wheels = {w.name.split("-", 1)[0].replace("_", "-"): w for w in out.glob("*.whl")}
        for name, directory in sorted(WORKSPACE.items()):
            if name not in wheels or not list(out.glob(f"{name.replace('-', '_')}-*.tar.gz")):
                session.error(f"{name}: wheel or sdist missing from {out}")
            closure, _ = _resolve([name])
            venv = out / f"venv-{name}"
            session.run("uv", "venv", "--quiet", "--python", PYTHONS[0], str(venv), external=True)
            py = venv / "bin" / "python"
            session.run(
                "uv",
                "pip",
                "install",
                "--quiet",
                "--python",
                str(py),
                *(f"{n} @ {wheels[n].as_uri()}" for n in closure),
                external=True,
            )
            session.run(str(py), "-I", "-c", f"import {_import_name(directory)}", external=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)


@nox.session(python=PYTHONS[0])
def bench(session: nox.Session) -> None:
    """Run the benchmarks of the packages named after ``--`` (all with a benchmark when none are named)."""
    _sync(session, "--all-packages", "--all-extras", "--group", "bench")
    available = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))
    wanted = session.posargs or available
    unknown = [name for name in wanted if name not in available]
    if unknown:
        session.error(
            f"no benchmark for {', '.join(unknown)}; there are: {', '.join(available) or 'none yet'}"
        )
    for name in wanted:
        session.run("python", str(ROOT / "benchmarks" / f"{name}.py"))


nox.options.sessions = [
    *(f"tests-{py}(package='{p}')" for p in PACKAGES for py in PYTHONS),
    *(f"bare(package='{p}')" for p in PACKAGES),
    "tour",
    "frameworks",
    "explore",
    "fuzz",
    "lint",
    "conventions",
    "typecheck",
    "docs",
    "build",
]
