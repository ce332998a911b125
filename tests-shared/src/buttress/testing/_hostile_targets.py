"""A package's table of public entry points for the hostile-argument helpers, and its coverage guard.

Every package drives its whole public surface with `check_hostile` / `acheck_hostile`. The table of
what is driven, with the valid arguments of each call, the test ids and the guard that nothing in
``__all__`` was forgotten are the same in every package, so they live here::

    import buttress.caching as package
    from buttress.testing import HostileTarget, HostileTargets

    TARGETS = HostileTargets()
    TARGETS.add(MemoryCache, max_size=100, default_ttl=60.0)
    TARGETS.add(MemoryCache().jittered, 60.0)
    TARGETS.add(lambda key: filled().get(key), "k", covers="MemoryCache.get")


    @TARGETS.parametrize()
    def test_public_entry_points_raise_only_typed_errors(target: HostileTarget) -> None:
        target.check()


    @TARGETS.drives("RedisCache")  # targets built from fixtures, driven in the test's body
    async def test_redis_cache(redis_cache: RedisCache[object]) -> None:
        await acheck_hostile(redis_cache.get, "k")


    def test_every_public_name_is_driven() -> None:
        TARGETS.assert_covers(package, exempt={"SyncCache": "driven in tests/test_sync.py, with its thread"})
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum

import pytest
from hypothesis import strategies as st

from ._hostile import (
    DEFAULT_TIMEOUT,
    acheck_hostile,
    check_hostile,
    checked_allowed,
    checked_examples,
    checked_kwargs,
    checked_names,
    checked_timeout,
    checked_values,
)
from .exceptions import TestingConfigurationError, TestingTypeError

__all__ = ["HostileTarget", "HostileTargets", "closing_factory"]


@dataclass(frozen=True)
class HostileTarget:
    """One entry point with valid arguments, as `HostileTargets.add` recorded it.

    Attributes:
        target: The callable to drive.
        args: Valid positional arguments.
        kwargs: Valid keyword arguments.
        keep: Parameters never replaced by a hostile value.
        allowed: Exception types accepted besides `ButtressError`.
        values: The strategy hostile values come from, or ``None`` for `hostile_values`.
        max_examples: How many calls to make, or ``None`` for the hypothesis profile's count.
        timeout: Seconds an awaited call may take.
        covers: The public name it drives: ``"Name"`` or ``"Class.method"`` (``None`` if unknown).
        id: The test id `HostileTargets.parametrize` gives it.
    """

    target: Callable[..., object]
    args: tuple[object, ...]
    kwargs: Mapping[str, object]
    keep: frozenset[str]
    allowed: tuple[type[BaseException], ...]
    values: st.SearchStrategy[object] | None
    max_examples: int | None
    timeout: float
    covers: str | None
    id: str = field(default="")

    def check(self) -> None:
        """Drive the target with `check_hostile`, from a synchronous test.

        Raises:
            AssertionError: A call raised or logged an untyped exception, or hung.
        """
        check_hostile(
            self.target,
            *self.args,
            keep=self.keep,
            allowed=self.allowed,
            values=self.values,
            max_examples=self.max_examples,
            timeout=self.timeout,
            kwargs=self.kwargs,
        )

    async def acheck(self) -> None:
        """Drive the target with `acheck_hostile`, on the running test's event loop.

        Raises:
            AssertionError: A call raised or logged an untyped exception, or hung.
        """
        await acheck_hostile(
            self.target,
            *self.args,
            keep=self.keep,
            allowed=self.allowed,
            values=self.values,
            max_examples=self.max_examples,
            timeout=self.timeout,
            kwargs=self.kwargs,
        )


class HostileTargets:
    """A table of public entry points, each with valid arguments, driven with hostile ones.

    Add every function, constructor and method of a package's public surface with `add`, run them
    from one test with `parametrize` (or in a test's body with `check_all` / `acheck_all`), mark the
    tests that drive names built from fixtures with `drives`, and let `assert_covers` fail when a
    name of ``__all__`` is neither driven nor exempted with a reason.

    Args:
        keep: Parameters never replaced in any target of the table (callbacks, say).
        allowed: Exception types accepted from every target besides `ButtressError`.
        values: The strategy hostile values come from, unless `add` says otherwise;
            `hostile_values` by default.
        max_examples: The number of calls per target, unless `add` says otherwise; the hypothesis
            profile's count by default.

    Raises:
        TestingTypeError: An option has the wrong type.
        TestingConfigurationError: ``max_examples`` is below 1.
    """

    def __init__(
        self,
        *,
        keep: Collection[str] = (),
        allowed: Iterable[type[BaseException]] = (),
        values: st.SearchStrategy[object] | None = None,
        max_examples: int | None = None,
    ) -> None:
        self._keep = checked_names("keep", keep)
        self._allowed = checked_allowed(allowed)
        self._values = checked_values(values)
        self._max_examples = checked_examples(max_examples)
        self._targets: list[HostileTarget] = []
        self._ids: dict[str, int] = {}
        self._driven: set[str] = set()
        self._frozen = False

    def add(
        self,
        target: Callable[..., object],
        /,
        *args: object,
        covers: str | None = None,
        keep: Collection[str] = (),
        allowed: Iterable[type[BaseException]] = (),
        values: st.SearchStrategy[object] | None = None,
        max_examples: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        kwargs: Mapping[str, object] | None = None,
        **keywords: object,
    ) -> HostileTarget:
        """Add ``target`` with valid arguments; they mean what they mean for `check_hostile`.

        Args:
            target: The function, class or method to drive.
            *args: Valid positional arguments.
            covers: The public name the target drives (``"MemorySearch"``, ``"Cache.get"``); found
                from the target itself unless it is a lambda or a wrapper of a test's own.
            keep: Parameters never replaced, besides the table's.
            allowed: Exception types accepted besides the table's and `ButtressError`.
            values: The strategy hostile values come from; the table's, or `hostile_values` by default.
            max_examples: How many calls to make; the table's, or the profile's count by default.
            timeout: Seconds an awaited call may take.
            kwargs: Valid keyword arguments whose names are options of this method (``covers``,
                ``keep``, ``timeout``, ...).
            **keywords: Valid keyword arguments.

        Returns:
            The recorded target.

        Raises:
            TestingTypeError: ``target`` is not callable, or an option has the wrong type.
            TestingConfigurationError: The table was already given to `parametrize`, or
                ``max_examples`` or ``timeout`` is out of range.
        """
        if self._frozen:
            raise TestingConfigurationError(
                "target", target, "was added after parametrize(): add every target before the test"
            )
        if not callable(target):
            raise TestingTypeError("target", "a callable", target)
        if covers is not None and (not isinstance(covers, str) or not covers.isprintable() or not covers):
            raise TestingTypeError("covers", "a printable, non-empty str or None", covers)
        examples = checked_examples(max_examples)
        strategy = checked_values(values)
        name = covers if covers is not None else _public_name(target)
        recorded = HostileTarget(
            target=target,
            args=args,
            kwargs={**checked_kwargs(kwargs), **keywords},
            keep=self._keep | checked_names("keep", keep),
            allowed=(*self._allowed, *checked_allowed(allowed)),
            values=strategy if strategy is not None else self._values,
            max_examples=examples if examples is not None else self._max_examples,
            timeout=checked_timeout(timeout),
            covers=name,
            id=self._unique_id(name if name is not None else _anonymous(target)),
        )
        self._targets.append(recorded)
        return recorded

    def __iter__(self) -> Iterator[HostileTarget]:
        return iter(tuple(self._targets))

    def __len__(self) -> int:
        return len(self._targets)

    def parametrize(self, argname: str = "target") -> pytest.MarkDecorator:
        """``pytest.mark.parametrize`` over the targets, one test per target, ids from their names.

        The table is closed by this call: a target added afterwards would silently never run, so
        `add` refuses it.

        Args:
            argname: The test function's parameter that receives each `HostileTarget`.

        Returns:
            The mark to decorate the test with.

        Raises:
            TestingTypeError: ``argname`` is not a str.
            TestingConfigurationError: ``argname`` is not an identifier, or the table is empty.
        """
        if not isinstance(argname, str):
            raise TestingTypeError("argname", "a str", argname)
        if not argname.isidentifier():
            raise TestingConfigurationError("argname", argname, "must be a Python identifier")
        if not self._targets:
            raise TestingConfigurationError("targets", 0, "add at least one target before parametrize()")
        self._frozen = True
        targets = tuple(self._targets)
        return pytest.mark.parametrize(argname, targets, ids=[target.id for target in targets])

    def check_all(self) -> None:
        """Drive every target in turn with `check_hostile` (from a synchronous test).

        Raises:
            AssertionError: A call raised or logged an untyped exception, or hung.
        """
        for target in self._targets:
            target.check()

    async def acheck_all(self) -> None:
        """Drive every target in turn with `acheck_hostile`, on the running test's event loop.

        Raises:
            AssertionError: A call raised or logged an untyped exception, or hung.
        """
        for target in self._targets:
            await target.acheck()

    def drives[F: Callable[..., object]](self, *names: str) -> Callable[[F], F]:
        """Decorator: the test it decorates drives ``names``, which `assert_covers` then counts.

        For names whose targets are built from fixtures (a pool, a client) and driven in the test's
        own body. A name is ``"Name"`` or ``"Class.method"``.

        Args:
            *names: The public names the decorated test drives.

        Returns:
            A decorator that returns the test unchanged.

        Raises:
            TestingTypeError: A name is not a str.
            TestingConfigurationError: No name is given, or one is empty.
        """
        if not names:
            raise TestingConfigurationError("names", (), "name at least one public name")
        for name in names:
            if not isinstance(name, str):
                raise TestingTypeError("names", "str", name)
            if not name or not name.isprintable():
                raise TestingConfigurationError("names", name, "must be a printable, non-empty name")
        self._driven.update(names)

        def mark(test: F) -> F:
            return test

        return mark

    def driven(self) -> frozenset[str]:
        """The names driven: each target's `HostileTarget.covers`, and every name given to `drives`."""
        covered = {target.covers for target in self._targets if target.covers is not None}
        return frozenset(covered | self._driven)

    def assert_covers(
        self, module: types.ModuleType, *, exempt: Mapping[str, str] | None = None, methods: bool = False
    ) -> None:
        """Fail unless every name of ``module.__all__`` is driven, needs no driving, or is exempt.

        A name needs no driving when there is nothing to replace: a value that is not callable (a
        constant, a ``type`` alias), a Protocol, a TypedDict, a typing form, or a callable without
        parameters.
        Any other name is driven when a target covers it or one of its methods, or a test names it
        in `drives`; otherwise ``exempt`` must give the reason it is not.

        Args:
            module: The package (``import buttress.caching as package``).
            exempt: Public names (or ``"Class.method"``) left undriven, each with the reason.
            methods: Also require every public method with parameters of every public class (not a
                Protocol, an enum or an error) that the package defines to be driven or exempt (an
                exempt class exempts its methods).

        Raises:
            AssertionError: A name is neither driven nor exempt; an exemption has no reason, names
                nothing public, or names what is driven or needs no driving; a name given to
                `drives` is not public.
            TestingTypeError: ``module`` is not a module with an ``__all__``, ``exempt`` is not a
                mapping of str to str, or ``methods`` is not a bool.
        """
        public = _public(module)
        reasons = _exemptions(exempt)
        if methods is not True and methods is not False:
            raise TestingTypeError("methods", "a bool", methods)
        driven = self.driven()
        top = {name.split(".", 1)[0] for name in driven}
        required = {name for name in public if not _nothing_to_drive(getattr(module, name))}
        if methods:
            required |= {
                f"{name}.{method}"
                for name in public
                if name not in reasons  # an exempt class's reason covers its methods
                for method in _public_methods(getattr(module, name), module.__name__)
            }
        problems: list[str] = []
        for name, reason in sorted(reasons.items()):
            if not reason.strip():
                problems.append(f"{name}: exempt without a reason")
            elif name not in required:
                problems.append(f"{name}: exempt, but it is not a public name that needs driving")
            elif name in driven or name in top:
                problems.append(f"{name}: exempt, but driven: remove the exemption")
        problems.extend(
            f"{name}: neither driven nor exempt (add a target, or exempt it with a reason)"
            for name in sorted(required - set(reasons) - driven - top)
        )
        problems.extend(
            f"{name}: named in drives(), but {module.__name__} has no such public name"
            for name in sorted(self._driven)
            if not _names_public(module, public, name)
        )
        if problems:
            raise AssertionError(f"{module.__name__}.__all__ is not covered:\n  " + "\n  ".join(problems))

    def _unique_id(self, name: str) -> str:
        seen = self._ids.get(name, 0) + 1
        self._ids[name] = seen
        return name if seen == 1 else f"{name}-{seen}"


def closing_factory[**P](factory: Callable[P, object]) -> Callable[P, Awaitable[None]]:
    """``factory`` with its signature, closing what it made, so a hostile run leaves nothing open.

    For ``connect``, ``from_url`` and constructors that open a pool or a client: what the factory
    returns is awaited if it is awaitable, then closed with ``aclose()`` (or ``close()``). Drive the
    result as the factory itself (a `HostileTargets` target covers the factory's name)::

        await acheck_hostile(closing_factory(PostgresStore.connect), dsn, table="keys", max_size=2)

    Args:
        factory: The callable that makes a resource.

    Returns:
        A coroutine function taking the factory's arguments.

    Raises:
        TestingTypeError: ``factory`` is not callable.
    """
    if not callable(factory):
        raise TestingTypeError("factory", "a callable", factory)

    # Names only: a class's __dict__ is not the wrapper's, and type's __type_params__ is no tuple.
    @functools.wraps(factory, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=())
    async def make_and_close(*args: P.args, **kwargs: P.kwargs) -> None:
        made = factory(*args, **kwargs)
        if inspect.isawaitable(made):
            made = await made
        close = getattr(made, "aclose", None) or getattr(made, "close", None)
        if close is not None:
            closed = close()
            if inspect.isawaitable(closed):
                await closed

    return make_and_close


def _public_name(target: object) -> str | None:
    """``"Name"`` or ``"Class.method"`` for what ``target`` is, ``None`` for a lambda or a local."""
    while True:
        if isinstance(target, functools.partial):
            target = target.func
        elif typing.get_origin(target) is not None:  # MemoryCache[Any]
            target = typing.get_origin(target)
        elif hasattr(target, "__wrapped__") and not isinstance(target, type):
            target = inspect.unwrap(target)  # type: ignore[arg-type]
        else:
            break
    owner = getattr(target, "__self__", None)
    name = getattr(target, "__name__", None)
    if owner is not None and not isinstance(owner, types.ModuleType) and isinstance(name, str):
        owner_type = owner if isinstance(owner, type) else type(owner)
        return f"{owner_type.__name__}.{name}"
    qualname = getattr(target, "__qualname__", None)
    if not isinstance(qualname, str) or "<" in qualname:
        return None
    return qualname


def _anonymous(target: Callable[..., object]) -> str:
    """A readable id for a lambda or a local function: ``lambda(documents)``."""
    code = getattr(target, "__code__", None)
    name = str(getattr(target, "__name__", type(target).__name__))
    if code is None:
        return name
    shown = "lambda" if name == "<lambda>" else name
    return f"{shown}({','.join(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])})"


def _public(module: object) -> tuple[str, ...]:
    if not isinstance(module, types.ModuleType):
        raise TestingTypeError("module", "a module", module)
    names = getattr(module, "__all__", None)
    if not isinstance(names, list | tuple) or not all(isinstance(name, str) for name in names):
        raise TestingTypeError("module", "a module with an __all__ of str", module)
    return tuple(names)


def _exemptions(exempt: object) -> dict[str, str]:
    if exempt is None:
        return {}
    if not isinstance(exempt, Mapping) or not all(
        isinstance(name, str) and isinstance(reason, str) for name, reason in exempt.items()
    ):
        raise TestingTypeError("exempt", "a mapping of names to reasons (str to str)", exempt)
    return dict(exempt)


def _names_public(module: types.ModuleType, public: tuple[str, ...], name: str) -> bool:
    """Whether ``name`` (``"Name"`` or ``"Name.attribute"``) is public in ``module``."""
    top, _, attribute = name.partition(".")
    if top not in public:
        return False
    return not attribute or hasattr(getattr(module, top), attribute)


def _is_protocol(value: object) -> bool:
    return isinstance(value, type) and bool(getattr(value, "_is_protocol", False))


def _nothing_to_drive(value: object) -> bool:
    """Whether a public value has no parameter a hostile value could take the place of."""
    if not callable(value) or _is_protocol(value) or typing.is_typeddict(value):
        return True  # a TypedDict is a dict with key hints: it checks nothing when built
    if isinstance(value, typing.TypeAliasType | types.GenericAlias | types.UnionType):
        return True
    if not isinstance(value, type) and type(value).__module__ == "typing":  # Union[...], Literal[...]
        return True
    try:
        return not inspect.signature(value).parameters
    except (TypeError, ValueError):
        return False


def _public_methods(value: object, package: str) -> list[str]:
    """Public methods with parameters that a public class defines or inherits from ``package``."""
    if not isinstance(value, type) or _is_protocol(value) or issubclass(value, Enum | BaseException):
        return []
    found: set[str] = set()
    for klass in value.__mro__:
        if not klass.__module__.startswith(package):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_") or isinstance(member, property) or not callable(getattr(value, name)):
                continue
            try:
                parameters = inspect.signature(getattr(value, name)).parameters
            except (TypeError, ValueError):
                continue
            if [p for p in parameters if p not in ("self", "cls")]:
                found.add(name)
    return sorted(found)
