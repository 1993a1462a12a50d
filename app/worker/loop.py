"""The scoring worker: claim items, score them, write results; survive anything a proxy does.

Run one per GPU (or per CPU core) with ``zero-cost worker`` or ``python -m app.worker``;
any number may share one PostgreSQL database. The API process runs one in a thread in
embedded mode. Items are scored in child processes (``scoring_parent`` is the worker's end
of the pipes, ``scoring_child`` the children's), which enforce the per-item time limit and
take any crash of scoring on themselves. ``ZC_ITEMS_IN_FLIGHT`` items are scored at once,
each in a child of its own, dispatched from as many threads; the loop reads a claimed
batch's inputs before dispatching it, records each item as it finishes, and claims more
while a child is free. One item in flight is the same loop with one child. When no item is
claimable and none is in flight, the worker trains a queued predictor, else prunes for a
queued prune job (``item_pruner``, in one of the children, under the same time limit). A
heartbeat thread renews the leases of the items and prune job in hand; if it dies the
worker stops. SIGTERM and SIGINT finish the items being scored, give the rest back and exit.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import partial

from .. import services
from ..config import Settings, get_settings
from ..db.predictor_queue import PredictorQueue
from ..db.prune_queue import PruneQueue
from ..db.queue import ClaimedItem, JobQueue
from ..db.records import ItemInputs, ScoreRecord
from ..db.session import DatabaseUnavailable, make_engine
from ..db.storage import Storage
from ..errors import ServiceError
from .item_pruner import is_retryable as prune_retryable
from .item_scorer import Limits, is_retryable, pick_device
from .scoring_parent import ItemFailed, ScoringPool

log = logging.getLogger("zero_cost.worker")


class Worker:
    """One worker process (or thread): a loop over claimed items."""

    def __init__(self, settings: Settings, worker_id: str | None = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.storage = Storage(self.engine)
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.queue = JobQueue(
            self.engine, self.worker_id, settings.lease_seconds, settings.max_attempts
        )
        self.predictors = PredictorQueue(self.engine, self.worker_id, settings.lease_seconds)
        self.prunes = PruneQueue(
            self.engine, self.worker_id, settings.lease_seconds, settings.max_attempts
        )
        self.device = pick_device(settings.device)
        self.scorer = ScoringPool(
            settings.items_in_flight,
            self.device,
            Limits(settings.max_params, settings.max_flops),
            settings.data_dir,
            settings.torch_threads,
            settings.item_timeout_seconds,
        )
        self.stop = threading.Event()
        self._heartbeat_failed = threading.Event()

    def run(self) -> None:
        """Work until ``stop`` is set (or the heartbeat dies); finish the items in flight and
        release the rest on exit."""
        self._until_database(lambda: self.queue.register(str(self.device)))
        beat = threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)
        beat.start()
        log.info("worker started", extra={"action": "start", "worker": self.worker_id})
        slots = self.settings.items_in_flight
        ready: deque[tuple[ClaimedItem, ItemInputs]] = deque()  # claimed, not dispatched
        in_flight: dict[Future[list[ScoreRecord]], ClaimedItem] = {}
        try:
            with ThreadPoolExecutor(slots, thread_name_prefix="scoring") as dispatch:
                while not self.stop.is_set() and not self._heartbeat_failed.is_set():
                    if not ready and len(in_flight) < slots:
                        ready.extend(self._claim())
                    while ready and len(in_flight) < slots:
                        item, inputs = ready.popleft()
                        in_flight[dispatch.submit(self._score, inputs)] = item
                    if in_flight:
                        self._record_finished(in_flight, self.settings.poll_seconds)
                    elif not self._train_predictor() and not self._prune():
                        self.stop.wait(self.settings.poll_seconds)
                while in_flight:  # stopping: finish what the children have in hand
                    self._record_finished(in_flight, None)
        finally:
            self.stop.set()
            self.scorer.close()
            beat.join(timeout=5)
            try:
                released = self.queue.release() + self.prunes.release()
                self.queue.unregister()
                log.info("worker stopped; released %d items", released)
            except DatabaseUnavailable:
                log.warning("worker stopped without releasing: its leases will expire")

    def process(self, item: ClaimedItem) -> None:
        """Score one claimed item in this thread and record the outcome, as the loop does
        for each item of a batch; never raises for the item's own faults."""
        for claimed, inputs in self._read_inputs([item]):
            self._record(claimed, partial(self._score, inputs))

    def _claim(self) -> list[tuple[ClaimedItem, ItemInputs]]:
        """Claim a batch and read its items' inputs (an empty list when there is none)."""
        try:
            claimed = self.queue.claim(self.settings.claim_batch_size)
        except DatabaseUnavailable as error:
            log.warning("database unavailable: %s", error)
            self.stop.wait(self.settings.poll_seconds * 4)
            return []
        return self._read_inputs(claimed)

    def _read_inputs(self, items: Sequence[ClaimedItem]) -> list[tuple[ClaimedItem, ItemInputs]]:
        """Each item with what scoring it needs, read in one transaction; should that fail
        for a fault of some item, they are read one by one and the item at fault is failed.
        Stopping during an outage, the items not yet read are dropped: their leases expire
        (the heartbeat has stopped) and they are scored again elsewhere."""
        try:
            # Wait out an outage here: the heartbeat keeps renewing these items' leases, so
            # an item dropped now would stay "running" until the worker stops.
            found = self._until_database(partial(self.queue.inputs_many, items))
        except DatabaseUnavailable:
            return []
        except Exception:  # noqa: BLE001  (one item's fault: find it below)
            return self._read_each(items)
        return [(item, found[item.item_id]) for item in items]

    def _read_each(self, items: Sequence[ClaimedItem]) -> list[tuple[ClaimedItem, ItemInputs]]:
        read = []
        for item in items:
            try:
                read.append((item, self._until_database(partial(self.queue.inputs, item))))
            except DatabaseUnavailable:
                break
            except Exception as error:  # noqa: BLE001  (any fault of the item is recorded)
                self._record_failure(item, error)
        return read

    def _score(self, inputs: ItemInputs) -> list[ScoreRecord]:
        """The item's missing scores, computed in an idle scoring child (in a dispatch
        thread).

        Raises:
            ItemFailed: as ``ScoringPool.score``.
        """
        if not inputs.missing:
            return []
        return self.scorer.score(
            inputs.architecture, inputs.profile, inputs.missing, inputs.seed, inputs.repeats
        )

    def _record_finished(
        self, in_flight: dict[Future[list[ScoreRecord]], ClaimedItem], timeout: float | None
    ) -> None:
        """Wait up to ``timeout`` seconds (None: without limit) for items in flight to
        finish, and record those that did: the items all of whose proxies scored complete
        together, in one transaction."""
        done, _ = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
        scored = []
        for future in done:
            item = in_flight.pop(future)
            if future.exception() is None and all(r.status != "error" for r in future.result()):
                scored.append((item, future.result()))
            else:
                self._record(item, future.result)
        if scored:
            try:
                self._until_database(partial(self.queue.complete_many, scored))
            except DatabaseUnavailable:
                pass  # stopping during an outage: the leases expire, the items are rescored

    def _record(self, item: ClaimedItem, scored: Callable[[], list[ScoreRecord]]) -> None:
        """Record the outcome of ``scored()``, the item's scoring: its scores, the proxies
        that failed, or why it failed."""
        try:
            try:
                results = scored()
            except Exception as error:  # noqa: BLE001  (any fault of the item is recorded)
                self._record_failure(item, error)
                return
            failed = [r for r in results if r.status == "error"]
            stored = [r for r in results if r.status != "error"]
            if failed:
                message = "; ".join(f"{r.proxy}: {r.error}" for r in failed)
                self._until_database(
                    lambda: self.queue.fail(item, message, retry=True, scores=stored)
                )
            else:
                self._until_database(lambda: self.queue.complete(item, stored))
        except DatabaseUnavailable:
            pass  # stopping during an outage: the lease expires, the item is scored again

    def _train_predictor(self) -> bool:
        """Train one queued predictor, when there is one (scoring comes first).
        Returns whether one was claimed."""
        try:
            predictor_id = self.predictors.claim()
        except DatabaseUnavailable as error:
            log.warning("database unavailable: %s", error)
            return False
        if predictor_id is None:
            return False
        try:
            result = services.train_predictor(self.storage, predictor_id)
        except DatabaseUnavailable as error:
            log.warning("database unavailable while training predictor %d: %s", predictor_id, error)
            return True  # the lease expires and the predictor is reclaimed
        except Exception as error:  # noqa: BLE001  (any fault of the training is recorded)
            message = (
                error.message
                if isinstance(error, ServiceError)
                else f"{type(error).__name__}: {error}"
            )
            log.warning("predictor %d failed: %s", predictor_id, message)
            self._until_database(lambda: self.predictors.fail(predictor_id, message))
            return True
        self._until_database(lambda: self.predictors.succeed(predictor_id, result))
        log.info("predictor %d trained (%s)", predictor_id, result.mode)
        return True

    def _prune(self) -> bool:
        """Prune for one queued prune job, when there is one (scoring and predictors come
        first). Returns whether one was claimed. Its lease is renewed by the heartbeat."""
        try:
            claimed = self.prunes.claim()
        except DatabaseUnavailable as error:
            log.warning("database unavailable: %s", error)
            return False
        if claimed is None:
            return False
        job_id, attempts = claimed
        try:
            inputs = self._until_database(lambda: self.prunes.inputs(job_id))
            result = self.scorer.prune(inputs)
        except DatabaseUnavailable:
            return True  # stopping during an outage: the lease expires, the job is reclaimed
        except Exception as error:  # noqa: BLE001  (any fault of the job is recorded)
            if isinstance(error, ItemFailed):
                message, retry, details = error.message, error.retry, error.details
            else:
                message = f"{type(error).__name__}: {error}"
                retry, details = prune_retryable(error), traceback.format_exc()
            if retry:
                log.error("prune job %d failed: %s\n%s", job_id, message, details)
            else:
                log.warning("prune job %d failed for good: %s", job_id, message)
            self._until_database(lambda: self.prunes.fail(job_id, attempts, message, retry))
            return True
        self._until_database(lambda: self.prunes.succeed(job_id, result))
        log.info("prune job %d done (%.2fs)", job_id, result.seconds)
        return True

    def _record_failure(self, item: ClaimedItem, error: Exception) -> None:
        """Fail the item with ``error``'s message, retried unless the error is the item's
        own (a refusal, an invalid spec, a time limit, out of memory alone)."""
        if isinstance(error, ItemFailed):
            message, retry, details = error.message, error.retry, error.details
        else:
            message = f"{type(error).__name__}: {error}"
            retry, details = is_retryable(error), traceback.format_exc()
        if retry:  # unexpected: refusals, invalid specs and time limits are the item's own
            log.error("item %d failed: %s\n%s", item.item_id, message, details)
        else:
            log.warning("item %d failed for good: %s", item.item_id, message)
        self._until_database(lambda: self.queue.fail(item, message, retry=retry))

    def _until_database(self, action: Callable[[], object]) -> object:
        """Run a database action, waiting out outages. When stopping, give up instead: the
        item's lease then expires and another worker scores it again (nothing is lost)."""
        delay = self.settings.poll_seconds
        while True:
            try:
                return action()
            except DatabaseUnavailable as error:
                if self.stop.is_set():
                    raise
                log.warning("database unavailable, retrying in %.1fs: %s", delay, error)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _heartbeat(self) -> None:
        interval = self.settings.lease_seconds / 3
        while not self.stop.wait(interval):
            try:
                self.queue.heartbeat()
                self.prunes.heartbeat()
            except DatabaseUnavailable as error:
                log.warning("heartbeat failed: %s", error)
            except Exception:  # noqa: BLE001  (a dead heartbeat must stop the worker)
                log.exception("heartbeat crashed; stopping the worker")
                self._heartbeat_failed.set()
                return


def start_embedded(settings: Settings) -> tuple[Worker, threading.Thread]:
    """A worker running in a daemon thread of the current process (embedded mode)."""
    worker = Worker(settings)
    thread = threading.Thread(target=worker.run, name="embedded-worker", daemon=True)
    thread.start()
    return worker, thread


def main(settings: Settings | None = None) -> None:
    """Entry point of ``python -m app.worker`` and ``zero-cost worker``: run with
    ``settings`` (default: the environment's) until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    worker = Worker(settings or get_settings())
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: worker.stop.set())
    worker.run()
