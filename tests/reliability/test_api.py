"""Cases 2 and 4: the API killed under load; concurrent overlapping submissions."""

from __future__ import annotations

import cases
import pytest

pytestmark = pytest.mark.reliability


def test_api_restarts_keep_every_acknowledged_write(run_case) -> None:
    """8 clients write while the API is SIGKILLed and restarted twice: every 2xx is in the
    database, retried payloads create nothing, no 5xx."""
    result = run_case(cases.api_restarts, clients=8, duration=24.0, restarts=2)
    notes = result.notes
    assert notes["acknowledged"]["architectures"] > 0 and notes["acknowledged"]["jobs"] > 0
    assert notes["transport_errors"] > 0, f"the restarts were not felt: {notes}"
    assert result.lost == 0, notes
    assert result.duplicates == 0, notes
    assert result.server_errors == 0, notes
    assert not notes["refused"], notes


def test_concurrent_overlapping_batches_get_one_row_and_one_id(run_case) -> None:
    """16 clients post the same 1,000 architectures at once through two API processes."""
    result = run_case(cases.concurrency, clients=16, architectures=1000, batch=250)
    notes = result.notes
    assert notes["rows"] == notes["distinct_keys"] == 1000, notes
    assert notes["clients_disagreeing_ids"] == 0, notes
    assert notes["created_told"] == 1000, notes
    assert result.lost == 0 and result.duplicates == 0 and result.server_errors == 0, notes
