"""Subgraph validation: every code of the corpus, every error collected, CLI, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import HAND, V2, Case, faulty_subgraphs
from hypothesis import given
from hypothesis import strategies as st

from buttress.core import ArgumentTypeError, ButtressError
from buttress.federation import (
    FederationValidationError,
    FieldSetError,
    SubgraphError,
    build_subgraph,
    check_subgraph,
    parse_field_set,
    validate_subgraph,
)
from buttress.federation.__main__ import main


@pytest.mark.parametrize("case", HAND, ids=[c.name for c in HAND])
def test_hand_written_case(case: Case) -> None:
    assert tuple(sorted(e.code for e in check_subgraph(case.sdl))) == case.codes


def test_valid_schema_returns_the_built_schema() -> None:
    schema = validate_subgraph(V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! }')
    assert schema.get_type("User") is not None
    assert "key" in {d.name for d in schema.directives}


def test_error_carries_every_error_and_summarises() -> None:
    sdl = V2 + (
        'type Query { u: User }\ntype User @key(fields: "uid") '
        '{ id: ID! a: Int b: Int @requires(fields: "a") '
        "c: Int @external }"
    )
    with pytest.raises(FederationValidationError) as raised:
        validate_subgraph(sdl)
    codes = [e.code for e in raised.value.errors]
    assert codes == ["KEY_INVALID_FIELDS", "REQUIRES_FIELDS_MISSING_EXTERNAL", "EXTERNAL_UNUSED"]
    assert "3 errors" in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, ButtressError)


def test_messages_name_type_and_field() -> None:
    errors = check_subgraph(
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") '
        '{ id: ID! a: Int b: Int @requires(fields: "a") }'
    )
    (error,) = errors
    assert error.code == "REQUIRES_FIELDS_MISSING_EXTERNAL"
    assert '"User.b"' in error.message
    assert '"User.a"' in error.message
    assert error.coordinate == "User.b"
    assert error.line == 3


def test_renamed_import_is_used_in_messages() -> None:
    errors = check_subgraph(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: ["@key", {name: "@external", as: "@remote"}])\n'
        'type Query { u: User }\ntype User @key(fields: "id") { id: ID! x: Int @remote }'
    )
    assert [e.code for e in errors] == ["EXTERNAL_UNUSED"]
    assert "@remote" in errors[0].message


def test_unknown_federation_version() -> None:
    errors = check_subgraph(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v3.0", import: '
        '["@key"])\ntype Query { a: Int }'
    )
    assert [e.code for e in errors] == ["UNKNOWN_FEDERATION_LINK_VERSION"]


def test_build_subgraph_reports_spec() -> None:
    built = build_subgraph(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: '
        '[{name: "@key", as: "@id"}])'
        "\ntype Query { a: Int }"
    )
    assert built.errors == ()
    assert built.spec.version == (2, 9)
    assert built.spec.name("key") == "id"
    assert built.spec.name("requires") == "federation__requires"
    assert build_subgraph("type Query { a: Int }").spec.is_v2 is False


@pytest.mark.parametrize("bad", [None, b"type Query { a: Int }", 12])
def test_validate_subgraph_rejects_non_strings(bad: object) -> None:
    with pytest.raises(ArgumentTypeError, match="sdl"):
        validate_subgraph(bad)  # type: ignore[arg-type]


@given(faulty_subgraphs())
def test_property_28_every_injected_fault_is_reported(case: Case) -> None:
    """Property 28: every error is collected: one code per injected fault, none lost, none invented."""
    assert tuple(sorted(e.code for e in check_subgraph(case.sdl))) == case.codes


@given(faulty_subgraphs(), st.randoms(use_true_random=False))
def test_property_28_order_does_not_hide_errors(case: Case, random: object) -> None:
    """Property 28: reordering the definitions changes no error (the set is order-independent)."""
    header, *definitions = case.sdl.split("\n")
    random.shuffle(definitions)  # type: ignore[attr-defined]
    shuffled = "\n".join([header, *definitions])
    assert sorted((e.code, e.message) for e in check_subgraph(shuffled)) == sorted(
        (e.code, e.message) for e in check_subgraph(case.sdl)
    )


@given(
    st.lists(
        st.sampled_from(["id", "name", "sku", "uuid", "nope", "org { id }", "org { nope }"]),
        min_size=1,
        max_size=3,
    )
)
def test_property_26_key_fields_exist(fields: list[str]) -> None:
    """Property 26: a @key is accepted exactly when every field it selects exists on the type."""
    sdl = V2 + (
        f'type Query {{ u: User }}\ntype User @key(fields: "{" ".join(fields)}") '
        "{ id: ID! name: String! sku: String org: Org }\ntype Org { id: ID! }"
    )
    exists = all(f in {"id", "name", "sku", "org { id }"} for f in fields)
    codes = [e.code for e in check_subgraph(sdl)]
    assert codes == ([] if exists else ["KEY_INVALID_FIELDS"])


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.booleans()),
        min_size=1,
        max_size=4,
        unique_by=lambda t: t[0],
    )
)
def test_property_27_requires_references_only_external(fields: list[tuple[str, bool]]) -> None:
    """Property 27: @requires is accepted exactly when every field it names is @external."""
    declared = " ".join(f"{name}: Int{' @external' if external else ''}" for name, external in fields)
    names = " ".join(name for name, _ in fields)
    sdl = V2 + (
        f'type Query {{ u: User }}\ntype User @key(fields: "id") {{ id: ID! {declared} '
        f'computed: Int @requires(fields: "{names}") }}'
    )
    codes = [e.code for e in check_subgraph(sdl)]
    missing = sum(1 for _, external in fields if not external)
    assert codes == ["REQUIRES_FIELDS_MISSING_EXTERNAL"] * missing


# --- the command line ---------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, sdl: str) -> Path:
    path = tmp_path / name
    path.write_text(sdl, encoding="utf-8")
    return path


def test_cli_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(
        tmp_path, "good.graphql", V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! }'
    )
    assert main(["validate", str(good)]) == 0
    assert capsys.readouterr().out.strip() == f"{good}: valid"


def test_cli_prints_every_error_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(
        tmp_path,
        "bad.graphql",
        V2 + 'type Query { u: User }\ntype User @key(fields: "uid") { id: ID! x: Int @external }',
    )
    good = _write(tmp_path, "good.graphql", V2 + "type Query { a: Int }")
    assert main(["validate", str(bad), str(good)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}: 2 errors" in out
    assert f"{bad}:3:" in out
    assert "KEY_INVALID_FIELDS" in out
    assert "EXTERNAL_UNUSED" in out
    assert f"{good}: valid" in out


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(
        tmp_path, "bad.graphql", V2 + 'type Query { u: User }\ntype User @key(fields: "uid") { id: ID! }'
    )
    assert main(["validate", "--json", str(bad)]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["valid"] is False
    (error,) = payload["files"][str(bad)]["errors"]
    assert error["code"] == "KEY_INVALID_FIELDS"
    assert error["coordinate"] == "User"


def test_cli_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "absent.graphql")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_needs_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "required" in capsys.readouterr().err


def test_subgraph_error_as_dict() -> None:
    error = SubgraphError("KEY_INVALID_FIELDS", "m", "User", 1, 2)
    assert error.as_dict() == {
        "code": "KEY_INVALID_FIELDS",
        "message": "m",
        "coordinate": "User",
        "line": 1,
        "column": 2,
    }


# --- bad input at every door: typed errors, exit statuses, never a traceback --------------------------

RENAMED_BADLY = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
    'import: [{name: "@key", as: "@primary-key"}])\ntype User @key(fields: "id") { id: ID! }'
)


def test_a_rename_that_is_not_a_name_is_a_link_error() -> None:
    """The issue's case: this raised GraphQLSyntaxError from check_subgraph."""
    (error,) = check_subgraph(RENAMED_BADLY)
    assert error.code == "INVALID_LINK_DIRECTIVE_USAGE"
    assert "must use a GraphQL name" in error.message
    with pytest.raises(FederationValidationError):
        validate_subgraph(RENAMED_BADLY)


