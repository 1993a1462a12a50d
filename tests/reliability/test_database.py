"""Case 3: connections terminated and PostgreSQL stopped (a throwaway cluster)."""

from __future__ import annotations

import cases
import pytest
from harness import log_tails

pytestmark = pytest.mark.reliability


def test_database_faults_503_then_recover_by_itself(run_case, tmp_path) -> None:
    result = run_case(cases.database_faults, cells=150, clients=4, outage=5.0)
    notes = result.notes
    probes = notes["probes_while_down"]
    assert notes["terminated_backends"] > 0, notes
    assert probes["write_status"] == 503 and probes["write_retry_after"], probes
    assert probes["write_code"] == "database_unavailable", probes
    assert probes["readyz_status"] == 503 and "unreachable" in probes["readyz_body"]["database"]
    assert probes["healthz_status"] == 200, probes
    assert probes["ready_again_after_s"] is not None, probes
    assert notes["processes_alive_and_unrestarted"], (notes, log_tails(tmp_path))
    done = probes["job_done"] and notes["job_counts"] == {"succeeded": 150}
    assert done, (notes, log_tails(tmp_path))
    assert result.lost == 0 and result.duplicates == 0 and result.server_errors == 0, notes
