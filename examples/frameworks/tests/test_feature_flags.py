"""buttress-feature-flags in every example: a flag read in the request, loaded at startup."""

from __future__ import annotations

import httpx
import pytest

from frameworks.tests.conftest import Servers
from frameworks.tests.serving import TARGETS, Target


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_the_flag_is_on_for_alice_only(target: Target, servers: Servers) -> None:
    base = servers(target)
    alice = httpx.get(f"{base}/", params={"user_id": "alice"}, timeout=30)
    bob = httpx.get(f"{base}/", params={"user_id": "bob"}, timeout=30)
    anonymous = httpx.get(f"{base}/", timeout=30)
    assert (alice.status_code, bob.status_code, anonymous.status_code) == (200, 200, 200)
    assert 'id="beta"' in alice.text  # the flags were loaded when the app started
    assert 'id="beta"' not in bob.text
    assert 'id="beta"' not in anonymous.text
