"""`ResourceFactory`: what a `Pool` needs to make and dispose of its resources."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["ResourceFactory"]


@runtime_checkable
class ResourceFactory[R](Protocol):
    """**Protocol**: makes and disposes of the resources a `Pool` holds.

    Two optional methods are used when present (they are looked up on the factory, so a plain class
    with just ``create`` and ``destroy`` is a factory too):

    - ``async check(resource) -> bool``: whether an idle resource still works (the health loop calls
      it; ``False`` or an exception means it is destroyed);
    - ``async reset(resource) -> None``: make a returned resource clean for the next user (an
      exception means it is destroyed instead of reused);
    - ``needs_reset(resource) -> bool`` (synchronous, with ``reset``): whether this resource needs
      its reset at all. ``False`` hands it back at once, with no reset and no task; an exception
      counts as ``True``. Without it every release resets.

    buttress-testing's ``ResourceFactoryContract`` checks a factory against this description.

    Methods:
        create: Make a new resource. Exceptions are counted, and creation is retried with backoff.
        destroy: Dispose of a resource. Exceptions are logged and counted, never raised to callers.
    """

    async def create(self) -> R:
        """Make a new resource."""
        ...

    async def destroy(self, resource: R) -> None:
        """Dispose of ``resource``."""
        ...
