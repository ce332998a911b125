"""PII redaction: a structlog processor that hides secrets and personal data before a line is written.

Two rules, applied recursively through dicts, lists, tuples, sets, bytes, dataclasses and pydantic
models (cycle-safe, depth-bounded):

- **keys by name**: the value under a key whose name is sensitive (``password``, ``api_key``,
  ``Authorization``, ``sessionId``...) is replaced whole. Names are compared word by word, so
  ``X-Api-Key``, ``api_key`` and ``apiKey`` all match ``api_key``, while ``class_name`` does not
  match ``ssn`` and ``author`` does not match ``auth``.
- **values by pattern**: inside any string, e-mail addresses, bearer tokens, JWTs, card numbers that
  pass the Luhn check, IBANs that pass their mod-97 check and the password of a URL's userinfo are
  replaced, the rest of the string kept.

What cannot be inspected is not let through: past ``max_depth`` a value is replaced, and an object
whose ``repr`` fails is logged as a placeholder. The event passed in is never mutated: containers are
rebuilt where something changed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Final

from buttress.core import check_count, check_text

from .exceptions import ObservabilityConfigurationError, ObservabilityTypeError

__all__ = ["DEFAULT_SENSITIVE_KEYS", "REDACTED", "Redactor", "redact_pii", "redact_text"]

REDACTED: Final = "[REDACTED]"
_CYCLE: Final = "[REDACTED: cycle]"
_DEEP: Final = "[REDACTED: too deep]"
_UNREPRESENTABLE: Final = "[REDACTED: unrepresentable]"

DEFAULT_SENSITIVE_KEYS: Final = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "auth",
    "authorization",
    "credential",
    "credentials",
    "cookie",
    "set_cookie",
    "session",
    "session_id",
    "private_key",
    "csrf",
    "xsrf",
    "jwt",
    "ssn",
    "social_security",
    "credit_card",
    "card_number",
    "cvv",
    "cvc",
    "iban",
    "account_number",
)
"""The key names redacted by default (compared word by word, case and separators ignored)."""

_WORDS: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_MAX_KEY_CACHE: Final = 4096

# One search finds the next candidate; card numbers and IBANs are then checked in Python, where a
# candidate can be cut to a valid part. No pattern needs a word boundary before it: a secret glued
# to the text around it (``idBearer x``, ``acct_DE89...``, ``1https://u:p@h``) is still a secret.
_PATTERN: Final = re.compile(
    r"(?P<url>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@?#]*:)(?P<urlpass>[^\s@/?#]+)(?=@)"
    r"|(?P<bearer>[Bb][Ee][Aa][Rr][Ee][Rr][ \t]+)(?P<btoken>[A-Za-z0-9\-._~+/]+=*)"
    r"|(?P<jwt>eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*)"
    r"|(?P<email>[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+"
    r"@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z][A-Za-z0-9\-]*[A-Za-z0-9])"
    r"|(?P<iban>[A-Z]{2}[0-9]{2}(?=(?:[ ]?[A-Z0-9]){11}))"
    r"|(?P<card>(?<![0-9])[0-9](?=(?:[ \-]?[0-9]){12}))"
)
_QUICK: Final = re.compile(r"@|://|[Bb]earer|eyJ|[A-Z]{2}[0-9]{2}|[0-9]{4}|[0-9][ \-][0-9]")
# A run of digit groups (one space or dash between groups) and a run of IBAN characters.
_DIGIT_RUN: Final = re.compile(r"[0-9]+(?:[ \-][0-9]+)*")
_IBAN_RUN: Final = re.compile(r"[A-Z0-9]+(?:[ ][A-Z0-9]+)*")

# The length of each country's IBAN (the SWIFT IBAN registry): a candidate glued to more letters or
# digits is checked at its country's length, the rest of the text kept.
_IBAN_LENGTHS: Final = {
    **dict.fromkeys(("NO",), 15),
    **dict.fromkeys(("BE",), 16),
    **dict.fromkeys(("DK", "FI", "FK", "FO", "GL", "NL", "SD"), 18),
    **dict.fromkeys(("MK", "SI"), 19),
    **dict.fromkeys(("AT", "BA", "EE", "KZ", "LT", "LU", "MN", "XK"), 20),
    **dict.fromkeys(("CH", "HR", "LI", "LV"), 21),
    **dict.fromkeys(("BG", "BH", "CR", "DE", "GB", "GE", "IE", "ME", "RS", "VA"), 22),
    **dict.fromkeys(("AE", "GI", "IL", "IQ", "OM", "SO", "TL"), 23),
    **dict.fromkeys(("AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG"), 24),
    **dict.fromkeys(("LY", "PT", "ST"), 25),
    **dict.fromkeys(("IS", "TR"), 26),
    **dict.fromkeys(("BI", "DJ", "FR", "GR", "IT", "MC", "MR", "SM"), 27),
    **dict.fromkeys(("AL", "AZ", "BY", "CY", "DO", "GT", "HN", "HU", "LB", "NI", "PL", "SV"), 28),
    **dict.fromkeys(("BR", "EG", "PS", "QA", "UA"), 29),
    **dict.fromkeys(("JO", "KW", "MU", "YE"), 30),
    **dict.fromkeys(("MT", "SC"), 31),
    **dict.fromkeys(("LC",), 32),
    **dict.fromkeys(("RU",), 33),
}


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (card numbers)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """Whether ``candidate`` (spaces allowed) is an IBAN whose check digits verify (ISO 13616 mod 97)."""
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _iban_end(text: str, start: int) -> int | None:
    """Where the valid IBAN at ``start`` ends (its country's length first, then 34 down to 15)."""
    run = _IBAN_RUN.match(text, start)
    if run is None:  # pragma: no cover - the pattern saw four IBAN characters here
        return None
    # the end of the text after each compact character: spaces between groups do not count
    ends = [index + 1 for index in range(start, run.end()) if text[index] != " "][:34]
    known = _IBAN_LENGTHS.get(text[start : start + 2])
    lengths = (known,) if known is not None else range(min(len(ends), 34), 14, -1)
    for length in lengths:
        if length <= len(ends) and iban_valid(text[start : ends[length - 1]]):
            return ends[length - 1]
    return None


def _redact_cards(run: str) -> str:
    """``run`` (digit groups) with each part made of whole groups that is a Luhn-valid card replaced."""
    groups = re.split(r"([ \-])", run)  # digits, separator, digits, ...
    out: list[str] = []
    first = 0
    while first < len(groups):
        digits, last, found = 0, first, -1
        while last < len(groups) and digits <= 19:
            digits += len(groups[last])
            if 13 <= digits <= 19 and luhn_valid("".join(groups[first : last + 1 : 2])):
                found = last  # the longest card from this group on
            last += 2
        if found >= 0:
            out.append(REDACTED)
            out.extend(groups[found + 1 : found + 2])  # the separator after it, if any
            first = found + 2
        else:
            out.extend(groups[first : first + 2])
            first += 2
    return "".join(out)


def _redact_once(text: str) -> str:
    out: list[str] = []
    position = 0
    while (match := _PATTERN.search(text, position)) is not None:
        kind, start = match.lastgroup, match.start()
        out.append(text[position:start])
        if kind == "card":
            run = _DIGIT_RUN.match(text, start)  # always a match: the pattern saw 13 digits
            position = run.end() if run is not None else start + 1
            out.append(_redact_cards(text[start:position]))
        elif kind == "iban":
            end = _iban_end(text, start)
            if end is None:  # no IBAN starts here: one character on, one may start inside
                out.append(text[start])
                position = start + 1
            else:
                out.append(REDACTED)
                position = end
        else:
            if kind == "urlpass":
                out.append(f"{match.group('url')}{REDACTED}")
            elif kind == "btoken":
                out.append(f"{match.group('bearer')}{REDACTED}")
            else:
                out.append(REDACTED)
            position = match.end()
    out.append(text[position:])
    return "".join(out)


def redact_text(text: str) -> str:
    """``text`` with its e-mails, bearer tokens, JWTs, valid card numbers and IBANs, URL passwords replaced.

    Raises:
        ObservabilityTypeError: ``text`` is not a str.
    """
    if not isinstance(text, str):
        raise ObservabilityTypeError("text", "a str", text)
    if _QUICK.search(text) is None:
        return text
    # Until nothing changes: a replacement can expose what its neighbour hid (a URL's scheme glued to
    # a card number starts a word once the number is gone). Each pass consumes original characters,
    # since the replacement itself matches no pattern, so this ends.
    while (redacted := _redact_once(text)) != text:
        if _QUICK.search(redacted) is None:  # nothing left that could match: no second pass
            return redacted
        text = redacted
    return text


def _words(name: str) -> tuple[str, ...]:
    return tuple(word.lower() for word in _WORDS.findall(name))


class Redactor:
    """A structlog processor (and a function on any value) that redacts PII.

    Args:
        keys: Key names whose values are replaced whole; `DEFAULT_SENSITIVE_KEYS` by default.
        extra_keys: More names, added to ``keys``.
        patterns: Also redact e-mails, bearer tokens, JWTs, card numbers, IBANs and URL passwords
            inside strings.
        replacement: What a redacted key's value becomes.
        max_depth: How deep containers are followed; anything deeper is replaced.

    Raises:
        ObservabilityTypeError: An argument of the wrong type.
        ObservabilityConfigurationError: An empty key name or replacement, or a bad depth.

    Example::

        structlog.configure(processors=[..., Redactor(extra_keys=["tax_id"]), JSONRenderer()])
    """

    __slots__ = ("_cache", "_longest", "_names", "_patterns", "_replacement", "max_depth")

    def __init__(
        self,
        keys: Iterable[str] = DEFAULT_SENSITIVE_KEYS,
        *,
        extra_keys: Iterable[str] = (),
        patterns: bool = True,
        replacement: str = REDACTED,
        max_depth: int = 32,
    ) -> None:
        names: set[tuple[str, ...]] = set()
        for group, label in ((keys, "keys"), (extra_keys, "extra_keys")):
            if isinstance(group, str | bytes) or not isinstance(group, Iterable):
                raise ObservabilityTypeError(label, "an iterable of key names", group)
            for name in group:
                check_text(
                    label,
                    name,
                    max_bytes=256,
                    error=ObservabilityConfigurationError,
                    type_error=ObservabilityTypeError,
                )
                words = _words(name)
                if not words:
                    raise ObservabilityConfigurationError(label, name, "must hold a letter or a digit")
                names.add(words)
        if patterns is not True and patterns is not False:
            raise ObservabilityTypeError("patterns", "a bool", patterns)
        self._replacement = check_text(
            "replacement",
            replacement,
            max_bytes=256,
            error=ObservabilityConfigurationError,
            type_error=ObservabilityTypeError,
        )
        if isinstance(max_depth, bool) or not isinstance(max_depth, int):
            raise ObservabilityTypeError("max_depth", "an int", max_depth)
        self.max_depth = check_count(
            "max_depth", max_depth, minimum=1, maximum=1000, error=ObservabilityConfigurationError
        )
        self._names = frozenset("".join(words) for words in names)
        self._longest = max((len(words) for words in names), default=1)
        self._patterns = patterns
        self._cache: dict[str, bool] = {}

    def sensitive(self, key: object) -> bool:
        """Whether a key's value is redacted whole: some run of its words spells a sensitive name."""
        if type(key) is not str:
            return isinstance(key, str) and self._spells(key)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._spells(key)
            if len(self._cache) < _MAX_KEY_CACHE:
                self._cache[key] = cached
        return cached

    def _spells(self, key: str) -> bool:
        words = _words(key)
        return any(
            "".join(words[start:end]) in self._names
            for start in range(len(words))
            for end in range(start + 1, min(len(words), start + self._longest) + 1)
        )

    def __call__(
        self, logger: object, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """The structlog processor: the event with its PII redacted (a new dict; the input is left alone)."""
        if not isinstance(event_dict, Mapping):
            raise ObservabilityTypeError("event_dict", "a mapping", event_dict)
        active: set[int] = {id(event_dict)}
        redacted: dict[str, Any] = {}
        for key, value in event_dict.items():
            redacted[key] = self._replacement if self.sensitive(key) else self._walk(value, 1, active)
        return redacted

    def redact(self, value: object) -> object:
        """``value`` with its PII redacted, by the same rules (containers rebuilt, never mutated)."""
        return self._walk(value, 0, set())

    def _walk(self, value: object, depth: int, active: set[int]) -> object:  # noqa: PLR0911, PLR0912 - one branch per kind
        if isinstance(value, str):
            return redact_text(value) if self._patterns else value
        if value is None or isinstance(value, bool | int | float):
            return value
        if depth >= self.max_depth:
            return _DEEP
        if isinstance(value, bytes | bytearray | memoryview):
            return self._bytes(value)
        marker = id(value)
        if marker in active:
            return _CYCLE
        active.add(marker)
        try:
            if isinstance(value, Mapping):
                return {
                    key: self._replacement if self.sensitive(key) else self._walk(item, depth + 1, active)
                    for key, item in list(value.items())
                }
            if isinstance(value, list | tuple | set | frozenset):
                items = [self._walk(item, depth + 1, active) for item in list(value)]
                if isinstance(value, list):
                    return items
                if isinstance(value, tuple) and not hasattr(value, "_fields"):
                    return tuple(items)
                return items
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                fields = {field.name: getattr(value, field.name, None) for field in dataclasses.fields(value)}
                return self._walk(fields, depth, active)
            dump = getattr(value, "model_dump", None)
            if callable(dump) and hasattr(type(value), "model_fields"):
                try:
                    model_fields: Iterable[str] = getattr(type(value), "model_fields", ())
                    fields = {name: getattr(value, name, None) for name in model_fields}
                except Exception:  # noqa: BLE001 - a model that cannot be read is not let through
                    return _UNREPRESENTABLE
                return self._walk(fields, depth, active)
            return self._other(value)
        finally:
            active.discard(marker)

    def _bytes(self, value: bytes | bytearray | memoryview) -> object:
        raw = bytes(value)
        text = raw.decode("utf-8", "replace")
        if not self._patterns:
            return raw
        redacted = redact_text(text)
        return raw if redacted == text else redacted.encode("utf-8")

    def _other(self, value: object) -> object:
        """Anything else is logged as its repr by the renderers: let it through only when that is clean."""
        if not self._patterns:
            return value
        try:
            text = repr(value)
        except Exception:  # noqa: BLE001 - a failing __repr__ must not fail the log call
            return _UNREPRESENTABLE
        if type(text) is not str:  # a __repr__ that returned a str subclass
            text = str.__str__(text)
        redacted = redact_text(text)
        return value if redacted == text else redacted


redact_pii: Final = Redactor()
"""The default `Redactor`: `DEFAULT_SENSITIVE_KEYS` and every value pattern."""
