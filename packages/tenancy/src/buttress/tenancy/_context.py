"""The tenant context: one ``ContextVar``, set only inside `tenant_scope`, and absent everywhere else.

asyncio copies the context when it creates a task (and ``asyncio.to_thread`` when it starts a
thread), so work started inside a scope runs for that tenant, and work started outside runs for no
tenant at all: `current_tenant` then raises `NoTenantError` rather than answer "every tenant".
"""

from __future__ import annotations

import re
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Final, Self

from .exceptions import NoTenantError, TenancyConfigurationError, TenancyTypeError

__all__ = ["MAX_TENANT_ID", "check_tenant_id", "current_tenant", "tenant_scope"]

MAX_TENANT_ID: Final = 128
"""The longest tenant id accepted, in characters."""

_TENANT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]*")
_CURRENT: Final[ContextVar[str | None]] = ContextVar("buttress.tenancy.tenant", default=None)


def check_tenant_id(tenant_id: object, parameter: str = "tenant_id") -> str:
    """Return ``tenant_id`` if it is a well-formed tenant id, else raise a typed error.

    A tenant id is 1 to 128 ASCII characters: letters, digits and ``. _ : @ -``, starting with a
    letter or a digit (so a slug, a number or a UUID fits, and it is safe in a header, a host name
    label when it is a slug, and a PostgreSQL setting).

    Raises:
        TenancyTypeError: It is not a str.
        TenancyConfigurationError: It is empty, too long, or holds another character.

    Examples:
        >>> check_tenant_id("acme")
        'acme'
    """
    if not isinstance(parameter, str):
        raise TenancyTypeError("parameter", "a str", parameter)
    if not isinstance(tenant_id, str):
        raise TenancyTypeError(parameter, "a str", tenant_id)
    if len(tenant_id) > MAX_TENANT_ID or not tenant_id.isascii() or not _TENANT_ID.fullmatch(tenant_id):
        raise TenancyConfigurationError(
            parameter,
            tenant_id,
            f"must be 1 to {MAX_TENANT_ID} ASCII letters, digits and . _ : @ -, starting with a letter "
            "or a digit",
        )
    return tenant_id


def current_tenant() -> str:
    """The tenant of the running context.

    Raises:
        NoTenantError: No `tenant_scope` is active here (outside a request, a job that did not enter
            one, a task created before the scope was entered).

    Examples:
        >>> with tenant_scope("acme"):
        ...     current_tenant()
        'acme'
    """
    tenant = _CURRENT.get()
    if tenant is None:
        raise NoTenantError("current_tenant()")
    return tenant


def _enter(tenant_id: str) -> None:
    """Set the tenant in the running context, for a context copied to hold it (WSGI's body iteration)."""
    _CURRENT.set(tenant_id)


def _peek() -> str | None:
    """The current tenant or ``None``: for the package's own layers, which decide what absence means."""
    return _CURRENT.get()


class tenant_scope:  # noqa: N801 - used like contextlib's context managers
    """Run a block for one tenant: ``with tenant_scope("acme"):`` or ``async with tenant_scope("acme"):``.

    Background jobs, CLI commands and tests enter it by hand; the middleware enters it for each
    request. Tasks created inside the block inherit the tenant, as asyncio copies the context; the
    previous tenant (or none) is back when the block ends, even if it raised. Scopes nest: the inner
    tenant wins inside the inner block.

    Args:
        tenant_id: The tenant (see `check_tenant_id`).

    Raises:
        TenancyTypeError: ``tenant_id`` is not a str.
        TenancyConfigurationError: It is malformed, the same scope object is entered twice at once, or
            it is left in another task than the one that entered it.
    """

    __slots__ = ("_token", "tenant_id")

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = check_tenant_id(tenant_id)
        self._token: Token[str | None] | None = None

    def __enter__(self) -> str:
        if self._token is not None:
            raise TenancyConfigurationError("tenant_scope", self.tenant_id, "is entered already")
        self._token = _CURRENT.set(self.tenant_id)
        return self.tenant_id

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        try:
            _CURRENT.reset(token)
        except ValueError:
            # Left in another context than it was entered in (another task): clear it there, so
            # nothing runs on for a tenant it did not ask for, and say so.
            _CURRENT.set(None)
            raise TenancyConfigurationError(
                "tenant_scope", self.tenant_id, "was left in another context than the one it was entered in"
            ) from None

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    def __repr__(self) -> str:
        return f"tenant_scope({self.tenant_id!r})"

    def copy(self) -> Self:
        """A fresh scope for the same tenant (one scope object is entered once at a time)."""
        return type(self)(self.tenant_id)
