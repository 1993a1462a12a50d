"""Fixtures of the reliability suite (``pytest -m reliability``): a working directory for
process logs, and ``Unavailable`` preconditions turned into skips. The orchestration lives
in ``harness.py`` and the cases in ``cases.py``, shared with scripts/reliability_report.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import CaseResult, Unavailable


@pytest.fixture
def run_case(tmp_path: Path) -> Callable[..., CaseResult]:
    """``run_case(case, **sizes)``: run a case from ``cases.py`` with logs in tmp_path,
    skipping when a precondition (PostgreSQL, its binaries) is missing; prints its row."""

    def run(case: Callable[..., CaseResult], **sizes: object) -> CaseResult:
        try:
            result = case(tmp_path, **sizes)
        except Unavailable as error:
            pytest.skip(str(error))
        print(json.dumps({"row": result.row(), "notes": result.notes}, default=str, indent=1))
        return result

    return run
