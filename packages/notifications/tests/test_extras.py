"""Every module behind an extra raises MissingExtraError naming the extra when its library is absent."""

from __future__ import annotations

import importlib
import sys

import pytest

from buttress.notifications import MissingExtraError

CASES = {
    "_smtp": ("aiosmtplib", "smtp"),
    "_http": ("httpx", "http"),
    "_webpush": ("http_ece", "webpush"),
    "_redis": ("redis", "redis"),
    "_postgres": ("asyncpg", "postgres"),
    "_apprise": ("apprise", "apprise"),
    "_push_postgres": ("asyncpg", "postgres"),
}


@pytest.mark.parametrize("module", sorted(CASES))
def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    library, extra = CASES[module]
    name = f"buttress.notifications.{module}"
    monkeypatch.setitem(sys.modules, library, None)  # makes "import <library>" raise ImportError
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.delitem(sys.modules, "buttress.notifications._postgres", raising=False)
    with pytest.raises(MissingExtraError, match=rf"\[{extra}\]") as info:
        importlib.import_module(name)
    assert info.value.extra == extra
    assert isinstance(info.value, ImportError)


def test_unknown_attributes_raise_attribute_error() -> None:
    import buttress.notifications as notifications  # noqa: PLC0415

    with pytest.raises(AttributeError, match="Nope"):
        _ = notifications.Nope  # type: ignore[attr-defined]
