"""The flag model: immutable definitions, the evaluation context and evaluation results."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, NoReturn

from .exceptions import FeatureFlagsConfigurationError, FeatureFlagsTypeError

__all__ = [
    "DISABLED_VARIANT",
    "Constraint",
    "Context",
    "Dependency",
    "ErrorCode",
    "EvaluationDetails",
    "FlagDefinition",
    "FlagSet",
    "JsonValue",
    "Operator",
    "Override",
    "Payload",
    "Reason",
    "Segment",
    "Strategy",
    "Variant",
    "VariantResult",
]

type JsonValue = bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None

_EMPTY: Mapping[str, str] = MappingProxyType({})


def refuse_member(kind: type[enum.Enum], value: object) -> NoReturn:
    """Raise the package's error for ``Kind(value)`` of an unknown value (it is still a ValueError)."""
    names = ", ".join(str(member.value) for member in kind)
    raise FeatureFlagsConfigurationError(kind.__name__, value, f"must be one of {names}")


class Operator(enum.StrEnum):
    """A constraint operator, spelled as in the Unleash format."""

    IN = "IN"
    NOT_IN = "NOT_IN"
    STR_CONTAINS = "STR_CONTAINS"
    STR_STARTS_WITH = "STR_STARTS_WITH"
    STR_ENDS_WITH = "STR_ENDS_WITH"
    NUM_EQ = "NUM_EQ"
    NUM_GT = "NUM_GT"
    NUM_GTE = "NUM_GTE"
    NUM_LT = "NUM_LT"
    NUM_LTE = "NUM_LTE"
    DATE_AFTER = "DATE_AFTER"
    DATE_BEFORE = "DATE_BEFORE"
    SEMVER_EQ = "SEMVER_EQ"
    SEMVER_GT = "SEMVER_GT"
    SEMVER_LT = "SEMVER_LT"
    SEMVER_GTE = "SEMVER_GTE"
    SEMVER_LTE = "SEMVER_LTE"
    REGEX = "REGEX"
    IN_CIDR = "IN_CIDR"
    UNKNOWN = "UNKNOWN"
    """An operator this version does not know; the constraint never matches (as in every Unleash SDK)."""

    @classmethod
    def _missing_(cls, value: object) -> Operator:
        refuse_member(cls, value)


class Reason(enum.StrEnum):
    """Why an evaluation gave its value (the OpenFeature reasons)."""

    STATIC = "STATIC"
    """The flag is on and has no rules: every context gets the same value."""
    DEFAULT = "DEFAULT"
    """No rule matched; the flag's default (its default variant, or off) was given."""
    TARGETING_MATCH = "TARGETING_MATCH"
    """A rule matched the context and decided the value."""
    SPLIT = "SPLIT"
    """The value was picked from weighted variants by the context's hash."""
    DISABLED = "DISABLED"
    """The flag is switched off; the caller's default was given."""
    STALE = "STALE"
    """The value came from a snapshot older than the client's ``stale_after``: the source is failing."""
    CACHED = "CACHED"
    """The value came from the sticky-assignment store."""
    ERROR = "ERROR"
    """The caller's default was given because of an error; see the error code."""

    @classmethod
    def _missing_(cls, value: object) -> Reason:
        refuse_member(cls, value)


