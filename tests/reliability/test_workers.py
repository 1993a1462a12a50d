"""Cases 1 and 6: workers SIGKILLed mid-job; oversized, hanging and poisoned items."""

from __future__ import annotations

import cases
import pytest

pytestmark = pytest.mark.reliability


def test_worker_crashes_lose_and_duplicate_nothing(run_case) -> None:
    """3 workers score 300 NB201 cells while one is SIGKILLed every 1-3 s and restarted:
    every item succeeds exactly once (one finish transition each), one score row each."""
    result = run_case(cases.worker_crashes, cells=300, workers=3)
    notes = result.notes
    assert notes["kills"] >= 3, f"too few kills to test anything: {notes}"
    assert notes["counts"] == {"succeeded": notes["items"]}, notes
    assert result.lost == 0, notes
    assert notes["finish_transitions"] == notes["items"], notes
    assert notes["scores"] == notes["expected_scores"], notes
    assert result.duplicates == 0, notes


def test_oversized_refused_and_poison_does_not_block(run_case) -> None:
    """An item over ZC_MAX_PARAMS fails once with the limit named, and a hanging item once
    with ZC_ITEM_TIMEOUT_SECONDS named; an item that kills its scoring process and one that
    raises fail after max attempts; every other item succeeds and no worker dies."""
    result = run_case(cases.resource_limits, cells=60, max_attempts=3)
    notes = result.notes
    status, attempts, error = notes["oversized_item"]
    assert (status, attempts) == ("failed", 1) and "ZC_MAX_PARAMS" in error, notes
    status, attempts, error = notes["hang_item"]
    assert (status, attempts) == ("failed", 1) and "ZC_ITEM_TIMEOUT_SECONDS" in error, notes
    for name in ("exit_item", "raise_item"):
        status, attempts, error = notes[name]
        assert status == "failed" and attempts == 3, notes
    assert "scoring process exited with code 1" in notes["exit_item"][2], notes
    assert notes["worker_restarts"] == 0, notes
    assert "poisoned item" in notes["raise_item"][2], notes
    assert result.lost == 0 and result.duplicates == 0, notes
    assert notes["good_items_done_after_s"] is not None, notes