@pytest.mark.parametrize(
    "fields", ["id {", "", "{ }", "a { }", "ident: id @", "\x00", "{" * 5000, "a" + " { a" * 400]
)
def test_parse_field_set_raises_field_set_error(fields: str) -> None:
    with pytest.raises(FieldSetError) as raised:
        parse_field_set(fields)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, ButtressError)
    assert raised.value.fields == fields
    assert raised.value.reason.startswith("Syntax Error")
    assert len(str(raised.value)) < 400


def test_parse_field_set_error_says_where() -> None:
    with pytest.raises(FieldSetError) as raised:
        parse_field_set("id org { }")
    assert raised.value.column == 10


@pytest.mark.parametrize("bad", [None, b"id", 12, ["id"]])
def test_parse_field_set_rejects_non_strings(bad: object) -> None:
    with pytest.raises(ArgumentTypeError, match="fields"):
        parse_field_set(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [None, b"type Query { a: Int }", 12])
def test_check_and_build_reject_non_strings(bad: object) -> None:
    with pytest.raises(ArgumentTypeError, match="sdl"):
        check_subgraph(bad)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="sdl"):
        build_subgraph(bad)  # type: ignore[arg-type]


@given(st.text(max_size=300))
def test_property_29_any_text_gets_a_verdict(text: str) -> None:
    """Property 29: check_subgraph answers any text with a list of errors, never an exception."""
    assert isinstance(check_subgraph(text), list)


