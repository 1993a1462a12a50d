"""Cases 1 and 6: workers SIGKILLed mid-job; oversized and poisoned items."""

from __future__ import annotations

import cases
import pytest
from harness import Unavailable

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
    """An item over ZC_MAX_PARAMS fails once with the limit named; an item that kills its
    worker and one that raises fail after max attempts, while every other item succeeds."""
    result = run_case(cases.resource_limits, cells=60, max_attempts=3)
    notes = result.notes
    status, attempts, error = notes["oversized_item"]
    assert (status, attempts) == ("failed", 1) and "ZC_MAX_PARAMS" in error, notes
    for name in ("exit_item", "raise_item"):
        status, attempts, error = notes[name]
        assert status == "failed" and attempts == 3, notes
    assert "lease expired" in notes["exit_item"][2], notes
    assert "poisoned item" in notes["raise_item"][2], notes
    assert result.lost == 0 and result.duplicates == 0, notes
    assert notes["good_items_done_after_s"] is not None, notes


@pytest.mark.xfail(strict=True, reason="per-item time limit not implemented")
def test_item_time_limit(tmp_path) -> None:
    """A hanging item is failed after ZC_ITEM_TIMEOUT_SECONDS and the rest of its job
    finishes (the setting does not exist: the hanging item holds its worker for good)."""
    try:
        outcome = cases.item_time_limit(tmp_path, limit_seconds=2.0, wait=15.0)
    except Unavailable as error:
        pytest.skip(str(error))
    assert outcome["finished"], outcome
    assert outcome["counts"] == {"failed": 1, "succeeded": 1}, outcome
