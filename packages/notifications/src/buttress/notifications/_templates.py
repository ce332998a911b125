"""`Template[TContext]` and the `TemplateRegistry` that validates and renders them in a Jinja2 sandbox."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jinja2
from jinja2 import meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
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

__all__ = ["Template", "TemplateRegistry"]

MAX_SOURCE: Final = 1_000_000
"""The longest template source (characters per part) `TemplateRegistry.register` accepts."""
_MAX_EXPONENT: Final = 1000
_MAX_REPEAT: Final = 1_000_000
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
            raise NotificationsConfigurationError(
                "context", self.context, "must be a pydantic BaseModel class"
            )
        for part in ("subject", "text", "html"):
            value = getattr(self, part)
            if not isinstance(value, str) and not (part == "html" and value is None):
                raise NotificationsTypeError(part, "a template string", value)


class _Sandbox(SandboxedEnvironment):
    """Jinja2's sandbox, with ``*`` and ``**`` bounded so a context value cannot make a huge result."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:  # noqa: ANN401
        if operator == "**" and isinstance(right, int) and abs(right) > _MAX_EXPONENT:
            raise SecurityError(f"an exponent over {_MAX_EXPONENT} is refused")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | bytes | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > _MAX_REPEAT:
                    raise SecurityError(f"a repetition over {_MAX_REPEAT} items is refused")
        return super().call_binop(context, operator, left, right)


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
        self._text = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False)
        self._html = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=True)
        for env in (self._text, self._html):
            env.filters.update(filters)
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
                env = self._html if part == "html" else self._text
                parts.append((part, _compile(env, template, part, source, fields)))
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
            try:
                out[part] = template.render(values)
            except jinja2.UndefinedError as exc:
                raise TemplateRenderError(name, part, str(exc), field=_field(str(exc))) from None
            except SecurityError as exc:
                raise TemplateRenderError(name, part, f"the sandbox refused it: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - a filter or a model property raised
                raise TemplateRenderError(name, part, f"{type(exc).__name__}: {exc}") from None
            bad = _unstorable(out[part])
            if bad is not None:
                raise TemplateRenderError(name, part, f"the result contains {bad}; no channel carries it")
        return Rendered(
            subject=_SPACE.sub(" ", out["subject"]).strip(), text=out["text"], html=out.get("html")
        )


def _compile(
    env: SandboxedEnvironment, template: Template[Any], part: str, source: str, fields: set[str]
) -> jinja2.Template:
    """Parse and compile one part, turning every way that can fail into `TemplateDefinitionError`."""
    name = template.name
    if len(source) > MAX_SOURCE:
        raise TemplateDefinitionError(name, part, f"is {len(source)} characters; the limit is {MAX_SOURCE}")
    bad = _unstorable(source)
    if bad is not None:
        raise TemplateDefinitionError(name, part, f"contains {bad}")
    try:
        parsed = env.parse(source)
        referenced = list(meta.find_referenced_templates(parsed))
        undeclared = meta.find_undeclared_variables(parsed)
        compiled = env.from_string(parsed)
    except jinja2.TemplateSyntaxError as exc:  # also TemplateAssertionError: an unknown filter or test
        raise TemplateDefinitionError(name, part, exc.message or "syntax error", line=exc.lineno) from None
    except RecursionError:
        raise TemplateDefinitionError(name, part, "is nested too deeply to compile") from None
    except Exception as exc:  # noqa: BLE001 - Jinja2's compiler; whatever fails is the template's fault
        raise TemplateDefinitionError(name, part, f"cannot be compiled ({type(exc).__name__})") from None
    if referenced:
        raise TemplateDefinitionError(
            name, part, "uses extends, include or import; templates here stand alone (there is no loader)"
        )
    unknown = sorted(undeclared - fields - set(env.globals))
    if unknown:
        raise TemplateDefinitionError(
            name,
            part,
            f"uses {unknown[0]!r}, which {template.context.__name__} does not declare",
            field=unknown[0],
        )
    return compiled


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


def _field(message: str) -> str | None:
    """Pull the missing name out of Jinja2's "'x' is undefined" / "... has no attribute 'x'"."""
    found = _QUOTED.findall(message)
    return found[-1] if found else None
