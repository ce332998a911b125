"""Subgraph schemas shaped like the ones public federation demos and services are written in.

Written for this corpus (none is copied from a repository) in the styles found in Apollo's demo
supergraphs and in services built on them: Federation 1 ``extend type`` files that lean on another
subgraph's definition, entity-only subgraphs without a ``Query``, Federation 2.0-2.9 links, renamed
and namespaced imports, custom root type names, schema definitions and extensions, interfaces with
``@key`` and ``@interfaceObject``, the authorization, cost and context directives, printed schemas that
define the federation directives themselves, and the mistakes such files really contain.

A case with ``companions`` is judged, on Apollo's side, together with those other subgraphs of its
supergraph (a Federation 1 ``extend type`` needs its base definition somewhere); buttress-federation
checks the one subgraph alone.
"""

from __future__ import annotations

from corpus import Case


def link(version: str, *imports: str) -> str:
    """An ``extend schema @link`` to the federation spec of ``version`` importing ``imports``."""
    listed = ", ".join(f'"{name}"' for name in imports)
    return (
        f'extend schema\n  @link(url: "https://specs.apollo.dev/federation/v{version}",\n'
        f"        import: [{listed}])\n\n"
    )


def case(name: str, sdl: str, *codes: str, companions: tuple[str, ...] = ()) -> Case:
    return Case(name, sdl, tuple(sorted(codes)), companions)


# --- Federation 1: the accounts / products / reviews / inventory demo and its relatives ------------------

FED1_ACCOUNTS = """
extend type Query {
  me: User
  users: [User]
}

type User @key(fields: "id") {
  id: ID!
  name: String
  username: String
  birthDate(locale: String): String
}
"""

FED1_PRODUCTS = """
extend type Query {
  topProducts(first: Int = 5): [Product]
}

type Product @key(fields: "upc") {
  upc: String!
  name: String
  price: Int
  weight: Int
}
"""

FED1_REVIEWS = """
type Review @key(fields: "id") {
  id: ID!
  body: String
  author: User @provides(fields: "username")
  product: Product
}

extend type User @key(fields: "id") {
  id: ID! @external
  username: String @external
  reviews: [Review]
}

extend type Product @key(fields: "upc") {
  upc: String! @external
  reviews: [Review]
}
"""

FED1_INVENTORY = """
extend type Product @key(fields: "upc") {
  upc: String! @external
  weight: Int @external
  price: Int @external
  inStock: Boolean
  shippingEstimate: Int @requires(fields: "price weight")
}
"""

FED1_DEMO = (FED1_ACCOUNTS, FED1_PRODUCTS, FED1_REVIEWS, FED1_INVENTORY)


def _others(sdl: str) -> tuple[str, ...]:
    return tuple(other for other in FED1_DEMO if other != sdl)


FED1_PRINTED = '''
scalar _FieldSet

directive @key(fields: _FieldSet!) repeatable on OBJECT | INTERFACE
directive @requires(fields: _FieldSet!) on FIELD_DEFINITION
directive @provides(fields: _FieldSet!) on FIELD_DEFINITION
directive @external on FIELD_DEFINITION
directive @extends on OBJECT | INTERFACE

type Query {
  """The products on sale, best sellers first."""
  topProducts(first: Int = 5): [Product]
  product(upc: String!): Product
}

"""A product of the catalogue."""
type Product @key(fields: "upc") @key(fields: "sku") {
  upc: String!
  sku: String!
  name: String
  price: Int
  dimensions: Dimensions
}

type Dimensions {
  size: String
  weight: Float
}
'''

FED1_EXTENDS_DIRECTIVE = """
type Query {
  me: User
}

type User @key(fields: "id") @extends {
  id: ID! @external
  cart: Cart
}

type Cart {
  items: [CartItem!]!
  total: Float
}

type CartItem {
  product: Product!
  quantity: Int!
}

type Product @key(fields: "upc") @extends {
  upc: String! @external
}
"""

FED1_BASE_USERS = """
type Query { users: [User] }
type User @key(fields: "id") { id: ID! email: String }
type Product @key(fields: "upc") { upc: String! title: String }
"""


