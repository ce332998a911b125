"""`ValidationMiddleware`: dataclass and pydantic messages validated once (extra ``pydantic``)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from ._dispatch import Dispatch
from ._middleware import Next
from .exceptions import CQRSTypeError, MessageValidationError, MissingExtraError

try:
    from pydantic import BaseModel, ValidationError, create_model
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("ValidationMiddleware", "pydantic") from exc

__all__ = ["ValidationMiddleware"]


class ValidationMiddleware:
    """Validates each message against its declared field types before the rest of the onion runs.

    A pydantic model is validated again from its current field values (a model built with
    ``model_construct`` or changed after construction is caught); a dataclass message, which Python
    never checks, against a pydantic model of its fields built once per type. The handler
    receives the validated copy (coerced as pydantic coerces, unless ``strict``). A message is
    validated once per dispatch, however many of these layers and retries it passes. Other messages
    pass unchanged.

    Args:
        strict: Validate in pydantic's strict mode (no coercion: ``"1"`` is not an int).

    Raises:
        MessageValidationError: (from a dispatch) the message is invalid; its handler did not run.
    """

    __slots__ = ("_models", "_strict")

    def __init__(self, *, strict: bool = False) -> None:
        if strict is not True and strict is not False:
            raise CQRSTypeError("strict", "a bool", strict)
        self._strict = strict
        self._models: dict[type, type[BaseModel] | None] = {}

    def _fields_model(self, message_type: type) -> type[BaseModel] | None:
        """A pydantic model of a dataclass's init fields, built once per type (``None`` for other types)."""
        if message_type in self._models:
            return self._models[message_type]
        model: type[BaseModel] | None = None
        if dataclasses.is_dataclass(message_type) and not issubclass(message_type, BaseModel):
            hints = typing.get_type_hints(message_type)
            fields: dict[str, Any] = {
                f.name: (hints.get(f.name, Any), ...) for f in dataclasses.fields(message_type) if f.init
            }
            model = create_model(f"{message_type.__qualname__}Fields", **fields)
        self._models[message_type] = model
        return model

    def validate(self, message: object) -> object:
        """Return the validated copy of ``message`` (``message`` itself if it is neither kind).

        Raises:
            MessageValidationError: It is invalid.
        """
        try:
            if isinstance(message, BaseModel):
                return type(message).model_validate(dict(message), strict=self._strict)
            model = self._fields_model(type(message))
            if model is None:
                return message
            values = {name: getattr(message, name) for name in model.model_fields}
            checked = model.model_validate(values, strict=self._strict)
            return dataclasses.replace(message, **dict(checked))  # type: ignore[type-var]
        except ValidationError as exc:
            found = exc.errors(include_url=False, include_input=False, include_context=False)
            errors = [dict(e) for e in found]
            raise MessageValidationError(type(message), errors) from None

    async def __call__[R](self, dispatch: Dispatch, call_next: Next[R]) -> R:
        if not dispatch.validated:
            dispatch.message = self.validate(dispatch.message)
            dispatch.validated = True
        return await call_next(dispatch)
