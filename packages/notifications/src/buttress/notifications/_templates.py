"""`Template[TContext]` and the `TemplateRegistry` that validates and renders them in a Jinja2 sandbox."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from ._model import Rendered, check_name
from .exceptions import (
    NotificationsConfigurationError,
    NotificationsTypeError,
    TemplateContextError,
    TemplateDefinitionError,
    TemplateRenderError,
    UnknownTemplateError,
)

if TYPE_CHECKING:
    import jinja2

__all__ = ["Template", "TemplateRegistry"]

MAX_SOURCE: Final = 1_000_000
"""The longest template source (characters per part) `TemplateRegistry.register` accepts."""
_SPACE: Final = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Template[TContext: BaseModel]:
    """A message template whose context is a pydantic model.

    The subject and text are plain text; the HTML (optional) is autoescaped. All three may use any
    field of ``context``; a variable the model does not declare is refused at registration.

    Args:
        name: How notifications refer to it.
        context: The pydantic model every rendering receives.
        subject: One line; newlines in the rendered subject are folded into spaces.
        text: The plain-text body (the email's text/plain part, the SMS, the push body).
        html: The HTML body, or ``None`` for text-only messages.

    Examples:
        >>> class Welcome(BaseModel):
        ...     name: str
        >>> t = Template("welcome", Welcome, subject="Hi {{ name }}", text="Welcome, {{ name }}!")
    """

    name: str
    context: type[TContext]
    subject: str
    text: str
    html: str | None = None

    def __post_init__(self) -> None:
        check_name("name", self.name)
        if not (isinstance(self.context, type) and issubclass(self.context, BaseModel)):
            raise NotificationsConfigurationError(
                "context", self.context, "must be a pydantic BaseModel class"
            )
        for part in ("subject", "text", "html"):
            value = getattr(self, part)
            if not isinstance(value, str) and not (part == "html" and value is None):
                raise NotificationsTypeError(part, "a template string", value)


@dataclass(frozen=True, slots=True)
class _Compiled:
    template: Template[Any]
    parts: tuple[tuple[str, jinja2.Template], ...]


class TemplateRegistry:
    """Validates templates when they are registered and renders them in a sandbox.

    Rendering uses `jinja2.sandbox.SandboxedEnvironment` with `jinja2.StrictUndefined`: templates
    cannot reach private attributes or call unsafe methods, and a missing attribute is an error, not
    an empty string.

    Args:
        filters: Extra Jinja2 filters, available to every template.
    """

    def __init__(self, *, filters: Mapping[str, Callable[..., Any]] | None = None) -> None:
        filters = _check_filters(filters)
        from . import _sandbox  # noqa: PLC0415 - Jinja2 loads with the first registry, not the package

        self._sandbox = _sandbox
        self._text, self._html = _sandbox.environments(filters)
        self._templates: dict[str, _Compiled] = {}

    def register[TContext: BaseModel](self, template: Template[TContext]) -> Template[TContext]:
        """Check ``template`` (syntax, and every variable against the context model) and store it.

        Raises:
            TemplateDefinitionError: A syntax error (an unknown filter or test, nesting too deep), a
                variable the context model lacks, ``extends``/``include``/``import`` (there is no
                loader), a source over 1,000,000 characters, NUL or a lone surrogate.
            NotificationsConfigurationError: ``template`` is not a `Template`.
        """
        if not isinstance(template, Template):
            raise NotificationsTypeError("template", "a Template", template)
        fields = set(template.context.model_fields)
        parts: list[tuple[str, jinja2.Template]] = []
        for part in ("subject", "text", "html"):
            source = getattr(template, part)
            if source is not None:
                _check_source(template.name, part, source)
                env = self._html if part == "html" else self._text
                parts.append((part, self._sandbox.compile_part(env, template, part, source, fields)))
        self._templates[template.name] = _Compiled(template, tuple(parts))
        return template

    def get(self, name: str) -> Template[Any]:
        """Return the registered template called ``name``.

        Raises:
            UnknownTemplateError: Nothing is registered under ``name``.
        """
        compiled = self._templates.get(name) if isinstance(name, str) else None
        if compiled is None:
            raise UnknownTemplateError(name if isinstance(name, str) else repr(name))
        return compiled.template

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._templates

    def render(self, name: str, context: BaseModel) -> Rendered:
        """Render the template ``name`` with ``context``.

        Raises:
            UnknownTemplateError: No such template.
            TemplateContextError: ``context`` is not an instance of the template's model.
            TemplateRenderError: Rendering failed; the error names the part and the field.
        """
        compiled = self._templates.get(name) if isinstance(name, str) else None
        if compiled is None:
            raise UnknownTemplateError(name if isinstance(name, str) else repr(name))
        model = compiled.template.context
        if not isinstance(context, model):
            raise TemplateContextError(name, model.__name__, type(context).__name__)
        values = {field: getattr(context, field) for field in type(context).model_fields}
        out: dict[str, str] = {}
        for part, template in compiled.parts:
            out[part] = self._sandbox.render_part(name, part, template, values)
            bad = _unstorable(out[part])
            if bad is not None:
                raise TemplateRenderError(name, part, f"the result contains {bad}; no channel carries it")
        return Rendered(
            subject=_SPACE.sub(" ", out["subject"]).strip(), text=out["text"], html=out.get("html")
        )


def _check_source(name: str, part: str, source: str) -> None:
    if len(source) > MAX_SOURCE:
        raise TemplateDefinitionError(name, part, f"is {len(source)} characters; the limit is {MAX_SOURCE}")
    bad = _unstorable(source)
    if bad is not None:
        raise TemplateDefinitionError(name, part, f"contains {bad}")


def _check_filters(filters: object) -> dict[str, Callable[..., Any]]:
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise NotificationsTypeError("filters", "a mapping of names to callables", filters)
    checked: dict[str, Callable[..., Any]] = {}
    for key, value in filters.items():
        if not isinstance(key, str) or not key.isidentifier() or not key.isascii():
            raise NotificationsConfigurationError("filters", key, "names must be ASCII identifiers")
        if not callable(value):
            raise NotificationsConfigurationError("filters", key, "values must be callables")
        checked[key] = value
    return checked


def _unstorable(text: str) -> str | None:
    """Name what in ``text`` no channel or outbox can carry: NUL, or a lone surrogate (not UTF-8)."""
    if "\x00" in text:
        return "a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate (not valid UTF-8)"
    return None
