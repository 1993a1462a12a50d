"""The scoring child's end of the pipe: a process that scores the items (and prunes for the
prune jobs) its worker sends (see ``scoring_parent``) and dies with the worker.

On CUDA the child is set up to be deterministic, so that the same architecture, proxies,
seed and batch give bit-identical scores run after run. Before CUDA initialises it sets
``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (cuBLAS's reproducible workspace; an operator's own value
is kept), pins itself to its device, and turns on cuDNN's deterministic algorithms (no
benchmarking) and ``torch.use_deterministic_algorithms``. That runs with ``warn_only``: every
operation with a deterministic implementation uses it, and the few with none run their usual
kernel and warn once per child on its stderr instead of failing the item. The one every
gradient proxy meets is the backward of ``nn.AdaptiveAvgPool2d``, the global pooling of
NB201, NATS-Bench and DARTS networks (``adaptive_avg_pool2d_backward_cuda``): torch flags it
whatever the sizes, though to an output of 1x1 (and any size that divides the input) its
kernel writes each gradient once, without atomics, so the scores stay reproducible. Without
``warn_only`` every gradient proxy on those spaces would fail on CUDA. (The proxies call
none of scatter, index_add, put_, bincount, histc or cumsum; torch's list also names
``NLLLoss`` on CUDA, under cross-entropy, which would warn likewise.) Not yet run on a GPU:
``tests/gpu`` checks that the scores are bit-identical.

A CUDA out-of-memory error fails the item, not the child: the child frees what the item
held (``gc.collect``, ``torch.cuda.empty_cache``) and answers the next item; the worker
decides whether to retry it (``scoring_parent``).
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import stat
import traceback
from multiprocessing.connection import Connection

import torch

from ..db.records import PruneInputs
from .item_pruner import is_retryable as prune_retryable
from .item_pruner import prune_job
from .item_scorer import (
    ItemScorer,
    Limits,
    is_out_of_memory,
    is_retryable,
    out_of_memory_message,
)

CUBLAS_WORKSPACE = ":4096:8"  # cuBLAS's reproducible-results workspace (see its docs)


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


def _deterministic_cuda(device: torch.device) -> None:
    """Pin this process to ``device`` and make CUDA compute reproducibly (module docstring).
    Call before CUDA initialises: cuBLAS reads its workspace setting once."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    if device.index is not None:  # plain "cuda" is the current device already
        torch.cuda.set_device(device)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def _free_device_memory() -> None:
    """Give back what a failed item left on the device: the tensors its frames held
    (collected now) and the allocator's cached blocks (for the other children too)."""
    gc.collect()
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()


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
    on = torch.device(device)
    if on.type == "cuda":
        _deterministic_cuda(on)
    scorer = ItemScorer(on, limits, data_dir)
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
            details = traceback.format_exc()
            if is_out_of_memory(error):
                reply = ("out_of_memory", out_of_memory_message(error, on), details)
            else:
                message = f"{type(error).__name__}: {error}"
                retry = prune_retryable(error) if pruning else is_retryable(error)
                reply = ("error", message, retry, details)
        if reply[0] == "out_of_memory":
            # Out of the except block, the error's traceback (and the item's tensors its
            # frames hold) can be collected.
            _free_device_memory()
        try:
            conn.send(reply)
        except OSError:
            return