_TOKENS = [
    "{", "}", "(", ")", "[", "]", "!", ":", "@", '"', "\\", "extend", "schema", "type", "@key", "@link",
    "as:", "import:", '"@key"', '{name: "@key", as: "@x-y"}', "query:", "Query", "\x00", "\ud800", "...",
    "null", "99999999999999999999999", "1e400", "enum", "input", "scalar", "fields:", '"id {"', "url:",
]  # fmt: skip


@given(
    st.sampled_from([c.sdl for c in HAND]),
    st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(_TOKENS)), min_size=1, max_size=6),
)
def test_property_29_mutated_subgraphs_get_a_verdict(sdl: str, edits: list[tuple[int, str]]) -> None:
    """Property 29: corpus SDL with tokens spliced in anywhere still gets a verdict, never an exception."""
    for position, token in edits:
        at = position % (len(sdl) + 1)
        sdl = sdl[:at] + token + sdl[at:]
    assert isinstance(check_subgraph(sdl), list)


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "buttress.federation", *args],
        capture_output=True,
        text=True,
        errors="backslashreplace",
        cwd=cwd,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )


def test_cli_bad_files_get_a_status_and_a_message_never_a_traceback(tmp_path: Path) -> None:
    """The command line, run as users run it, on every kind of file it cannot use."""
    (tmp_path / "latin1.graphql").write_bytes("type Query { caf\u00e9: Int }".encode("latin-1"))
    (tmp_path / "garbage.graphql").write_bytes(b"\x00\xff{{{ type ]]] @@@")
    (tmp_path / "renamed.graphql").write_text(RENAMED_BADLY, encoding="utf-8")
    (tmp_path / "surrogate.graphql").write_text('type Query { a: Int @deprecated(reason: "\\ud800") }')
    (tmp_path / "unicode-\u00e9.graphql").write_text("type Query { a: Int }", encoding="utf-8")
    (tmp_path / "folder.graphql").mkdir()
    cases = {
        ("validate", "latin1.graphql"): (2, "not UTF-8"),
        ("validate", "absent.graphql"): (2, "No such file"),
        ("validate", "folder.graphql"): (2, "cannot read"),
        ("validate", "garbage.graphql"): (2, "not UTF-8"),
        ("validate", "renamed.graphql"): (1, "INVALID_LINK_DIRECTIVE_USAGE"),
        ("validate", "surrogate.graphql"): (1, "INVALID_GRAPHQL"),
        ("validate", "unicode-\u00e9.graphql"): (0, "valid"),
        ("validate", "--json", "absent.graphql", "renamed.graphql"): (2, '"unreadable"'),
        ("validate",): (2, "required"),
        ("nope",): (2, "invalid choice"),
        ("validate", "--bogus", "renamed.graphql"): (2, "unrecognized arguments"),
    }
    for args, (status, text) in cases.items():
        done = _run_cli(*args, cwd=tmp_path)
        assert done.returncode == status, (args, done.stdout, done.stderr)
        assert text in done.stdout + done.stderr, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)


def test_cli_refuses_files_past_the_size_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("buttress.federation.__main__.MAX_FILE_BYTES", 10)
    big = _write(tmp_path, "big.graphql", "type Query { a: Int }")
    assert main(["validate", str(big)]) == 2
    assert "larger than" in capsys.readouterr().err


def test_cli_path_with_nul_byte(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "a\x00b.graphql"]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [5, "validate x", [b"validate"], [None]])
def test_cli_argv_of_the_wrong_type(bad: object) -> None:
    with pytest.raises(ArgumentTypeError, match="argv"):
        main(bad)  # type: ignore[arg-type]
