"""Scoring in a child process the worker can kill: a per-item time limit
(``ZC_ITEM_TIMEOUT_SECONDS``) and isolation from whatever scoring does to its process (a
crash, a hang, an out-of-memory kill, memory it never gives back).

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

import ctypes
import dataclasses
import multiprocessing
import os
import signal
import stat
import traceback
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import torch

from .db.storage import ArchitectureRecord, ProfileRecord, ScoreRecord
from .scoring import ItemScorer, Limits, is_retryable

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
        proxy_names: list[str],
        seed: int,
    ) -> list[ScoreRecord]:
        """The item's score records, computed in the child.

        Raises:
            ItemFailed: refused, failed, timed out, or the child died.
        """
        conn = self._child()
        if profile.id in self._profiles_sent:  # the child has its batch: spare the blob
            profile = dataclasses.replace(profile, blob=None)
        conn.send((architecture, profile, proxy_names, seed))
        self._profiles_sent.add(profile.id)
        if not conn.poll(self.timeout_seconds):
            self.close()
            raise ItemFailed(
                f"TimeLimitExceeded: scoring took longer than {self.timeout_seconds:g} s, "
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
            target=_serve,
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


def _die_with(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when the worker dies (Linux), so that a worker
    killed mid-item does not leave its scoring process running the item to the end."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the child still ends when it next reads the closed pipe
    if os.getppid() != parent_pid:  # the worker died before prctl took effect
        os._exit(1)


def _close_inherited_sockets(keep: int) -> None:
    """A forked child holds a copy of every socket of its worker: database connections,
    the API's listening socket in embedded mode, the worker's end of this pipe. Close them:
    the worker's closed connections and a restarted API's port are not held open by us, and
    we read end-of-file when the worker dies."""
    if not os.path.isdir("/proc/self/fd"):
        return
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd != keep and stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.close(fd)
        except OSError:
            pass  # the listing's own descriptor, already closed


def _serve(
    conn: Connection,
    parent_pid: int,
    device: str,
    limits: Limits,
    data_dir: str | None,
    torch_threads: int | None,
) -> None:
    """The child: score items from the pipe until it closes or sends None."""
    _die_with(parent_pid)
    _close_inherited_sockets(keep=conn.fileno())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the worker, which stops us
    if torch_threads:
        torch.set_num_threads(torch_threads)
    scorer = ItemScorer(torch.device(device), limits, data_dir)
    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        try:
            reply = ("ok", scorer.score(*request))
        except Exception as error:  # noqa: BLE001  (every fault of the item goes back)
            message = f"{type(error).__name__}: {error}"
            reply = ("error", message, is_retryable(error), traceback.format_exc())
        try:
            conn.send(reply)
        except OSError:
            return