FED1: list[Case] = [
    case("fed1-accounts", FED1_ACCOUNTS),
    case("fed1-products", FED1_PRODUCTS),
    case("fed1-reviews", FED1_REVIEWS, companions=_others(FED1_REVIEWS)),
    case("fed1-inventory", FED1_INVENTORY, companions=_others(FED1_INVENTORY)),
    case("fed1-printed-with-definitions", FED1_PRINTED),
    case("fed1-extends-directive", FED1_EXTENDS_DIRECTIVE, companions=(FED1_BASE_USERS,)),
    case("fed1-entity-only", 'type User @key(fields: "email") {\n  email: ID!\n  name: String\n}\n'),
    case(
        "fed1-value-types-only",
        "type Money {\n  amount: Int!\n  currency: String!\n}\n\nenum Currency { EUR USD GBP }\n",
    ),
    case(
        "fed1-compound-key",
        """
type Query { order(id: ID!): Order }

type Order @key(fields: "id customer { id }") {
  id: ID!
  customer: Customer!
  lines: [OrderLine!]!
}

type Customer { id: ID! }
type OrderLine { sku: String! quantity: Int! }
""",
    ),
    case(
        "fed1-key-on-missing-field",
        """
extend type Query { shipment(id: ID!): Shipment }

type Shipment @key(fields: "trackingNumber") {
  id: ID!
  carrier: String
}
""",
        "KEY_INVALID_FIELDS",
    ),
    case(
        "fed1-extend-query-and-mutation",
        """
extend type Query { cart(id: ID!): Cart }
extend type Mutation { addToCart(cartId: ID!, upc: String!): Cart }

type Cart @key(fields: "id") {
  id: ID!
  upcs: [String!]!
}
""",
    ),
    case(
        "fed1-subscription-root",
        """
type Query { order(id: ID!): Order }
type Subscription { orderUpdated(id: ID!): Order }
type Order @key(fields: "id") { id: ID! status: String }
""",
    ),
    case(
        "fed1-interface-implementations",
        """
interface ProductItf {
  id: ID!
  name: String
}

type Book implements ProductItf @key(fields: "id") {
  id: ID!
  name: String
  isbn: String
}

type Film implements ProductItf @key(fields: "id") {
  id: ID!
  name: String
  runtime: Int
}

extend type Query { products: [ProductItf] }
""",
    ),
    case(
        "fed1-tag",
        """
extend type Query { me: User @tag(name: "public") }

type User @key(fields: "id") @tag(name: "public") {
  id: ID!
  email: String @tag(name: "internal")
}
""",
    ),
    case(
        "fed1-provides-on-list",
        """
type Query { reviews: [Review] }
type Review { id: ID! author: User @provides(fields: "name") }
extend type User @key(fields: "id") { id: ID! @external name: String @external }
""",
        companions=(FED1_ACCOUNTS,),
    ),
]


# --- Federation 2: the products / inventory / users / pandas / reviews demo ---------------------------------

FED2_PRODUCTS = (
    link("2.0", "@key", "@shareable", "@tag", "@inaccessible")
    + """
type Product implements ProductItf & SkuItf
  @key(fields: "id")
  @key(fields: "sku package")
  @key(fields: "sku variation { id }") {
  id: ID! @tag(name: "hi-from-products")
  sku: String
  package: String
  variation: ProductVariation
  dimensions: ProductDimension
  createdBy: User
  hidden: String @inaccessible
}

interface ProductItf implements SkuItf {
  id: ID!
  sku: String
  package: String
  variation: ProductVariation
  dimensions: ProductDimension
  createdBy: User
  hidden: String @inaccessible
}

interface SkuItf {
  sku: String
}

enum ShippingClass {
  STANDARD
  EXPRESS
  OVERNIGHT
}

type ProductVariation {
  id: ID!
}

type ProductDimension @shareable {
  size: String
  weight: Float
}

type Query {
  allProducts: [ProductItf]
  product(id: ID!): ProductItf
}

type User @key(fields: "email") {
  email: ID!
  totalProductsCreated: Int @shareable
}
"""
)

FED2_INVENTORY = (
    link("2.0", "@key", "@shareable", "@external", "@requires")
    + """
type Product @key(fields: "id") {
  id: ID!
  dimensions: ProductDimension @external
  delivery(zip: String): DeliveryEstimates @requires(fields: "dimensions { size weight }")
}

type ProductDimension @shareable {
  size: String
  weight: Float
}

type DeliveryEstimates {
  estimatedDelivery: String
  fastestDelivery: String
}
"""
)

FED2_USERS = (
    link("2.0", "@key", "@shareable", "@tag")
    + """
type User @key(fields: "email") {
  email: ID! @tag(name: "test-from-users")
  name: String
  totalProductsCreated: Int @shareable
}
"""
)

FED2_PANDAS = """
type Query {
  allPandas: [Panda]
  panda(name: ID!): Panda
}

type Panda {
  name: ID!
  favoriteFood: String
}
"""

