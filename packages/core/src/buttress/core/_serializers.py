"""A dependency-free `Serializer`: JSON."""

from __future__ import annotations

import json
from typing import cast

from .exceptions import ArgumentTypeError, SerializationError

__all__ = ["JsonSerializer"]


class JsonSerializer[T]:
    """Encodes values as compact UTF-8 JSON.

    It accepts what `json` accepts (dicts with string keys, lists, strings, numbers, booleans and
    ``None``); anything else raises `SerializationError` naming the type. Tuples come back as lists,
    so a value survives the round trip only if it is made of JSON's own types.

    Values nested deeper than the interpreter's recursion limit are refused with `SerializationError`
    too, on the way in and on the way out.

    Args:
        sort_keys: Emit object keys sorted, so equal values give equal bytes.

    Raises:
        ArgumentTypeError: ``sort_keys`` is not a bool.

    Examples:
        >>> s = JsonSerializer[dict[str, int]]()
        >>> s.loads(s.dumps({"b": 1, "a": 2}))
        {'b': 1, 'a': 2}
    """

    __slots__ = ("_decoder", "_encoder")

    format_name = "json"

    def __init__(self, *, sort_keys: bool = False) -> None:
        if not isinstance(sort_keys, bool):
            raise ArgumentTypeError("sort_keys", "a bool", sort_keys)
        self._encoder = json.JSONEncoder(
            separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=sort_keys
        )
        self._decoder = json.JSONDecoder()

    def dumps(self, value: T) -> bytes:
        """Encode ``value`` as UTF-8 JSON.

        Raises:
            SerializationError: ``value`` holds something JSON cannot represent (a set, a NaN, a
                non-string key of an unsupported type, an object, a lone surrogate, an int of more
                than 4,300 digits), or is nested too deeply.
        """
        try:
            return self._encoder.encode(value).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(
                self.format_name, "dumps", str(exc), type_name=type(value).__name__
            ) from exc

    def loads(self, data: bytes) -> T:
        """Decode UTF-8 JSON made by `dumps`.

        Raises:
            SerializationError: ``data`` is not UTF-8 or not valid JSON, or is nested too deeply.
            ArgumentTypeError: ``data`` is not bytes, bytearray or memoryview.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ArgumentTypeError("data", "bytes", data)
        try:
            text = (data if data.__class__ is bytes else bytes(data)).decode()
            decoder = self._decoder
            try:
                # What `decode` does for the text `dumps` writes, without its two whitespace scans
                # (`scan_once` is the scanner `decode` itself calls).
                value, end = decoder.scan_once(text, 0)  # type: ignore[attr-defined]
            except StopIteration:
                value, end = None, -1
            if end == len(text):
                return cast("T", value)
            # Whitespace around the value, or no valid JSON: `decode` says which, in its own words.
            return cast("T", decoder.decode(text))
        except (ValueError, RecursionError) as exc:
            raise SerializationError(self.format_name, "loads", str(exc)) from exc

    def __repr__(self) -> str:
        return "JsonSerializer()"
