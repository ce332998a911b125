"""The Jinja2 side of `TemplateRegistry`: the bounded sandbox, compiling a part, rendering one.

The first `TemplateRegistry` imports this module, so ``import buttress.notifications`` does not load
Jinja2 (about half of the package's import time).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import jinja2
from jinja2 import meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from .exceptions import TemplateDefinitionError, TemplateRenderError

if TYPE_CHECKING:
    from ._templates import Template

_MAX_EXPONENT: Final = 1000
_MAX_REPEAT: Final = 1_000_000
_QUOTED: Final = re.compile(r"'([^']+)'")


class Sandbox(SandboxedEnvironment):
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


def environments(filters: Mapping[str, Callable[..., Any]]) -> tuple[Sandbox, Sandbox]:
    """The text sandbox and the autoescaping HTML sandbox, both with ``filters`` and `StrictUndefined`."""
    text = Sandbox(undefined=jinja2.StrictUndefined, autoescape=False)
    html = Sandbox(undefined=jinja2.StrictUndefined, autoescape=True)
    for env in (text, html):
        env.filters.update(filters)
    return text, html


def compile_part(
    env: Sandbox, template: Template[Any], part: str, source: str, fields: set[str]
) -> jinja2.Template:
    """Parse and compile one part, turning every way that can fail into `TemplateDefinitionError`."""
    name = template.name
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


def render_part(name: str, part: str, compiled: jinja2.Template, values: dict[str, Any]) -> str:
    """Render one compiled part, turning every way that can fail into `TemplateRenderError`."""
    try:
        return compiled.render(values)
    except jinja2.UndefinedError as exc:
        raise TemplateRenderError(name, part, str(exc), field=_field(str(exc))) from None
    except SecurityError as exc:
        raise TemplateRenderError(name, part, f"the sandbox refused it: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a filter or a model property raised
        raise TemplateRenderError(name, part, f"{type(exc).__name__}: {exc}") from None


def _field(message: str) -> str | None:
    """Pull the missing name out of Jinja2's "'x' is undefined" / "... has no attribute 'x'"."""
    found = _QUOTED.findall(message)
    return found[-1] if found else None
