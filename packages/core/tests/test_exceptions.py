"""The root error and the cross-cutting errors of buttress-core."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from buttress.core import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
    ConflictError,
    MissingExtraError,
    NotFoundError,
    SerializationError,
    redact_url,
    safe_repr,
)

text = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and s != "")
values = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20), st.booleans())


def all_errors() -> st.SearchStrategy[ButtressError]:
    return st.one_of(
        st.builds(ButtressError, text),
        st.builds(ConfigurationError, text, values, text),
        st.builds(BackendUnavailableError, text, text, text),
        st.builds(SerializationError, text, st.sampled_from(["dumps", "loads"]), text),
        st.builds(NotFoundError, text, values),
        st.builds(ConflictError, text, values, text),
        st.builds(ArgumentTypeError, text, text, values),
        st.builds(MissingExtraError, text, text),
    )


@given(all_errors())
def test_every_error_is_a_buttress_error(error: ButtressError) -> None:
    """Property: every error buttress-core defines is a ButtressError and an Exception."""
    assert isinstance(error, ButtressError)
    assert isinstance(error, Exception)
    assert str(error) == error.message


@given(parameter=text, value=values, reason=text)
# explore (seed 3642888171, on d33d4a2): a short str whose repr escapes to more than 80
# characters is shown cut, as safe_repr documents; the old oracle expected the whole repr.
@example(
    parameter="0",
    value="00000\x1f\x1f\x1f\x1f\x1f\x08\U00010324\U0001239a\U0001239a\U00018cd6\U0001fbcb",
    reason="0",
)
def test_configuration_error_carries_its_context(parameter: str, value: object, reason: str) -> None:
    """Property: a ConfigurationError's message names the parameter, the value (as safe_repr shows it,
    at most 80 characters) and the reason."""
    error = ConfigurationError(parameter, value, reason)
    assert isinstance(error, ValueError)
    assert (error.parameter, error.value, error.reason) == (parameter, value, reason)
    assert parameter in str(error)
    assert safe_repr(value) in str(error)
    assert reason in str(error)


def test_configuration_error_can_hide_a_secret_value() -> None:
    error = ConfigurationError("secret", "hunter2", "must be at least 24 bytes", show_value=False)
    assert "hunter2" not in str(error)
    assert error.value == "hunter2"
    assert str(error) == "invalid secret: must be at least 24 bytes"


@given(backend=text, reason=text, password=st.text(alphabet="abcdefghXYZ0123456789", min_size=6, max_size=20))
def test_backend_unavailable_never_shows_a_password(backend: str, reason: str, password: str) -> None:
    """Property: the password in a backend URL never reaches the message or the attributes."""
    assume(password not in f"{backend} {reason} redis://app:***@cache.internal:6379/0 is unavailable")
    error = BackendUnavailableError(backend, f"redis://app:{password}@cache.internal:6379/0", reason)
    assert isinstance(error, ConnectionError)
    assert password not in str(error)
    assert password not in error.address
    assert "cache.internal:6379" in str(error)
    assert backend in str(error)
    assert reason in str(error)


def test_serialization_error_names_the_type_and_operation() -> None:
    error = SerializationError(
        "json", "dumps", "Object of type set is not JSON serializable", type_name="set"
    )
    assert isinstance(error, ValueError)
    assert str(error) == "json dumps failed for a set: Object of type set is not JSON serializable"
    assert (error.format_name, error.operation, error.type_name) == ("json", "dumps", "set")
    assert "the payload" in str(SerializationError("json", "loads", "bad"))


def test_not_found_is_a_lookup_error() -> None:
    error = NotFoundError("entity", 42)
    assert isinstance(error, LookupError)
    assert str(error) == "entity 42 does not exist"
    assert (error.kind, error.key) == ("entity", 42)
    with pytest.raises(LookupError):
        raise error


def test_conflict_error_names_what_clashed() -> None:
    error = ConflictError("entity", "a-1", "an entity with this id exists already")
    assert str(error) == "entity 'a-1': an entity with this id exists already"
    assert error.reason.startswith("an entity")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:pw@localhost:6379", "redis://:***@localhost:6379"),
        ("redis://user:pw@localhost", "redis://user:***@localhost"),
        ("redis://user@localhost", "redis://user@localhost"),
        (
            "postgresql://u:p%40ss@db:5432/app?sslmode=require",
            "postgresql://u:***@db:5432/app?sslmode=require",
        ),
        ("postgresql://db/app?password=x&user=u", "postgresql://db/app?password=***&user=u"),
        ("https://hooks.example/in?token=abc", "https://hooks.example/in?token=***"),
        ("not a url", "not a url"),
        ("", ""),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@given(st.text(max_size=60))
def test_redact_url_accepts_any_text(value: str) -> None:
    """Property: redact_url never raises, whatever it is given."""
    assert isinstance(redact_url(value), str)


def test_errors_survive_pickling_with_their_message() -> None:
    # Errors cross process boundaries (worker pools, multiprocessing); the message must survive.
    error = ButtressError("plain")
    assert str(pickle.loads(pickle.dumps(error))) == "plain"  # noqa: S301 - our own bytes


@given(all_errors())
def test_every_error_survives_pickling_with_its_attributes(error: ButtressError) -> None:
    """Property: pickling keeps an error's type, message and attributes (subclasses take other arguments)."""
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__


def test_long_values_are_cut_in_messages() -> None:
    error = ConfigurationError("name", "x" * 100_000, "too long")
    assert len(str(error)) < 200
    assert "<100002 chars>" in str(error)


def test_argument_type_error_names_the_type_never_the_value() -> None:
    error = ArgumentTypeError("secret", "bytes", "hunter2")
    assert isinstance(error, TypeError)
    assert str(error) == "secret must be bytes, got str"
    assert (error.parameter, error.expected, error.actual) == ("secret", "bytes", "str")
    assert "hunter2" not in str(error)


def test_missing_extra_error_names_the_install_line_of_the_subclass_distribution() -> None:
    class PoolingMissingExtraError(MissingExtraError):
        distribution = "buttress-pooling"

    error = PoolingMissingExtraError("AsyncpgFactory", "postgres")
    assert isinstance(error, ImportError)
    assert isinstance(error, ButtressError)
    assert str(error) == "AsyncpgFactory needs the 'postgres' extra: pip install 'buttress-pooling[postgres]'"
    assert (error.feature, error.extra, error.distribution) == (
        "AsyncpgFactory",
        "postgres",
        "buttress-pooling",
    )
    with pytest.raises(ImportError, match=r"buttress-pooling\[postgres\]"):
        raise error
