"""@cached: signatures survive, keys are canonical, invalidation, refresh, bypass and injection work."""

from __future__ import annotations

import asyncio
import inspect
import typing
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.caching import (
    CachingConfigurationError,
    CachingTypeError,
    MemoryCache,
    bypass_cache,
    cached,
)
from buttress.core import MISSING


@pytest.fixture
def cache() -> MemoryCache[Any]:
    return MemoryCache[Any](jitter=None)


async def test_signature_name_and_doc_survive(cache: MemoryCache[Any]) -> None:
    async def get_user(user_id: int, *, verbose: bool = False) -> dict[str, int]:
        """Fetch a user."""
        return {"id": user_id}

    wrapped = cached(cache)(get_user)
    assert inspect.signature(wrapped) == inspect.signature(get_user)
    assert wrapped.__name__ == "get_user"
    assert wrapped.__doc__ == "Fetch a user."
    assert wrapped.__wrapped__ is get_user


class Profile(typing.NamedTuple):
    """A type of this module, named in a view's annotations as a framework resolves them."""

    user_id: int


async def view(user_id: int, verbose: bool = False) -> Profile:
    """A view as a framework sees it: its annotations name this module's types (as strings here)."""
    return Profile(user_id)


def test_a_cached_function_is_a_coroutine_function_with_resolvable_annotations(
    cache: MemoryCache[Any],
) -> None:
    """What frameworks read: a real ``async def`` function (Starlette routes functions, Flask, Quart and
    Django await coroutine functions), ``__wrapped__``, ``__signature__`` and annotations that resolve
    to the view's own types, with no type variable of this package and no name it imports only for
    type checkers (Litestar failed at startup with ``NameError: name 'P' is not defined``)."""
    wrapped = cached(cache)(view)
    assert inspect.iscoroutinefunction(wrapped)
    assert inspect.isfunction(wrapped)
    assert wrapped.__wrapped__ is view
    assert wrapped.__signature__ == inspect.signature(view)  # type: ignore[attr-defined]
    assert (wrapped.__module__, wrapped.__qualname__) == (view.__module__, view.__qualname__)
    hints = typing.get_type_hints(wrapped)
    assert hints == {"user_id": int, "verbose": bool, "return": Profile}
    assert typing.get_type_hints(wrapped) == typing.get_type_hints(view)


async def test_bypass_cache_is_also_a_decorator_that_keeps_coroutine_functions(
    cache: MemoryCache[Any],
) -> None:
    calls: list[int] = []

    @cached(cache)
    async def current() -> int:
        calls.append(1)
        return len(calls)

    @bypass_cache()
    async def fresh_view() -> int:
        return await current()

    @bypass_cache()
    def in_a_thread() -> bool:
        return cached_now()

    def cached_now() -> bool:
        from buttress.caching._decorator import _BYPASS  # noqa: PLC0415 - the flag itself

        return _BYPASS.get()

    assert inspect.iscoroutinefunction(fresh_view)
    assert fresh_view.__name__ == "fresh_view"
    assert await current() == 1
    assert await fresh_view() == 2, "the decorated view bypasses the cache"
    assert await fresh_view() == 3
    assert await current() == 1, "outside it, the cached value is served again"
    assert in_a_thread() is True
    assert cached_now() is False


async def test_results_are_cached_per_canonical_arguments(cache: MemoryCache[Any]) -> None:
    calls: list[tuple[int, int]] = []

    @cached(cache, ttl=60)
    async def add(x: int, y: int = 10) -> int:
        calls.append((x, y))
        return x + y

    assert await add(1) == 11
    assert await add(x=1) == 11
    assert await add(1, 10) == 11
    assert await add(1, y=10) == 11
    assert await add(2) == 12
    assert calls == [(1, 10), (2, 10)]
    assert add.key(1) == add.key(x=1, y=10)
    assert add.key(1).startswith(f"{__name__}.test_results_are_cached_per_canonical_arguments.<locals>.add:")


async def test_none_is_cached_by_default_and_not_when_disabled(cache: MemoryCache[Any]) -> None:
    calls = 0

    @cached(cache)
    async def find(name: str) -> str | None:
        nonlocal calls
        calls += 1
        return None

    @cached(cache, cache_none=False)
    async def find_uncached(name: str) -> str | None:
        nonlocal calls
        calls += 1
        return None

    await find("x")
    await find("x")
    assert calls == 1
    await find_uncached("x")
    await find_uncached("x")
    assert calls == 3


async def test_invalidate_and_refresh(cache: MemoryCache[Any]) -> None:
    version = 0

    @cached(cache)
    async def current(key: str) -> int:
        nonlocal version
        version += 1
        return version

    assert await current("a") == 1
    assert await current("a") == 1
    assert await current.invalidate("a") is True
    assert await current.invalidate("a") is False
    assert await current("a") == 2
    assert await current.refresh("a") == 3, "refresh bypasses the cached value"
    assert await current("a") == 3, "and stores the new one"


async def test_bypass_cache_skips_reads_and_writes(cache: MemoryCache[Any]) -> None:
    version = 0

    @cached(cache)
    async def current() -> int:
        nonlocal version
        version += 1
        return version

    assert await current() == 1
    with bypass_cache():
        assert await current() == 2
        assert await current() == 3
    assert await current() == 1, "nothing was written while bypassing"


