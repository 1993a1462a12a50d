"""Case 3: connections terminated and PostgreSQL stopped (a throwaway cluster)."""

from __future__ import annotations

import cases
import pytest

pytestmark = pytest.mark.reliability


def test_database_faults_503_then_recover_by_itself(run_case) -> None:
    result = run_case(cases.database_faults, cells=150, clients=4, outage=5.0)
    notes = result.notes
    probes = notes["probes_while_down"]
    assert notes["terminated_backends"] > 0, notes
    assert probes["write_status"] == 503 and probes["write_retry_after"], probes
    assert probes["write_code"] == "database_unavailable", probes
    assert probes["readyz_status"] == 503 and "unreachable" in probes["readyz_body"]["database"]
    assert probes["healthz_status"] == 200, probes
    assert probes["ready_again_after_s"] is not None, probes
    if not probes["job_done"]:
        # Known bug, open in issue 6: under heavy CPU load a worker can stall after the
        # restart and leave an item queued (seen in 2 of ~7 runs, both under a concurrent
        # benchmark; not reproduced alone).
        pytest.xfail(f"known: worker stalled after the PostgreSQL restart: {notes['job_counts']}")
    assert notes["processes_alive_and_unrestarted"], notes
    assert notes["job_counts"] == {"succeeded": 150}, notes
    assert result.lost == 0 and result.duplicates == 0 and result.server_errors == 0, notes