class ErrorCode(enum.StrEnum):
    """Why an evaluation ended in ``Reason.ERROR`` (the OpenFeature error codes)."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    PROVIDER_NOT_READY = "PROVIDER_NOT_READY"
    PROVIDER_FATAL = "PROVIDER_FATAL"
    PARSE_ERROR = "PARSE_ERROR"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    GENERAL = "GENERAL"

    @classmethod
    def _missing_(cls, value: object) -> ErrorCode:
        refuse_member(cls, value)


@dataclass(frozen=True, slots=True)
class Constraint:
    """One condition on a context field.

    Attributes:
        context_name: The field: ``userId``, ``sessionId``, ``remoteAddress``, ``environment``,
            ``appName``, ``currentTime``, or the name of a custom property.
        operator: How the field is compared.
        values: The list operand of ``IN``, ``NOT_IN``, ``STR_*`` and ``IN_CIDR``.
        value: The single operand of ``NUM_*``, ``DATE_*``, ``SEMVER_*`` and ``REGEX``.
        inverted: Negate the result.
        case_insensitive: Compare strings (``STR_*``, ``REGEX``) ignoring case.
    """

    context_name: str
    operator: Operator
    values: tuple[str, ...] = ()
    value: str | None = None
    inverted: bool = False
    case_insensitive: bool = False


@dataclass(frozen=True, slots=True)
class Payload:
    """An Unleash variant payload: a ``type`` (``string``, ``json``, ``csv``, ``number``) and its text."""

    type: str
    value: str


@dataclass(frozen=True, slots=True)
class Override:
    """Force a variant for contexts whose ``context_name`` field is one of ``values``."""

    context_name: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Variant:
    """A weighted variant.

    Attributes:
        name: The variant's name, reported as the evaluation's ``variant``.
        weight: Its share; a variant is picked with probability ``weight / total weight``.
        value: The typed value an evaluation returns for it (any JSON value); ``None`` when the
            variant only carries a payload.
        payload: The Unleash payload, when there is one.
        stickiness: The context field that is hashed to pick a variant (``default`` is userId →
            sessionId → remoteAddress → random). Only the first variant's stickiness counts.
        overrides: Contexts that always get this variant.
    """

    name: str
    weight: int = 1
    value: JsonValue = None
    payload: Payload | None = None
    stickiness: str | None = None
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True, slots=True)
class Strategy:
    """An activation strategy: the flag is on for a context when a strategy is.

    Attributes:
        name: ``default``, ``flexibleRollout``, ``userWithId``, ``gradualRolloutUserId``,
            ``gradualRolloutSessionId``, ``gradualRolloutRandom``, ``remoteAddress`` or
            ``applicationHostname``; unknown names never match.
        parameters: The strategy's parameters, as strings (``rollout``, ``stickiness``, ``groupId``, ...).
        constraints: All must hold.
        segments: Ids of segments whose constraints must hold too; a missing segment never matches.
        variants: Variants that replace the flag's own when this strategy is the one that matched.
    """

    name: str
    parameters: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    constraints: tuple[Constraint, ...] = ()
    segments: tuple[int, ...] = ()
    variants: tuple[Variant, ...] = ()


@dataclass(frozen=True, slots=True)
class Dependency:
    """A parent flag this flag depends on.

    Attributes:
        feature: The parent's key. A parent that is missing, or has dependencies itself, fails.
        enabled: Whether the parent must be on (``True``) or off (``False``).
        variants: When non-empty, the parent's variant must be one of these.
    """

    feature: str
    enabled: bool = True
    variants: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Segment:
    """A reusable, named list of constraints that strategies refer to by id (Unleash's global constraints)."""

    id: int
    name: str = ""
    constraints: tuple[Constraint, ...] = ()


@dataclass(frozen=True, slots=True)
class FlagDefinition:
    """One flag, immutable.

    Attributes:
        key: The flag's unique key.
        enabled: The kill switch: a disabled flag is off for everyone.
        strategies: Rules; the flag is on for a context when any strategy is, or when there are none.
        variants: Weighted variants picked for contexts where the flag is on.
        dependencies: Parent flags that must be in the given state.
        default_variant: The variant whose value is served when no strategy matches (OpenFeature's
            default variant); ``None`` serves the flag's off value.
        description: Free text for people.
        metadata: Flag metadata, returned with every evaluation (``str``, ``int``, ``float``, ``bool``).
    """

    key: str
    enabled: bool = True
    strategies: tuple[Strategy, ...] = ()
    variants: tuple[Variant, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    default_variant: str | None = None
    description: str | None = None
    metadata: Mapping[str, str | int | float | bool] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class FlagSet:
    """A complete set of flags and the segments they refer to: what a `FlagSource` loads."""

    flags: Mapping[str, FlagDefinition] = field(default_factory=lambda: MappingProxyType({}))
    segments: Mapping[int, Segment] = field(default_factory=lambda: MappingProxyType({}))
    version: str | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """Who and what a flag is evaluated for.

    Build it once per request; evaluation reads it and never changes it. Every field is text, as in
    Unleash: constraints compare strings, and ``NUM_*``, ``DATE_*`` and ``SEMVER_*`` parse them the way
    Unleash's engine does.

    Attributes:
        user_id: The user's id, the default stickiness (an empty string is an id too).
        session_id: The session's id, the fallback stickiness.
        remote_address: The client's IP address.
        environment: The deployment environment.
        app_name: The application's name.
        current_time: The time ``DATE_*`` constraints compare with: RFC 3339 text as Unleash carries
            it, or a `datetime` (written with ``isoformat()``, so an aware one). Text that is not an
            RFC 3339 date-time with an offset (a date alone, a naive time, anything else) fails every
            ``DATE_*`` constraint, as in Unleash. ``None`` reads the client's clock.
        properties: Any other fields, by name (``tenant``, ``plan``, ``version``, ...).

    Raises:
        FeatureFlagsTypeError: A field is not text (or ``current_time`` neither text nor a
            `datetime`).
        FeatureFlagsConfigurationError: A field holds a lone surrogate, which no Unleash context can
            carry.
    """

    user_id: str | None = None
    session_id: str | None = None
    remote_address: str | None = None
    environment: str | None = None
    app_name: str | None = None
    current_time: datetime | str | None = None
    properties: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        for name in ("user_id", "session_id", "remote_address", "environment", "app_name"):
            value = getattr(self, name)
            if value is not None:
                check_context_text(name, value)
        moment = self.current_time
        if moment is not None and not isinstance(moment, datetime):
            check_context_text("current_time", moment, expected="a str, a datetime or None")
        properties = self.properties
        if properties is not _EMPTY:
            if not isinstance(properties, Mapping):
                raise FeatureFlagsTypeError("properties", "a mapping of str to str", properties)
            for name, value in properties.items():
                check_context_text("properties", name, expected="a mapping of str to str")
                check_context_text(f"properties[{name!r}]", value)

    @classmethod
    def _checked(
        cls, current_time: str | None, properties: Mapping[str, str] | None, standard: Mapping[str, str]
    ) -> Context:
        """A context of values already known to be valid text (`FlagProvider`'s fast path)."""
        get = standard.get
        return _context_of(
            get("user_id"),
            get("session_id"),
            get("remote_address"),
            get("environment"),
            get("app_name"),
            current_time,
            _EMPTY if properties is None else properties,
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Context:
        """Build a context from Unleash-style keys (``userId``, ``properties``, ...).

        Unknown top-level keys become properties (an entry of ``properties`` wins over a top-level key
        of the same name); non-string values are turned into strings (``True`` → ``"true"``), so a
        context built from JSON or from OpenFeature's evaluation context compares the same way.
        ``currentTime`` is kept as given: text as it is, a `datetime` as it is.

        Raises:
            FeatureFlagsTypeError: ``data`` is not a mapping.
            FeatureFlagsConfigurationError: A value holds a lone surrogate.
        """
        if not isinstance(data, Mapping):
            raise FeatureFlagsTypeError("data", "a mapping", data)
        standard: dict[str, str | None] = {}
        properties: dict[str, str] = {}
        nested: dict[str, str] = {}
        current_time: datetime | str | None = None
        for key, raw in data.items():
            if key == "properties" and isinstance(raw, Mapping):
                for name, value in raw.items():
                    text = context_text(value)
                    if text is not None:
                        nested[name if isinstance(name, str) else context_text(name) or ""] = text
                continue
            if key == "currentTime":
                current_time = raw if isinstance(raw, datetime) else context_text(raw)
                continue
            attribute = _STANDARD.get(key) if isinstance(key, str) else None
            text = context_text(raw)
            if attribute is not None:
                standard[attribute] = text
            elif text is not None:
                properties[key if isinstance(key, str) else context_text(key) or ""] = text
        properties.update(nested)
        return cls(
            current_time=current_time,
            properties=MappingProxyType(properties) if properties else _EMPTY,
            **standard,
        )

    def current_time_text(self) -> str | None:
        """``current_time`` as the text constraints read (``isoformat()`` of a `datetime`)."""
        moment = self.current_time
        if moment is None or isinstance(moment, str):
            return moment
        return moment.isoformat()

    def get(self, name: str) -> str | None:
        """Return the value of a field by its Unleash name (``userId``) or a property's name."""
        if not isinstance(name, str):
            raise FeatureFlagsTypeError("name", "a str", name)
        attribute = _STANDARD.get(name)
        if attribute is not None:
            value: str | None = getattr(self, attribute)
            return value
        if name == "currentTime":
            return self.current_time_text()
        return self.properties.get(name)


def check_context_text(name: str, value: object, *, expected: str = "a str or None") -> None:
    """Refuse what is not a str, or holds a lone surrogate (NUL is text a context may carry)."""
    if not isinstance(value, str):
        raise FeatureFlagsTypeError(name, f"{expected}", value)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise FeatureFlagsConfigurationError(
                name, value, "must be valid Unicode (it holds a lone surrogate)", show_value=False
            ) from None


_STANDARD = {
    "userId": "user_id",
    "sessionId": "session_id",
    "remoteAddress": "remote_address",
    "environment": "environment",
    "appName": "app_name",
}

EMPTY_CONTEXT = Context()


class _Unfrozen:
    """`Context`'s slots without its frozen ``__setattr__``: where a context of checked values is filled.

    Plain attribute stores fill it, then it takes `Context` as its class: the same slots in the same
    layout, which CPython checks on the assignment (a `TypeError` at import, were they ever to differ).
    The object is a `Context` from then on, like any other. Filling a `Context` through its slots'
    own setters, the alternative, costs about twice as much (seven calls through method wrappers).
    """

    __slots__ = Context.__slots__


_new_context = object.__new__


def _context_of(  # noqa: PLR0917 - one argument per field, in the fields' order
    user_id: str | None,
    session_id: str | None,
    remote_address: str | None,
    environment: str | None,
    app_name: str | None,
    current_time: datetime | str | None,
    properties: Mapping[str, str],
) -> Context:
    """A `Context` of values already checked (valid text), built without checking them again."""
    context: Any = _new_context(_Unfrozen)
    context.user_id = user_id
    context.session_id = session_id
    context.remote_address = remote_address
    context.environment = environment
    context.app_name = app_name
    context.current_time = current_time
    context.properties = properties
    context.__class__ = Context
    built: Context = context
    return built


_context_of(None, None, None, None, None, None, _EMPTY)  # the layouts match, or the import fails here


def context_text(value: object) -> str | None:
    """Turn a context value into the string constraints compare; ``None`` stays ``None``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - an int past str()'s digit limit, a broken __str__
        raise FeatureFlagsConfigurationError(
            "context value", type(value).__name__, "cannot be written as text"
        ) from None


@dataclass(frozen=True, slots=True)
class EvaluationDetails[T]:
    """The result of an evaluation, in OpenFeature's shape.

    Attributes:
        flag_key: The flag asked for.
        value: The resolved value, or the caller's default on error or when disabled.
        variant: The name of the variant served, when there is one.
        reason: Why this value was given.
        error_code: Set when ``reason`` is ``ERROR``.
        error_message: A human-readable explanation of the error.
        flag_metadata: The flag's metadata.
    """

    flag_key: str
    value: T
    variant: str | None
    reason: Reason
    error_code: ErrorCode | None = None
    error_message: str | None = None
    flag_metadata: Mapping[str, str | int | float | bool] = field(
        default_factory=lambda: MappingProxyType({})
    )


@dataclass(frozen=True, slots=True)
class VariantResult:
    """The Unleash-style answer of `FlagClient.get_variant`.

    Attributes:
        name: The variant's name; ``"disabled"`` when no variant applies.
        enabled: Whether a real variant was picked.
        feature_enabled: Whether the flag itself is on for the context.
        payload: The variant's payload, when it has one.
        value: The variant's typed value, when it has one.
    """

    name: str
    enabled: bool
    feature_enabled: bool
    payload: Payload | None = None
    value: JsonValue = None


DISABLED_VARIANT = VariantResult(name="disabled", enabled=False, feature_enabled=False)
