"""Reading a schema's ``@link``s: which federation version it speaks, and the names it gives each element.

The rules are Apollo's. Once a schema links the federation spec (or the link spec itself), every ``@link``
is a feature: its URL must have a name and a ``vX.Y`` version (``INVALID_LINK_IDENTIFIER``), a feature is
linked once under one alias, an alias is a name without ``__`` that does not end in ``_``, and each
import is a string or ``{name:, as:}`` whose names are GraphQL names (``INVALID_LINK_DIRECTIVE_USAGE``).
Without such a link the schema is a Federation 1 schema and other ``@link``s are plain directives.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from graphql import (
    DirectiveNode,
    DocumentNode,
    ListValueNode,
    ObjectValueNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    StringValueNode,
    ValueNode,
    print_ast,
)

from ._report import SubgraphError, error_at
from ._spec import FEDERATION_V1, LATEST_VERSION, FederationSpec, elements_for

__all__ = ["GRAPHQL_NAME", "read_links"]

GRAPHQL_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
_IMPORT_NAME = re.compile(r"^@?[_A-Za-z][_0-9A-Za-z]*$")
# Apollo accepts "-" and "." in an alias; the names it then gives are not GraphQL names (see _alias_names).
_ALIAS = re.compile(r"^[_A-Za-z][_0-9A-Za-z.-]*$")
_VERSION = re.compile(r"^v(\d+)\.(\d+)$")

FEDERATION_IDENTITY = "https://specs.apollo.dev/federation"
LINK_IDENTITY = "https://specs.apollo.dev/link"
_LINK_ELEMENTS = frozenset({"@link", "Purpose", "Import"})
_INVALID_LINK = "INVALID_LINK_DIRECTIVE_USAGE"


@dataclass(frozen=True, slots=True)
class _Feature:
    identity: str
    name: str
    version: tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Import:
    name: str
    alias: str | None


class _LinkIdentifierError(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def _argument(directive: DirectiveNode, name: str) -> ValueNode | None:
    return next((a.value for a in directive.arguments or () if a.name.value == name), None)


def _string_argument(directive: DirectiveNode, name: str) -> str | None:
    value = _argument(directive, name)
    return value.value if isinstance(value, StringValueNode) else None


def _links(document: DocumentNode) -> Iterator[DirectiveNode]:
    for definition in document.definitions:
        if isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            yield from (d for d in definition.directives or () if d.name.value == "link")


def _parse_url(url: str) -> _Feature:
    """A feature URL as Apollo reads it: ``<identity>/<name>/vX.Y``, query and fragment ignored."""
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise _LinkIdentifierError(f"Invalid feature url '{url}': {error}") from error
    if not parts.scheme or (parts.scheme.lower() in {"http", "https"} and not parts.netloc):
        raise _LinkIdentifierError(f"Invalid feature url '{url}': it is not an absolute URL")
    if not parts.path or parts.path == "/":
        raise _LinkIdentifierError(f"Missing path in feature url '{url}'")
    path = parts.path.split("/")
    version_text = path.pop()
    if not version_text:
        raise _LinkIdentifierError(f"Missing version component in feature url '{url}'")
    match = _VERSION.match(version_text)
    if match is None:
        raise _LinkIdentifierError(f"Expected a version string (of the form v1.2), got {version_text}")
    name = path[-1] if path else ""
    if not name:
        raise _LinkIdentifierError(f"Missing feature name component in feature url '{url}'")
    host = parts.netloc.rpartition("@")[2].lower()
    identity = f"{parts.scheme.lower()}://{host}{'/'.join(path)}"
    return _Feature(identity, name, (int(match.group(1)), int(match.group(2))))


def _shown(value: ValueNode) -> str:
    return print_ast(value)


def _read_imports(directive: DirectiveNode, errors: list[SubgraphError]) -> list[_Import]:
    """The imports of one ``@link``, each checked for its form (names are GraphQL names)."""
    value = _argument(directive, "import")
    if value is None:
        return []
    elements = value.values if isinstance(value, ListValueNode) else (value,)
    imports: list[_Import] = []
    for element in elements:
        if isinstance(element, StringValueNode):
            imports.append(_Import(element.value, None))
            continue
        if not isinstance(element, ObjectValueNode):
            errors.append(
                error_at(
                    _INVALID_LINK,
                    f"Invalid sub-value {_shown(element)} for @link(import:) argument: values should be "
                    'either strings or input object values of the form { name: "<importedElement>", '
                    'as: "<alias>" }.',
                    None,
                    directive,
                )
            )
            continue
        parsed = _read_import_object(element, directive, errors)
        if parsed is not None:
            imports.append(parsed)
    return imports


def _read_import_object(
    element: ObjectValueNode, directive: DirectiveNode, errors: list[SubgraphError]
) -> _Import | None:
    name: str | None = None
    alias: str | None = None
    for field in element.fields:
        key = field.name.value
        if key not in {"name", "as"}:
            problem = f'Unknown field "{key}" for sub-value {_shown(element)} of @link(import:) argument.'
        elif not isinstance(field.value, StringValueNode):
            problem = (
                f'Invalid value for the "{key}" field for sub-value {_shown(element)} of @link(import:) '
                "argument: must be a string."
            )
        elif not _IMPORT_NAME.match(field.value.value):
            problem = (
                f'Invalid value for the "{key}" field for sub-value {_shown(element)} of @link(import:) '
                "argument: must use a GraphQL name."
            )
        else:
            if key == "name":
                name = field.value.value
            else:
                alias = field.value.value
            continue
        errors.append(error_at(_INVALID_LINK, problem, None, directive))
        return None
    if name is None:
        errors.append(
            error_at(
                _INVALID_LINK,
                f"Invalid sub-value {_shown(element)} for @link(import:) argument: missing mandatory "
                '"name" field.',
                None,
                directive,
            )
        )
        return None
    if alias is not None and name.startswith("@") != alias.startswith("@"):
        errors.append(
            error_at(
                _INVALID_LINK,
                f'Invalid @link import renaming: directive "{name}" imported name should start with a '
                f"'@' character, but got \"{alias}\"."
                if name.startswith("@")
                else f'Invalid @link import renaming: type "{name}" imported name should not start with a '
                f"'@' character, but got \"{alias}\".",
                None,
                directive,
            )
        )
    return _Import(name, alias)


def _check_alias(
    feature: _Feature, alias: str, directive: DirectiveNode, errors: list[SubgraphError]
) -> bool:
    problem: str | None = None
    if "__" in alias:
        problem = 'since it contains "__"'
    elif alias.endswith("_"):
        problem = 'since it ends in "_"'
    elif not _ALIAS.match(alias):
        problem = "since it is not a valid GraphQL name"
    if problem is None:
        return True
    errors.append(
        error_at(
            _INVALID_LINK,
            f'Cannot link feature "{feature.identity}" as "{alias}" {problem}. Please rename to a compliant '
            'name via "as".',
            None,
            directive,
        )
    )
    return False


def _known_elements(feature: _Feature) -> frozenset[str] | None:
    if feature.identity == LINK_IDENTITY:
        return _LINK_ELEMENTS
    if (
        feature.identity == FEDERATION_IDENTITY
        and feature.version[0] == 2
        and feature.version <= LATEST_VERSION
    ):
        directives, types = elements_for(feature.version)
        return frozenset({f"@{d}" for d in directives} | types)
    return None


@dataclass
class _Core:
    """The features of a core schema, as Apollo adds them one ``@link`` at a time."""

    by_identity: dict[str, str]
    by_alias: dict[str, str]


def _add_feature(
    core: _Core,
    feature: _Feature,
    directive: DirectiveNode,
    *,
    imports: list[_Import],
    alias: str,
    errors: list[SubgraphError],
) -> bool:
    if feature.identity in core.by_identity:
        errors.append(
            error_at(
                _INVALID_LINK,
                f'Cannot link feature "{feature.identity}" since it has already been linked in the schema.',
                None,
                directive,
            )
        )
        return False
    if not _check_alias(feature, alias, directive, errors):
        return False
    existing = core.by_alias.get(alias)
    if existing is not None:
        errors.append(
            error_at(
                _INVALID_LINK,
                f'Cannot link feature {feature.identity} as "{alias}" since another feature "{existing}" '
                'already uses that alias. Please rename the feature to avoid conflicts via "as".',
                None,
                directive,
            )
        )
        return False
    core.by_identity[feature.identity] = alias
    core.by_alias[alias] = feature.identity
    known = _known_elements(feature)
    if known is not None:
        errors.extend(
            error_at(_INVALID_LINK, f'Cannot import unknown element "{item.name}".', None, directive)
            for item in imports
            if item.name not in known
        )
    return True


def read_links(document: DocumentNode) -> tuple[FederationSpec, list[SubgraphError]]:
    """The schema's federation version and names, and every problem of its ``@link``s."""
    links = list(_links(document))
    if not links:
        return FEDERATION_V1, []
    urls = [_string_argument(d, "url") for d in links]
    not_strings = [
        error_at("INVALID_GRAPHQL", f"@link(url:) must be a string, got {_shown(value)}.", None, directive)
        for directive in links
        if (value := _argument(directive, "url")) is not None and not isinstance(value, StringValueNode)
    ]
    if not_strings:
        return FederationSpec(FEDERATION_V1.version, links=True), not_strings
    is_core = any(u is not None and u.startswith((FEDERATION_IDENTITY, LINK_IDENTITY)) for u in urls)
    if not is_core:
        # No link to the federation or the link spec: other links are plain directives (Federation 1).
        return FederationSpec(
            FEDERATION_V1.version, dict(FEDERATION_V1.directives), dict(FEDERATION_V1.types), True
        ), []
    errors: list[SubgraphError] = []
    core = _Core({}, {})
    explicit_link_spec = False
    federation: tuple[_Feature, str, list[_Import], DirectiveNode] | None = None
    parsed: list[tuple[_Feature, DirectiveNode, list[_Import], str]] = []
    for directive, url in zip(links, urls, strict=True):
        if url is None:
            errors.append(error_at("INVALID_LINK_IDENTIFIER", "@link has no url", None, directive))
            continue
        try:
            feature = _parse_url(url)
        except _LinkIdentifierError as problem:
            errors.append(error_at("INVALID_LINK_IDENTIFIER", problem.message, None, directive))
            continue
        imports = _read_imports(directive, errors)
        alias = _string_argument(directive, "as") or feature.name
        explicit_link_spec = explicit_link_spec or feature.identity == LINK_IDENTITY
        parsed.append((feature, directive, imports, alias))
    if not explicit_link_spec:
        # The link spec is linked implicitly, under its own name.
        core.by_identity[LINK_IDENTITY] = "link"
        core.by_alias["link"] = LINK_IDENTITY
    for feature, directive, imports, alias in parsed:
        added = _add_feature(core, feature, directive, imports=imports, alias=alias, errors=errors)
        if added and feature.identity == FEDERATION_IDENTITY and federation is None:
            federation = (feature, alias, imports, directive)
    if errors:
        return FederationSpec(FEDERATION_V1.version, links=True), errors
    if federation is None:
        return FederationSpec(
            FEDERATION_V1.version, dict(FEDERATION_V1.directives), dict(FEDERATION_V1.types), True
        ), []
    return _federation_names(*federation)


