"""`@cached`: `get_or_compute` as a decorator that keeps the function's signature for type checkers."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, Protocol, runtime_checkable

from ._keys import encode_argument, encode_arguments, finish
from ._validation import TTL, check_bool, check_callable, check_text, ttl_seconds
from .exceptions import CachingConfigurationError

_BYPASS: ContextVar[bool] = ContextVar("buttress_caching_bypass", default=False)


@runtime_checkable
class ComputeCache[T](Protocol):
    """**Protocol**: what `cached` needs from a cache. `MemoryCache`, `RedisCache` and `TieredCache` have it.

    Methods:
        get_or_compute: The cached value for a key, or the loader's result, cached.
        refresh: The loader's result, cached, ignoring what was cached.
        delete: Remove a key; whether it held a value.
    """

    async def get_or_compute(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        *,
        ttl: TTL | None = None,
        tags: Iterable[str] = (),
        cache_none: bool = True,
    ) -> T:
        """Return the cached value for ``key`` or compute, cache and return it."""
        ...

    async def refresh(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        *,
        ttl: TTL | None = None,
        tags: Iterable[str] = (),
        cache_none: bool = True,
    ) -> T:
        """Compute ``key`` now and cache the result."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it held a value."""
        ...


@contextlib.contextmanager
def bypass_cache() -> Iterator[None]:
    """Within this block (and tasks started in it), `cached` functions neither read nor write the cache.

    Examples:
        >>> with bypass_cache():  # doctest: +SKIP
        ...     fresh = await get_user(42)  # always calls the function
    """
    token = _BYPASS.set(True)
    try:
        yield
    finally:
        _BYPASS.reset(token)


