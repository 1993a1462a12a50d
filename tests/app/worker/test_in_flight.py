"""Several items in flight per worker (``ZC_ITEMS_IN_FLIGHT``), on the CPU: a job scored two
at a time gets the scores one at a time gives; a scoring child that dies or runs past the
time limit fails its own item only, while the other child's item goes on; an item that runs
out of device memory (injected) fails with a clear message, is retried only when another
item shared the device, and its child serves the next item."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import torch
from test_worker import add, finish, item_rows, running_worker, settings_for, versions

from app.db import migrations
from app.db.queue import create_job
from app.db.session import make_engine
from app.db.storage import Storage
from app.worker import item_scorer
from app.worker.item_scorer import Limits, pick_device
from app.worker.scoring_parent import ItemFailed, ScoringPool
from zero_cost import proxies as proxy_registry

SLOW_SECONDS = 3.0
OOM_MESSAGE = (
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB"
)


@pytest.fixture
def test_proxies() -> Iterator[None]:
    """Proxies that sleep, hang or end their process, registered in this process (and so in
    the worker's forked scoring children, the CPU path); unregistered afterwards."""

    def slow(passes: object) -> float:
        """Sleeps a few seconds, then scores 1."""
        time.sleep(SLOW_SECONDS)
        return 1.0

    def hangs(passes: object) -> float:
        """Never returns."""
        time.sleep(3600)
        return 0.0

    def kills_its_process(passes: object) -> float:
        """Ends the process that runs it, as a crash in native code would."""
        import os

        os._exit(3)

    registered = {
        "test_in_flight_slow": slow,
        "test_in_flight_hangs": hangs,
        "test_in_flight_kills": kills_its_process,
    }
    for name, function in registered.items():
        proxy_registry.register(name, version="1")(function)
    try:
        yield
    finally:
        for name in registered:
            proxy_registry._REGISTRY.pop(name, None)


def scored_values(storage: Storage) -> dict[tuple[str, str], float | None]:
    """(canonical key, proxy) -> value of every stored score (ids differ across databases)."""
    scores = storage.list_scores(limit=1000)[0]
    architectures = storage.get_architectures([s.architecture_id for s in scores])
    return {(architectures[s.architecture_id].canonical_key, s.proxy): s.value for s in scores}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_two_in_flight_score_a_job_as_one_does(
    storage, migrated_url, tmp_path, nb201, cells, make_profile, wait_for
):
    architectures = [nb201(cell) for cell in cells(8)]
    proxies = versions(["params", "synflow", "snip", "grasp"])
    values = {}
    for in_flight in (2, 1):
        url = migrated_url if in_flight == 2 else f"sqlite:///{tmp_path}/one.db"
        migrations.upgrade(url)
        engine = make_engine(url)
        try:
            store = Storage(engine)
            ids = add(store, architectures)
            profile = make_profile(store)
            job_id = create_job(engine, ids, proxies, profile.id, 0)
            # one torch thread each: CPU sums in another order with other thread counts
            settings = settings_for(
                url, items_in_flight=in_flight, claim_batch_size=3, torch_threads=1
            )
            with running_worker(settings) as worker:
                job = finish(store, job_id, worker, wait_for)
                children = {c._process.pid for c in worker.scorer._children if c._process}
            assert job.counts == {"succeeded": 8}
            assert len(children) == in_flight  # every child served items
            values[in_flight] = scored_values(store)
        finally:
            engine.dispose()
    assert len(values[2]) == 8 * 4
    assert values[2] == values[1]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("proxy", "overrides", "error"),
    [
        (
            "test_in_flight_kills",
            {"max_attempts": 1},
            "ScoringProcessDied: the scoring process exited with code 3 on this item",
        ),
        (
            "test_in_flight_hangs",
            {"item_timeout_seconds": 4.0},
            "TimeLimitExceeded: scoring took longer than 4 s",
        ),
    ],
    ids=["dies", "times-out"],
)
def test_a_child_lost_mid_item_fails_only_its_own_item(
    storage,
    sql,
    migrated_url,
    nb201,
    cells,
    profile,
    wait_for,
    test_proxies,
    proxy,
    overrides,
    error,
):
    """Three items, two children: the broken item and a slow one are dispatched together,
    a second slow one when the first is done, so that a slow item is in flight when the
    broken item's child dies (at once) or is killed (4 s of time limit, then up to 1 s for
    it to exit; the second slow item runs from 3 s to 6 s). Both slow items succeed at
    their first attempt."""
    bad, *good = add(storage, [nb201(cell) for cell in cells(3)])
    bad_job = create_job(storage.engine, [bad], versions([proxy]), profile.id, 0)
    good_job = create_job(
        storage.engine, good, versions(["params", "test_in_flight_slow"]), profile.id, 0
    )
    settings = settings_for(migrated_url, items_in_flight=2, claim_batch_size=3, **overrides)
    with running_worker(settings) as worker:
        finish(storage, bad_job, worker, wait_for)
        assert storage.get_job(good_job).finished < 2  # a slow item is still in flight
        finish(storage, good_job, worker, wait_for)
    status, attempts, message = item_rows(sql, bad_job)[bad][:3]
    assert (status, attempts) == ("failed", 1)
    assert message.startswith(error)
    assert [item_rows(sql, good_job)[i][:3] for i in good] == [("succeeded", 1, None)] * 2
    params = storage.get_architectures(good)
    for architecture_id in good:
        stored = storage.list_scores(architecture_ids=[architecture_id])[0]
        assert {s.proxy: s.value for s in stored} == {
            "params": params[architecture_id].params,
            "test_in_flight_slow": 1.0,
        }


