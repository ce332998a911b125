"""The hypothesis profiles every buttress test suite runs under.

``dev`` is quick for the edit-test loop; ``ci`` is what ``nox`` (README's test command) and CI run:
more examples, derandomized so a run reproduces anywhere; ``explore`` is the randomized pass that
keeps searching on every CI run with a new seed (``nox -s explore``), so a derandomized ``ci`` never
goes blind to the examples it does not generate.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

__all__ = ["CI_PROFILE", "DEV_PROFILE", "EXPLORE_PROFILE", "register_profiles"]

DEV_PROFILE = "dev"
CI_PROFILE = "ci"
EXPLORE_PROFILE = "explore"


def register_profiles() -> None:
    """Register the ``dev``, ``ci`` and ``explore`` profiles.

    ``dev`` is quick for the edit-test loop. ``ci`` runs more examples, derandomized so a failure
    reproduces on a second run, and without a deadline, since CI machines are shared and noisy.
    ``explore`` is random (the seed comes from ``--hypothesis-seed``, which ``nox -s explore``
    picks anew and prints), keeps failures in the example database, prints the blob that replays
    one, and skips the explicit examples that ``ci`` already ran.
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
    settings.register_profile(
        EXPLORE_PROFILE,
        max_examples=200,
        derandomize=False,
        deadline=None,
        print_blob=True,
        phases=[Phase.reuse, Phase.generate, Phase.target, Phase.shrink, Phase.explain],
        suppress_health_check=[HealthCheck.too_slow],
    )
