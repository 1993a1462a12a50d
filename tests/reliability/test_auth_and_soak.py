"""Cases 7 and 8: API keys on every write endpoint; a sustained load."""

from __future__ import annotations

import cases
import pytest

pytestmark = pytest.mark.reliability


def test_write_endpoints_need_a_write_key(run_case) -> None:
    result = run_case(cases.auth)
    notes = result.notes
    assert len(notes["write_endpoints"]) >= 5, notes
    assert notes["wrong_answers"] == [], notes
    assert not notes["key_in_log"] and notes["key_in_answers"] == 0, notes
    timing = notes["constant_time"]
    assert timing["all_keys_compared"], timing
    assert not timing["equality_on_keys_in_source"], timing
    assert result.server_errors == 0, notes


def test_soak(run_case) -> None:
    """60 s of ranking cached candidates plus new work: no errors, bounded memory."""
    result = run_case(cases.soak, seconds=60.0)
    notes = result.notes
    assert result.requests > 100, notes
    assert notes["error_rate"] == 0, notes
    assert result.server_errors == 0, notes
    assert notes["rss_growth"] <= 0.10, notes
