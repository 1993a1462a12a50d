"""Scoring on CUDA through the worker's scoring children (``pytest -m gpu``; skipped without
CUDA): every proxy of the six-proxy bundle scores bit-identically twice in one child and
again in a fresh one, and an item that runs out of device memory fails alone while its child
serves the next item."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch
from gpu_support import CELLS, GPU, SIX, architectures, database, versions

from app.worker.item_scorer import Limits
from app.worker.scoring_parent import ItemFailed, ScoringProcess

pytestmark = GPU

TOO_MUCH = '''
import torch

from zero_cost import proxies


@proxies.register("test_gpu_allocates_too_much", version="1")
def allocates_too_much(passes: object) -> float:
    """Asks for twice the memory of the device it scores on."""
    device = passes.inputs.device
    torch.empty(2 * torch.cuda.get_device_properties(device).total_memory, device=device)
    return 0.0
'''


def scoring_process() -> ScoringProcess:
    """A scoring child on the first CUDA device, as a worker starts it (spawned)."""
    return ScoringProcess(torch.device("cuda:0"), Limits(10**9, 10**12), None, None, 600)


def test_the_six_proxies_score_bit_identically_on_cuda(tmp_path):
    _, storage, profile = database(tmp_path)
    try:
        records = architectures(storage, CELLS[:2])
    finally:
        storage.engine.dispose()
    runs = []
    for _ in range(2):  # two children, each scoring everything twice
        scorer = scoring_process()
        try:
            for _ in range(2):
                runs.append(
                    {
                        (record.id, score.proxy): (score.status, score.value, score.log_value)
                        for record in records
                        for score in scorer.score(record, profile, versions(SIX), 0)
                    }
                )
        finally:
            scorer.close()
    first = runs[0]
    assert {status for status, _, _ in first.values()} == {"ok"}, first
    assert len(first) == len(records) * len(SIX)
    for run in runs[1:]:
        assert run == first  # floats compared exactly: bit-identical


@pytest.fixture
def allocates_too_much(tmp_path, monkeypatch) -> Iterator[None]:
    """A proxy that asks for more memory than the device has, registered in the spawned
    scoring child by a ``sitecustomize`` module on its PYTHONPATH."""
    plugin = tmp_path / "plugin" / "sitecustomize.py"
    plugin.parent.mkdir()
    plugin.write_text(TOO_MUCH)
    paths = [str(plugin.parent), os.environ.get("PYTHONPATH")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
    yield


def test_an_item_out_of_memory_fails_and_the_next_one_succeeds(tmp_path, allocates_too_much):
    _, storage, profile = database(tmp_path)
    try:
        first, second = architectures(storage, CELLS[:2])
    finally:
        storage.engine.dispose()
    scorer = scoring_process()
    try:
        with pytest.raises(ItemFailed) as failed:
            scorer.score(first, profile, [("test_gpu_allocates_too_much", "1")], 0)
        child = scorer._process.pid
        scores = scorer.score(second, profile, versions(["synflow", "snip"]), 0)
        assert scorer._process.pid == child  # the same child served on
    finally:
        scorer.close()
    assert failed.value.out_of_memory
    assert failed.value.message.startswith(
        "DeviceOutOfMemory: scoring ran out of memory on cuda:0 (an allocation of "
    ), failed.value.message
    assert "ZC_ITEMS_IN_FLIGHT" in failed.value.message
    assert {score.status for score in scores} == {"ok"}
