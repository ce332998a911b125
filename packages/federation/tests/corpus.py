"""The subgraph corpus: hand-written cases for every error code, and a hypothesis strategy of faulty schemas.

Each case carries the codes buttress-federation must report. The differential test runs the same SDL
through Apollo's subgraph validation; the property tests use the strategy directly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

V2 = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
    'import: ["@key", "@requires", "@provides", "@external", "@shareable"])\n'
)


@dataclass(frozen=True)
class Case:
    """A subgraph SDL and the error codes it must produce (sorted).

    ``companions`` are other subgraphs of the same supergraph: Apollo judges a Federation 1 subgraph
    while upgrading it with them (its ``extend type``s need a base definition somewhere).
    """

    name: str
    sdl: str
    codes: tuple[str, ...]
    companions: tuple[str, ...] = ()


def case(name: str, sdl: str, *codes: str) -> Case:
    return Case(name, sdl, tuple(sorted(codes)))


HAND: list[Case] = [
    case("valid", V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! name: String }'),
    case(
        "valid-compound-key",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id org { id }") '
        "{ id: ID! org: Org! }\ntype Org { id: ID! }",
    ),
    case(
        "valid-two-keys",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") @key(fields: "email") '
        "{ id: ID! email: String! }",
    ),
    case(
        "key-unknown-field",
        V2 + 'type Query { u: User }\ntype User @key(fields: "uuid") { id: ID! }',
        "KEY_INVALID_FIELDS",
    ),
    case(
        "key-syntax",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id {") { id: ID! }',
        "KEY_INVALID_FIELDS",
    ),
    case(
        "key-empty-selection",
        V2 + 'type Query { u: User }\ntype User @key(fields: "org { }") '
        "{ id: ID! org: Org }\ntype Org { id: ID! }",
        "KEY_INVALID_FIELDS",
    ),
    case(
        "key-leaf-with-selection",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id { x }") { id: ID! }',
        "KEY_INVALID_FIELDS",
    ),
    case(
        "key-object-without-selection",
        V2 + 'type Query { u: User }\ntype User @key(fields: "org") '
        "{ id: ID! org: Org }\ntype Org { id: ID! }",
        "KEY_INVALID_FIELDS",
    ),
    case(
        "key-alias",
        V2 + 'type Query { u: User }\ntype User @key(fields: "ident: id") { id: ID! }',
        "KEY_INVALID_FIELDS",
    ),
    case(
        "key-interface-field",
        V2 + "type Query { u: User }\ninterface Node { id: ID! }\n"
        'type Org implements Node { id: ID! }\ntype User @key(fields: "node { id }") { id: ID! node: Node }',
        "KEY_FIELDS_SELECT_INVALID_TYPE",
    ),
    case(
        "key-union-field",
        V2 + "type Query { u: User }\ntype A { id: ID! }\ntype B { id: ID! }\nunion AB = A | B\n"
        'type User @key(fields: "ab { ... on A { id } }") { id: ID! ab: AB }',
        "KEY_FIELDS_SELECT_INVALID_TYPE",
    ),
    case(
        "key-has-args",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") @key(fields: "name") '
        "{ id: ID! name(lang: String): String }",
        "KEY_FIELDS_HAS_ARGS",
    ),
    case(
        "key-directive-in-fields",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id @include(if: true)") { id: ID! }',
        "KEY_DIRECTIVE_IN_FIELDS_ARG",
    ),
    case(
        "key-fields-not-string",
        V2 + "type Query { u: User }\ntype User @key(fields: 12) { id: ID! }",
        "KEY_INVALID_FIELDS_TYPE",
    ),
    case(
        "requires-valid",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'weight: Int @external shipping: Int @requires(fields: "weight") }',
    ),
    case(
        "requires-missing-external",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'weight: Int shipping: Int @requires(fields: "weight") }',
        "REQUIRES_FIELDS_MISSING_EXTERNAL",
    ),
    case(
        "requires-unknown-field",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'shipping: Int @requires(fields: "weight") }',
        "REQUIRES_INVALID_FIELDS",
    ),
    case(
        "requires-directive",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'weight: Int @external shipping: Int @requires(fields: "weight @skip(if: false)") }',
        "REQUIRES_DIRECTIVE_IN_FIELDS_ARG",
    ),
    case(
        "requires-nested-external",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'dims: Dims @external volume: Int @requires(fields: "dims { w h }") }\ntype Dims { w: Int h: Int }',
    ),
    case(
        "requires-args-allowed",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'price(cur: String): Int @external tax: Int @requires(fields: "price(cur: \\"EUR\\")") }',
    ),
    case(
        "provides-valid",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'org: Org @provides(fields: "name") }\ntype Org @key(fields: "id") { id: ID! name: '
        "String @external }",
    ),
    case(
        "provides-missing-external",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'org: Org @provides(fields: "name") }\ntype Org @key(fields: "id") { id: ID! name: String }',
        "PROVIDES_FIELDS_MISSING_EXTERNAL",
    ),
    case(
        "provides-unknown-field",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'org: Org @provides(fields: "title") }\ntype Org @key(fields: "id") { id: ID! }',
        "PROVIDES_INVALID_FIELDS",
    ),
    case(
        "provides-has-args",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'org: Org @provides(fields: "name") }\ntype Org @key(fields: "id") { id: ID! '
        "name(lang: String): String @external }",
        "PROVIDES_FIELDS_HAS_ARGS",
    ),
    case(
        "provides-directive",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'org: Org @provides(fields: "name @include(if: true)") }\ntype Org @key(fields: "id") '
        "{ id: ID! name: String @external }",
        "PROVIDES_DIRECTIVE_IN_FIELDS_ARG",
    ),
    case(
        "provides-on-scalar",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'name: String @provides(fields: "x") }',
        "PROVIDES_ON_NON_OBJECT_FIELD",
    ),
    case(
        "provides-and-external",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'org: Org @external @provides(fields: "name") }\ntype Org @key(fields: "id") { id: ID! '
        "name: String @external }",
        "EXTERNAL_COLLISION_WITH_ANOTHER_DIRECTIVE",
    ),
    case(
        "provides-list",
        V2 + 'type Query { us: [User] @provides(fields: "name") }\n'
        'type User @key(fields: "id") { id: ID! name: String @external }',
    ),
    case(
        "external-unused",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! nickname: String @external }',
        "EXTERNAL_UNUSED",
    ),
    case(
        "external-used-by-key",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! @external }',
    ),
    case(
        "external-type-level",
        V2 + 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! }\n'
        "type Org @external { a: Int b: Int }",
        "EXTERNAL_UNUSED",
        "EXTERNAL_UNUSED",
    ),
    case(
        "external-satisfies-interface",
        V2 + "type Query { u: User }\ninterface Named { name: String }\n"
        'type User implements Named @key(fields: "id") { id: ID! name: String @external }',
    ),
    case(
        "external-on-interface",
        V2 + "type Query { u: User }\ninterface Named { name: String @external }\n"
        'type User implements Named @key(fields: "id") { id: ID! name: String }',
        "EXTERNAL_ON_INTERFACE",
        "EXTERNAL_UNUSED",
    ),
    case(
        "link-unknown-import",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: ["@key", "@primary"])\ntype Query { a: Int }',
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "link-import-too-new",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.0", '
        'import: ["@key", "@interfaceObject"])\ntype Query { a: Int }',
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "link-two-unknown-imports",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: ["@nope", "@neither"])\ntype Query { a: Int }',
        "INVALID_LINK_DIRECTIVE_USAGE",
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "link-renamed-import",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: [{name: "@key", as: "@primaryKey"}])\ntype Query { u: User }\n'
        'type User @primaryKey(fields: "id") { id: ID! }',
    ),
    case(
        "link-renamed-import-error",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: [{name: "@key", as: "@primaryKey"}])\ntype Query { u: User }\n'
        'type User @primaryKey(fields: "uid") { id: ID! }',
        "KEY_INVALID_FIELDS",
    ),
    case(
        "link-renamed-external",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: ["@key", {name: "@external", as: "@ext"}])\ntype Query { u: User }\n'
        'type User @key(fields: "id") { id: ID! extra: Int @ext }',
        "EXTERNAL_UNUSED",
    ),
    case(
        "link-prefixed",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3")\n'
        'type Query { u: User }\ntype User @federation__key(fields: "id") { id: ID! }',
    ),
    case(
        "link-prefixed-error",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3")\n'
        'type Query { u: User }\ntype User @federation__key(fields: "nope") { id: ID! '
        "x: Int @federation__external }",
        "KEY_INVALID_FIELDS",
        "EXTERNAL_UNUSED",
    ),
    case(
        "link-custom-prefix",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", as: "fed")\n'
        'type Query { u: User }\ntype User @fed__key(fields: "id") { id: ID! }',
    ),
    case(
        "link-not-imported",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@shareable"])\n'
        'type Query { u: User }\ntype User @key(fields: "id") { id: ID! }',
        "INVALID_GRAPHQL",
    ),
    case(
        "schema-definition-link",
        'schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"]) '
        '{ query: Query }\ntype Query { u: User }\ntype User @key(fields: "id") { id: ID! }',
    ),
    case(
        "key-on-interface-2.3", V2 + 'type Query { n: Node }\ninterface Node @key(fields: "id") { id: ID! }'
    ),
    case(
        "key-on-interface-2.0",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.0", '
        'import: ["@key"])\ntype Query { n: Node }\ninterface Node @key(fields: "id") { id: ID! }',
        "KEY_UNSUPPORTED_ON_INTERFACE",
    ),
    case("graphql-unknown-type", V2 + "type Query { u: Usr }", "INVALID_GRAPHQL"),
    case("graphql-syntax", V2 + "type Query { u: }", "INVALID_GRAPHQL"),
    case(
        "many-errors",
        V2 + 'type Query { u: User }\ntype User @key(fields: "uid") @key(fields: "name") { id: ID! '
        'name(l: String): String w: Int s: Int @requires(fields: "w") gone: Int @external }\n'
        'type Org @key(fields: "id") { id: ID! o: Int @requires(fields: "q") }',
        "KEY_INVALID_FIELDS",
        "KEY_FIELDS_HAS_ARGS",
        "REQUIRES_INVALID_FIELDS",
        "REQUIRES_FIELDS_MISSING_EXTERNAL",
        "EXTERNAL_UNUSED",
    ),
    case("v1-valid", 'type Query { u: User }\ntype User @key(fields: "id") { id: ID! name: String }'),
    case(
        "v1-extend",
        'type Query { u: User }\ntype User @key(fields: "id") { id: ID! }\n'
        'extend type Org @key(fields: "id") { id: ID! @external reviews: [String] }\ntype Org '
        "{ id: ID! name: String }",
        "INVALID_GRAPHQL",
    ),
    case(
        "v1-key-invalid",
        'type Query { u: User }\ntype User @key(fields: "nope") { id: ID! }',
        "KEY_INVALID_FIELDS",
    ),
    case(
        "v1-key-interface-field",
        "type Query { u: User }\ninterface Node { id: ID! }\n"
        'type User @key(fields: "node { id }") { id: ID! node: Node }',
        "KEY_FIELDS_SELECT_INVALID_TYPE",
    ),
    case(
        "v1-key-args",
        'type Query { u: User }\ntype User @key(fields: "name") { id: ID! name(l: Int): String }',
        "KEY_FIELDS_HAS_ARGS",
    ),
    case(
        "v1-requires-unknown",
        'type Query { u: User }\ntype User @key(fields: "id") { id: ID! a: Int @requires(fields: "b") }',
        "REQUIRES_INVALID_FIELDS",
    ),
    case(
        "v1-provides-unknown",
        'type Query { u: User }\ntype User @key(fields: "id") { id: ID! '
        'o: Org @provides(fields: "zz") }\ntype Org @key(fields: "id") { id: ID! }',
        "PROVIDES_INVALID_FIELDS",
    ),
]


# --- generated variants ------------------------------------------------------------------------------

_SCALARS = ("ID!", "String", "Int", "Float", "Boolean")
FAULTS = (
    "key_unknown",
    "key_has_args",
    "key_interface",
    "requires_missing_external",
    "requires_unknown",
    "provides_missing_external",
    "external_unused",
    "key_directive",
)
_FAULT_CODE = {
    "key_unknown": "KEY_INVALID_FIELDS",
    "key_has_args": "KEY_FIELDS_HAS_ARGS",
    "key_interface": "KEY_FIELDS_SELECT_INVALID_TYPE",
    "requires_missing_external": "REQUIRES_FIELDS_MISSING_EXTERNAL",
    "requires_unknown": "REQUIRES_INVALID_FIELDS",
    "provides_missing_external": "PROVIDES_FIELDS_MISSING_EXTERNAL",
    "external_unused": "EXTERNAL_UNUSED",
    "key_directive": "KEY_DIRECTIVE_IN_FIELDS_ARG",
}


@st.composite
def faulty_subgraphs(draw: st.DrawFn) -> Case:
    """A Federation 2 subgraph of 1-4 entity types, each carrying 0-3 of the faults above.

    Every fault lives on its own type and field, so faults never mask one another: the expected codes
    are exactly one per injected fault. Type definitions come in a drawn order.
    """
    count = draw(st.integers(1, 4))
    blocks: list[str] = [
        "interface Node { id: ID! }",
        'type Org implements Node @key(fields: "id") { id: ID! name: String @external }',
    ]
    codes: list[str] = []
    for index in range(count):
        name = f"T{index}"
        faults = draw(st.lists(st.sampled_from(FAULTS), max_size=3, unique=True))
        extra = draw(st.lists(st.sampled_from(_SCALARS), min_size=1, max_size=3))
        fields = ["id: ID!", *(f"f{i}: {t}" for i, t in enumerate(extra))]
        keys = ['@key(fields: "id")']
        for fault in faults:
            codes.append(_FAULT_CODE[fault])
            if fault == "key_unknown":
                keys.append('@key(fields: "missing")')
            elif fault == "key_has_args":
                fields.append("arg(x: Int): Int")
                keys.append('@key(fields: "arg")')
            elif fault == "key_interface":
                fields.append("node: Node")
                keys.append('@key(fields: "node { id }")')
            elif fault == "requires_missing_external":
                fields += ["local: Int", 'needs: Int @requires(fields: "local")']
            elif fault == "requires_unknown":
                fields.append('needs2: Int @requires(fields: "absent")')
            elif fault == "provides_missing_external":
                fields.append('org: Org @provides(fields: "id")')
            elif fault == "external_unused":
                fields.append("unused: Int @external")
            elif fault == "key_directive":
                keys.append('@key(fields: "id @include(if: true)")')
        if draw(st.booleans()):
            fields += ["w: Int @external", 'ok: Int @requires(fields: "w")']
        blocks.append(f"type {name} {' '.join(keys)} {{ {' '.join(fields)} }}")
    refs = " ".join(f"t{i}: T{i}" for i in range(count))
    blocks.append(f'type Query {{ {refs} org: Org @provides(fields: "name") }}')
    ordered = draw(st.permutations(blocks))
    return case(f"generated-{draw(st.integers(0, 10**9))}", V2 + "\n".join(ordered), *codes)


def generated_corpus(size: int = 80) -> list[Case]:
    """``size`` cases of `faulty_subgraphs`, the same on every run (derandomized hypothesis)."""
    found: list[Case] = []

    @settings(
        max_examples=size * 3,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(faulty_subgraphs())
    def collect(item: Case) -> None:
        if len(found) < size and item.sdl not in {c.sdl for c in found}:
            found.append(replace(item, name=f"generated-{len(found)}"))

    collect()
    return found