FED2_REVIEWS = (
    link("2.3", "@key", "@external", "@requires", "@provides", "@shareable")
    + """
type Query {
  review(id: ID!): Review
  latestReviews(first: Int = 10): [Review!]!
}

type Review @key(fields: "id") {
  id: ID!
  body: String!
  rating: Int
  product: Product
  author: User @provides(fields: "name")
}

type Product @key(fields: "id") {
  id: ID!
  reviews: [Review!]!
  averageRating: Float
}

type User @key(fields: "email") {
  email: ID!
  name: String @external
  reviews: [Review!]!
}
"""
)

FED2_DEMO: list[Case] = [
    case("fed2-products", FED2_PRODUCTS),
    case("fed2-inventory-entity-only", FED2_INVENTORY),
    case("fed2-users-entity-only", FED2_USERS),
    case("fed2-pandas-plain-graphql", FED2_PANDAS),
    case("fed2-reviews", FED2_REVIEWS),
    case(
        "fed2-entity-only-one-line",
        link("2.0", "@key") + 'type User @key(fields: "email") { email: ID! }',
    ),
    case(
        "fed2-reference-only-entity",
        link("2.0", "@key")
        + """
type Query { latestOrders: [Order!]! }

type Order @key(fields: "id") {
  id: ID!
  buyer: User!
}

type User @key(fields: "id", resolvable: false) {
  id: ID!
}
""",
    ),
    case(
        "fed2-shipping-requires",
        link("2.1", "@key", "@external", "@requires")
        + """
type Product @key(fields: "upc") {
  upc: String!
  weight: Int @external
  price: Int @external
  shippingEstimate: Int @requires(fields: "price weight")
}
""",
    ),
    case(
        "fed2-requires-missing-external",
        link("2.0", "@key", "@requires")
        + """
type Product @key(fields: "upc") {
  upc: String!
  weight: Int
  shippingEstimate: Int @requires(fields: "weight")
}
""",
        "REQUIRES_FIELDS_MISSING_EXTERNAL",
    ),
    case(
        "fed2-external-import-forgotten",
        link("2.0", "@key", "@requires")
        + """
type Product @key(fields: "upc") {
  upc: String!
  weight: Int @external
  shippingEstimate: Int @requires(fields: "weight")
}
""",
        "INVALID_GRAPHQL",
    ),
    case(
        "fed2-shareable-not-imported",
        link("2.0", "@key")
        + """
type Query { me: User }
type User @key(fields: "id") { id: ID! }
type Money @shareable { amount: Int! currency: String! }
""",
        "INVALID_GRAPHQL",
    ),
    case(
        "fed2-key-on-unknown-field",
        link("2.0", "@key", "@shareable")
        + """
type Query { warehouse(id: ID!): Warehouse }
type Warehouse @key(fields: "code") { id: ID! name: String @shareable }
""",
        "KEY_INVALID_FIELDS",
    ),
    case(
        "fed2-external-unused",
        link("2.0", "@key", "@external")
        + """
type Query { me: User }
type User @key(fields: "id") {
  id: ID!
  email: String @external
  nickname: String
}
""",
        "EXTERNAL_UNUSED",
    ),
    case(
        "fed2-provides-missing-external",
        link("2.0", "@key", "@provides")
        + """
type Query { topReviews: [Review] }
type Review @key(fields: "id") { id: ID! author: User @provides(fields: "name") }
type User @key(fields: "id") { id: ID! name: String }
""",
        "PROVIDES_FIELDS_MISSING_EXTERNAL",
    ),
]


# --- Every Federation 2 version from 2.0 to 2.9 -------------------------------------------------------------

