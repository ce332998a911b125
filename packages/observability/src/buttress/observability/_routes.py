"""Route resolvers: the matched route template of a request, read after the framework routed it.

The tracing middleware names a span ``{method} {route}`` and sets ``http.route`` from the template,
never from the raw path (which would make one span name per id). `framework_route` knows where
Starlette, FastAPI and Litestar leave the match in the ASGI scope; Django's route is put there by
`DjangoRouteMiddleware`; any other framework or a custom router sets ``scope[ROUTE_KEY]`` itself, or
the application passes its own resolver. Without a route the span is named by the method alone.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from buttress.core import Scope

from .exceptions import ObservabilityTypeError

__all__ = ["ROUTE_KEY", "DjangoRouteMiddleware", "framework_route"]

ROUTE_KEY: Final = "buttress.route"
"""The scope (or WSGI environ) key a router may set to the matched route template, such as ``/items/{id}``."""

_MAX_DEPTH: Final = 8


def _template(value: object) -> str | None:
    return value if isinstance(value, str) and value.startswith("/") else None


def _starlette(router: object, scope: Scope, prefix: str, depth: int) -> str | None:
    """Walk a Starlette router's routes the way it matched them (Mounts included).

    Like the router: the first full match, else the first partial one (a route whose path matched
    but not its methods, which answered 405).
    """
    routes = getattr(router, "routes", None)
    if not isinstance(routes, Sequence) or depth > _MAX_DEPTH:
        return None
    try:
        from starlette.routing import Match, Mount  # noqa: PLC0415 - only when a Starlette router is there
    except ImportError:
        return None
    partial: tuple[object, Scope] | None = None
    for route in routes:
        matches = getattr(route, "matches", None)
        if matches is None:
            continue
        try:
            match, child = matches(scope)
        except Exception:  # noqa: BLE001, S112 - a foreign route's own failure must not fail the request
            continue
        if match is Match.FULL:
            return _starlette_template(route, {**scope, **child}, prefix, depth, Mount)
        if match is Match.PARTIAL and partial is None:
            partial = (route, {**scope, **child})
    return None if partial is None else _starlette_template(*partial, prefix, depth, Mount)


def _starlette_template(route: object, scope: Scope, prefix: str, depth: int, mount: type) -> str | None:
    path = getattr(route, "path", "")
    if not isinstance(path, str):
        return None
    if isinstance(route, mount):
        inner = _starlette(route, scope, prefix + path, depth + 1)
        return inner if inner is not None else (prefix + path + "/{path}" if path else None)
    return prefix + path


def _mount_prefix(scope: Scope) -> str:
    """The path of the Mounts a Starlette or FastAPI route sits under: its root_path past the app's own."""
    root = scope.get("root_path")
    app_root = scope.get("app_root_path")
    if not isinstance(root, str) or not isinstance(app_root, str) or not root.startswith(app_root):
        return ""
    return root[len(app_root) :]


def framework_route(scope: Scope) -> str | None:
    """The route template the framework matched, from the scope; ``None`` when there is none.

    Reads, in order: ``scope[ROUTE_KEY]`` (set by `DjangoRouteMiddleware` or a custom router),
    the route Starlette and FastAPI leave in ``scope["route"]`` (behind the Mounts it sits under),
    Litestar's ``scope["path_template"]``, and an older Starlette's router (``scope["router"]``),
    whose routes are matched again the way it matched them.

    Raises:
        ObservabilityTypeError: ``scope`` is not a mapping.
    """
    if not isinstance(scope, Mapping):
        raise ObservabilityTypeError("scope", "an ASGI scope or WSGI environ (a mapping)", scope)
    explicit = _template(scope.get(ROUTE_KEY))
    if explicit is not None:
        return explicit
    route = scope.get("route")
    if route is not None:
        found = _template(getattr(route, "path_format", None)) or _template(getattr(route, "path", None))
        if found is not None:
            return _mount_prefix(scope) + found
    litestar = _template(scope.get("path_template"))
    if litestar is not None:
        return litestar
    router = scope.get("router")
    if router is not None and "endpoint" in scope:
        # Match from the app's own root: Mounts have moved root_path on by the time the app returns.
        root = scope.get("app_root_path", scope.get("root_path", ""))
        return _starlette(router, {**scope, "root_path": root}, "", 0)
    return None


class DjangoRouteMiddleware:
    """A Django middleware that hands the resolved route to the tracing middleware.

    Add ``"buttress.observability.DjangoRouteMiddleware"`` to ``MIDDLEWARE``: once Django resolved
    the URL, it stores ``/`` + ``request.resolver_match.route`` (``/items/<int:pk>/``) in the request's
    ASGI scope or WSGI environ under `ROUTE_KEY`, where the tracing middleware reads it. It works in
    both of Django's modes without a thread hop.

    Args:
        get_response: The next handler, as Django passes it.

    Raises:
        ObservabilityTypeError: ``get_response`` is not callable.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        if not callable(get_response):
            raise ObservabilityTypeError("get_response", "a callable", get_response)
        self.get_response = get_response
        if inspect.iscoroutinefunction(get_response):
            inspect.markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:  # noqa: ANN401 - Django's HttpRequest and response
        """Pass the request on (the route is recorded in `process_view`)."""
        return self.get_response(request)

    def process_view(self, request: Any, *_view: object) -> None:  # noqa: ANN401 - Django's HttpRequest
        """Record the resolved route where the tracing middleware finds it."""
        match = getattr(request, "resolver_match", None)
        route = getattr(match, "route", None)
        if not isinstance(route, str):
            return
        template = route if route.startswith("/") else f"/{route}"
        carrier = getattr(request, "scope", None)
        if not isinstance(carrier, dict):
            carrier = getattr(request, "environ", None)
        if isinstance(carrier, dict):
            carrier[ROUTE_KEY] = template