# -- running out of device memory (injected on the CPU) ---------------------------------------


@pytest.fixture
def oom_on_params(monkeypatch) -> None:
    """Scoring ``params`` raises CUDA's out-of-memory error, in the forked children too:
    ``item_scorer.score_repeated`` is patched before they fork."""
    real = item_scorer.score_repeated

    def score_repeated(build, proxies, *args, **kwargs):
        if "params" in proxies:
            raise torch.cuda.OutOfMemoryError(OOM_MESSAGE)
        return real(build, proxies, *args, **kwargs)

    monkeypatch.setattr(item_scorer, "score_repeated", score_repeated)


def pool(size: int) -> ScoringPool:
    return ScoringPool(size, torch.device("cpu"), Limits(10**9, 10**12), None, 1, 120)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_item_out_of_memory_alone_fails_for_good_and_its_child_serves_on(
    storage, nb201, cells, profile, oom_on_params
):
    (architecture_id, _), *_ = storage.add_architectures([nb201(cells(1)[0])])
    architecture = storage.get_architectures([architecture_id])[architecture_id]
    scorer = pool(1)
    try:
        with pytest.raises(ItemFailed) as failed:
            scorer.score(architecture, profile, versions(["params"]), 0)
        child = scorer._children[0]._process.pid
        (record,) = scorer.score(architecture, profile, versions(["synflow"]), 0)
        assert scorer._children[0]._process.pid == child  # the same child served on
    finally:
        scorer.close()
    assert failed.value.out_of_memory and not failed.value.retry
    assert failed.value.message == (
        "DeviceOutOfMemory: scoring ran out of memory on cpu (an allocation of 2.00 GiB "
        "failed); lower ZC_ITEMS_IN_FLIGHT (items scored at once on the device) or the data "
        "profile's batch size (not retried: it ran alone on the device)"
    )
    assert record.status == "ok"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_item_out_of_memory_beside_another_is_retried(
    storage, nb201, cells, profile, oom_on_params, test_proxies
):
    ids = [i for i, _ in storage.add_architectures([nb201(cell) for cell in cells(2)])]
    slow, oom = storage.get_architectures(ids).values()
    scorer = pool(2)
    slow_result: list[object] = []
    beside = threading.Thread(
        target=lambda: slow_result.extend(
            scorer.score(slow, profile, versions(["test_in_flight_slow"]), 0)
        )
    )
    try:
        beside.start()
        time.sleep(0.5)  # the slow item is in its child
        with pytest.raises(ItemFailed) as failed:
            scorer.score(oom, profile, versions(["params"]), 0)
        beside.join()
    finally:
        scorer.close()
    assert failed.value.out_of_memory and failed.value.retry
    assert failed.value.message.endswith(
        "(retried: other items were in flight on the device with it)"
    )
    assert [r.value for r in slow_result] == [1.0]


def test_a_cuda_device_that_is_not_visible_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ValueError, match=r"'cuda:2' asked for .* 2 CUDA device\(s\) are visible"):
        pick_device("cuda:2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="0 CUDA device"):
        pick_device("cuda")
