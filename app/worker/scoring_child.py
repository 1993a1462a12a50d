"""The scoring child's end of the pipe: a process that scores the items (and prunes for the
prune jobs) its worker sends (see ``scoring_parent``) and dies with the worker."""

from __future__ import annotations

import ctypes
import os
import signal
import stat
import traceback
from multiprocessing.connection import Connection

import torch

from ..db.records import PruneInputs
from .item_pruner import is_retryable as prune_retryable
from .item_pruner import prune_job
from .item_scorer import ItemScorer, Limits, is_retryable


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


def serve(
    conn: Connection,
    parent_pid: int,
    device: str,
    limits: Limits,
    data_dir: str | None,
    torch_threads: int | None,
) -> None:
    """The child: score items (and prune for prune jobs) from the pipe until it closes or
    sends None."""
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
        pruning = isinstance(request, PruneInputs)
        try:
            reply = ("ok", prune_job(request, scorer) if pruning else scorer.score(*request))
        except Exception as error:  # noqa: BLE001  (every fault of the item goes back)
            message = f"{type(error).__name__}: {error}"
            retry = prune_retryable(error) if pruning else is_retryable(error)
            reply = ("error", message, retry, traceback.format_exc())
        try:
            conn.send(reply)
        except OSError:
            return