VERSIONS: list[Case] = [
    case(
        "v2.0-shareable-override-inaccessible",
        link("2.0", "@key", "@shareable", "@override", "@inaccessible", "@tag")
        + """
type Query {
  product(id: ID!): Product
  legacyProduct(id: ID!): Product @inaccessible
}

type Product @key(fields: "id") {
  id: ID!
  name: String @shareable
  price: Int @override(from: "legacy-pricing")
  internalCode: String @inaccessible @tag(name: "internal")
}
""",
    ),
    case(
        "v2.1-compose-directive",
        """
extend schema
  @link(url: "https://specs.apollo.dev/federation/v2.1", import: ["@key", "@composeDirective"])
  @link(url: "https://myorg.example/caching/v1.0", import: ["@cacheControl"])
  @composeDirective(name: "@cacheControl")

directive @cacheControl(maxAge: Int) on FIELD_DEFINITION | OBJECT

type Query {
  products: [Product!]! @cacheControl(maxAge: 60)
}

type Product @key(fields: "id") @cacheControl(maxAge: 300) {
  id: ID!
  name: String
}
""",
    ),
    case(
        "v2.2-shareable-on-type-and-extension",
        link("2.2", "@key", "@shareable")
        + """
type Query { position: Position }
type Position @shareable { x: Int! y: Int! }
extend type Position @shareable { z: Int }
""",
    ),
    case(
        "v2.3-interface-key",
        link("2.3", "@key")
        + """
type Query { media(id: ID!): Media }

interface Media @key(fields: "id") {
  id: ID!
  title: String!
}

type Book implements Media @key(fields: "id") {
  id: ID!
  title: String!
  author: String
}

type Movie implements Media @key(fields: "id") {
  id: ID!
  title: String!
  director: String
}
""",
    ),
    case(
        "v2.3-interface-object",
        link("2.3", "@key", "@interfaceObject")
        + """
type Media @key(fields: "id") @interfaceObject {
  id: ID!
  reviews: [String!]!
}
""",
    ),
    case(
        "v2.4-interface-object-with-query",
        link("2.4", "@key", "@interfaceObject", "@shareable")
        + """
type Query { topMedia: [Media!]! }

type Media @key(fields: "id") @interfaceObject {
  id: ID!
  popularity: Float @shareable
}
""",
    ),
    case(
        "v2.5-authenticated-requires-scopes",
        link("2.5", "@key", "@authenticated", "@requiresScopes")
        + """
type Query {
  me: User @authenticated
  users: [User!]! @requiresScopes(scopes: [["read:users"], ["admin"]])
}

type User @key(fields: "id") {
  id: ID!
  email: String @requiresScopes(scopes: [["read:email"]])
}
""",
    ),
    case(
        "v2.6-policy",
        link("2.6", "@key", "@policy")
        + """
type Query { invoices: [Invoice!]! @policy(policies: [["finance"]]) }
type Invoice @key(fields: "id") @policy(policies: [["finance"], ["audit"]]) { id: ID! total: Int }
""",
    ),
    case(
        "v2.7-progressive-override",
        link("2.7", "@key", "@override")
        + """
type Query { product(id: ID!): Product }
type Product @key(fields: "id") {
  id: ID!
  inStock: Boolean @override(from: "inventory", label: "percent(25)")
}
""",
    ),
    case(
        "v2.8-context",
        link("2.8", "@key", "@context", "@fromContext")
        + """
type Query { customer(id: ID!): Customer }

type Customer @key(fields: "id") @context(name: "userContext") {
  id: ID!
  currencyCode: String!
  cart: Cart!
}

type Cart @key(fields: "id") {
  id: ID!
  total(currency: String @fromContext(field: "$userContext { currencyCode }")): Int
}
""",
    ),
    case(
        "v2.9-cost-and-list-size",
        link("2.9", "@key", "@cost", "@listSize")
        + """
type Query {
  products(first: Int = 20): [Product!]! @listSize(slicingArguments: ["first"])
  search(query: String!): SearchConnection @listSize(assumedSize: 50, sizedFields: ["edges"])
  expensive: Int @cost(weight: 25)
}

type SearchConnection {
  edges: [Product!]!
  total: Int
}

type Product @key(fields: "id") {
  id: ID!
  name: String
}
""",
    ),
    case(
        "v2.9-with-link-spec-link",
        """
extend schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@shareable"])

type Query { warehouses: [Warehouse!]! }
type Warehouse @key(fields: "id") { id: ID! name: String @shareable }
""",
    ),
    case(
        "v2.9-key-on-interface-missing-on-implementation",
        link("2.9", "@key")
        + """
type Query { node(id: ID!): Node }
interface Node @key(fields: "id") { id: ID! }
type Account implements Node @key(fields: "id") { id: ID! }
type Invoice implements Node { id: ID! }
""",
        "INTERFACE_KEY_NOT_ON_IMPLEMENTATION",
    ),
]


# --- @link: renamed imports, namespaces, schema definitions and extensions, custom roots ------------------

