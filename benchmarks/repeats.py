"""Does ranking on the mean of k repeated scores rank NAS-Bench-201 cells better?

Scores the reference cells of ``../shared/data/nb201_dev.csv`` (C=16, N=5, 10 classes) as
``benchmarks/reproduce_nb201.py`` does (64 CIFAR-10 training images of
``cifar10_sample.npz``, one torch thread) with every registered proxy that passes its cost
rule (median seconds per cell at most ``MAX_COST`` times grad_norm's, timed here on the
first ``COST_CELLS`` cells), once per (init seed, batch seed) run:

* init seeds 0..4 on batch seed 0 (the network built, and scored, with that seed);
* batch seeds 1 and 2 at init seed 0.

It then summarises each proxy with ``zero_cost.repeats.summarise`` over k = 1 (seed 0),
k = 3 (seeds 0-2), k = 5 (seeds 0-4) and k = 3 batches (batch seeds 0-2 at seed 0), and
reports the signed Spearman rho of the mean (geometric for log-scale proxies) against the
test accuracies of CIFAR-10, CIFAR-100 and ImageNet16-120 and inside the true top 10 %
(CIFAR-10 test accuracy >= 92.93 %), for each proxy, the recommended ranker and the
ensembles of ``reproduce_nb201`` (``log_rank`` of their proxies' means), with how noisy
each proxy is. Every single run's scores go to a CSV under ``.cache/`` as soon as they
exist (with a fingerprint of the scoring code, so that scores of other code are not
reused), so a rerun or an interrupted run resumes where it stopped::

    nice -n 10 .venv/bin/python benchmarks/repeats.py                 # all 400 cells
    nice -n 10 .venv/bin/python benchmarks/repeats.py --cells 20      # a seeded subset
    nice -n 10 .venv/bin/python benchmarks/repeats.py --max-minutes 60
        # stop scoring new cells after 60 minutes and report on the cells done

Cells are scored in a fixed seeded order (a permutation of the 400 with seed 0) and
``--cells N`` takes the first N of it, so subsets are nested: a run stopped by
``--max-minutes`` after n cells reports on exactly the cells of ``--cells n``.

One process, one torch thread.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.reproduce_nb201 import (  # noqa: E402
    BATCH_SIZE,
    DATASETS,
    ENSEMBLE_SETS,
    MAX_COST,
    PROXIES,
    SHARED_DATA,
    TOP_ACCURACY,
    Cell,
    load_cells,
)
from zero_cost import data, ensemble, metrics, proxies, score, spaces  # noqa: E402
from zero_cost.engine import ScoreResult  # noqa: E402
from zero_cost.repeats import RepeatedScore, summarise  # noqa: E402

INIT_SEEDS = (0, 1, 2, 3, 4)
BATCH_SEEDS = (0, 1, 2)
Run = tuple[int, int]
"""(init seed, batch seed)."""
RUNS: tuple[Run, ...] = (*((s, 0) for s in INIT_SEEDS), *((0, b) for b in BATCH_SEEDS[1:]))
CONFIGS: dict[str, tuple[Run, ...]] = {
    "k=1": ((0, 0),),
    "k=3": tuple((s, 0) for s in INIT_SEEDS[:3]),
    "k=5": tuple((s, 0) for s in INIT_SEEDS),
    "k=3b": tuple((0, b) for b in BATCH_SEEDS),
}
"""The repeats each summary averages: k init seeds on batch 0, or k=3 batches at seed 0."""
COST_CELLS = 3
"""The first cells of the seeded order, on which the cost rule is timed."""
ORDER_SEED = 0
"""Seed of the permutation of the reference cells that sets the scoring order and subsets."""
COST_BASELINE = "grad_norm"
CACHE = ROOT / ".cache" / "repeats_nb201.csv"
CACHE_FIELDS = (
    "code", "arch_str", "init_seed", "batch_seed", "proxy", "version", "value", "log_value",
    "status", "seconds", "error",
)  # fmt: skip
SCORING_CODE = (
    "engine.py", "passes.py", "data.py", "layers.py", "spaces/nb201.py", "spaces/_base.py",
)  # fmt: skip
"""What the scores depend on besides the proxies' versions, which mark their own changes
(under ``zero_cost/``)."""
BOOTSTRAP = 1000
"""Paired resamples of the cells for the interval of rho(k=5) - rho(k=1)."""
SHORT = {"cifar10_test": "C10", "cifar100_test": "C100", "imagenet16_test": "IN16"}

Key = tuple[str, int, int, str]
"""(arch_str, init seed, batch seed, proxy)."""


# -- the cache of single scores ---------------------------------------------------------------


def code_fingerprint() -> str:
    """A hash of the source the scores depend on (``SCORING_CODE``)."""
    digest = hashlib.sha256()
    package = ROOT / "zero_cost"
    for entry in SCORING_CODE:
        path = package / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(file.relative_to(package)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def read_cache(path: Path, code: str) -> dict[Key, ScoreResult]:
    """The single scores stored in ``path`` by the scoring code ``code`` whose proxy version
    is the registered one."""
    if not path.exists():
        return {}
    store: dict[Key, ScoreResult] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            name = row["proxy"]
            if row.get("code") != code:
                continue
            if name not in PROXIES or row["version"] != proxies.get(name).version:
                continue
            log_value = float(row["log_value"]) if row["log_value"] else None
            result = ScoreResult(
                name,
                row["version"],
                float(row["value"]),
                float(row["seconds"]),
                row["status"],  # type: ignore[arg-type]
                row["error"] or None,
                log_value,
            )
            store[(row["arch_str"], int(row["init_seed"]), int(row["batch_seed"]), name)] = result
    return store


def append_cache(
    path: Path, code: str, arch_str: str, run: Run, results: Mapping[str, ScoreResult]
) -> None:
    """Append one run's scores to ``path`` (with a header when the file is new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(CACHE_FIELDS)
        for r in results.values():
            log_value = "" if r.log_value is None else repr(r.log_value)
            writer.writerow(
                [code, arch_str, *run, r.proxy, r.version, repr(r.value), log_value, r.status,
                 f"{r.seconds:.5f}", r.error or ""]
            )  # fmt: skip


