"""The hypothesis profiles every buttress test suite runs under."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

__all__ = ["CI_PROFILE", "DEV_PROFILE", "register_profiles"]

DEV_PROFILE = "dev"
CI_PROFILE = "ci"


def register_profiles() -> None:
    """Register the ``dev`` and ``ci`` profiles.

    ``dev`` is quick for the edit-test loop. ``ci`` runs more examples, derandomized so a failure
    reproduces on a second run, and without a deadline, since CI machines are shared and noisy.
    """
    settings.register_profile(DEV_PROFILE, max_examples=50, deadline=None)
    settings.register_profile(
        CI_PROFILE,
        max_examples=200,
        derandomize=True,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
