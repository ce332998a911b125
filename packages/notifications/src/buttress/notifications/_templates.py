"""`Template[TContext]` and the `TemplateRegistry` that validates and renders them in a Jinja2 sandbox."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel

from ._model import Rendered, check_name
from .exceptions import (
    NotificationConfigurationError,
    TemplateContextError,
    TemplateDefinitionError,
    TemplateRenderError,
    UnknownTemplateError,
)

__all__ = ["Template", "TemplateRegistry"]

_QUOTED: Final = re.compile(r"'([^']+)'")
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
            raise NotificationConfigurationError(
                "context", self.context, "must be a pydantic BaseModel class"
            )
        for part in ("subject", "text", "html"):
            value = getattr(self, part)
            if not isinstance(value, str) and not (part == "html" and value is None):
                raise NotificationConfigurationError(part, type(value).__name__, "must be a template string")


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
        self._text = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
        self._html = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=True)
        for env in (self._text, self._html):
            env.filters.update(filters or {})
        self._templates: dict[str, _Compiled] = {}

    def register[TContext: BaseModel](self, template: Template[TContext]) -> Template[TContext]:
        """Check ``template`` (syntax, and every variable against the context model) and store it.

        Raises:
            TemplateDefinitionError: A syntax error, or a variable the context model lacks.
            NotificationConfigurationError: ``template`` is not a `Template`.
        """
        if not isinstance(template, Template):
            raise NotificationConfigurationError("template", type(template).__name__, "must be a Template")
        fields = set(template.context.model_fields)
        parts: list[tuple[str, jinja2.Template]] = []
        for part in ("subject", "text", "html"):
            source = getattr(template, part)
            if source is None:
                continue
            env = self._html if part == "html" else self._text
            try:
                parsed = env.parse(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateDefinitionError(
                    template.name, part, exc.message or "syntax error", line=exc.lineno
                ) from None
            unknown = sorted(meta.find_undeclared_variables(parsed) - fields - set(env.globals))
            if unknown:
                raise TemplateDefinitionError(
                    template.name,
                    part,
                    f"uses {unknown[0]!r}, which {template.context.__name__} does not declare",
                    field=unknown[0],
                )
            parts.append((part, env.from_string(source)))
        self._templates[template.name] = _Compiled(template, tuple(parts))
        return template

    def get(self, name: str) -> Template[Any]:
        """Return the registered template called ``name``.

        Raises:
            UnknownTemplateError: Nothing is registered under ``name``.
        """
        compiled = self._templates.get(name)
        if compiled is None:
            raise UnknownTemplateError(name)
        return compiled.template

    def __contains__(self, name: object) -> bool:
        return name in self._templates

    def render(self, name: str, context: BaseModel) -> Rendered:
        """Render the template ``name`` with ``context``.

        Raises:
            UnknownTemplateError: No such template.
            TemplateContextError: ``context`` is not an instance of the template's model.
            TemplateRenderError: Rendering failed; the error names the part and the field.
        """
        compiled = self._templates.get(name)
        if compiled is None:
            raise UnknownTemplateError(name)
        model = compiled.template.context
        if not isinstance(context, model):
            raise TemplateContextError(name, model.__name__, type(context).__name__)
        values = {field: getattr(context, field) for field in type(context).model_fields}
        out: dict[str, str] = {}
        for part, template in compiled.parts:
            try:
                out[part] = template.render(values)
            except jinja2.UndefinedError as exc:
                raise TemplateRenderError(name, part, str(exc), field=_field(str(exc))) from None
            except jinja2.exceptions.SecurityError as exc:
                raise TemplateRenderError(name, part, f"the sandbox refused it: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - a filter or a model property raised
                raise TemplateRenderError(name, part, f"{type(exc).__name__}: {exc}") from None
        return Rendered(
            subject=_SPACE.sub(" ", out["subject"]).strip(), text=out["text"], html=out.get("html")
        )


def _field(message: str) -> str | None:
    """Pull the missing name out of Jinja2's "'x' is undefined" / "... has no attribute 'x'"."""
    found = _QUOTED.findall(message)
    return found[-1] if found else None