# -- the cost rule ----------------------------------------------------------------------------


def measure_cost(
    path: Path, batch: data.Batch, cells: Sequence[Cell], code: str
) -> dict[str, float]:
    """Median seconds per cell of every registered proxy, scored all together (shared passes
    split between the proxies that share them, as ``reproduce_nb201`` times its cost rule)
    at init seed 0 on ``cells``; kept in ``path`` and read from it next time."""
    if path.exists():
        stored = json.loads(path.read_text())
        same = stored.get("code") == code and stored["cells"] == [c.arch_str for c in cells]
        if same and set(stored["seconds"]) == set(PROXIES):
            return stored["seconds"]
    space = spaces.get("nb201")
    times: dict[str, list[float]] = {p: [] for p in PROXIES}
    for i, cell in enumerate(cells):
        print(f"cost rule: timing every proxy on cell {i + 1} of {len(cells)}", flush=True)
        model = space.build(space.parse(cell.arch_str), num_classes=10, seed=0)
        for name, r in score(model, PROXIES, batch.inputs, batch.targets, seed=0).items():
            times[name].append(r.seconds)
    seconds = {p: float(np.median(t)) for p in PROXIES for t in [times[p]]}
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "code": code,
        "cells": [c.arch_str for c in cells],
        "torch": torch.__version__,
        "seconds": seconds,
    }
    path.write_text(json.dumps(record, indent=1))
    return seconds


def affordable(cost: Mapping[str, float]) -> list[str]:
    """The proxies within the cost rule of ``reproduce_nb201`` (``MAX_COST`` x grad_norm)."""
    return [p for p in PROXIES if cost[p] <= MAX_COST * cost[COST_BASELINE]]


# -- scoring ----------------------------------------------------------------------------------


