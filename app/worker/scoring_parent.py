"""The worker's end of the pipe to its scoring child. Scoring runs in a process the worker
can kill: a per-item time limit (``ZC_ITEM_TIMEOUT_SECONDS``) and isolation from whatever
scoring does to its process (a crash, a hang, an out-of-memory kill, memory it never gives
back).

Each worker keeps ``ZC_ITEMS_IN_FLIGHT`` children on its device (``ScoringPool``), one item
in each at a time; a child builds networks and keeps the data batches on its device, and
items go to it over a pipe. Several children keep a GPU busy while each of them spends time
in Python and in small kernels (one NB201 cell at batch 64 is too small to fill a GPU). The
issue weighed children against CUDA streams in one process; children are the design here
because they keep each item's time limit and crash isolation as they are, and
``benchmarks/gpu.py`` measures 1, 2, 4 and 8 in flight to pick the setting (not yet run on a
GPU; docs/performance.md).

On a CPU a child is forked (ready at once: a worker restarted after a crash is scoring again
as soon as it is up); for CUDA, which cannot be used in a forked child, it is spawned (a
fresh interpreter, a few seconds to start) on the worker's device (``cuda:N`` pins it).
When an item runs past the time limit, its child is killed and the item fails for good (the
same item would take as long again). When a child dies on an item (an exit, a signal, the
OOM killer), the item fails with a retry, as if its worker had crashed, and counts against
``ZC_MAX_ATTEMPTS``. Either way a new child serves the next item, and the other children's
items are not affected.

When an item runs out of CUDA memory, its child frees the memory and serves on; the item
fails with the device and the settings that lower the need in its error. It is retried
(within ``ZC_MAX_ATTEMPTS``) when another item was in flight on the device at any time
while it ran: alone, or beside smaller items, it may fit. An item that ran out of memory
alone fails for good: it would again.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

import torch

from zero_cost.repeats import ONCE, Repeats

from ..db.records import ArchitectureRecord, ProfileRecord, PruneInputs, PruneResult, ScoreRecord
from .item_scorer import Limits
from .scoring_child import serve

STARTUP_SECONDS = 300.0  # a spawned child importing torch and initialising CUDA

# Children are started by one thread that lives as long as the process: Linux sends a child
# its parent-death signal (``scoring_child._die_with``) when the thread that started it ends,
# not the process, and a pool's dispatch threads may end first. One at a time, too: a child
# forked while another is being started would inherit that one's end of its pipe and of its
# exit sentinel, and keep them open after it dies.
_STARTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zero-cost-scoring-start")


T = TypeVar("T")


class ItemFailed(Exception):
    """Scoring the item failed; ``message`` is what the item records, ``retry`` whether
    another attempt may succeed, ``details`` a traceback for the log when there is one,
    ``out_of_memory`` whether the device ran out of memory on it."""

    def __init__(
        self, message: str, retry: bool, details: str = "", out_of_memory: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry
        self.details = details
        self.out_of_memory = out_of_memory


class ScoringProcess:
    """The worker's side: sends items to the child, enforces the time limit, restarts it."""

    def __init__(
        self,
        device: torch.device,
        limits: Limits,
        data_dir: str | None,
        torch_threads: int | None,
        timeout_seconds: float | None,
    ) -> None:
        self.device = device
        self.timeout_seconds = timeout_seconds
        self._child_args = (str(device), limits, data_dir, torch_threads)
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._profiles_sent: set[int] = set()

    def score(
        self,
        architecture: ArchitectureRecord,
        profile: ProfileRecord,
        proxies: list[tuple[str, str]],
        seed: int,
        repeats: Repeats = ONCE,
    ) -> list[ScoreRecord]:
        """The item's score records, computed in the child.

        Raises:
            ItemFailed: refused, failed, timed out, out of memory, or the child died.
        """
        conn = self._child()
        profile = self._spare_blob(profile)
        conn.send((architecture, profile, proxies, seed, repeats))
        return self._reply(conn, profile, "scoring")

    def prune(self, inputs: PruneInputs) -> PruneResult:
        """A prune job's masks, computed in the child under the same time limit.

        Raises:
            ItemFailed: refused, failed, timed out, out of memory, or the child died.
        """
        conn = self._child()
        inputs = dataclasses.replace(inputs, profile=self._spare_blob(inputs.profile))
        conn.send(inputs)
        return self._reply(conn, inputs.profile, "pruning")

    def _spare_blob(self, profile: ProfileRecord) -> ProfileRecord:
        """The profile to send: without its upload when the child has its batch already."""
        if profile.id in self._profiles_sent:
            return dataclasses.replace(profile, blob=None)
        return profile

    def _reply(self, conn: Connection, profile: ProfileRecord, doing: str) -> Any:
        """The child's answer to the request just sent, within the time limit."""
        self._profiles_sent.add(profile.id)
        if not conn.poll(self.timeout_seconds):
            self.close()
            raise ItemFailed(
                f"TimeLimitExceeded: {doing} took longer than {self.timeout_seconds:g} s, "
                "the per-item time limit (ZC_ITEM_TIMEOUT_SECONDS); the scoring process "
                "was killed",
                retry=False,
            )
        try:
            reply = conn.recv()
        except (EOFError, OSError):
            raise ItemFailed(
                f"ScoringProcessDied: the scoring process {self._death()} on this item",
                retry=True,
            ) from None
        if reply[0] == "ok":
            return reply[1]
        if reply[0] == "out_of_memory":
            _, message, details = reply
            raise ItemFailed(message, retry=False, details=details, out_of_memory=True)
        _, message, retry, details = reply
        raise ItemFailed(message, retry, details)

    def close(self) -> None:
        """Stop the child (kill it if it does not exit at once)."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        self._profiles_sent.clear()
        if conn is not None:
            try:
                conn.send(None)
            except OSError:
                pass
            conn.close()
        if process is not None:
            process.join(timeout=1)
            if process.is_alive():
                process.kill()
                process.join()

    def _child(self) -> Connection:
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            return self._conn
        self.close()
        context = multiprocessing.get_context("spawn" if self.device.type == "cuda" else "fork")
        process, parent_end = _STARTER.submit(self._start, context).result()
        self._process, self._conn = process, parent_end
        try:
            ready = parent_end.poll(STARTUP_SECONDS) and parent_end.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            reason = self._death() if not process.is_alive() else "did not start in time"
            self.close()
            raise ItemFailed(f"ScoringProcessDied: the scoring process {reason}", retry=True)
        return parent_end

    def _start(self, context: BaseContext) -> tuple[BaseProcess, Connection]:
        """A new child and the worker's end of its pipe (in the starter thread)."""
        parent_end, child_end = context.Pipe()
        process = context.Process(
            target=serve,
            args=(child_end, os.getpid(), *self._child_args),
            name="zero-cost-scoring",
            daemon=True,
        )
        process.start()
        child_end.close()
        return process, parent_end

    def _death(self) -> str:
        """How the child ended ('exited with code 1', 'was killed by signal 9 (SIGKILL)')."""
        process = self._process
        if process is not None:
            process.join(timeout=5)
        code = None if process is None else process.exitcode
        self.close()
        if code is None:
            return "stopped answering"
        if code < 0:
            return f"was killed by signal {-code} ({signal.Signals(-code).name})"
        return f"exited with code {code}"


