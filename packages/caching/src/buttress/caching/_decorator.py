"""`@cached`: `get_or_compute` as a decorator that keeps the function's signature for type checkers.

A decorated function stays an ``async def`` function (``inspect.iscoroutinefunction`` is true) with the
original's name, ``__wrapped__``, ``__signature__`` and annotations, so every web framework takes a
cached view for the view it wraps: Starlette and Django route functions, Flask and Quart await
coroutine functions, and FastAPI and Litestar resolve the view's own annotations.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from contextvars import ContextVar, Token
from typing import Any, Protocol, cast, overload, runtime_checkable

from ._cache import NO_HIT, Cache, EarlyHit
from ._keys import encode_argument, encode_arguments, finish, positional_key
from ._validation import TTL, check_bool, check_callable, check_key, check_text, ttl_seconds
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


class _Bypass:
    """What `bypass_cache` returns: a context manager that is also a decorator (sync or async)."""

    __slots__ = ("_tokens",)

    def __init__(self) -> None:
        self._tokens: list[Token[bool]] = []

    def __enter__(self) -> None:
        self._tokens.append(_BYPASS.set(True))

    def __exit__(self, *exc_info: object) -> None:
        _BYPASS.reset(self._tokens.pop())

    @overload
    def __call__[**P, R](
        self, func: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__[**P, R](self, func: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Return ``func`` running every call inside the bypass, an ``async def`` if ``func`` is one."""
        check_callable("func", func)
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def bypassing(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - func's own types
                token = _BYPASS.set(True)
                try:
                    return await func(*args, **kwargs)
                finally:
                    _BYPASS.reset(token)

            return bypassing

        @functools.wraps(func)
        def bypassing_sync(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - func's own types
            token = _BYPASS.set(True)
            try:
                return func(*args, **kwargs)
            finally:
                _BYPASS.reset(token)

        return bypassing_sync


def bypass_cache() -> _Bypass:
    """Within this block (and tasks started in it), `cached` functions neither read nor write the cache.

    It is also a decorator: a function decorated with ``@bypass_cache()`` runs every call inside the
    bypass, and an ``async def`` stays one (so a view keeps looking like a view to its framework).

    Examples:
        >>> with bypass_cache():  # doctest: +SKIP
        ...     fresh = await get_user(42)  # always calls the function
        >>> @bypass_cache()  # doctest: +SKIP
        ... async def admin_view(user_id: int) -> dict[str, str]:
        ...     return await get_user(user_id)  # never served from the cache
    """
    return _Bypass()


class CachedFunction[**P, R](Protocol):
    """**Protocol**: an async function whose results are cached, as `cached` returns it.

    It is a real ``async def`` function: call it like the function it wraps. It carries the
    original's ``__name__``, ``__doc__``, ``__module__``, ``__qualname__``, annotations and
    ``__signature__``, so frameworks and type checkers see the original.

    Attributes:
        __wrapped__: The original function.

    Methods:
        __call__: Return the cached result for these arguments, or call the function and cache it.
        key: The cache key these arguments map to.
        invalidate: Remove the cached result for these arguments; whether there was one.
        refresh: Call the function now, ignoring the cached result, and cache the new result.
    """

    __wrapped__: Callable[P, Awaitable[R]]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        """Return the cached result for these arguments, or call the function and cache its result."""
        ...

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
        ...

    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Remove the cached result for these arguments; return whether there was one."""
        ...

    async def refresh(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function now (a per-call bypass of the cached value) and cache the new result."""
        ...


class _Caching[**P, R]:
    """What a cached function knows: its cache, how its keys are built, its TTL and tags."""

    def __init__(
        self,
        func: Callable[P, Awaitable[R]],
        cache: ComputeCache[R] | Callable[[], ComputeCache[R]],
        *,
        ttl: float | None,
        key: Callable[P, str] | None,
        namespace: str,
        tags: tuple[str, ...] | Callable[P, Iterable[str]],
        cache_none: bool,
    ) -> None:
        # The arguments were checked by `cached`.
        self.__wrapped__ = func
        self._cache = cache
        self._ttl = ttl
        self._key = key
        self._namespace = namespace
        self._tags = tags
        self._cache_none = cache_none
        self._signature = inspect.signature(func)
        parameters = list(self._signature.parameters.values())
        # Plain signatures (no *args, **kwargs, keyword-only) get keys without Signature.bind per call.
        self._plain = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters)
        self._names = tuple(p.name for p in parameters)
        self._defaults = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
        # A cache given directly is resolved once; a factory is called each time (dependency injection).
        self._fixed: ComputeCache[R] | None = cache if isinstance(cache, ComputeCache) else None

    def function(self) -> CachedFunction[P, R]:
        """The ``async def`` function that stands for the original: it reads and fills the cache."""
        func = self.__wrapped__
        resolve, key, tags_for, fixed = self._resolve, self.key, self._tags_for, self._fixed
        ttl, cache_none = self._ttl, self._cache_none
        # Checked once here rather than on every call: the TTL, fixed tags and cache_none were
        # checked by `cached`, so a `Cache` is asked through its checked entry point (`_lookup`).
        fixed_tags = None if callable(self._tags) else self._tags
        # The common call (every argument by position, no key function) gets its key from a
        # builder made for this signature: no binding, the same text as `key` builds.
        plain = self._plain and self._key is None
        build = positional_key(f"{self._namespace}:", self._names) if plain else None
        arity, positional = len(self._names), build is not None

        @functools.wraps(func)
        async def cached_function(*args: P.args, **kwargs: P.kwargs) -> R:
            if _BYPASS.get():
                return await func(*args, **kwargs)
            cache = fixed if fixed is not None else resolve()
            if fixed_tags is not None and isinstance(cache, Cache) and cache._own_compute:
                if positional and not kwargs and len(args) == arity:
                    name = build(args)  # type: ignore[misc] # not None when positional
                    # The built key is printable text or a digest (no NUL, no lone surrogate), as
                    # `_hit_now` requires: a value found without an await is returned before any
                    # closure or coroutine of the general path is made.
                    hit = cache._hit_now(name)
                    if hit is not NO_HIT:
                        if hit.__class__ is EarlyHit:
                            early: EarlyHit = hit  # its class was just tested: mypy narrows it
                            cache._refresh_early(
                                name,
                                lambda: func(*args, **kwargs),
                                seconds=cache._default_ttl if ttl is None else ttl,
                                labels=fixed_tags,
                                cache_none=cache_none,
                                expires_at=early.expires_at,
                            )
                            hit = early.value
                        return hit  # type: ignore[return-value] # a T: the cache's value
                else:
                    name = key(*args, **kwargs)
                found: R = await cache._lookup(
                    check_key(name, cache._max_key_bytes),
                    lambda: func(*args, **kwargs),
                    cache._default_ttl if ttl is None else ttl,
                    fixed_tags,
                    cache_none,
                )
                return found
            return await cache.get_or_compute(
                key(*args, **kwargs),
                lambda: func(*args, **kwargs),
                ttl=ttl,
                tags=tags_for(*args, **kwargs),
                cache_none=cache_none,
            )

        # Frameworks read the signature (FastAPI, Litestar) and resolve its annotations, which
        # functools.wraps copied from the original: none of this module's names reach them.
        vars(cached_function).update(
            __signature__=self._signature, key=self.key, invalidate=self.invalidate, refresh=self.refresh
        )
        return cast("CachedFunction[P, R]", cached_function)

    def key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The cache key of these arguments (documented on `CachedFunction.key`)."""
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

    The decorated function stays an ``async def`` function with the original's name, signature and
    annotations, for type checkers, `inspect` and web frameworks (a cached view is still a view), and
    gains ``invalidate(*args, **kwargs)``, ``refresh(*args, **kwargs)`` and ``key(*args, **kwargs)``
    (see `CachedFunction`).
    Concurrent calls with the same arguments share one call of the function (see
    `Cache.get_or_compute`); ``None`` results are cached unless ``cache_none=False``.

    Args:
        cache: The cache, or a zero-argument callable returning it (resolved at each call, for
            dependency injection and for caches made after import).
        ttl: TTL of each result (default: the cache's policy's ``ttl``).
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
        >>> cache = MemoryCache[dict[str, str]](ttl=300)  # doctest: +SKIP
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
        return _Caching(
            func,
            cache,
            ttl=seconds,
            key=key,
            namespace=namespace or f"{func.__module__}.{func.__qualname__}",
            tags=fixed_tags,
            cache_none=cache_none,
        ).function()

    return decorate
