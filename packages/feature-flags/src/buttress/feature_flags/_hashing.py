"""The Unleash-compatible normalized hash: the same bucket on every process, machine and SDK."""

from __future__ import annotations

from mmh3 import hash as _murmur3

from buttress.core import check_count

from .exceptions import FeatureFlagsConfigurationError, FeatureFlagsTypeError

__all__ = ["VARIANT_SEED", "normalized_hash"]

VARIANT_SEED = 86028157
"""The murmur3 seed Unleash uses to pick variants, so a variant does not follow the rollout bucket."""


def normalized_hash(identifier: str, group_id: str, normalizer: int = 100, seed: int = 0) -> int:
    """Return the bucket of ``identifier`` in ``group_id``.

    The bucket is ``murmur3_32(f"{group_id}:{identifier}", seed) % normalizer + 1``.

    Buckets run from 1 to ``normalizer``. With the defaults it is the rollout bucket every Unleash SDK
    computes: a user is in a ``rollout`` percent rollout when the bucket is ``<= rollout``. Variants use
    ``seed=VARIANT_SEED`` and the total weight as ``normalizer``.

    Raises:
        FeatureFlagsTypeError: ``identifier`` or ``group_id`` is not a str.
        FeatureFlagsConfigurationError: An argument is out of range, or holds a lone surrogate.

    Examples:
        >>> normalized_hash("123", "gr1")
        73
    """
    if (
        type(identifier) is str
        and type(group_id) is str
        and type(normalizer) is int
        and type(seed) is int
        and identifier.isascii()
        and group_id.isascii()
        and normalizer >= 1
        and 0 <= seed <= 0xFFFFFFFF
    ):  # the common call, every check passed at once
        return _murmur3(f"{group_id}:{identifier}", seed, False) % normalizer + 1
    for name, value in (("identifier", identifier), ("group_id", group_id)):
        if not isinstance(value, str):
            raise FeatureFlagsTypeError(name, "a str", value)
        if (
            not value.isascii()
            and max(value) >= "\ud800"
            and any("\ud800" <= char <= "\udfff" for char in value)
        ):
            raise FeatureFlagsConfigurationError(
                name, value, "must be valid Unicode (it holds a lone surrogate)", show_value=False
            )
    check_count("normalizer", normalizer, minimum=1, error=FeatureFlagsConfigurationError)
    check_count("seed", seed, maximum=2**32 - 1, error=FeatureFlagsConfigurationError)
    return _murmur3(f"{group_id}:{identifier}", seed, False) % normalizer + 1
