"""Public names that live in a backend module, imported only when first asked for.

A package re-exports its backends from ``__init__`` without importing their drivers at import time,
so the embedded default works with no extra installed::

    from typing import TYPE_CHECKING

    from buttress.core import lazy_exports

    if TYPE_CHECKING:  # what type checkers and IDEs see
        from ._redis import RedisCache

    __getattr__ = lazy_exports(__name__, {"RedisCache": "_redis"})

The backend module raises the package's `MissingExtraError` when its driver is not installed, so
``from buttress.caching import RedisCache`` names the extra to install.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import Final

from ._checks import check_text
from .exceptions import ArgumentTypeError, ConfigurationError

__all__ = ["lazy_exports"]

_MODULE: Final = re.compile(r"_[a-z0-9_]+")


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``names[name]`` (a private module of ``package``) on use.

    Args:
        package: The package's ``__name__``.
        names: Each lazily exported name and the private module (``"_redis"``) that defines it.

    Returns:
        The function to assign to the package's ``__getattr__``. Unknown names raise
        ``AttributeError``, as a module's missing attribute does.

    Raises:
        ArgumentTypeError: ``names`` is not a mapping of str to str.
        ConfigurationError: ``package`` or a module name is malformed.
    """
    check_text("package", package)
    if not isinstance(names, Mapping):
        raise ArgumentTypeError("names", "a mapping of names to private module names", names)
    table = dict(names)
    for name, module in table.items():
        if not isinstance(name, str) or not isinstance(module, str):
            raise ArgumentTypeError("names", "a mapping of str to str", names)
        if not _MODULE.fullmatch(module):
            raise ConfigurationError(
                "names", module, "each module must be a private module name like '_redis'"
            )

    def __getattr__(name: str) -> object:  # noqa: N807 - a module's __getattr__
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
