"""Static checks of ThreadedFlagClient, the synchronous face of buttress.feature_flags; mypy only."""

from __future__ import annotations

from typing import assert_type

from buttress.feature_flags import (
    ClientStatus,
    Context,
    EvaluationDetails,
    FlagClient,
    MemoryFlagSource,
    ThreadedFlagClient,
    VariantResult,
)


def threaded() -> None:
    with ThreadedFlagClient(MemoryFlagSource(), refresh_interval=10.0) as flags:
        assert_type(flags.start(timeout=5.0), bool)
        assert_type(flags.refresh(), bool)
        assert_type(flags.is_enabled("new-checkout", Context(user_id="42")), bool)
        assert_type(flags.get_variant("new-checkout"), VariantResult)
        assert_type(flags.evaluate("limit", 10), EvaluationDetails[int])
        assert_type(flags.status, ClientStatus)
        assert_type(flags.client, FlagClient)
    flags.close()