LINKS: list[Case] = [
    case(
        "link-renamed-key-primary-key",
        """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3",
  import: [{name: "@key", as: "@primaryKey"}, "@shareable"])

type Query { user(id: ID!): User }
type User @primaryKey(fields: "id") { id: ID! name: String @shareable }
""",
    ),
    case(
        "link-renamed-everything",
        """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: [
  {name: "@key", as: "@id"},
  {name: "@external", as: "@remote"},
  {name: "@requires", as: "@needs"},
  {name: "@shareable", as: "@shared"}
])

type Product @id(fields: "upc") {
  upc: String!
  weight: Int @remote
  shipping: Int @needs(fields: "weight")
  name: String @shared
}
""",
    ),
    case(
        "link-renamed-fieldset-type",
        """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.0",
  import: ["@key", {name: "FieldSet", as: "Selection"}])

type Query { a: A }
type A @key(fields: "id") { id: ID! }
""",
    ),
    case(
        "link-namespace-as",
        """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.0", as: "fed")

type Query { product: Product }
type Product @fed__key(fields: "id") { id: ID! name: String @fed__shareable }
""",
    ),
    case(
        "link-namespace-default-prefix",
        """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.0")

type Product @federation__key(fields: "upc") {
  upc: String!
  weight: Int @federation__external
  shipping: Int @federation__requires(fields: "weight")
}
""",
    ),
    case(
        "link-namespace-used-under-default-name",
        """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.0", as: "fed")

type Query { product: Product }
type Product @key(fields: "id") { id: ID! }
""",
        "INVALID_GRAPHQL",
    ),
    case(
        "link-renamed-import-used-by-old-name",
        """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3",
  import: [{name: "@key", as: "@primaryKey"}])

type Query { user(id: ID!): User }
type User @key(fields: "id") { id: ID! }
""",
        "INVALID_GRAPHQL",
    ),
    case(
        "link-import-as-not-a-name",
        """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3",
  import: [{name: "@key", as: "@primary-key"}])

type User @key(fields: "id") { id: ID! }
""",
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "link-import-name-not-a-name",
        """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3",
  import: [{name: "@k ey"}])

type Query { a: Int }
""",
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "link-namespace-not-a-name",
        """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", as: "fed eration")

type Query { a: Int }
""",
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "link-namespace-with-double-underscore",
        """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", as: "my__fed")

type Query { a: Int }
""",
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "link-import-directive-as-type",
        """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3",
  import: [{name: "@key", as: "Key"}])

type Query { a: Int }
""",
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "link-in-schema-definition",
        """
schema
  @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@shareable"]) {
  query: Query
  mutation: Mutation
}

type Query { account(id: ID!): Account }
type Mutation { closeAccount(id: ID!): Account }
type Account @key(fields: "id") { id: ID! status: String @shareable }
""",
    ),
    case(
        "link-two-schema-extensions",
        """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
extend schema @link(url: "https://myorg.example/audit/v1.0", import: ["@audited"])

directive @audited(reason: String) on FIELD_DEFINITION

type Query { payments: [Payment!]! @audited(reason: "pci") }
type Payment @key(fields: "id") { id: ID! amount: Int! }
""",
    ),
    case(
        "custom-root-query",
        link("2.3", "@key")
        + """
schema {
  query: RootQuery
  mutation: RootMutation
}

type RootQuery { me: User }
type RootMutation { rename(name: String!): User }
type User @key(fields: "id") { id: ID! name: String }
""",
    ),
    case(
        "custom-root-query-fed1",
        """
schema { query: QueryRoot }

type QueryRoot { product(upc: String!): Product }
type Product @key(fields: "upc") { upc: String! name: String }
""",
    ),
    case(
        "custom-root-only-mutation",
        link("2.3", "@key")
        + """
schema { mutation: Commands }

type Commands { placeOrder(sku: String!): Order }
type Order @key(fields: "id") { id: ID! }
""",
    ),
    case(
        "custom-root-with-default-name-taken",
        link("2.3", "@key")
        + """
schema { query: RootQuery }

type RootQuery { me: User }
type Query { legacy: Int }
type User @key(fields: "id") { id: ID! }
""",
        "ROOT_QUERY_USED",
    ),
    case(
        "custom-root-mutation-with-default-name-taken",
        """
schema { query: Query mutation: Writes }

type Query { a: Int }
type Writes { b: Int }
type Mutation { c: Int }
""",
        "ROOT_MUTATION_USED",
    ),
    case(
        "schema-extension-adds-mutation",
        link("2.3", "@key")
        + """
type Query { me: User }
type User @key(fields: "id") { id: ID! }

extend schema { mutation: Mutation }
type Mutation { logout: Boolean }
""",
    ),
]


# --- Interfaces, @interfaceObject, @shareable, auth, cost: what the rules forbid ---------------------------

