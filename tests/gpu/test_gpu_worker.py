"""A worker on CUDA with four items in flight scores a job end to end (``pytest -m gpu``;
skipped without CUDA), pinned to ``cuda:0``."""

from __future__ import annotations

import math
import threading
import time

from gpu_support import CELLS, GPU, architectures, database, versions

from app.config import Settings
from app.db.queue import create_job
from app.worker import Worker

pytestmark = GPU

PROXIES = ["snip", "grasp", "synflow", "params"]


def test_a_worker_with_four_in_flight_scores_a_job_on_cuda(tmp_path):
    url, storage, profile = database(tmp_path)
    try:
        ids = [record.id for record in architectures(storage, CELLS)]
        job_id = create_job(storage.engine, ids, versions(PROXIES), profile.id, 0)
        settings = Settings(
            _env_file=None,
            database_url=url,
            device="cuda:0",
            items_in_flight=4,
            claim_batch_size=4,
            lease_seconds=60.0,
            poll_seconds=0.05,
        )
        worker = Worker(settings)
        thread = threading.Thread(target=worker.run, name="gpu-worker", daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 300  # four spawned children initialise CUDA
            while (job := storage.get_job(job_id)).finished < len(ids):
                assert thread.is_alive(), "the worker stopped"
                assert time.monotonic() < deadline, f"the job did not finish: {job.counts}"
                time.sleep(0.2)
            children = {c._process.pid for c in worker.scorer._children if c._process}
        finally:
            worker.stop.set()
            thread.join(timeout=60)
            worker.engine.dispose()
        assert not thread.is_alive(), "the worker did not stop"
        assert job.counts == {"succeeded": len(ids)}, job.errors
        assert len(children) == 4
        scores = storage.list_scores(limit=1000)[0]
        assert len(scores) == len(ids) * len(PROXIES)
        assert {score.device for score in scores} == {"cuda:0"}
        assert all(score.status == "ok" and math.isfinite(score.value) for score in scores)
        assert "running" not in storage.queue_depth()  # the worker released what it held
    finally:
        storage.engine.dispose()
