"""Repeated scores: a proxy scored k times, over init seeds and batches, summarised by its
mean, standard deviation and k.

A zero-cost proxy is a function of the network's random initial weights and of the batch it
sees, so one score carries noise from both. Scoring with ``init_seeds`` seeds (the network
rebuilt with seeds ``init_seed, init_seed + 1, ...``) and ``batches`` batches (e.g. a data
profile's batch drawn with seeds ``seed, seed + 1, ...``), every seed with every batch, gives
k = init_seeds x batches scores per proxy; ranking on their mean averages the noise away.

The mean is taken on the scale the proxy is ranked on: the arithmetic mean of the values,
or, for a log-scale proxy (``ProxyInfo.log_scale``, e.g. synflow, whose values span many
orders of magnitude), the mean of the natural logs, i.e. the geometric mean of the values;
the standard deviation (``ddof=1``; 0 when k = 1) is on the same scale. One repeat that is
not finite (status "nonfinite" or "error") makes the summary so too, with that repeat's
reason: a mean that silently drops the hard cases would rank them on fewer draws.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from . import proxies as proxy_registry
from .data import Batch
from .engine import ScoreResult, Status, score

__all__ = ["ONCE", "RepeatedScore", "Repeats", "score_repeated", "summarise"]


@dataclass(frozen=True)
class Repeats:
    """How often to score: with ``init_seeds`` init seeds, each on ``batches`` batches."""

    init_seeds: int = 1
    batches: int = 1

    def __post_init__(self) -> None:
        for name in ("init_seeds", "batches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")

    @property
    def k(self) -> int:
        """The number of scores summarised: init_seeds x batches."""
        return self.init_seeds * self.batches


ONCE = Repeats()
"""One score: one init seed, one batch."""


@dataclass(frozen=True)
class RepeatedScore:
    """One proxy's summary over k repeats.

    ``value``: the mean of the k values (the geometric mean for log-scale proxies; NaN
    unless ``status`` is "ok"); ``log_value``: its natural log for log-scale proxies, else
    None; ``std``: the standard deviation of the values (of their logs for log-scale
    proxies), 0 for k = 1; ``seconds``: the total over the repeats; ``error``: the first
    failing repeat's reason, prefixed with its index when k > 1.
    """

    proxy: str
    version: str
    value: float
    std: float
    k: int
    seconds: float
    status: Status = "ok"
    error: str | None = None
    log_value: float | None = None


def summarise(results: Sequence[ScoreResult]) -> RepeatedScore:
    """The summary of one proxy's scores over k >= 1 repeats (see the module docstring).

    Raises:
        ValueError: no results, or results of different proxies or versions.
    """
    if not results:
        raise ValueError("no scores to summarise")
    first = results[0]
    if any((r.proxy, r.version) != (first.proxy, first.version) for r in results):
        raise ValueError(f"scores of several proxies or versions: {first.proxy} and others")
    k, seconds = len(results), sum(r.seconds for r in results)
    failed = next(((i, r) for i, r in enumerate(results) if r.status != "ok"), None)
    if failed is not None:
        index, result = failed
        return RepeatedScore(
            first.proxy,
            first.version,
            math.nan,
            math.nan,
            k,
            seconds,
            result.status,
            result.error if k == 1 else f"repeat {index} of {k}: {result.error}",
        )
    log_scale = proxy_registry.get(first.proxy).log_scale
    samples = [r.log_value if log_scale else r.value for r in results]
    mean = math.fsum(samples) / k if all(math.isfinite(s) for s in samples) else min(samples)
    spread = statistics.stdev(samples) if k > 1 and math.isfinite(mean) else 0.0
    if log_scale:
        return RepeatedScore(
            first.proxy, first.version, math.exp(mean), spread, k, seconds, log_value=mean
        )
    return RepeatedScore(first.proxy, first.version, mean, spread, k, seconds)


def score_repeated(
    build: Callable[[int], nn.Module],
    proxies: Sequence[str],
    batches: Sequence[Batch],
    init_seeds: Sequence[int],
    device: str | torch.device | None = None,
) -> dict[str, RepeatedScore]:
    """Score the network ``build(seed)`` for each of ``init_seeds`` on each of ``batches``
    with ``zero_cost.score`` and summarise each proxy over the k = len(init_seeds) x
    len(batches) repeats. Labels are passed only when a proxy needs them.

    Raises:
        ValueError: no seeds or no batches; as ``zero_cost.score``.
    """
    if not batches or not init_seeds:
        raise ValueError("at least one init seed and one batch are needed")
    needs_labels = any(proxy_registry.get(name).needs_labels for name in proxies)
    runs: list[dict[str, ScoreResult]] = []
    for seed in init_seeds:
        model = build(seed)
        for batch in batches:
            targets = batch.targets if needs_labels else None
            runs.append(score(model, proxies, batch.inputs, targets, seed=seed, device=device))
    return {name: summarise([run[name] for run in runs]) for name in proxies}
