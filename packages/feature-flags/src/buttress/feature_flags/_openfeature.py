"""`FlagProvider`: an OpenFeature provider over a `FlagClient` (extra ``openfeature``)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, cast

from buttress.core import check_seconds, check_text

from ._client import ClientStatus, FlagClient
from ._engine import Snapshot
from ._model import (
    _STANDARD,
    Context,
    ErrorCode,
    EvaluationDetails,
    _context_of,
    _new_context,
    _Unfrozen,
    context_text,
)
from ._model import Reason as _Reason
from .exceptions import FeatureFlagsConfigurationError, FeatureFlagsTypeError, MissingExtraError

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEvent, ProviderEventDetails
    from openfeature.exception import ErrorCode as OFErrorCode
    from openfeature.exception import ProviderFatalError, ProviderNotReadyError
    from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
    from openfeature.provider import AbstractProvider, Metadata
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("FlagProvider", "openfeature") from exc

__all__ = ["FlagProvider", "context_from_openfeature"]

_TARGETING_KEY_FIELD = "userId"


def context_from_openfeature(
    context: EvaluationContext | None, *, targeting_key_field: str = "userId"
) -> Context:
    """Turn an OpenFeature evaluation context into a `Context`.

    The targeting key becomes ``targeting_key_field`` (``userId`` by default); attributes named like
    Unleash's fields (``sessionId``, ``remoteAddress``, ...) fill them, the others become properties.
    Values are turned into strings (``True`` → ``"true"``); nested objects are ignored.

    Raises:
        FeatureFlagsTypeError: ``context`` is not an ``EvaluationContext`` or ``None``, or
            ``targeting_key_field`` not a str.
        FeatureFlagsConfigurationError: ``targeting_key_field`` is empty, or a value is not text a
            `Context` holds.
    """
    check_text(
        "targeting_key_field",
        targeting_key_field,
        error=FeatureFlagsConfigurationError,
        type_error=FeatureFlagsTypeError,
    )
    if context is None:
        return Context()
    if not isinstance(context, EvaluationContext):
        raise FeatureFlagsTypeError("context", "an openfeature EvaluationContext or None", context)
    data: dict[str, object] = {}
    for name, value in context.attributes.items():
        if isinstance(value, Mapping | list | tuple):
            continue
        if (name == "currentTime" and isinstance(value, datetime)) or context_text(value) is not None:
            data[name] = value
    if context.targeting_key is not None:
        data[targeting_key_field] = context.targeting_key
    return Context.from_mapping(data)


class FlagProvider(AbstractProvider):
    """An OpenFeature provider that evaluates with a `FlagClient`, locally and without I/O.

    Start the client yourself (``await client.start()``) in your event loop; ``initialize`` waits,
    up to ``init_timeout`` seconds, for its first snapshot. The provider mirrors the client's status as
    OpenFeature events: ``PROVIDER_READY``, ``PROVIDER_CONFIGURATION_CHANGED`` on each new snapshot,
    ``PROVIDER_STALE`` when the source has failed past ``stale_after``, ``PROVIDER_ERROR`` (with
    ``PROVIDER_FATAL`` once the client is closed).

    Args:
        client: The client to evaluate with.
        init_timeout: How long ``initialize`` waits for a first snapshot before reporting an error.
        targeting_key_field: The `Context` field the targeting key fills.
    """

    def __init__(
        self, client: FlagClient, *, init_timeout: float = 10.0, targeting_key_field: str = "userId"
    ) -> None:
        super().__init__()
        if not isinstance(client, FlagClient):
            raise FeatureFlagsTypeError("client", "a FlagClient", client)
        self.init_timeout = check_seconds(
            "init_timeout", init_timeout, allow_zero=True, error=FeatureFlagsConfigurationError
        )
        self.targeting_key_field = check_text(
            "targeting_key_field",
            targeting_key_field,
            error=FeatureFlagsConfigurationError,
            type_error=FeatureFlagsTypeError,
        )
        self.client = client
        self._key_attribute = _STANDARD.get(self.targeting_key_field)
        self._key_is_user = self._key_attribute == "user_id"
        self._loaded = threading.Event()
        self._shutdown = threading.Event()
        self._last_status = client.status
        if client.snapshot is not None:
            self._loaded.set()
        client.add_listener(self._on_status)

    def get_metadata(self) -> Metadata:
        """The provider's name."""
        return _METADATA

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Wait for the client's first snapshot.

        Raises:
            ProviderFatalError: The client is closed.
            ProviderNotReadyError: No snapshot arrived within ``init_timeout``.
        """
        if self._closed():
            raise ProviderFatalError("the flag client is closed")
        deadline_hit = not self._loaded.wait(self.init_timeout)
        if self._closed():
            raise ProviderFatalError("the flag client is closed")
        if deadline_hit or self.client.snapshot is None:
            error = self.client.last_error
            raise ProviderNotReadyError(f"no flags loaded yet{f': {error}' if error else ''}")

    def _closed(self) -> bool:
        return self.client.status is ClientStatus.FATAL

    def shutdown(self) -> None:
        """Stop listening to the client (the client itself is the application's to close)."""
        self._shutdown.set()
        self._loaded.set()
        self.client.remove_listener(self._on_status)

    def _on_status(self, status: ClientStatus, snapshot: Snapshot | None) -> None:
        if snapshot is not None:
            self._loaded.set()
        if not hasattr(self, "_on_emit") or self._shutdown.is_set():
            return
        previous, self._last_status = self._last_status, status
        if status is ClientStatus.READY:
            if previous is ClientStatus.READY:
                self.emit_provider_configuration_changed(ProviderEventDetails())
            else:
                self.emit(ProviderEvent.PROVIDER_READY, ProviderEventDetails())
        elif status is ClientStatus.STALE:
            self.emit(
                ProviderEvent.PROVIDER_STALE, ProviderEventDetails(message="the flag source is failing")
            )
        elif status is ClientStatus.ERROR:
            self.emit(ProviderEvent.PROVIDER_ERROR, ProviderEventDetails(message=str(self.client.last_error)))
        elif status is ClientStatus.FATAL:
            self.emit(
                ProviderEvent.PROVIDER_ERROR,
                ProviderEventDetails(
                    message="the flag client is closed", error_code=OFErrorCode.PROVIDER_FATAL
                ),
            )

    def _context(self, context: EvaluationContext | None) -> Context:
        """`context_from_openfeature`, in one pass when every name and value is ASCII text.

        ASCII text is text every `Context` field holds (no lone surrogate can hide in it), so such a
        context is built without a second check; anything else takes `context_from_openfeature`'s path.
        (The usual context, a targeting key and properties only, does not come here: see `_resolve`.)
        """
        if type(context) is not EvaluationContext:
            return context_from_openfeature(context, targeting_key_field=self.targeting_key_field)
        key = context.targeting_key
        if (key is not None and (type(key) is not str or not key.isascii())) or not _ascii_text(
            context.attributes
        ):
            return context_from_openfeature(context, targeting_key_field=self.targeting_key_field)
        standard: dict[str, str] | None = None
        properties: dict[str, str] = {}
        current_time: str | None = None
        for name, value in context.attributes.items():
            text = cast("str", value)
            if name in _STANDARD:
                if standard is None:
                    standard = {}
                standard[_STANDARD[name]] = text
            elif name == "currentTime":
                current_time = text
            else:
                properties[name] = text
        user: str | None = None
        if key is not None:
            if self._key_is_user:
                user = key
            else:
                standard, current_time = self._place_key(key, standard, properties, current_time)
        return _built(user, standard, current_time, properties)

    def _place_key(
        self, key: str, standard: dict[str, str] | None, properties: dict[str, str], current_time: str | None
    ) -> tuple[dict[str, str] | None, str | None]:
        """Put the targeting key in the field it fills when that is not ``user_id``."""
        attribute = self._key_attribute
        if attribute is not None:
            standard = {} if standard is None else standard
            standard[attribute] = key
        elif self.targeting_key_field == "currentTime":
            current_time = key
        else:
            properties[self.targeting_key_field] = key
        return standard, current_time

    def _resolve[T](
        self, flag_key: str, default_value: T, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[T]:
        """Resolve a flag whose value is of the default's type (every ``resolve_*_details``).

        The usual context, a targeting key and properties only, all ASCII text (text every `Context`
        field holds: no lone surrogate can hide in it), is read here, in one pass and without a call.
        Its properties are the attributes themselves, not a copy: the context lives for this
        evaluation only, read by the rules and nothing else. Any other context goes through
        `_context`.
        """
        context = evaluation_context
        if type(context) is EvaluationContext:
            attributes = context.attributes
            key = context.targeting_key
            plain = type(attributes) is dict and (
                key is None or (type(key) is str and self._key_is_user and key.isascii())
            )
            if plain:
                for name, value in attributes.items():
                    if (
                        type(value) is not str
                        or type(name) is not str
                        or name in _NOT_PROPERTIES
                        or not (value.isascii() and name.isascii())
                    ):
                        plain = False
                        break
            if plain:
                # `_context_of`, inline: this runs on every evaluation.
                built: Any = _new_context(_Unfrozen)
                built.user_id = key
                built.session_id = None
                built.remote_address = None
                built.environment = None
                built.app_name = None
                built.current_time = None
                built.properties = attributes or _NO_PROPERTIES
                built.__class__ = Context
                return self.client._evaluate_converted(flag_key, default_value, built, _resolution)
        try:
            ctx = self._context(context)
        except (FeatureFlagsConfigurationError, FeatureFlagsTypeError) as exc:
            # Evaluation never raises: the context is reported, and counted as the client counts it.
            self.client._count_invalid_context(flag_key)
            return _read_only(
                default_value, OFErrorCode.INVALID_CONTEXT, str(exc), Reason.ERROR, None, _NO_METADATA
            )
        return self.client._evaluate_converted(flag_key, default_value, ctx, _resolution)

    # One method resolves every type but objects (OpenFeature checks the value's type itself).
    resolve_boolean_details = _resolve
    """Resolve a boolean flag."""
    resolve_string_details = _resolve
    """Resolve a string flag."""
    resolve_integer_details = _resolve
    """Resolve an integer flag."""
    resolve_float_details = _resolve
    """Resolve a float flag (integers are widened)."""

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        """Resolve an object (JSON object or list) flag."""
        resolved = self._resolve(flag_key, cast("Any", default_value), evaluation_context)
        if isinstance(resolved.value, Mapping) and not isinstance(resolved.value, dict):
            resolved = _read_only(
                dict(resolved.value),
                resolved.error_code,
                resolved.error_message,
                resolved.reason,
                resolved.variant,
                resolved.flag_metadata,
            )
        return cast("FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]", resolved)


class _ReadOnlyResolution(FlagResolutionDetails[Any]):
    """Resolution details that refuse changes: the ones built from a cached outcome are shared."""

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"FlagProvider's resolution details are read-only (setting {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"FlagProvider's resolution details are read-only (deleting {name!r})")


_set = object.__setattr__


def _built(
    user: str | None, standard: dict[str, str] | None, current_time: str | None, properties: dict[str, str]
) -> Context:
    shown = properties or _NO_PROPERTIES
    if standard is None:
        return _context_of(user, None, None, None, None, current_time, shown)
    get = standard.get
    return _context_of(
        user if user is not None else get("user_id"),
        get("session_id"),
        get("remote_address"),
        get("environment"),
        get("app_name"),
        current_time,
        shown,
    )


def _ascii_text(attributes: Mapping[str, object]) -> bool:
    """Whether every name and value of ``attributes`` is ASCII text (`str` itself, not a subclass)."""
    for name, value in attributes.items():
        if type(value) is not str or type(name) is not str or not (value.isascii() and name.isascii()):
            return False
    return True


def _read_only[T](  # noqa: PLR0917 - one argument per field of FlagResolutionDetails
    value: T,
    error_code: OFErrorCode | None,
    error_message: str | None,
    reason: str | Reason | None,
    variant: str | None,
    flag_metadata: Mapping[str, bool | int | float | str],
) -> FlagResolutionDetails[T]:
    resolution = object.__new__(_ReadOnlyResolution)
    _set(resolution, "value", value)
    _set(resolution, "error_code", error_code)
    _set(resolution, "error_message", error_message)
    _set(resolution, "reason", reason)
    _set(resolution, "variant", variant)
    _set(resolution, "flag_metadata", flag_metadata)
    return cast("FlagResolutionDetails[T]", resolution)


def _resolution[T](details: EvaluationDetails[T]) -> FlagResolutionDetails[T]:
    """OpenFeature's resolution details for ``details`` (read-only: they may be shared)."""
    code = details.error_code
    metadata = details.flag_metadata
    return _read_only(
        details.value,
        None if code is None else _ERROR_CODES[code],
        details.error_message,
        _REASONS[details.reason],
        details.variant,
        MappingProxyType(dict(metadata)) if metadata else _NO_METADATA,
    )


_METADATA: Final = Metadata(name="buttress-feature-flags")
_NO_METADATA: Mapping[str, bool | int | float | str] = MappingProxyType({})
_REASONS: Mapping[_Reason, Reason] = MappingProxyType({reason: Reason(reason.value) for reason in _Reason})
_NO_PROPERTIES: Mapping[str, str] = Context().properties
_NOT_PROPERTIES: Final = frozenset({*_STANDARD, "currentTime"})
_ERROR_CODES: Mapping[ErrorCode, OFErrorCode] = MappingProxyType(
    {code: OFErrorCode(code.value) for code in ErrorCode}
)
