"""`HTTPCheck`: an HTTP dependency answers, and says it is healthy (extra ``http``)."""

from __future__ import annotations

import time
from typing import Any, ClassVar, Final

from buttress.core import (
    AsyncResource,
    Owned,
    check_seconds,
    check_text,
    connection_errors,
    redact_url,
    unavailable_on,
)

from ._format import parse_status
from ._status import CheckResult, Status
from .exceptions import (
    HealthConfigurationError,
    HealthResponseError,
    HealthTypeError,
    HealthUnavailableError,
    MissingExtraError,
)

try:
    import httpx
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("HTTPCheck", "http") from exc

__all__ = ["HTTPCheck"]

_DOWN: Final = connection_errors("httpx")
_MAX_BODY: Final = 65_536


class HTTPCheck(AsyncResource):
    """A service answers ``GET url``: 2xx-3xx passes, anything else fails.

    When the answer is ``application/health+json`` (another service's probe, ours or not), its own
    status counts: a ``warn`` warns and a ``fail`` fails, whatever the HTTP status said. Reported as
    ``responseTime`` of a ``component``; the output names the status, never the body.

    Args:
        url: The ``http://`` or ``https://`` URL to get.
        client: An ``httpx.AsyncClient`` the application owns (never closed by the check); the
            check makes its own, closed by `aclose`, when ``None``.
        timeout: Seconds for the request when the check makes its client (the registry's timeout
            still bounds the run).

    Raises:
        HealthConfigurationError: ``url`` is not an http(s) URL, or a bad ``timeout``.
        HealthTypeError: An argument of the wrong type.
    """

    downstream: ClassVar[bool] = True

    def __init__(self, url: str, *, client: httpx.AsyncClient | None = None, timeout: float = 5.0) -> None:
        super().__init__()
        text = check_text(
            "url",
            url,
            max_bytes=4_096,
            show_value=False,
            error=HealthConfigurationError,
            type_error=HealthTypeError,
        )
        try:
            parsed = httpx.URL(text)
        except (httpx.InvalidURL, ValueError, TypeError):
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise HealthConfigurationError(
                "url", redact_url(text), "must be an http:// or https:// URL", show_value=False
            )
        seconds = check_seconds("timeout", timeout, error=HealthConfigurationError)
        if client is not None and not isinstance(client, httpx.AsyncClient):
            raise HealthTypeError("client", "an httpx.AsyncClient or None", client)
        self.url = text
        self._address = redact_url(text)
        owned = client is None
        made = httpx.AsyncClient(timeout=seconds, follow_redirects=False) if client is None else client
        self._client: Owned[Any] = Owned(made, made.aclose if owned else None)

    async def check(self) -> CheckResult:
        """GET the URL once."""
        started = time.perf_counter()
        try:
            with unavailable_on(_DOWN, HealthUnavailableError, backend="http", address=self._address):
                response = await self._client.value.get(
                    self.url, headers={"accept": "application/health+json, */*"}
                )
        except HealthUnavailableError as exc:
            return CheckResult(Status.FAIL, output=str(exc), component_type="component")
        elapsed = round(time.perf_counter() - started, 6)
        status = Status.PASS if 200 <= response.status_code < 400 else Status.FAIL
        output = None if status is Status.PASS else f"answered HTTP {response.status_code}"
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type == "application/health+json" and len(response.content) <= _MAX_BODY:
            try:
                reported = parse_status(response.content)
            except HealthResponseError:
                reported = None
            if reported is not None and reported.severity > status.severity:
                status, output = reported, f"reports {reported.value} (HTTP {response.status_code})"
        return CheckResult(
            status, observed_value=elapsed, observed_unit="s", output=output, component_type="component"
        )

    async def _aclose(self) -> None:
        await self._client.release()

    def __repr__(self) -> str:
        return f"HTTPCheck({self._address!r})"