class ScoringPool:
    """The worker's ``size`` scoring children on one device, each serving one item at a
    time; ``score`` and ``prune`` may be called from ``size`` threads at once (``loop``), each
    call on an idle child. On a CPU without ``torch_threads``, several children share the
    cores (``cpu_count // size`` threads each) instead of each taking them all."""

    def __init__(
        self,
        size: int,
        device: torch.device,
        limits: Limits,
        data_dir: str | None,
        torch_threads: int | None,
        timeout_seconds: float | None,
    ) -> None:
        if device.type == "cpu" and torch_threads is None and size > 1:
            torch_threads = max(1, (os.cpu_count() or 1) // size)
        self.size = size
        self.device = device
        self._children = [
            ScoringProcess(device, limits, data_dir, torch_threads, timeout_seconds)
            for _ in range(size)
        ]
        self._idle: queue.SimpleQueue[ScoringProcess] = queue.SimpleQueue()
        for child in self._children:
            self._idle.put(child)
        self._lock = threading.Lock()
        self._busy = 0  # items in the children now
        self._started = 0  # items handed to a child so far

    def score(
        self,
        architecture: ArchitectureRecord,
        profile: ProfileRecord,
        proxies: list[tuple[str, str]],
        seed: int,
        repeats: Repeats = ONCE,
    ) -> list[ScoreRecord]:
        """The item's score records, computed in an idle child (waiting for one).

        Raises:
            ItemFailed: refused, failed, timed out, out of memory, or the child died.
        """
        return self._on_idle_child(
            lambda child: child.score(architecture, profile, proxies, seed, repeats)
        )

    def prune(self, inputs: PruneInputs) -> PruneResult:
        """A prune job's masks, computed in an idle child (waiting for one).

        Raises:
            ItemFailed: refused, failed, timed out, out of memory, or the child died.
        """
        return self._on_idle_child(lambda child: child.prune(inputs))

    def close(self) -> None:
        """Stop every child (call when no item is in flight)."""
        for child in self._children:
            child.close()

    def _on_idle_child(self, task: Callable[[ScoringProcess], T]) -> T:
        """``task`` on an idle child; an out-of-memory failure gets its retry decided."""
        child = self._idle.get()
        with self._lock:
            self._busy += 1
            self._started += 1
            shared, started = self._busy > 1, self._started
        try:
            return task(child)
        except ItemFailed as failed:
            if not failed.out_of_memory:
                raise
            with self._lock:  # was another item in flight when it started, or since?
                shared = shared or self._started > started
            outcome = (
                "retried: other items were in flight on the device with it"
                if shared
                else "not retried: it ran alone on the device"
            )
            raise ItemFailed(
                f"{failed.message} ({outcome})", shared, failed.details, out_of_memory=True
            ) from None
        finally:
            with self._lock:
                self._busy -= 1
            self._idle.put(child)