class Progress:
    """A rich progress bar on a terminal, else one plain line per cell."""

    def __init__(self, total: int, done: int) -> None:
        self.total, self.start, self.count = total, time.perf_counter(), 0
        self.bar = None
        if sys.stdout.isatty():
            try:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )
                from rich.progress import Progress as RichProgress
            except ImportError:
                pass
            else:
                self.bar = RichProgress(
                    TextColumn("scoring cells"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(),
                )  # fmt: skip
                self.bar.start()
                self.task = self.bar.add_task("cells", total=total, completed=done)
        self.done = done

    def advance(self, scored: bool) -> None:
        self.done += 1
        self.count += scored
        if self.bar is not None:
            self.bar.advance(self.task)
            return
        elapsed = time.perf_counter() - self.start
        left = ""
        if self.count:
            eta = elapsed / self.count * (self.total - self.done)
            left = f", about {eta / 60:.1f} min left"
        print(
            f"cell {self.done}/{self.total}: {elapsed / 60:.1f} min elapsed{left}",
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def score_cells(
    cells: Sequence[Cell],
    names: Sequence[str],
    batches: Mapping[int, data.Batch],
    store: dict[Key, ScoreResult],
    cache: Path,
    code: str,
    deadline: float,
) -> tuple[list[Cell], int]:
    """Score every run of every cell that ``store`` lacks (adding it to ``store`` and
    ``cache``), in the order given, until ``deadline`` (``time.perf_counter``) passes.
    Returns the cells with every run scored, a prefix of ``cells``, and how many runs this
    call scored."""
    space = spaces.get("nb201")
    labelled = any(proxies.get(p).needs_labels for p in names)
    done: list[Cell] = []
    scored = 0

    def complete(cell: Cell) -> bool:
        return all((cell.arch_str, *run, p) in store for run in RUNS for p in names)

    progress = Progress(len(cells), sum(complete(c) for c in cells))
    try:
        for cell in cells:
            if time.perf_counter() > deadline:
                break
            if complete(cell):
                done.append(cell)
                continue
            arch = space.parse(cell.arch_str)
            for init_seed, runs in itertools.groupby(RUNS, key=lambda run: run[0]):
                model = None
                for run in runs:
                    if all((cell.arch_str, *run, p) in store for p in names):
                        continue
                    if model is None:
                        model = space.build(arch, num_classes=10, seed=init_seed)
                    batch = batches[run[1]]
                    targets = batch.targets if labelled else None
                    results = score(model, names, batch.inputs, targets, seed=init_seed)
                    append_cache(cache, code, cell.arch_str, run, results)
                    store.update({(cell.arch_str, *run, p): r for p, r in results.items()})
                    scored += 1
            done.append(cell)
            progress.advance(scored=True)
    finally:
        progress.close()
    return done, scored


# -- analysis ---------------------------------------------------------------------------------


def ranked(summary: RepeatedScore) -> float:
    """The value a summary is ranked on: its log for log-scale proxies; NaN unless ok."""
    if summary.status != "ok":
        return math.nan
    return summary.log_value if summary.log_value is not None else summary.value


@dataclass(frozen=True)
class Summaries:
    """Per proxy and config, one summary per cell."""

    by_config: dict[str, dict[str, list[RepeatedScore]]]  # config -> proxy -> per cell

    def values(self, config: str, proxy: str) -> np.ndarray:
        return np.array([ranked(s) for s in self.by_config[config][proxy]])

    def stds(self, config: str, proxy: str) -> np.ndarray:
        """The across-repeat std per cell; NaN where the summary is not finite."""
        return np.array(
            [s.std if math.isfinite(ranked(s)) else math.nan for s in self.by_config[config][proxy]]
        )


def summarise_all(
    cells: Sequence[Cell], names: Sequence[str], store: Mapping[Key, ScoreResult]
) -> Summaries:
    return Summaries(
        {
            config: {
                p: [summarise([store[(c.arch_str, *run, p)] for run in runs]) for c in cells]
                for p in names
            }
            for config, runs in CONFIGS.items()
        }
    )


def single(cells: Sequence[Cell], proxy: str, run: Run, store: Mapping[Key, ScoreResult]):
    return np.array([ranked(summarise([store[(c.arch_str, *run, proxy)]])) for c in cells])


def ensemble_columns(
    summaries: Summaries, names: Sequence[str]
) -> dict[str, Callable[[str], np.ndarray]]:
    """The recommended ranker's first stage and reproduce_nb201's ensembles, with
    ``log_rank`` (the recommended ranker with its own method) over their proxies' means,
    where every member was scored."""
    choice = ensemble.recommended("nb201").ranker
    sets = {"recommended": (choice.method, choice.proxies)}
    sets.update({name: ("log_rank", members) for name, members in ENSEMBLE_SETS.items()})
    columns = {}
    for set_name, (method, members) in sets.items():
        if set(members) <= set(names):

            def column(config: str, method=method, members=members) -> np.ndarray:
                means = {m: summaries.values(config, m) for m in members}
                return ensemble.get(method)(means)

            label = f"{method}({set_name}: {', '.join(members)})"
            columns[label] = column
    return columns


def spearman_rows(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Spearman rho of each row of ``pred`` against the same row of ``true``."""
    rp = stats.rankdata(pred, axis=1)
    rt = stats.rankdata(true, axis=1)
    rp -= rp.mean(axis=1, keepdims=True)
    rt -= rt.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rp * rt).sum(axis=1) / np.sqrt((rp**2).sum(axis=1) * (rt**2).sum(axis=1))


def gain_interval(
    before: np.ndarray, after: np.ndarray, true: np.ndarray, seed: int = 0
) -> tuple[float, float]:
    """Paired percentile-bootstrap 95 % interval of rho(after) - rho(before) over the cells
    where both are finite."""
    keep = np.isfinite(before) & np.isfinite(after) & np.isfinite(true)
    b, a, t = before[keep], after[keep], true[keep]
    if b.size < metrics.MIN_PAIRS:
        return math.nan, math.nan
    idx = np.random.default_rng(seed).integers(0, b.size, size=(BOOTSTRAP, b.size))
    diffs = spearman_rows(a[idx], t[idx]) - spearman_rows(b[idx], t[idx])
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size == 0:
        return math.nan, math.nan
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(low), float(high)


@dataclass(frozen=True)
class Row:
    name: str
    rho: dict[tuple[str, str], float]  # (dataset or "top10", config) -> Spearman
    n: int
    gain_ci: tuple[float, float]  # C10, k=5 - k=1


def table_rows(
    columns: Mapping[str, Callable[[str], np.ndarray]], truth: Mapping[str, np.ndarray]
) -> list[Row]:
    top = truth["cifar10_test"] >= TOP_ACCURACY
    rows = []
    for name, column in columns.items():
        rho: dict[tuple[str, str], float] = {}
        values = {config: column(config) for config in CONFIGS}
        for config, v in values.items():
            for d in DATASETS:
                rho[(d, config)] = metrics.spearman(v, truth[d])
            rho[("top10", config)] = metrics.spearman(v[top], truth["cifar10_test"][top])
        n = len(metrics.valid_pairs(values["k=5"], truth["cifar10_test"])[0])
        ci = gain_interval(values["k=1"], values["k=5"], truth["cifar10_test"])
        rows.append(Row(name, rho, n, ci))
    return rows


@dataclass(frozen=True)
class Noise:
    proxy: str
    seconds: float  # median seconds per cell of one run
    seed_ratio: float  # mean 5-seed std / across-cell std of the seed-0 values
    batch_ratio: float  # mean 3-batch std / the same
    seed_rho: float  # mean Spearman between two init seeds' single scores
    batch_rho: float  # mean Spearman between two batches' single scores


def noise_rows(
    cells: Sequence[Cell],
    names: Sequence[str],
    summaries: Summaries,
    store: Mapping[Key, ScoreResult],
) -> list[Noise]:
    rows = []
    for p in names:
        first = summaries.values("k=1", p)
        spread = float(np.std(first[np.isfinite(first)], ddof=1))

        def ratio(config: str, spread: float = spread, p: str = p) -> float:
            stds = summaries.stds(config, p)
            stds = stds[np.isfinite(stds)]
            if not stds.size or not spread > 0:
                return math.nan
            return float(np.mean(stds)) / spread

        def agreement(runs: Sequence[Run], p: str = p) -> float:
            singles = {run: single(cells, p, run, store) for run in runs}
            pairs = [
                metrics.spearman(singles[a], singles[b]) for a, b in itertools.combinations(runs, 2)
            ]
            return float(np.mean(pairs)) if all(np.isfinite(pairs)) else math.nan

        seconds = [store[(c.arch_str, 0, 0, p)].seconds for c in cells]
        rows.append(
            Noise(
                p,
                float(np.median(seconds)),
                ratio("k=5"),
                ratio("k=3b"),
                agreement(CONFIGS["k=5"]),
                agreement(CONFIGS["k=3b"]),
            )
        )
    return rows


# -- the report -------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 3) -> str:
    return "" if not np.isfinite(value) else f"{value:.{digits}f}"


def _signed(value: float) -> str:
    return "" if not np.isfinite(value) else f"{value:+.3f}"


def reading(rows: Sequence[Row], noise: Sequence[Noise], n_top: int, threshold: float) -> list[str]:
    """Plain statements read off the numbers (no judgement beyond them)."""
    lines = []
    c10 = [
        (r.name, r.rho[("cifar10_test", "k=5")] - r.rho[("cifar10_test", "k=1")], r.gain_ci)
        for r in rows
    ]
    up = [(n, g, ci) for n, g, ci in c10 if np.isfinite(g) and g >= threshold]
    down = [(n, g, ci) for n, g, ci in c10 if np.isfinite(g) and g <= -threshold]
    sure = [(n, g) for n, g, ci in c10 if np.isfinite(ci[0]) and (ci[0] > 0 or ci[1] < 0)]

    def listing(items: Sequence[tuple]) -> str:
        ordered = sorted(items, key=lambda item: -abs(item[1]))
        return ", ".join(f"{item[0]} ({item[1]:+.3f})" for item in ordered) or "none"

    lines.append(
        f"- CIFAR-10 rho, k=5 seeds against k=1, moved by at least {threshold} for: up "
        f"{listing(up)}; down {listing(down)}. Of the {len(c10)} rows, "
        f"{len(c10) - len(up) - len(down)} moved by less."
    )
    lines.append(f"- Moves whose paired bootstrap 95 % interval excludes 0: {listing(sure)}.")
    for d in DATASETS:
        gains = [r.rho[(d, "k=5")] - r.rho[(d, "k=1")] for r in rows]
        gains = [g for g in gains if np.isfinite(g)]
        if gains:
            lines.append(
                f"- {SHORT[d]}: median change k=1 -> k=5 over the rows {np.median(gains):+.3f} "
                f"(from {min(gains):+.3f} to {max(gains):+.3f})."
            )
    varying = [
        x
        for x in noise
        if np.isfinite(x.seed_ratio) and np.isfinite(x.batch_ratio)
        if x.seed_ratio > 0 or x.batch_ratio > 0
    ]
    more_batch = sorted(x.proxy for x in varying if x.batch_ratio >= x.seed_ratio)
    lines.append(
        "- Init seeds move the scores more than batches (larger mean std) for "
        f"{len(varying) - len(more_batch)} of the {len(varying)} proxies whose scores vary"
        + (f"; batches as much or more for: {', '.join(more_batch)}" if more_batch else "")
        + "."
    )
    flat = [x.proxy for x in noise if x.seed_ratio == 0 and x.batch_ratio == 0]
    if flat:
        lines.append(
            f"- {', '.join(flat)}: identical over seeds and batches, so repeats change nothing."
        )
    lines.append(
        f"- The top-10 % column rests on {n_top} cells; its changes are far noisier than the "
        "whole-set columns."
    )
    lines.append(
        "- Cost: k repeats cost k times a single score (`s/run` in the noise table: a proxy's "
        "share of one run)."
    )
    choice = ensemble.recommended("nb201").ranker
    label = f"{choice.method}(recommended: {', '.join(choice.proxies)})"
    rec = next((r for r in rows if r.name == label), None)
    if rec is not None:
        cost = sum(x.seconds for x in noise if x.proxy in choice.proxies)
        c10 = {c: rec.rho[("cifar10_test", c)] for c in CONFIGS}
        lines.append(
            f"- The recommended ranker ({', '.join(choice.proxies)}): CIFAR-10 rho "
            f"{_fmt(c10['k=1'])} at k=1 ({cost:.3f} s/run), {_fmt(c10['k=3'])} at k=3 "
            f"({3 * cost:.3f} s), {_fmt(c10['k=5'])} at k=5 ({5 * cost:.3f} s), "
            f"{_fmt(c10['k=3b'])} over 3 batches; k=5 - k=1 {_signed(c10['k=5'] - c10['k=1'])} "
            f"[{_signed(rec.gain_ci[0])}, {_signed(rec.gain_ci[1])}]."
        )
        own = set(choice.proxies) if len(choice.proxies) == 1 else set()
        better = [
            r.name
            for r in rows
            if r.name != label and r.name not in own
            if r.rho[("cifar10_test", "k=5")] > c10["k=1"]
        ]
        lines.append(
            "- Other rows whose k=5 CIFAR-10 rho exceeds the recommended ranker's at k=1: "
            f"{', '.join(better) or 'none'}."
        )
    return lines


def report(
    rows: Sequence[Row],
    noise: Sequence[Noise],
    excluded: Mapping[str, float],
    cost: Mapping[str, float],
    n_cells: int,
    n_requested: int,
    n_top: int,
    constant: Mapping[str, float],
    command: str,
    timing: str,
    machine: str,
) -> str:
    configs = list(CONFIGS)
    groups = [*DATASETS, "top10"]
    head = " | ".join(f"{SHORT.get(g, 'top10%')} {c}" for g in groups for c in configs)
    limit = MAX_COST * cost[COST_BASELINE]
    subset = (
        f"{n_cells} of the 400 reference cells of `../shared/data/nb201_dev.csv` (a seeded "
        f"subset: the first {n_cells} of the permutation of the 400 with seed {ORDER_SEED}, "
        f"what `--cells {n_cells}` scores)"
        if n_cells < 400
        else "All 400 reference cells of `../shared/data/nb201_dev.csv`"
    )
    if n_cells < n_requested:
        subset += (
            f"; the run reached its time limit (`--max-minutes`) after {n_cells} of the "
            f"{n_requested} cells it was asked for"
        )
    base = next(x.seconds for x in noise if x.proxy == COST_BASELINE)
    dearest = max((x for x in noise if x.proxy != COST_BASELINE), key=lambda x: x.seconds)
    lines = [
        "# Repeats: Spearman rho against k init seeds and batches on NAS-Bench-201",
        "",
        f"{subset}. Networks C=16, N=5, 10 classes; batches "
        f"of {BATCH_SIZE} CIFAR-10 training images of `cifar10_sample.npz`. Each proxy is "
        "scored once per run: init seeds 0-4 (the network built and scored with that seed) on "
        "batch seed 0, and batch seeds 1-2 at init seed 0. Summaries "
        "(`zero_cost.repeats.summarise`): `k=1` seed 0 on batch 0 (what `reproduce_nb201.py` "
        "scores), `k=3` seeds 0-2, `k=5` seeds 0-4, `k=3b` batch seeds 0-2 at init seed 0; "
        "each ranked on its mean (the mean of the logs for log-scale proxies, i.e. the "
        "geometric mean). Signed Spearman rho against the test accuracies of CIFAR-10, "
        "CIFAR-100 and ImageNet16-120; `top10%`: rho among the "
        f"{n_top} of these cells in the whole space's top 10 % (CIFAR-10 test accuracy >= "
        f"{TOP_ACCURACY} %), against CIFAR-10. A summary with a failed or non-finite repeat is "
        "left out of its column (`n`: cells left at k=5 on CIFAR-10).",
        "",
        "Command:",
        "",
        f"    {command}",
        "",
        f"Run time: {timing}",
        "",
        f"Machine: {machine}",
        "",
        f"Proxies: every registered proxy whose median seconds per cell is at most {MAX_COST:g} "
        f"times grad_norm's (the `MAX_COST` rule of `reproduce_nb201.py`; here "
        f"{cost[COST_BASELINE]:.3f} s, so at most {limit:.2f} s), timed with all proxies "
        f"scored together on {COST_CELLS} cells. Left out: "
        + (
            ", ".join(
                f"{p} ({s:.2f} s/cell, {s / cost[COST_BASELINE]:.0f}x)" for p, s in excluded.items()
            )
            or "none"
        )
        + f". In the runs themselves the dearest proxy kept, {dearest.proxy}, took "
        f"{dearest.seconds / base:.1f} times grad_norm's median seconds (`s/run` below). "
        "Ensembles: `log_rank` (the recommended ranker with its own method) of their "
        "proxies' summaries, recomputed for each k."
        + (
            " No rho where a score takes one value on every cell: "
            + ", ".join(f"{p} ({v:g})" for p, v in constant.items())
            + "."
            if constant
            else ""
        ),
        "",
        f"| score | {head} | n | C10 k=5 - k=1 [95% CI] |",
        "|---|" + "---|" * (len(groups) * len(configs)) + "---|---|",
    ]
    for r in rows:
        cells = " | ".join(_fmt(r.rho[(g, c)]) for g in groups for c in configs)
        gain = r.rho[("cifar10_test", "k=5")] - r.rho[("cifar10_test", "k=1")]
        ci = f"{_signed(gain)} [{_signed(r.gain_ci[0])}, {_signed(r.gain_ci[1])}]"
        lines.append(f"| {r.name} | {cells} | {r.n} | {ci} |")
    lines += [
        "",
        "`C10 k=5 - k=1`: the change of CIFAR-10 rho from one seed to the mean of five, with "
        f"a paired percentile bootstrap 95 % interval ({BOOTSTRAP} resamples of the cells).",
        "",
        "## How noisy each proxy is",
        "",
        "`seed std / spread`: the standard deviation of a cell's score over the 5 init seeds "
        "(on the ranked scale: logs for log-scale proxies), averaged over the cells, divided by "
        "the standard deviation across the cells of the seed-0 scores; `batch std / spread` "
        "the same over the 3 batches at seed 0. `rho seed-seed`: Spearman between the single "
        "scores of two init seeds, averaged over the 10 pairs; `rho batch-batch` the same "
        "over the 3 pairs of batches. `s/run`: median seconds per cell of one single score "
        "(shared passes split between the proxies that share them); k repeats cost k times it.",
        "",
        "| proxy | s/run | seed std / spread | batch std / spread | rho seed-seed "
        "| rho batch-batch |",
        "|---|---|---|---|---|---|",
    ]
    for x in sorted(noise, key=lambda x: -np.nan_to_num(x.seed_ratio, nan=-1)):
        lines.append(
            f"| {x.proxy} | {x.seconds:.3f} | {_fmt(x.seed_ratio)} | {_fmt(x.batch_ratio)} "
            f"| {_fmt(x.seed_rho)} | {_fmt(x.batch_rho)} |"
        )
    caveat = (
        [
            f"- These are {n_cells} of the 400 cells, so the rhos are not the 400-cell figures "
            "of `docs/reproduction.md`; compare the columns of this table with each other."
        ]
        if n_cells < 400
        else []
    )
    lines += ["", "## Reading", "", *reading(rows, noise, n_top, threshold=0.01), *caveat, ""]
    return "\n".join(lines)


def machine_note(load_start: tuple[float, ...]) -> str:
    load_end = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), one scoring process with one torch thread at "
        f"niceness {os.nice(0)}, torch {torch.__version__}, Python {platform.python_version()}; "
        f"other jobs shared the machine (1-minute load average {load_start[0]:.2f} at the "
        f"start, {load_end[0]:.2f} at the end), so the seconds are indicative only."
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=400, help="seeded subset size")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "repeats.md")
    parser.add_argument("--cache", type=Path, default=CACHE, help="CSV of single scores")
    parser.add_argument(
        "--max-minutes", type=float, default=None, help="stop scoring new cells after this"
    )
    args = parser.parse_args(argv)
    csv_path, npz_path = SHARED_DATA / "nb201_dev.csv", SHARED_DATA / "cifar10_sample.npz"
    if not csv_path.exists() or not npz_path.exists():
        print(f"reference data not found in {SHARED_DATA}", file=sys.stderr)
        return 2
    started, load_start = time.perf_counter(), os.getloadavg()
    deadline = started + 60 * args.max_minutes if args.max_minutes is not None else math.inf
    torch.set_num_threads(1)
    batches = {b: data.npz_batch(npz_path, BATCH_SIZE, seed=b, split="train") for b in BATCH_SEEDS}
    every = load_cells(csv_path)
    order = [every[i] for i in np.random.default_rng(ORDER_SEED).permutation(len(every))]
    cells = order[: args.cells]
    code = code_fingerprint()
    cost = measure_cost(args.cache.with_suffix(".cost.json"), batches[0], order[:COST_CELLS], code)
    names = affordable(cost)
    excluded = {p: cost[p] for p in PROXIES if p not in names}
    print(f"proxies: {', '.join(names)}; left out by the cost rule: {', '.join(excluded)}")

    store = read_cache(args.cache, code)
    scoring = time.perf_counter()
    done, scored = score_cells(cells, names, batches, store, args.cache, code, deadline)
    scoring = time.perf_counter() - scoring
    if len(done) < 3:
        print("fewer than 3 cells scored; nothing to report", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    nice = os.nice(0)
    command = f"{f'nice -n {nice} ' if nice else ''}.venv/bin/python benchmarks/repeats.py"
    command += "".join(f" {a}" for a in argv)
    run_log = args.cache.with_suffix(".runs.jsonl")
    if scored:
        entry = {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": command,
            "wall_min": round(elapsed / 60, 1),
            "scoring_s": round(scoring, 1),
            "runs": scored,
            "cells": len(done),
            "code": code,
        }
        with open(run_log, "a") as f:
            f.write(json.dumps(entry) + "\n")
    used = {(c.arch_str, *run, p) for c in done for run in RUNS for p in names}
    total = sum(store[k].seconds for k in used) / 60
    timing = (
        f"{elapsed / 60:.1f} min wall for this invocation ({scored} runs scored, the other "
        f"{len(done) * len(RUNS) - scored} of {len(done) * len(RUNS)} read from `.cache/`); the "
        f"proxies' own seconds over all {len(done) * len(RUNS)} runs add up to {total:.1f} min."
    )
    logged = []
    if run_log.exists():
        logged = [json.loads(line) for line in run_log.read_text().splitlines() if line]
        logged = [e for e in logged if e["code"] == code]
    if logged:
        timing += " Scoring invocations recorded in `.cache/` for this code:" + ";".join(
            f" {e['when']}, `{e['command']}`: {e['wall_min']} min wall, {e['runs']} runs"
            for e in logged
        )
        per_run = sum(e["scoring_s"] for e in logged) / sum(e["runs"] for e in logged)
        timing += (
            f". At their pace ({per_run:.1f} s per run, {len(RUNS)} runs per cell) all 400 "
            f"cells would take about {400 * len(RUNS) * per_run / 3600:.1f} h of scoring."
        )

    truth = {d: np.array([c.accuracies[d] for c in done]) for d in DATASETS}
    summaries = summarise_all(done, names, store)
    columns: dict[str, Callable[[str], np.ndarray]] = {
        p: (lambda config, p=p: summaries.values(config, p)) for p in names
    }
    rows = table_rows(columns, truth)
    rows.sort(key=lambda r: -np.nan_to_num(r.rho[("cifar10_test", "k=1")], nan=-2))
    rows += table_rows(ensemble_columns(summaries, names), truth)
    noise = noise_rows(done, names, summaries, store)
    constant = {}
    for p in names:
        values = np.unique(summaries.values("k=5", p))
        if values.size == 1 and np.isfinite(values[0]):
            constant[p] = float(values[0])
    text = report(
        rows,
        noise,
        excluded,
        cost,
        len(done),
        len(cells),
        int((truth["cifar10_test"] >= TOP_ACCURACY).sum()),
        constant,
        command,
        timing,
        machine_note(load_start),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
