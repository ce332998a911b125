"""RBAC: inheritance, wildcards, composition (Property 5), and typed errors for broken policies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.auth import (
    RBAC,
    AuthConfigurationError,
    AuthTypeError,
    PermissionDeniedError,
    Role,
    RoleCycleError,
    UnknownRoleError,
)

BLOG = RBAC(
    {
        "viewer": Role(permissions=("posts:read", "comments:read")),
        "editor": Role(permissions=("posts:write", "comments:*"), inherits=("viewer",)),
        "admin": Role(permissions=("*:*",), inherits=("editor",)),
        "auditor": Role(permissions=("*:read",)),
    }
)


@pytest.mark.parametrize(
    ("roles", "permission", "allowed"),
    [
        ("viewer", "posts:read", True),
        ("viewer", "posts:write", False),
        ("editor", "posts:read", True),  # inherited from viewer
        ("editor", "comments:delete", True),  # comments:* covers any action
        ("editor", "users:read", False),
        ("admin", "users:delete", True),  # *:* covers everything
        ("auditor", "users:read", True),  # *:read covers any resource
        ("auditor", "users:write", False),
        (["viewer", "auditor"], "billing:read", True),
        (["viewer"], "billing:read", False),
        ([], "posts:read", False),
        ("editor", "comments:*", True),  # asking for every action: only a * grant covers it
        ("viewer", "posts:*", False),
    ],
)
def test_the_seeds_hierarchy(roles: str | list[str], permission: str, allowed: bool) -> None:
    assert BLOG.allows(roles, permission) is allowed


def test_require_raises_permission_denied() -> None:
    BLOG.require("editor", "posts:write")
    with pytest.raises(PermissionDeniedError) as caught:
        BLOG.require(["viewer"], "posts:write")
    assert caught.value.permission == "posts:write"


def test_the_closure_holds_every_ancestors_permissions() -> None:
    assert BLOG.includes("admin") == {"admin", "editor", "viewer"}
    assert BLOG.permissions("editor") == {"posts:write", "comments:*", "posts:read", "comments:read"}


def test_cycles_are_refused_with_the_circle() -> None:
    with pytest.raises(RoleCycleError) as caught:
        RBAC({"a": Role(inherits=("b",)), "b": Role(inherits=("c",)), "c": Role(inherits=("a",))})
    assert set(caught.value.cycle) == {"a", "b", "c"}
    assert caught.value.cycle[0] == caught.value.cycle[-1]
    with pytest.raises(RoleCycleError):
        RBAC({"self": Role(inherits=("self",))})


def test_unknown_roles_are_refused() -> None:
    with pytest.raises(UnknownRoleError) as caught:
        RBAC({"editor": Role(inherits=("viewer",))})
    assert caught.value.role == "viewer"
    with pytest.raises(UnknownRoleError):
        BLOG.allows("ghost", "posts:read")
    with pytest.raises(UnknownRoleError):
        BLOG.allows(["viewer", "ghost"], "billing:read")


@pytest.mark.parametrize("permission", ["posts", "posts:", ":read", "posts:read:x", "po sts:read", "", "*"])
def test_malformed_permissions_are_refused(permission: str) -> None:
    with pytest.raises(AuthConfigurationError):
        BLOG.allows("viewer", permission)
    with pytest.raises(AuthConfigurationError):
        Role(permissions=(permission,))


def test_wrong_types_are_refused() -> None:
    with pytest.raises(AuthTypeError):
        Role(permissions="posts:read")  # type: ignore[arg-type]  # a lone str is not a collection
    with pytest.raises(AuthTypeError):
        BLOG.allows([1], "posts:read")  # type: ignore[list-item]
    with pytest.raises(AuthTypeError):
        RBAC({"a": "posts:read"})  # type: ignore[dict-item]


# --- properties ------------------------------------------------------------------------------------

NAMES = ("posts", "comments", "users", "*")
ACTIONS = ("read", "write", "delete", "*")
permissions = st.builds(lambda r, a: f"{r}:{a}", st.sampled_from(NAMES), st.sampled_from(ACTIONS))
concrete = st.builds(lambda r, a: f"{r}:{a}", st.sampled_from(NAMES[:-1]), st.sampled_from(ACTIONS[:-1]))


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Role]:
    """Random acyclic hierarchies: a role inherits only from roles drawn before it."""
    count = draw(st.integers(1, 8))
    roles: dict[str, Role] = {}
    for index in range(count):
        earlier = [f"r{i}" for i in range(index)]
        parents = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
        own = draw(st.lists(permissions, max_size=4))
        roles[f"r{index}"] = Role(permissions=tuple(own), inherits=tuple(parents))
    return roles


def covers(grant: str, wanted: str) -> bool:
    return all(g in ("*", w) for g, w in zip(grant.split(":"), wanted.split(":"), strict=True))


def reference_allows(roles: dict[str, Role], role: str, wanted: str) -> bool:
    """The definition, by recursion over the hierarchy: no closure, no shortcuts."""
    spec = roles[role]
    return any(covers(grant, wanted) for grant in spec.permissions) or any(
        reference_allows(roles, parent, wanted) for parent in spec.inherits
    )


@given(policies(), permissions)
def test_property_5_composition_agrees_with_the_definition(roles: dict[str, Role], wanted: str) -> None:
    """Property 5: Role Composition. A role is allowed exactly what its own grants or any ancestor's cover."""
    rbac = RBAC(roles)
    for role in roles:
        assert rbac.allows(role, wanted) is reference_allows(roles, role, wanted)


@given(policies(), concrete)
def test_property_inheritance_only_adds(roles: dict[str, Role], wanted: str) -> None:
    """A child is allowed everything its parents are; a set of roles is allowed the union of theirs."""
    rbac = RBAC(roles)
    for role, spec in roles.items():
        assert rbac.permissions(role) >= set().union(*(rbac.permissions(p) for p in spec.inherits))
        for parent in spec.inherits:
            assert not rbac.allows(parent, wanted) or rbac.allows(role, wanted)
    names = list(roles)
    assert rbac.allows(names, wanted) is any(rbac.allows(role, wanted) for role in names)


@given(policies(), st.data())
def test_property_any_cycle_is_refused(roles: dict[str, Role], data: st.DataObject) -> None:
    """Adding an edge from an ancestor back to a descendant always makes a RoleCycleError."""
    rbac = RBAC(roles)
    child = data.draw(st.sampled_from(sorted(roles)))
    ancestor = data.draw(st.sampled_from(sorted(rbac.includes(child))))
    looped = dict(roles)
    looped[ancestor] = Role(roles[ancestor].permissions, (*roles[ancestor].inherits, child))
    with pytest.raises(RoleCycleError):
        RBAC(looped)
