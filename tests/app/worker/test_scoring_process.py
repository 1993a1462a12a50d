"""The scoring process on its own: a spawned child (the CUDA path, exercised here on the CPU)
scores exactly as a forked one (the CPU path), keeps its batch, and reports an item's error
without dying."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
import torch

from app.worker.item_scorer import Limits
from app.worker.scoring_parent import ItemFailed, ScoringProcess
from zero_cost import proxies

REAL_GET_CONTEXT = multiprocessing.get_context


def versions(names: list[str]) -> list[tuple[str, str]]:
    return [(name, proxies.get(name).version) for name in names]


def scoring_process(monkeypatch, method: str, timeout: float | None) -> ScoringProcess:
    """A CPU ScoringProcess whose child is started with ``method`` (CUDA workers spawn)."""
    monkeypatch.setattr(multiprocessing, "get_context", lambda _: REAL_GET_CONTEXT(method))
    return ScoringProcess(torch.device("cpu"), Limits(10**9, 10**12), None, 1, timeout)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_spawned_and_forked_children_score_alike(storage, nb201, cells, profile, monkeypatch):
    (architecture_id, _), *_ = storage.add_architectures([nb201(cells(1)[0])])
    architecture = storage.get_architectures([architecture_id])[architecture_id]
    values = {}
    for method in ("fork", "spawn"):
        scorer = scoring_process(monkeypatch, method, timeout=120)
        try:
            first = scorer.score(architecture, profile, versions(["params", "synflow", "snip"]), 0)
            child = Path(f"/proc/{scorer._process.pid}/cmdline").read_bytes()
            assert (b"multiprocessing.spawn" in child) == (method == "spawn"), child
            # The batch is cached in the child.
            again = scorer.score(architecture, profile, versions(["snip"]), 0)
        finally:
            scorer.close()
        values[method] = {r.proxy: r.value for r in first}
        assert [r.value for r in again] == [values[method]["snip"]]
        assert {r.status for r in first} == {"ok"}
    assert values["spawn"] == values["fork"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_spawned_child_that_errs_reports_and_serves_on(
    storage, nb201, cells, profile, monkeypatch
):
    (architecture_id, _), *_ = storage.add_architectures([nb201(cells(1)[0])])
    architecture = storage.get_architectures([architecture_id])[architecture_id]
    scorer = scoring_process(monkeypatch, "spawn", timeout=120)
    try:
        with pytest.raises(ItemFailed) as refused:
            scorer.score(architecture, profile, [("no_such_proxy", "1")], 0)
        assert not refused.value.retry and "no_such_proxy" in refused.value.message
        (record,) = scorer.score(architecture, profile, versions(["params"]), 0)
        assert record.status == "ok" and record.value == architecture.params
    finally:
        scorer.close()