RULES: list[Case] = [
    case(
        "interface-object-without-key",
        link("2.3", "@key", "@interfaceObject") + "type Media @interfaceObject {\n  id: ID!\n}\n",
        "INTERFACE_OBJECT_USAGE_ERROR",
    ),
    case(
        "interface-key-not-resolvable-on-implementation",
        link("2.3", "@key")
        + """
type Query { media: [Media] }
interface Media @key(fields: "id") { id: ID! }
type Song implements Media @key(fields: "id", resolvable: false) { id: ID! }
""",
        "INTERFACE_KEY_NOT_ON_IMPLEMENTATION",
    ),
    case(
        "interface-key-two-implementations-missing",
        link("2.3", "@key")
        + """
interface Vehicle @key(fields: "vin") { vin: ID! }
type Car implements Vehicle { vin: ID! doors: Int }
type Truck implements Vehicle { vin: ID! payload: Int }
type Bike implements Vehicle @key(fields: "vin") { vin: ID! }
""",
        "INTERFACE_KEY_NOT_ON_IMPLEMENTATION",
    ),
    case(
        "shareable-on-interface-field",
        link("2.3", "@key", "@shareable")
        + """
type Query { node: Node }
interface Node { id: ID! @shareable }
type Thing implements Node { id: ID! }
""",
        "INVALID_SHAREABLE_USAGE",
    ),
    case(
        "shareable-twice-on-one-declaration",
        link("2.3", "@shareable")
        + """
type Query { price: Price }
type Price @shareable @shareable { amount: Int }
""",
        "INVALID_SHAREABLE_USAGE",
    ),
    case(
        "authenticated-on-interface",
        link("2.5", "@key", "@authenticated")
        + """
type Query { accounts: [Account] }
interface Account @authenticated { id: ID! }
type Personal implements Account @key(fields: "id") { id: ID! }
""",
        "AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE",
    ),
    case(
        "requires-scopes-on-interface-field",
        link("2.5", "@key", "@requiresScopes")
        + """
type Query { accounts: [Account] }
interface Account { id: ID! balance: Int @requiresScopes(scopes: [["finance"]]) }
type Personal implements Account @key(fields: "id") { id: ID! balance: Int }
""",
        "AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE",
    ),
    case(
        "policy-on-interface-object",
        link("2.6", "@key", "@interfaceObject", "@policy")
        + """
type Account @key(fields: "id") @interfaceObject @policy(policies: [["kyc"]]) { id: ID! }
""",
        "AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE",
    ),
    case(
        "cost-on-interface-field",
        link("2.9", "@cost")
        + """
type Query { nodes: [Node] }
interface Node { id: ID! score: Int @cost(weight: 5) }
type Item implements Node { id: ID! score: Int }
""",
        "COST_APPLIED_TO_INTERFACE_FIELD",
    ),
    case(
        "list-size-on-non-list",
        link("2.9", "@listSize")
        + """
type Query { count(first: Int): Int @listSize(slicingArguments: ["first"]) }
""",
        "LIST_SIZE_APPLIED_TO_NON_LIST",
    ),
    case(
        "list-size-negative-assumed-size",
        link("2.9", "@listSize") + "type Query { tags: [String!] @listSize(assumedSize: -1) }\n",
        "LIST_SIZE_INVALID_ASSUMED_SIZE",
    ),
    case(
        "list-size-unknown-slicing-argument",
        link("2.9", "@listSize")
        + 'type Query { tags(first: Int): [String!] @listSize(slicingArguments: ["limit"]) }\n',
        "LIST_SIZE_INVALID_SLICING_ARGUMENT",
    ),
    case(
        "list-size-string-slicing-argument",
        link("2.9", "@listSize")
        + 'type Query { tags(first: String): [String!] @listSize(slicingArguments: ["first"]) }\n',
        "LIST_SIZE_INVALID_SLICING_ARGUMENT",
    ),
    case(
        "list-size-sized-field-unknown",
        link("2.9", "@listSize")
        + """
type Query { search(first: Int): Connection @listSize(slicingArguments: ["first"], sizedFields: ["nodes"]) }
type Connection { edges: [String!]! }
""",
        "LIST_SIZE_INVALID_SIZED_FIELD",
    ),
    case(
        "list-size-sized-field-not-list",
        link("2.9", "@listSize")
        + """
type Query { search(first: Int): Connection @listSize(slicingArguments: ["first"], sizedFields: ["total"]) }
type Connection { edges: [String!]! total: Int }
""",
        "LIST_SIZE_APPLIED_TO_NON_LIST",
    ),
    case(
        "list-size-sized-fields-on-scalar",
        link("2.9", "@listSize") + 'type Query { names: [String] @listSize(sizedFields: ["x"]) }\n',
        "LIST_SIZE_INVALID_SIZED_FIELD",
    ),
    case(
        "entity-interface-implementation-only",
        link("2.3", "@key", "@shareable")
        + """
interface Node { id: ID! }
type Review implements Node @key(fields: "id") { id: ID! stars: Int! @shareable }
""",
    ),
]


REAL_WORLD: list[Case] = FED1 + FED2_DEMO + VERSIONS + LINKS + RULES


