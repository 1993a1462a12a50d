"""The scoring engine: compute a set of zero-cost proxies with as few passes as possible.

``score(model, proxies, inputs, targets)`` moves the model and batch to the device once and
builds one ``Passes`` object (``zero_cost.passes``), which runs each kind of pass at most
once and only when a requested proxy needs it, so that snip, grad_norm, fisher, grasp, nwot
and jacob_cov share one forward. The module itself is never copied: the engine keeps copies
of its buffers only, to restore them, and synflow evaluates it on float64 copies of its
tensors. On a CUDA out-of-memory error the engine doubles the number of chunks and tries
again.

Two changes to the model last: it is moved to the device, and on a CPU its 4-D parameters
and buffers are converted to the channels-last memory format (unless it holds a 5-D
tensor). Everything else is restored: train/eval flags, buffer values (BatchNorm
statistics) and the RNG state (the CPU's, and the CUDA device's when scoring on one);
gradients come from ``torch.autograd.grad``, so no ``.grad`` is touched. Scores are
bit-identical across runs for the same model, batch, seed and device.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from . import proxies as proxy_registry
from .passes import Passes

Status = Literal["ok", "nonfinite", "error"]


@dataclass(frozen=True)
class ScoreResult:
    """One proxy's score. ``status`` is "ok", "nonfinite" (NaN or infinite value) or "error"
    (the proxy raised; ``error`` says why). ``log_value`` is the natural log of ``value`` for
    log-scale proxies (synflow), else None. ``seconds`` includes an equal share of passes
    shared with other proxies."""

    proxy: str
    version: str
    value: float
    seconds: float
    status: Status = "ok"
    error: str | None = None
    log_value: float | None = None


@contextmanager
def _preserved_state(model: nn.Module) -> Iterator[None]:
    """Run in train mode, then restore mode flags and buffers (BatchNorm statistics)."""
    flags = [m.training for m in model.modules()]
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    model.train()
    try:
        yield
    finally:
        for module, flag in zip(model.modules(), flags, strict=True):
            module.training = flag
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])


@contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


def _is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error)


def score(
    model: nn.Module,
    proxies: Sequence[str],
    inputs: torch.Tensor,
    targets: torch.Tensor | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    chunks: int = 1,
) -> dict[str, ScoreResult]:
    """Score ``model`` with each proxy in ``proxies`` on one batch.

    Args:
        model: the network; moved to ``device`` (default: where its parameters are) and,
            on a CPU, its 4-D parameters and buffers to the channels-last layout (skipped
            when it holds a 5-D tensor). Both changes stay after the call.
        proxies: registered proxy names (see ``zero_cost.proxies.names()``).
        inputs: the batch, e.g. ``zero_cost.data.synthetic_batch(...).inputs``.
        targets: class labels; required by proxies with ``needs_labels``.
        seed: seeds the RNG for anything random inside the model (dropout).
        device: where to compute; the model and batch are moved there once.
        chunks: split the batch into this many chunks (raised automatically on CUDA OOM).

    Returns:
        One ``ScoreResult`` per proxy. A proxy that raises or produces NaN/inf gets status
        "error"/"nonfinite" with the reason; the others are unaffected. An architecture
        with no input-output path scores 0 on snip, grad_norm and grasp (no gradient reaches
        any weight), -inf on nwot and synflow's log, NaN on jacob_cov, and on fisher only the
        classifier's term (its output is its bias, which the loss does depend on).

    Raises:
        KeyError: an unknown proxy name.
        ValueError: targets missing for a proxy that needs labels.
    """
    infos = [proxy_registry.get(name) for name in proxies]
    missing_labels = [info.name for info in infos if info.needs_labels and targets is None]
    if missing_labels:
        raise ValueError(f"proxies {missing_labels} need targets (labels)")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device)
    model.to(device)
    if device.type == "cpu" and all(t.dim() != 5 for t in model.state_dict().values()):
        # oneDNN convolves channels-last weights and activations without reordering them
        # on every call: about 9% faster on NB201 cells, values equal to float rounding.
        model.to(memory_format=torch.channels_last)
    inputs = inputs.to(device)
    targets = targets.to(device) if targets is not None else None
    needs = frozenset().union(*(info.needs for info in infos))
    while True:
        try:
            return _score_once(model, infos, inputs, targets, seed, device, needs, chunks)
        except RuntimeError as error:
            if not _is_out_of_memory(error) or chunks >= inputs.shape[0]:
                raise
            chunks = min(chunks * 2, inputs.shape[0])
            torch.cuda.empty_cache()


def _score_once(
    model: nn.Module,
    infos: list[proxy_registry.ProxyInfo],
    inputs: torch.Tensor,
    targets: torch.Tensor | None,
    seed: int,
    device: torch.device,
    needs: frozenset[str],
    chunks: int,
) -> dict[str, ScoreResult]:
    results: dict[str, ScoreResult] = {}
    with (
        torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
        _preserved_state(model),
        _deterministic(device),
    ):
        torch.manual_seed(seed)
        passes = Passes(model, inputs, targets, needs, chunks)
        shared_seconds, shared_error = 0.0, None
        sharers = [info for info in infos if info.needs]
        if sharers:
            start = time.perf_counter()
            try:
                passes._run_main()
            except RuntimeError as error:
                if _is_out_of_memory(error):
                    raise
                shared_error = error
            except Exception as error:  # noqa: BLE001  (recorded per proxy below)
                shared_error = error
            shared_seconds = (time.perf_counter() - start) / len(sharers)
        for info in infos:
            share = shared_seconds if info.needs else 0.0
            if info.needs and shared_error is not None:
                results[info.name] = _failed(info, share, shared_error)
                continue
            start = time.perf_counter()
            try:
                value = float(info.compute(passes))
            except RuntimeError as error:
                if _is_out_of_memory(error):
                    raise
                results[info.name] = _failed(info, share + time.perf_counter() - start, error)
                continue
            except Exception as error:  # noqa: BLE001  (a failing proxy must not stop others)
                results[info.name] = _failed(info, share + time.perf_counter() - start, error)
                continue
            results[info.name] = _result(info, value, share + time.perf_counter() - start)
    return results


def _result(info: proxy_registry.ProxyInfo, value: float, seconds: float) -> ScoreResult:
    log_value = None
    if info.log_scale:
        log_value = math.log(value) if value > 0 else (-math.inf if value == 0 else math.nan)
    finite = math.isfinite(value) and (log_value is None or not math.isnan(log_value))
    return ScoreResult(
        proxy=info.name,
        version=info.version,
        value=value,
        seconds=seconds,
        status="ok" if finite else "nonfinite",
        error=None if finite else f"{info.name} produced a non-finite value ({value})",
        log_value=log_value,
    )


def _failed(info: proxy_registry.ProxyInfo, seconds: float, error: BaseException) -> ScoreResult:
    return ScoreResult(
        proxy=info.name,
        version=info.version,
        value=math.nan,
        seconds=seconds,
        status="error",
        error=f"{type(error).__name__}: {error}",
    )