def _federation_names(
    feature: _Feature, alias: str, imports: list[_Import], directive: DirectiveNode
) -> tuple[FederationSpec, list[SubgraphError]]:
    version = feature.version
    if version[0] != 2 or version > LATEST_VERSION:
        error = error_at(
            "UNKNOWN_FEDERATION_LINK_VERSION",
            f"Invalid version v{version[0]}.{version[1]} for the federation feature in @link directive on "
            "schema",
            None,
            directive,
        )
        return FederationSpec(LATEST_VERSION, links=True), [error]
    known_directives, known_types = elements_for(version)
    directives = {d: f"{alias}__{d}" for d in known_directives}
    types = {t: f"{alias}__{t}" for t in known_types}
    if not GRAPHQL_NAME.match(alias):
        # Apollo accepts such an alias and then fails to parse the definitions it writes with it.
        error = error_at(
            "INVALID_GRAPHQL",
            f'The federation spec is linked as "{alias}", which makes names such as "@{alias}__key" '
            'that are not GraphQL names; rename it via "as" to a name of letters, digits and "_".',
            None,
            directive,
        )
        return FederationSpec(version, links=True), [error]
    for item in imports:
        is_directive = item.name.startswith("@")
        target = (item.alias or item.name).lstrip("@")
        (directives if is_directive else types)[item.name.lstrip("@")] = target
    return FederationSpec(version, directives, types, links=True), []
