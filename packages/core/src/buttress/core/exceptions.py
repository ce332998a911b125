"""The root of every error raised by a buttress package.

Each package roots its own tree in `ButtressError`, and reuses the cross-cutting subclasses here
where they mean the same thing::

    Exception
    └── ButtressError                      every error a buttress package raises
        ├── ConfigurationError             (also ValueError) an argument or setting is invalid
        ├── ArgumentTypeError              (also TypeError) an argument has the wrong type
        ├── BackendUnavailableError        (also ConnectionError) a server cannot be reached
        ├── SerializationError             (also ValueError) a value cannot be encoded or decoded
        ├── NotFoundError                  (also LookupError) the thing asked for does not exist
        ├── ConflictError                  a write clashes with what is stored (a duplicate id, say)
        └── MissingExtraError              (also ImportError) an optional extra is not installed

A package's errors derive from its own root (``CachingError(ButtressError)``) and, where the meaning
matches, from one of these as well (``class CachingConfigurationError(CachingError, ConfigurationError)``), so
``except ButtressError`` catches everything the suite raises and ``except ValueError`` keeps working.

Errors carry their context as attributes as well as in the message, and never carry a secret: URLs
are passed through `redact_url` before they reach an error or a log line.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "ArgumentTypeError",
    "BackendUnavailableError",
    "ButtressError",
    "ConfigurationError",
    "ConflictError",
    "MissingExtraError",
    "NotFoundError",
    "SerializationError",
    "redact_url",
    "safe_repr",
]

_REPR_LIMIT = 80


class ButtressError(Exception):
    """Root of every error a buttress package raises.

    Args:
        message: What went wrong and, where it helps, what to do about it.

    Attributes:
        message: The message the error was raised with.
    """

    def __init__(self, message: str) -> None:
        text = message if isinstance(message, str) else safe_repr(message)
        super().__init__(text)
        self.message = text

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Subclasses take other arguments than the message in ``args``: rebuild from the state instead
        # of calling ``__init__`` again, so every error survives pickling (worker pools, multiprocessing).
        return (_rebuild, (type(self), self.args, self.__dict__))


class ConfigurationError(ButtressError, ValueError):
    """An argument or setting is invalid.

    Raised at construction, so a misconfigured object never exists.

    Args:
        parameter: The name of the argument or setting that was wrong, as the caller spelled it.
        value: The rejected value. It is kept on the error for programs; the message shows its `repr`
            only when ``show_value`` is true, so secrets never reach a log line.
        reason: Why it was rejected and what would be accepted.
        show_value: Whether the message may include ``repr(value)``; only ``True`` shows it.

    Examples:
        >>> raise ConfigurationError("max_size", 0, "must be at least 1")
        Traceback (most recent call last):
        ...
        buttress.core.exceptions.ConfigurationError: invalid max_size=0: must be at least 1
    """

    def __init__(self, parameter: str, value: object, reason: str, *, show_value: bool = True) -> None:
        shown = f"={safe_repr(value)}" if show_value is True else ""  # anything else hides it
        super().__init__(f"invalid {parameter}{shown}: {reason}")
        self.parameter = parameter
        self.value = value
        self.reason = reason


class ArgumentTypeError(ButtressError, TypeError):
    """An argument has the wrong type.

    Only the name of the given value's type is kept, so a secret passed in the wrong place never
    reaches a message or a log line.

    Args:
        parameter: The argument's name, as the caller spelled it.
        expected: What it should have been, such as ``"a str"``.
        actual: The value that was given.

    Attributes:
        parameter: The argument's name.
        expected: What it should have been.
        actual: The name of the type that was given.

    Examples:
        >>> raise ArgumentTypeError("header", "a str", b"raw")
        Traceback (most recent call last):
        ...
        buttress.core.exceptions.ArgumentTypeError: header must be a str, got bytes
    """

    def __init__(self, parameter: str, expected: str, actual: object) -> None:
        actual_name = type(actual).__name__
        super().__init__(f"{parameter} must be {expected}, got {actual_name}")
        self.parameter = parameter
        self.expected = expected
        self.actual = actual_name


class BackendUnavailableError(ButtressError, ConnectionError):
    """A backend server (Redis, PostgreSQL, SMTP, an HTTP endpoint) cannot be reached.

    Args:
        backend: A short name of the kind of backend, such as ``"redis"``.
        address: Where it was looked for. Credentials are removed before it is stored.
        reason: What failed, usually the message of the underlying exception.
    """

    def __init__(self, backend: str, address: str, reason: str) -> None:
        safe = redact_url(address) if isinstance(address, str) else safe_repr(address)
        super().__init__(f"{backend} at {safe} is unavailable: {reason}")
        self.backend = backend
        self.address = safe
        self.reason = reason


class SerializationError(ButtressError, ValueError):
    """A value could not be encoded to bytes, or bytes could not be decoded to a value.

    Args:
        format_name: The serializer's format, such as ``"json"``.
        operation: ``"dumps"`` or ``"loads"``.
        reason: What went wrong.
        type_name: The name of the value's type, when encoding.
    """

    def __init__(
        self, format_name: str, operation: str, reason: str, *, type_name: str | None = None
    ) -> None:
        subject = f"a {type_name}" if type_name is not None else "the payload"
        super().__init__(f"{format_name} {operation} failed for {subject}: {reason}")
        self.format_name = format_name
        self.operation = operation
        self.reason = reason
        self.type_name = type_name


class NotFoundError(ButtressError, LookupError):
    """The thing asked for does not exist.

    Args:
        kind: What was looked for, such as ``"entity"`` or ``"stream"``.
        key: Its identity, shown with `repr`.
    """

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {safe_repr(key)} does not exist")
        self.kind = kind
        self.key = key


class ConflictError(ButtressError):
    """A write clashes with what is stored, such as adding an id that exists already.

    Args:
        kind: What was written, such as ``"entity"``.
        key: Its identity, shown with `repr`.
        reason: How it clashes.
    """

    def __init__(self, kind: str, key: object, reason: str) -> None:
        super().__init__(f"{kind} {safe_repr(key)}: {reason}")
        self.kind = kind
        self.key = key
        self.reason = reason


def redact_url(url: str) -> str:
    """Return ``url`` with any password (and query-string secrets) replaced by ``***``.

    Use it before a URL or DSN reaches an error message or a log line. Strings that are not URLs are
    returned unchanged.

    Raises:
        ArgumentTypeError: ``url`` is not a str.

    Examples:
        >>> redact_url("redis://user:hunter2@cache:6379/0")
        'redis://user:***@cache:6379/0'
        >>> redact_url("postgresql://db/app?password=s3cret&sslmode=require")
        'postgresql://db/app?password=***&sslmode=require'
    """
    if not isinstance(url, str):
        raise ArgumentTypeError("url", "a str", url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}{':***' if sep else ''}@{hostport}"
    query = "&".join(_redact_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_SECRET_KEYS = frozenset({"password", "passwd", "pwd", "secret", "token", "key", "sslpassword"})


def _redact_pair(pair: str) -> str:
    name, sep, _value = pair.partition("=")
    if sep and name.lower() in _SECRET_KEYS:
        return f"{name}=***"
    return pair


class MissingExtraError(ButtressError, ImportError):
    """A feature was used without the optional extra that installs what it needs.

    Each package subclasses it under its own root and names its distribution, so the message says
    exactly what to install.

    Args:
        feature: What was asked for, such as ``"RedisCache"``.
        extra: The extra that installs it, such as ``"redis"``.

    Attributes:
        distribution: The distribution the extra belongs to (set by each package's subclass).
        feature: What was asked for.
        extra: The extra's name.

    Examples:
        >>> class CSPExtra(MissingExtraError):
        ...     distribution = "buttress-csp"
        >>> raise CSPExtra("tags", "jinja2")
        Traceback (most recent call last):
        ...
        buttress.core.exceptions.CSPExtra: tags needs the 'jinja2' extra: pip install 'buttress-csp[jinja2]'
    """

    distribution: ClassVar[str] = "buttress-core"

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the '{extra}' extra: pip install '{self.distribution}[{extra}]'")
        self.feature = feature
        self.extra = extra


def safe_repr(value: object) -> str:
    """Return a short ``repr`` of ``value`` for an error message, whatever the value is.

    Long reprs are cut to 80 characters (saying how long they were); a value whose ``repr`` cannot be
    made (an int past Python's digit limit, an object whose ``__repr__`` raises) is named by its type.
    Error constructors use it, so building an error about a hostile value never raises.

    Examples:
        >>> safe_repr(10**5000)
        '<int of 16610 bits>'
        >>> safe_repr("x" * 100)
        "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...<102 chars>"
    """
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - any failure of a foreign __repr__ gives the fallback
        if isinstance(value, int):
            return f"<int of {value.bit_length()} bits>"
        return f"<{type(value).__name__} object>"
    if len(text) <= _REPR_LIMIT:
        return text
    return f"{text[:60]}...<{len(text)} chars>"


def _rebuild[E: ButtressError](cls: type[E], args: tuple[object, ...], state: dict[str, object]) -> E:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error
