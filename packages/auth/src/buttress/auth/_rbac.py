"""`RBAC`: roles that inherit from each other, ``resource:action`` permissions with wildcards.

Each role's permissions are closed over its ancestors once, when the policy is built, so a check
is four set lookups whatever the number of roles and rules: the permission itself, its resource
with any action, any resource with its action, and everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from .exceptions import (
    AuthConfigurationError,
    AuthTypeError,
    PermissionDeniedError,
    RoleCycleError,
    UnknownRoleError,
)

__all__ = ["RBAC", "Role", "parse_permission"]

_PART: Final = re.compile(r"\*|[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
_ROLE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}")
_CACHED: Final = 4_096


def parse_permission(permission: object, parameter: str = "permission") -> tuple[str, str]:
    """Split ``"resource:action"``; each part a name (letters, digits, ``_.-``) or ``*``.

    Raises:
        AuthTypeError: ``permission`` is not a str.
        AuthConfigurationError: It is not ``resource:action`` of such parts.

    Examples:
        >>> parse_permission("posts:read")
        ('posts', 'read')
    """
    if not isinstance(permission, str):
        raise AuthTypeError(parameter, "a 'resource:action' str", permission)
    resource, sep, action = permission.partition(":")
    if not sep or not _PART.fullmatch(resource) or not _PART.fullmatch(action):
        raise AuthConfigurationError(
            parameter,
            permission,
            "must be 'resource:action', each a name or '*'",
            show_value=len(permission) < 200,
        )
    return resource, action


def _role_name(value: object, parameter: str) -> str:
    if not isinstance(value, str):
        raise AuthTypeError(parameter, "a role name (str)", value)
    if not _ROLE.fullmatch(value):
        raise AuthConfigurationError(
            parameter, value, "must be 1 to 128 letters, digits or _.:-", show_value=len(value) < 200
        )
    return value


def _names(value: object, parameter: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise AuthTypeError(parameter, "a collection of str (not a lone str)", value)
    return tuple(value)


@dataclass(frozen=True, slots=True)
class Role:
    """A role's own permissions and the roles it inherits from.

    Attributes:
        permissions: ``resource:action`` permissions, ``*`` for any resource or action.
        inherits: Roles whose permissions this one has too.
    """

    permissions: tuple[str, ...] = ()
    inherits: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "permissions", _names(self.permissions, "permissions"))
        object.__setattr__(self, "inherits", _names(self.inherits, "inherits"))
        for permission in self.permissions:
            parse_permission(permission, "permissions")
        for parent in self.inherits:
            _role_name(parent, "inherits")


class RBAC:
    """A role hierarchy with ``resource:action`` permissions; a check costs O(1) in the policy's size.

    Built once from a mapping of role names to `Role`; every role's permissions are closed over
    its ancestors then, and cycles and unknown parents are refused then, not at a check::

        rbac = RBAC({
            "viewer": Role(permissions=("posts:read", "comments:read")),
            "editor": Role(permissions=("posts:write",), inherits=("viewer",)),
            "admin": Role(permissions=("*:*",), inherits=("editor",)),
        })
        rbac.allows("editor", "posts:read")   # True: inherited from viewer
        rbac.require(["viewer"], "posts:write")  # raises PermissionDeniedError

    Args:
        roles: Each role's name and its `Role`.

    Raises:
        UnknownRoleError: A role inherits from one the mapping does not define.
        RoleCycleError: Roles inherit from each other in a circle.
        AuthConfigurationError: A malformed role name or permission.
        AuthTypeError: ``roles`` is not a mapping of str to `Role`.
    """

    __slots__ = ("_closure", "_inherited", "_roles", "_wanted")

    def __init__(self, roles: Mapping[str, Role]) -> None:
        if not isinstance(roles, Mapping):
            raise AuthTypeError("roles", "a mapping of role names to Role", roles)
        checked: dict[str, Role] = {}
        for name, role in roles.items():
            if not isinstance(role, Role):
                raise AuthTypeError("roles", "Role values", role)
            checked[_role_name(name, "roles")] = role
        for name, role in checked.items():
            for parent in role.inherits:
                if parent not in checked:
                    raise UnknownRoleError(parent, f"roles[{name!r}].inherits")
        self._roles = checked
        self._inherited: dict[str, frozenset[str]] = {}
        for name in checked:
            self._ancestors(name, ())
        # An application checks a few constant permissions: each one's four lookups are made once.
        self._wanted: dict[str, tuple[str, str, str, str]] = {}
        self._closure: dict[str, frozenset[str]] = {
            name: frozenset(p for member in self._inherited[name] for p in checked[member].permissions)
            for name in checked
        }

    def _ancestors(self, name: str, path: tuple[str, ...]) -> frozenset[str]:
        """``name`` and every role it inherits from, found depth-first; a circle is an error."""
        done = self._inherited.get(name)
        if done is not None:
            return done
        if name in path:
            raise RoleCycleError((*path[path.index(name) :], name))
        found = {name}
        for parent in self._roles[name].inherits:
            found |= self._ancestors(parent, (*path, name))
        result = frozenset(found)
        self._inherited[name] = result
        return result

    @property
    def roles(self) -> frozenset[str]:
        """The names of the policy's roles."""
        return frozenset(self._roles)

    def _granted(self, role: object) -> frozenset[str]:
        closure = self._closure.get(role) if isinstance(role, str) else None
        if closure is None:
            if not isinstance(role, str):
                raise AuthTypeError("roles", "role names (str)", role)
            raise UnknownRoleError(role)
        return closure

    def permissions(self, role: str) -> frozenset[str]:
        """The permissions ``role`` has: its own and every ancestor's.

        Raises:
            UnknownRoleError: The policy has no such role.
        """
        return self._granted(role)

    def includes(self, role: str) -> frozenset[str]:
        """``role`` and every role it inherits from, directly or not.

        Raises:
            UnknownRoleError: The policy has no such role.
        """
        self._granted(role)
        return self._inherited[role]

    def allows(self, roles: str | Iterable[str], permission: str) -> bool:
        """Whether any of ``roles`` grants ``permission`` (a grant of ``*`` covers any part).

        Args:
            roles: A role name, or the principal's role names.
            permission: ``resource:action``; a ``*`` part asks for every resource or action, which
                only a grant of ``*`` there covers.

        Raises:
            UnknownRoleError: A role the policy does not define.
            AuthConfigurationError: A malformed permission.
            AuthTypeError: An argument has the wrong type.
        """
        wanted = self._wanted.get(permission) if isinstance(permission, str) else None
        if wanted is None:
            wanted = self._lookups(permission)
        closure = self._closure
        if isinstance(roles, str):  # the common case, kept to plain lookups
            granted = closure.get(roles)
            if granted is None:
                granted = self._granted(roles)
            return (
                wanted[0] in granted or wanted[1] in granted or wanted[2] in granted or wanted[3] in granted
            )
        for role in _names(roles, "roles"):
            granted = self._granted(role)
            if wanted[0] in granted or wanted[1] in granted or wanted[2] in granted or wanted[3] in granted:
                return True
        return False

    def _lookups(self, permission: object) -> tuple[str, str, str, str]:
        resource, action = parse_permission(permission)
        wanted = (f"{resource}:{action}", f"{resource}:*", f"*:{action}", "*:*")
        if len(self._wanted) >= _CACHED:
            self._wanted.clear()
        self._wanted[wanted[0]] = wanted
        return wanted

    def require(self, roles: str | Iterable[str], permission: str) -> None:
        """Return if any of ``roles`` grants ``permission``; raise `PermissionDeniedError` otherwise.

        Raises:
            PermissionDeniedError: No role grants it.
            UnknownRoleError: A role the policy does not define.
            AuthConfigurationError: A malformed permission.
            AuthTypeError: An argument has the wrong type.
        """
        if not self.allows(roles, permission):
            raise PermissionDeniedError(permission)

    def __len__(self) -> int:
        return len(self._roles)

    def __repr__(self) -> str:
        return f"RBAC(roles={sorted(self._roles)!r})"
