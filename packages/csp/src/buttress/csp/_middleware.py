"""ASGI and WSGI middleware that issues a nonce per request and sets the policy headers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final

from buttress.core import (
    ASGIApp,
    ExcInfo,
    Message,
    Receive,
    Scope,
    Send,
    StartResponse,
    WSGIApp,
    WSGIEnviron,
    scope_state,
)

from ._metrics import RESPONSES, response_attributes
from ._policy import REPORTING_ENDPOINTS_HEADER, CompiledPolicy, Policy
from .exceptions import CSPTypeError, MissingExtraError, NonceUnavailableError

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "NONCE_ENVIRON_KEY",
    "NONCE_STATE_KEY",
    "CSPMiddleware",
    "CSPWSGIMiddleware",
    "current_nonce",
    "install_jinja2",
]

NONCE_STATE_KEY: Final = "csp_nonce"
"""Where `CSPMiddleware` puts the nonce in ``scope["state"]`` (Starlette: ``request.state.csp_nonce``)."""

NONCE_ENVIRON_KEY: Final = "buttress.csp.nonce"
"""Where `CSPWSGIMiddleware` puts the nonce in the WSGI environ."""

logger = logging.getLogger(__name__)


class _Issued:
    """The nonce of one request, and whether `current_nonce` handed it out."""

    __slots__ = ("nonce", "taken")

    def __init__(self, nonce: str) -> None:
        self.nonce = nonce
        self.taken = False


_current: ContextVar[_Issued | None] = ContextVar("buttress.csp.nonce", default=None)


def current_nonce() -> str:
    """Return the nonce of the request being handled, from inside the middleware's application call.

    When the response turns out to carry another policy header already (the middleware then leaves
    it alone, see ``respect_existing``) and that header does not hold this nonce, the middleware logs
    a warning once: the nonce handed out here is in no header, so the browser blocks what it marks.

    Raises:
        NonceUnavailableError: Called outside a request handled by `CSPMiddleware` or
            `CSPWSGIMiddleware`.
    """
    issued = _current.get()
    if issued is None:
        raise NonceUnavailableError
    issued.taken = True
    return issued.nonce


class _StepAsideWarning:
    """Warns once per middleware when a nonce it handed out ends up in no header."""

    __slots__ = ("_header", "_warned")

    def __init__(self, header: str) -> None:
        self._header = header
        self._warned = False

    def check(self, issued: _Issued, existing: str | None) -> None:
        if self._warned or existing is None or not issued.taken or issued.nonce in existing:
            return
        self._warned = True
        logger.warning(
            "the response already had a %s header (set by the application or a framework "
            "middleware such as Django's ContentSecurityPolicyMiddleware), so buttress-csp left it "
            "as it was; the nonce current_nonce() handed out is in no header and the browser "
            "blocks what it marks. Keep one policy: remove the other one, or pass "
            "respect_existing=False to replace it (logged once)",
            self._header,
        )


def install_jinja2(environment: jinja2.Environment, *, name: str = "csp_nonce") -> None:
    """Make the request's nonce available to Jinja2 templates as ``{{ csp_nonce() }}``.

    ::

        <script nonce="{{ csp_nonce() }}">…</script>

    The nonce is base64url text, which HTML escaping leaves unchanged, so it is safe in an attribute
    with autoescaping on.

    Args:
        environment: The Jinja2 environment your templates are rendered with.
        name: The name of the template global.

    Raises:
        MissingExtraError: Jinja2 is not installed (``pip install 'buttress-csp[jinja2]'``).
        CSPTypeError: ``environment`` is not a ``jinja2.Environment``.
    """
    try:
        import jinja2  # noqa: PLC0415
    except ImportError:
        raise MissingExtraError("install_jinja2", "jinja2") from None
    if not isinstance(environment, jinja2.Environment):
        raise CSPTypeError("environment", "a jinja2.Environment", environment)
    if not isinstance(name, str) or not name.isidentifier():
        raise CSPTypeError("name", "a str that is a valid identifier", name)
    environment.globals[name] = current_nonce


def _settings(key_name: str, key: object, respect_existing: object) -> str:
    if not isinstance(key, str) or not key:
        raise CSPTypeError(key_name, "a non-empty str", key)
    if not isinstance(respect_existing, bool):
        raise CSPTypeError("respect_existing", "a bool", respect_existing)
    return key


def _compile(policy: Policy | CompiledPolicy, nonce_bytes: int) -> CompiledPolicy:
    if isinstance(policy, CompiledPolicy):
        return policy
    if isinstance(policy, Policy):
        return policy.compile(nonce_bytes=nonce_bytes)
    raise CSPTypeError("policy", "a Policy or a CompiledPolicy", policy)


def _text(value: object) -> str:
    return value.decode("latin-1") if isinstance(value, bytes | bytearray) else str(value)


class CSPMiddleware:
    """Pure ASGI middleware: a fresh nonce for every HTTP request, and the policy headers on its response.

    The nonce is put in ``scope["state"]["csp_nonce"]`` (so ``request.state.csp_nonce`` in
    Starlette and FastAPI) and is returned by `current_nonce` while the application runs. Lifespan
    and WebSocket scopes pass through untouched.

    Args:
        app: The ASGI application to wrap.
        policy: The policy to send; a `Policy` is compiled once, here.
        nonce_bytes: Random bytes per nonce, when ``policy`` is a `Policy`.
        state_key: The key of the nonce in ``scope["state"]``.
        respect_existing: Leave a response alone that already carries a policy header of the same
            name (a route that sets its own policy); ``False`` replaces it. When a response left
            alone this way does not hold the nonce `current_nonce` handed out during its request,
            a warning is logged (once per middleware): that nonce is in no header.

    Examples:
        >>> from buttress.csp import CSPMiddleware, strict
        >>> async def app(scope, receive, send): ...
        >>> app = CSPMiddleware(app, strict())
    """

    def __init__(
        self,
        app: ASGIApp,
        policy: Policy | CompiledPolicy,
        *,
        nonce_bytes: int = 16,
        state_key: str = NONCE_STATE_KEY,
        respect_existing: bool = True,
    ) -> None:
        if not callable(app):
            raise CSPTypeError("app", "an ASGI application", app)
        self.app = app
        self.policy: Final = _compile(policy, nonce_bytes)
        self._state_key = _settings("state_key", state_key, respect_existing)
        self._respect_existing = respect_existing
        self._name = self.policy.header_name.lower().encode("latin-1")
        self._measured = response_attributes("asgi", report_only=self.policy.policy.report_only)
        self._step_aside = _StepAsideWarning(self.policy.header_name)
        endpoints = self.policy.reporting_endpoints
        self._extra: tuple[tuple[bytes, bytes], ...] = (
            ((REPORTING_ENDPOINTS_HEADER.lower().encode("latin-1"), endpoints.encode("latin-1")),)
            if endpoints is not None
            else ()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        nonce, value = self.policy.issue()
        scope_state(scope, type_error=CSPTypeError)[self._state_key] = nonce
        ours = [(self._name, value.encode("latin-1")), *self._extra]
        issued = _Issued(nonce)
        existing: list[str] = []

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                theirs = [_text(v) for n, v in headers if n.lower() == self._name]
                if self._respect_existing and theirs:
                    existing.append(" ".join(theirs))
                else:
                    headers.extend(ours)
                    message = {**message, "headers": headers}
                    RESPONSES.add(1, self._measured)
            await send(message)

        token = _current.set(issued)
        try:
            await self.app(scope, receive, send_with_policy)
        finally:
            _current.reset(token)
        self._step_aside.check(issued, existing[0] if existing else None)


class CSPWSGIMiddleware:
    """WSGI middleware: a fresh nonce for every request, and the policy headers on its response.

    The nonce is put in ``environ["buttress.csp.nonce"]`` and is returned by `current_nonce` while
    the application call runs (a body generated lazily after it returns reads it from the environ).

    Args:
        app: The WSGI application to wrap.
        policy: The policy to send; a `Policy` is compiled once, here.
        nonce_bytes: Random bytes per nonce, when ``policy`` is a `Policy`.
        environ_key: The key of the nonce in the environ.
        respect_existing: Leave a response alone that already carries a policy header of the same
            name; ``False`` replaces it. A nonce `current_nonce` handed out that the header left
            alone does not hold is logged as a warning (once per middleware).
    """

    def __init__(
        self,
        app: WSGIApp,
        policy: Policy | CompiledPolicy,
        *,
        nonce_bytes: int = 16,
        environ_key: str = NONCE_ENVIRON_KEY,
        respect_existing: bool = True,
    ) -> None:
        if not callable(app):
            raise CSPTypeError("app", "a WSGI application", app)
        self.app = app
        self.policy: Final = _compile(policy, nonce_bytes)
        self._environ_key = _settings("environ_key", environ_key, respect_existing)
        self._respect_existing = respect_existing
        self._name = self.policy.header_name.lower()
        self._measured = response_attributes("wsgi", report_only=self.policy.policy.report_only)
        self._step_aside = _StepAsideWarning(self.policy.header_name)
        endpoints = self.policy.reporting_endpoints
        self._extra: tuple[tuple[str, str], ...] = (
            ((REPORTING_ENDPOINTS_HEADER, endpoints),) if endpoints is not None else ()
        )

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        """Handle one WSGI request."""
        nonce, value = self.policy.issue()
        environ[self._environ_key] = nonce
        ours = [(self.policy.header_name, value), *self._extra]
        counted = False
        issued = _Issued(nonce)
        existing: list[str] = []

        def start_with_policy(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None, /
        ) -> Callable[[bytes], object]:
            nonlocal counted
            theirs = [str(v) for n, v in headers if str(n).lower() == self._name]
            if self._respect_existing and theirs:
                existing[:] = [" ".join(theirs)]
            else:
                existing.clear()
                headers = [*headers, *ours]
                if not counted:  # an error page that replaces the response is the same response
                    RESPONSES.add(1, self._measured)
                    counted = True
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        token = _current.set(issued)
        try:
            body = self.app(environ, start_with_policy)
        finally:
            _current.reset(token)
        self._step_aside.check(issued, existing[0] if existing else None)
        return body
