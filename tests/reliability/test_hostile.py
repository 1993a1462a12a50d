"""Case 5: schemathesis over the OpenAPI schema and a corpus of nasty requests."""

from __future__ import annotations

import cases
import pytest

pytestmark = pytest.mark.reliability


def test_fuzzing_and_nasty_corpus(run_case) -> None:
    pytest.importorskip("schemathesis")
    result = run_case(cases.hostile_input, fuzz_requests=300)
    notes = result.notes
    assert notes["fuzz"]["requests"] >= 300, notes
    assert notes["fuzz_failure_count"] == 0, notes["fuzz_failures"]
    assert notes["not_clean_4xx"] == [], notes["corpus"]
    assert result.server_errors == 0, notes
    assert notes["healthy_after"], notes
    assert notes["p99_after_ms"] < notes["healthy_p99_limit_ms"], notes