class CachedFunction[**P, R]:
    """An async function whose results are cached. Made by `cached`; call it like the function.

    Attributes:
        __wrapped__: The original function.
    """

    def __init__(
        self,
        func: Callable[P, Awaitable[R]],
        cache: ComputeCache[R] | Callable[[], ComputeCache[R]],
        *,
        ttl: TTL | None,
        key: Callable[P, str] | None,
        namespace: str,
        tags: Iterable[str] | Callable[P, Iterable[str]],
        cache_none: bool,
    ) -> None:
        if not inspect.iscoroutinefunction(func):
            raise CachingConfigurationError(
                "func", getattr(func, "__qualname__", func), "must be an async function (async def)"
            )
        if not (isinstance(cache, ComputeCache) or callable(cache)):
            raise CachingConfigurationError("cache", cache, "must be a cache or a callable returning one")
        check_callable("key", key, optional=True)
        if not callable(tags):
            tags = _fixed_tags(tags)
        self.__wrapped__ = func
        self._cache = cache
        self._ttl = ttl_seconds(ttl)
        self._key = key
        self._namespace = check_text("namespace", namespace)
        self._tags = tags
        self._cache_none = check_bool("cache_none", cache_none)
        self._signature = inspect.signature(func)
        parameters = list(self._signature.parameters.values())
        # Plain signatures (no *args, **kwargs, keyword-only) get keys without Signature.bind per call.
        self._plain = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters)
        self._names = tuple(p.name for p in parameters)
        self._defaults = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
        # A cache given directly is resolved once; a factory is called each time (dependency injection).
        self._fixed: ComputeCache[R] | None = cache if isinstance(cache, ComputeCache) else None
        functools.update_wrapper(self, func)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Return the cached result for these arguments, or call the function and cache its result."""
        if _BYPASS.get():
            return await self.__wrapped__(*args, **kwargs)
        return await self._resolve().get_or_compute(
            self.key(*args, **kwargs),
            lambda: self.__wrapped__(*args, **kwargs),
            ttl=self._ttl,
            tags=self._tags_for(*args, **kwargs),
            cache_none=self._cache_none,
        )

    def key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """Return the cache key these arguments map to.

        Without a ``key`` function, the key is the namespace and the arguments' values, bound to the
        signature with defaults applied, in the encoding the documentation describes (type-tagged, so
        ``1``, ``1.0``, ``True`` and ``"1"`` differ; dicts and sets in any order give one key);
        beyond 200 characters, or with unprintable characters, their SHA-256.

        Raises:
            CachingTypeError: An argument (or a value inside one) has a type no key can be built from
                faithfully, and no ``key`` function was given.
            CachingConfigurationError: The arguments do not fit the signature, or the ``key`` function
                returned something other than a non-empty str.
        """
        if self._key is not None:
            built = self._key(*args, **kwargs)
            if not isinstance(built, str) or not built:
                raise CachingConfigurationError("key", built, "the key function must return a non-empty str")
            return f"{self._namespace}:{built}"
        return f"{self._namespace}:{self._default_key(args, kwargs)}"

    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Remove the cached result for these arguments; return whether there was one."""
        return await self._resolve().delete(self.key(*args, **kwargs))

    async def refresh(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function now (a per-call bypass of the cached value) and cache the new result."""
        return await self._resolve().refresh(
            self.key(*args, **kwargs),
            lambda: self.__wrapped__(*args, **kwargs),
            ttl=self._ttl,
            tags=self._tags_for(*args, **kwargs),
            cache_none=self._cache_none,
        )

    def _resolve(self) -> ComputeCache[R]:
        if self._fixed is not None:
            return self._fixed
        cache = self._cache
        if isinstance(cache, ComputeCache):
            return cache
        resolved = cache()
        if not isinstance(resolved, ComputeCache):
            raise CachingConfigurationError("cache", resolved, "the cache factory must return a cache")
        return resolved

    def _tags_for(self, *args: P.args, **kwargs: P.kwargs) -> Iterable[str]:
        return self._tags(*args, **kwargs) if callable(self._tags) else self._tags

    def _default_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if not kwargs and self._plain and len(args) == len(self._names):
            # The common call: every argument given by position. No binding, no intermediate dict.
            return encode_arguments(self._names, args)
        values = self._plain_values(args, kwargs)
        if values is not None:
            return encode_arguments(self._names, [values[name] for name in self._names])
        return self._bound_key(args, kwargs)

    def _plain_values(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """The call's arguments by name, for a plain signature; ``None`` sends the call to `_bound_key`."""
        names = self._names
        if not self._plain or len(args) > len(names):
            return None
        values = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name in values or (name not in self._defaults and name not in names):
                return None  # a duplicate or unknown argument: bind() raises the right error
            values[name] = value
        for name in names[len(args) :]:
            if name not in values:
                if name not in self._defaults:
                    return None
                values[name] = self._defaults[name]
        return values

    def _bound_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise CachingConfigurationError("arguments", None, str(exc), show_value=False) from None
        bound.apply_defaults()
        parts: list[str] = []
        for name, value in bound.arguments.items():
            kind = self._signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                parts.append(f"{name}={encode_argument(name, dict(value))}")
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                parts.append(f"{name}={encode_argument(name, tuple(value))}")
            else:
                parts.append(f"{name}={encode_argument(name, value)}")
        return finish(",".join(parts))

    def __repr__(self) -> str:
        return f"<cached {self._namespace}>"


def _fixed_tags(tags: object) -> tuple[str, ...]:
    if isinstance(tags, str | bytes) or not isinstance(tags, Iterable):
        raise CachingConfigurationError(
            "tags", tags, "must be an iterable of tags, or a function returning them"
        )
    fixed = tuple(tags)
    for tag in fixed:
        if not isinstance(tag, str):
            raise CachingConfigurationError("tags", fixed, "every tag must be a non-empty string")
        check_text("tags", tag)
    return fixed


def cached[**P, R](
    cache: ComputeCache[R] | Callable[[], ComputeCache[R]],
    *,
    ttl: TTL | None = None,
    key: Callable[P, str] | None = None,
    namespace: str | None = None,
    tags: Iterable[str] | Callable[P, Iterable[str]] = (),
    cache_none: bool = True,
) -> Callable[[Callable[P, Awaitable[R]]], CachedFunction[P, R]]:
    """Cache an async function's results in ``cache``, keyed by its arguments.

    The decorated function keeps its signature for type checkers (and for `inspect`), and gains
    ``invalidate(*args, **kwargs)``, ``refresh(*args, **kwargs)`` and ``key(*args, **kwargs)``.
    Concurrent calls with the same arguments share one call of the function (see
    `Cache.get_or_compute`); ``None`` results are cached unless ``cache_none=False``.

    Args:
        cache: The cache, or a zero-argument callable returning it (resolved at each call, for
            dependency injection and for caches made after import).
        ttl: TTL of each result (default: the cache's ``default_ttl``).
        key: Builds the key from the call's arguments. By default the key is built from the bound
            arguments' values, after defaults are applied (so ``f(1)`` and ``f(x=1)`` share a key),
            in a stable, type-tagged encoding (see `CachedFunction.key`); an argument of a type it
            cannot encode raises `CachingTypeError` when the function is called.
        namespace: Prefix of every key; default ``module.qualname`` of the function.
        tags: Tags for each result, or a function of the arguments returning them.
        cache_none: Whether a ``None`` result is cached.

    Raises:
        CachingConfigurationError: ``func`` is not an ``async def`` function, or another argument is
            invalid (``ttl``, ``namespace``, a ``key`` that is not callable, ``tags``, ``cache_none``).

    Examples:
        >>> cache = MemoryCache[dict[str, str]](default_ttl=300)  # doctest: +SKIP
        >>> @cached(cache, ttl=60)  # doctest: +SKIP
        ... async def get_user(user_id: int) -> dict[str, str]: ...
    """
    seconds = ttl_seconds(ttl)
    if not (isinstance(cache, ComputeCache) or callable(cache)):
        raise CachingConfigurationError("cache", cache, "must be a cache or a callable returning one")
    if namespace is not None:
        check_text("namespace", namespace)
    check_callable("key", key, optional=True)
    fixed_tags = tags if callable(tags) else _fixed_tags(tags)
    check_bool("cache_none", cache_none)

    def decorate(func: Callable[P, Awaitable[R]]) -> CachedFunction[P, R]:
        if not inspect.iscoroutinefunction(func):
            raise CachingConfigurationError(
                "func", getattr(func, "__qualname__", func), "must be an async function (async def)"
            )
        return CachedFunction(
            func,
            cache,
            ttl=seconds,
            key=key,
            namespace=namespace or f"{func.__module__}.{func.__qualname__}",
            tags=fixed_tags,
            cache_none=cache_none,
        )

    return decorate
