"""Each example is served once per session, on first use, and stopped when the session ends."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2]
if str(EXAMPLES) not in sys.path:  # the examples import each other as the package ``frameworks``
    sys.path.insert(0, str(EXAMPLES))

from buttress.auth import TokenService  # noqa: E402
from frameworks.shop import Shop, SyncShop  # noqa: E402
from frameworks.tests.serving import Target, serve  # noqa: E402 - after the path is set


def pytest_configure(config: pytest.Config) -> None:
    # strawberry's Litestar controller (strawberry-graphql 0.341) still declares its context and
    # root value dependencies the way Litestar 2.25 deprecates; the example cannot change that.
    handlers = "handle_http_get|handle_http_post|websocket_endpoint"
    config.addinivalue_line(
        "filterwarnings",
        f"ignore:.*handler='({handlers})'.*Inferred dependency field:"
        "litestar.exceptions.LitestarDeprecationWarning",
    )


class Servers:
    """Base URLs of the examples served so far; ``servers(target)`` starts one on first use."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self._bases: dict[Target, str] = {}
        self._tokens: dict[Target, TokenService] = {}

    def __call__(self, target: Target) -> str:
        if target not in self._bases:
            app = None
            if target.in_process and target.framework != "django":
                shop = SyncShop() if target.interface == "wsgi" else Shop()
                self._tokens[target] = shop.tokens
                app = target.create_app(shop=shop)
            self._bases[target] = self._stack.enter_context(serve(target, app))
        return self._bases[target]

    def tokens(self, target: Target) -> TokenService | None:
        """The token service of ``target``'s app, when the test process holds it (in process)."""
        self(target)
        if target.framework == "django" and target.in_process:
            from frameworks.django.views import shop  # noqa: PLC0415 - once Django is configured

            return shop.tokens
        return self._tokens.get(target)


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    with contextlib.ExitStack() as stack:
        yield Servers(stack)