async def test_custom_key_namespace_and_tags(cache: MemoryCache[Any]) -> None:
    @cached(
        cache,
        key=lambda user_id, **_: f"user:{user_id}",
        namespace="svc",
        tags=lambda user_id, **_: [f"u{user_id}"],
    )
    async def profile(user_id: int, *, locale: str = "en") -> str:
        return f"{user_id}/{locale}"

    assert await profile(7, locale="fr") == "7/fr"
    assert await profile(7, locale="de") == "7/fr", "the key ignores locale, as the key function says"
    assert profile.key(7) == "svc:user:7"
    assert await cache.get("svc:user:7") == "7/fr"
    assert await cache.invalidate_tags("u7") == 1
    assert await cache.get("svc:user:7") is MISSING


async def test_cache_factory_is_resolved_at_call_time() -> None:
    holder: dict[str, MemoryCache[Any]] = {}

    @cached(lambda: holder["cache"])
    async def answer() -> int:
        return 42

    holder["cache"] = MemoryCache[Any]()
    assert await answer() == 42
    assert await holder["cache"].get(answer.key()) == 42


async def test_a_factory_returning_something_else_is_a_typed_error() -> None:
    @cached(object)  # type: ignore[arg-type]
    async def answer() -> int:
        return 42

    with pytest.raises(CachingConfigurationError, match="cache"):
        await answer()


async def test_concurrent_calls_share_one_execution(cache: MemoryCache[Any]) -> None:
    calls = 0

    @cached(cache)
    async def slow(n: int) -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return n * 2

    assert await asyncio.gather(*(slow(4) for _ in range(200))) == [8] * 200
    assert calls == 1


async def test_arguments_the_key_builder_cannot_encode_need_a_key_function(cache: MemoryCache[Any]) -> None:
    class Opaque:
        pass

    calls = 0

    @cached(cache)
    async def use(thing: Opaque) -> int:
        nonlocal calls
        calls += 1
        return 1

    with pytest.raises(CachingTypeError, match="thing") as info:
        await use(Opaque())
    assert isinstance(info.value, TypeError)
    assert calls == 0  # refused before anything ran


async def test_long_arguments_are_hashed(cache: MemoryCache[Any]) -> None:
    @cached(cache)
    async def echo(text: str) -> str:
        return text

    key = echo.key("x" * 5000)
    assert ":sha256:" in key
    assert len(key) < 300
    assert await echo("x" * 5000) == "x" * 5000


async def test_var_arguments_are_part_of_the_key(cache: MemoryCache[Any]) -> None:
    @cached(cache)
    async def join(*parts: str, **options: str) -> str:
        return "-".join(parts) + str(sorted(options.items()))

    assert join.key("a", "b") != join.key("b", "a")
    assert join.key(x="1", y="2") == join.key(y="2", x="1")
    assert await join("a", "b", sep="-") == "a-b[('sep', '-')]"


async def test_wrong_arguments_are_a_typed_error(cache: MemoryCache[Any]) -> None:
    @cached(cache)
    async def one(x: int) -> int:
        return x

    with pytest.raises(CachingConfigurationError, match="arguments"):
        await one(1, 2)  # type: ignore[call-arg]


def test_a_sync_function_is_rejected(cache: MemoryCache[Any]) -> None:
    def sync() -> int:
        return 1

    with pytest.raises(CachingConfigurationError, match="async def"):
        cached(cache)(sync)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "name"),
    [({"ttl": 0}, "ttl"), ({"ttl": -5}, "ttl"), ({"namespace": ""}, "namespace")],
)
def test_bad_decorator_arguments(cache: MemoryCache[Any], options: dict[str, Any], name: str) -> None:
    with pytest.raises(CachingConfigurationError) as info:
        cached(cache, **options)
    assert info.value.parameter == name


def test_a_non_cache_is_rejected() -> None:
    with pytest.raises(CachingConfigurationError, match="cache"):
        cached(42)  # type: ignore[arg-type]


async def test_key_function_must_return_a_string(cache: MemoryCache[Any]) -> None:
    @cached(cache, key=lambda x: x)  # type: ignore[arg-type, return-value]
    async def f(x: int) -> int:
        return x

    with pytest.raises(CachingConfigurationError, match="non-empty str"):
        await f(1)


@given(
    args=st.lists(st.integers(-5, 5), max_size=3),
    kwargs=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(-5, 5), max_size=3),
)
def test_the_fast_key_path_agrees_with_signature_binding(args: list[int], kwargs: dict[str, int]) -> None:
    """Property: keys built without Signature.bind equal the bound-argument keys, or fail the same way."""

    async def f(a: int, b: int = 2, c: int = 3) -> int:
        return a + b + c

    wrapped = cached(MemoryCache[int]())(f)
    keys = wrapped.key.__self__  # type: ignore[attr-defined]  # what builds the keys
    try:
        slow: str | Exception = keys._bound_key(tuple(args), dict(kwargs))
    except CachingConfigurationError as exc:
        slow = exc
    try:
        fast: str | Exception = wrapped.key(*args, **kwargs)
    except CachingConfigurationError as exc:
        fast = exc
    if isinstance(slow, Exception):
        assert isinstance(fast, CachingConfigurationError)
    else:
        assert fast == f"{keys._namespace}:{slow}"


async def test_a_cache_that_overrides_get_or_compute_sees_every_decorated_call() -> None:
    """`@cached`'s await-free hit and inner lookup are `Cache`'s own steps: never around an override."""
    seen: list[str] = []

    class Audited(MemoryCache[Any]):
        async def get_or_compute(self, key: str, loader: Any, **options: Any) -> Any:
            seen.append(key)
            return await super().get_or_compute(key, loader, **options)

    audited = Audited(jitter=None)

    @cached(cache=audited)
    async def double(x: int) -> int:
        return 2 * x

    assert [await double(1), await double(1), await double(2)] == [2, 2, 4]
    assert len(seen) == 3  # the miss, the hit and the other miss all went through the override
    assert Audited._own_compute is False
    assert MemoryCache._own_compute is True