# --- Edges of @link and of the root types ----------------------------------------------------------------

_FED = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])\n'

EDGES: list[Case] = [
    case("edge-only-a-mutation", "type Mutation { ping: Boolean }"),
    case(
        "edge-schema-without-query-root",
        _FED + "schema { mutation: M }\ntype M { a: Int }\ntype Query { q: Int }",
    ),
    case(
        "edge-printed-federation-operations",
        _FED + "scalar _Any\ntype _Service { sdl: String }\nunion _Entity = User\n"
        "type Query { _entities(representations: [_Any!]!): [_Entity]! _service: _Service! me: User }\n"
        'type User @key(fields: "id") { id: ID! }',
    ),
    case(
        "edge-import-renamed-wrong-kind-and-unknown",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: [{name: "@nope", as: "Nope"}])\ntype Query { a: Int }',
        "INVALID_LINK_DIRECTIVE_USAGE",
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "edge-import-not-a-string",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: [5])\n'
        "type Query { a: Int }",
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "edge-import-unknown-field",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: [{name: "@key", from: "x"}])\ntype Query { a: Int }',
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "edge-import-without-name",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: [{as: "@x"}])\n'
        "type Query { a: Int }",
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "edge-namespace-with-dash",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", as: "fed-x")\n'
        "type Query { a: Int }",
        "INVALID_GRAPHQL",
    ),
    case(
        "edge-namespace-with-dash-used",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", as: "fed-x")\n'
        'type Query { a: Int }\ntype User @fed__key(fields: "id") { id: ID! }',
        "INVALID_GRAPHQL",
    ),
    case(
        "edge-namespace-ending-in-underscore",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", as: "fed_")\n'
        "type Query { a: Int }",
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "edge-federation-linked-twice",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"]) '
        '@link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@shareable"])\n'
        "type Query { a: Int }",
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "edge-link-spec-linked-twice",
        'extend schema @link(url: "https://specs.apollo.dev/link/v1.0") '
        '@link(url: "https://specs.apollo.dev/link/v1.0")\ntype Query { a: Int }',
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "edge-federation-url-trailing-slash",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.0/", import: ["@key"])\n'
        "type Query { a: Int }",
        "INVALID_LINK_IDENTIFIER",
    ),
    case(
        "edge-federation-url-without-minor",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2")\ntype Query { a: Int }',
        "INVALID_LINK_IDENTIFIER",
    ),
    case(
        "edge-federation-url-query-string",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.0?x=1", import: ["@key"])\n'
        'type Query { a: Int }\ntype U @key(fields: "id") { id: ID! }',
    ),
    case(
        "edge-federation-url-padded-minor",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.03", import: ["@key"])\n'
        'type Query { a: Int }\ntype U @key(fields: "id") { id: ID! }',
    ),
    case(
        "edge-federation-v1-link",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v1.0")\ntype Query { a: Int }',
        "UNKNOWN_FEDERATION_LINK_VERSION",
    ),
    case(
        "edge-other-link-without-version",
        _FED + 'extend schema @link(url: "https://example.com/foo")\ntype Query { a: Int }',
        "INVALID_LINK_IDENTIFIER",
    ),
    case(
        "edge-other-link-bad-import-alias",
        _FED
        + 'extend schema @link(url: "https://example.com/foo/v1.0", import: [{name: "@a", as: "@b-c"}])\n'
        "type Query { a: Int }",
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "edge-other-link-alias-with-double-underscore",
        _FED + 'extend schema @link(url: "https://example.com/foo/v1.0", as: "a__b")\ntype Query { a: Int }',
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "edge-two-links-one-alias",
        _FED + 'extend schema @link(url: "https://example.com/foo/v1.0") '
        '@link(url: "https://other.example/foo/v1.0")\ntype Query { a: Int }',
        "INVALID_LINK_DIRECTIVE_USAGE",
    ),
    case(
        "edge-links-without-federation-are-directives",
        'extend schema @link(url: "https://example.com/foo") @link(url: "not a url")\n'
        'type Query { a: Int }\ntype U @key(fields: "id") { id: ID! }',
    ),
    case(
        "edge-fed1-interface-directives-dropped",
        'type Query { a: I }\ninterface I @key(fields: "id") { id: ID! x: Int @external '
        'y: Int @requires(fields: "x") }\ntype T implements I @key(fields: "id") { id: ID! x: Int y: Int }',
    ),
    case(
        "edge-fed2.0-requires-on-interface",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.0", '
        'import: ["@key", "@requires"])\ntype Query { a: I }\ninterface I { id: ID! x: Int '
        'y: Int @requires(fields: "x") }\ntype T implements I @key(fields: "id") { id: ID! x: Int y: Int }',
        "REQUIRES_FIELDS_MISSING_EXTERNAL",
        "REQUIRES_UNSUPPORTED_ON_INTERFACE",
    ),
    # Directive arguments in SDL are checked against their types, with Apollo's leniency.
    case(
        "edge-deprecated-reason-not-a-string",
        "type Query { a: Int @deprecated(reason: 5) }",
        "INVALID_GRAPHQL",
    ),
    case(
        "edge-specified-by-url-not-a-string",
        "scalar S @specifiedBy(url: 5)\ntype Query { a: S }",
        "INVALID_GRAPHQL",
    ),
    case(
        "edge-key-resolvable-not-a-boolean",
        _FED + 'type Query { a: Int }\ntype U @key(fields: "id", resolvable: "no") { id: ID! }',
        "INVALID_GRAPHQL",
    ),
    case(
        "edge-key-fields-null",
        _FED + "type Query { a: Int }\ntype U @key(fields: null) { id: ID! }",
        "KEY_INVALID_FIELDS_TYPE",
    ),
    case(
        "edge-list-size-assumed-size-not-an-int",
        link("2.9", "@listSize") + 'type Query { a: [Int] @listSize(assumedSize: "x") }',
        "INVALID_GRAPHQL",
    ),
    case(
        "edge-list-size-assumed-size-past-32-bits",
        link("2.9", "@listSize") + "type Query { a: [Int] @listSize(assumedSize: 99999999999999) }",
    ),
    case(
        "edge-cost-weight-not-an-int",
        link("2.9", "@cost") + 'type Query { a: Int @cost(weight: "x") }',
        "INVALID_GRAPHQL",
    ),
    case(
        "edge-int-argument-past-1e21",
        "directive @my(x: Int) on OBJECT\ntype Query @my(x: 123456789012345678901234567890) { a: Int }",
        "INVALID_GRAPHQL",
    ),
    case(
        "edge-null-for-a-required-argument",
        "directive @my(x: String!) on OBJECT\ntype Query @my(x: null) { a: Int }",
    ),
    case(
        "edge-enum-argument-written-as-a-string",
        'enum E { A B }\ndirective @my(x: E) on OBJECT\ntype Query @my(x: "A") { a: Int }',
    ),
    case(
        "edge-enum-argument-unknown-value",
        "enum E { A B }\ndirective @my(x: E) on OBJECT\ntype Query @my(x: C) { a: Int }",
        "INVALID_GRAPHQL",
    ),
    case(
        "edge-input-argument-missing-required-field",
        "input I { a: Int! b: String }\ndirective @my(x: I) on OBJECT\n"
        'type Query @my(x: {b: "x"}) { a: Int }',
    ),
    case(
        "edge-input-argument-unknown-field",
        'input I { a: Int! }\ndirective @my(x: I) on OBJECT\ntype Query @my(x: {a: 1, c: "x"}) { a: Int }',
        "INVALID_GRAPHQL",
    ),
    case(
        "edge-id-argument-float",
        "directive @my(x: ID) on OBJECT\ntype Query @my(x: 1.5) { a: Int }",
        "INVALID_GRAPHQL",
    ),
    case(
        "edge-argument-on-argument-enum-value-and-input-field",
        "directive @my(x: Int) on ARGUMENT_DEFINITION | ENUM_VALUE | INPUT_FIELD_DEFINITION\n"
        'enum E { A @my(x: "s") }\ninput I { f: Int @my(x: "s") }\n'
        'type Query { a(y: Int @my(x: "s"), i: I): E }',
        "INVALID_GRAPHQL",
        "INVALID_GRAPHQL",
        "INVALID_GRAPHQL",
    ),
    case(
        "edge-link-purpose-unknown",
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"], for: NOPE)\n'
        "type Query { a: Int }",
        "INVALID_GRAPHQL",
    ),
    # Apollo 2.14.4 throws on these three instead of answering (see test_apollo.APOLLO_CRASHES).
    case(
        "edge-other-link-not-a-url",
        _FED + 'extend schema @link(url: "not a url")\ntype Query { a: Int }',
        "INVALID_LINK_IDENTIFIER",
    ),
    case(
        "edge-link-url-not-a-string", "extend schema @link(url: 5)\ntype Query { a: Int }", "INVALID_GRAPHQL"
    ),
    case(
        "edge-link-without-url",
        _FED + 'extend schema @link(as: "x")\ntype Query { a: Int }',
        "INVALID_LINK_IDENTIFIER",
    ),
]


REAL_WORLD_AND_EDGES: list[Case] = REAL_WORLD + EDGES
