"""The worker's end of the pipe to its scoring child. Scoring runs in a process the worker
can kill: a per-item time limit (``ZC_ITEM_TIMEOUT_SECONDS``) and isolation from whatever
scoring does to its process (a crash, a hang, an out-of-memory kill, memory it never gives
back).

Each worker keeps one child; the child builds networks and keeps the data batches on its
device, and items go to it over a pipe. On a CPU the child is forked (ready at once: a
worker restarted after a crash is scoring again as soon as it is up); for CUDA, which cannot
be used in a forked child, it is spawned (a fresh interpreter, a few seconds to start).
When an item runs past the time limit, the child is killed and the item fails for good (the
same item would take as long again). When the child dies on an item (an exit, a signal, the
OOM killer), the item fails with a retry, as if its worker had crashed, and counts against
``ZC_MAX_ATTEMPTS``. Either way a new child serves the next item.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import torch

from zero_cost.repeats import ONCE, Repeats

from ..db.records import ArchitectureRecord, ProfileRecord, PruneInputs, PruneResult, ScoreRecord
from .item_scorer import Limits
from .scoring_child import serve

STARTUP_SECONDS = 300.0  # a spawned child importing torch and initialising CUDA


class ItemFailed(Exception):
    """Scoring the item failed; ``message`` is what the item records, ``retry`` whether
    another attempt may succeed, ``details`` a traceback for the log when there is one."""

    def __init__(self, message: str, retry: bool, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry
        self.details = details


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
            ItemFailed: refused, failed, timed out, or the child died.
        """
        conn = self._child()
        profile = self._spare_blob(profile)
        conn.send((architecture, profile, proxies, seed, repeats))
        return self._reply(conn, profile, "scoring")

    def prune(self, inputs: PruneInputs) -> PruneResult:
        """A prune job's masks, computed in the child under the same time limit.

        Raises:
            ItemFailed: refused, failed, timed out, or the child died.
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
        parent_end, child_end = context.Pipe()
        process = context.Process(
            target=serve,
            args=(child_end, os.getpid(), *self._child_args),
            name="zero-cost-scoring",
            daemon=True,
        )
        process.start()
        child_end.close()
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
