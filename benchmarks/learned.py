"""Learned accuracy predictor on NAS-Bench-201: learning curves beside the label-free baseline.

Evaluates ``zero_cost.predictor`` on the 400 cells of ``../shared/data/nb201_dev.csv`` against
the test accuracies of CIFAR-10, CIFAR-100 and ImageNet16-120, beside the label-free baseline
it would replace (``log_rank`` over the baseline proxies: those of the first stage of
``ensemble.recommended("nb201")``, or ``--baseline``) and the service's label-free default
(``ensemble.recommended("nb201")`` with both its stages):

* learning curve: for n = 20, 50, 100, 200, 320 labelled cells, repeated random splits (train
  on n, evaluate on the other 400 - n; split r uses seed r, the same cells for every dataset),
  mean and standard deviation over the splits, for the predictor as it ships (model weight
  chosen by inner cross-validation on the n labelled cells), the model alone (weight 1) and
  the baseline and the label-free default on the same held-out cells;
* 5-fold cross-validation on all 400 cells, repeated over a few fold seeds;
* how the feature set was chosen: the cells halved by a fixed seed, the classic proxies
  against every fast proxy compared on one half only, the other half showing whether the
  choice holds on cells it never saw.

Every number is out-of-sample; nothing is tuned here (``GBM_PARAMS``, ``WEIGHTS`` and the
rule are fixed in ``zero_cost.predictor``). Features: the proxy set that the rule picks on the
development half (:func:`feature_sets`; every proxy with ``--all-proxies``). Scores are read
from the table that
``benchmarks/reproduce_nb201.py --scores .cache/nb201_all_scores.csv`` writes (proxy scores
of the same cells, one batch of 64 CIFAR-10 training images, seed 0); when it is missing or
lacks a proxy, the proxies needed here are scored and cached in
``.cache/nb201_learned_scores.csv``. Writes ``docs/learned.md``::

    .venv/bin/python benchmarks/learned.py
    .venv/bin/python benchmarks/learned.py --scores-csv /tmp/scores.csv --repeats 3
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.reproduce_nb201 import (  # noqa: E402
    CLASSIC_PROXIES,
    DATASETS,
    PROXIES,
    SHARED_DATA,
    load_cells,
    read_scores,
    score_cells,
    write_scores,
)
from zero_cost import ensemble, predictor  # noqa: E402

ALL_SCORES = ROOT / ".cache" / "nb201_all_scores.csv"
CACHE = ROOT / ".cache" / "nb201_learned_scores.csv"
SIZES = (20, 50, 100, 200, 320)
DEFAULT_BASELINE = ("synflow", "nwot", "jacob_cov", "params", "flops")
"""The baseline while ``ensemble.recommended`` names no proxies."""
METRICS = ("spearman", "kendall_tau_b", "precision_at_10", "top_spearman")
HEADERS = ("Spearman", "Kendall tau-b", "precision@10%", "top-10% Spearman")
NAMES = {"cifar10_test": "CIFAR-10", "cifar100_test": "CIFAR-100", "imagenet16_test": "IN16-120"}
LEARNED, ALONE, BASELINE, DEFAULT = "learned", "model alone", "baseline", "label-free default"
GOALS = {100: 0.94, 200: 0.955, 320: 0.965}
"""Held-out Spearman goals of the issue by label count (0.965 is set for 400 labels, the
most this 400-cell set allows is 320 with 80 held out); at 20 and 50: the better of the
baseline and the label-free default."""
PUBLISHED = "NAS-Bench-Suite-Zero's XGBoost (CIFAR-10): 0.905 at 100 labels, 0.941 at 400"
SLOW_PROXIES = ("ntk_cond",)
"""Left out of the features unless ``--all-proxies``: over 10x the seconds of a gradient
pass per NB201 cell (``docs/performance.md``), too slow to score every candidate."""
SPLIT_SEED = 2026
"""Seed of the permutation that halves the cells for the choice of the feature set."""
HALVES = ("development", "confirmation")
CHOICE_SIZES = (50, 100)
"""Labelled cells per split in the choice of the feature set (inside one half of 200)."""


def default_baseline() -> tuple[str, ...]:
    """The proxies of the recommended label-free ranker's first stage, or
    :data:`DEFAULT_BASELINE` until one is recommended."""
    return tuple(ensemble.recommended("nb201").ranker.proxies) or DEFAULT_BASELINE


def feature_sets(baseline: Sequence[str]) -> dict[str, list[str]]:
    """The candidate proxy feature sets: ``classic`` (the ten classic proxies and the
    baseline's) and ``fast`` (every registered proxy but :data:`SLOW_PROXIES`)."""
    fast = [p for p in PROXIES if p not in SLOW_PROXIES]
    return {
        "classic": list(dict.fromkeys([*CLASSIC_PROXIES, *baseline])),
        "fast": list(dict.fromkeys([*fast, *baseline])),
    }


def load_scores(
    scores_csv: Path | None, proxy_names: Sequence[str], processes: int
) -> tuple[list, dict[str, np.ndarray], str]:
    """(cells, proxy -> scores, where they came from): the given table, the full score table,
    this benchmark's cache, or scoring afresh (then cached).

    Raises:
        ValueError: a table given with ``--scores-csv`` lacks a proxy or holds other cells.
    """
    cells = load_cells(SHARED_DATA / "nb201_dev.csv")
    if scores_csv is not None:
        scores, _ = read_scores(scores_csv, cells, proxy_names)
        return cells, scores, f"the table `{scores_csv}` given with `--scores-csv`"
    for path, where in ((ALL_SCORES, "the full score table"), (CACHE, "this benchmark's cache")):
        if path.exists():
            try:
                scores, _ = read_scores(path, cells, proxy_names)
            except (ValueError, KeyError) as exc:
                print(f"{path}: not usable ({exc})", file=sys.stderr)
            else:
                return cells, scores, f"{where}, `{path.relative_to(ROOT)}`"
    print(f"scoring {len(cells)} cells with {processes} processes ...", file=sys.stderr)
    start = time.perf_counter()
    seconds: dict[str, np.ndarray] = {}
    npz = SHARED_DATA / "cifar10_sample.npz"
    scores = score_cells(cells, npz, processes, tuple(proxy_names), seconds)
    write_scores(CACHE, cells, scores, seconds)
    elapsed = time.perf_counter() - start
    return cells, scores, f"scored afresh in {elapsed:.0f} s, cached in `.cache/`"


@dataclass
class Curve:
    """Held-out metrics of one dataset: ``results[n][ranker]`` is a (repeats, metrics)
    array; ``weights[n]`` the model weight the shipped predictor chose in each split."""

    results: dict[int, dict[str, np.ndarray]]
    weights: dict[int, np.ndarray]


def _row(evaluation: predictor.Evaluation) -> list[float]:
    return [getattr(evaluation, m) for m in METRICS]


def learning_curve(
    features: predictor.Features,
    accuracy: np.ndarray,
    baseline: tuple[str, ...],
    sizes: Sequence[int],
    repeats: int,
    default_scores: dict[str, np.ndarray],
) -> Curve:
    """Train on n random cells, evaluate on the rest, ``repeats`` splits per n; the
    label-free default ranks the held-out cells from ``default_scores`` (its proxies')."""
    base_columns = features.select(baseline)
    default = ensemble.recommended("nb201").ranker
    results, weights = {}, {}
    for n in sizes:
        rows: dict[str, list[list[float]]] = {LEARNED: [], ALONE: [], BASELINE: [], DEFAULT: []}
        chosen = []
        for repeat in range(repeats):
            order = np.random.default_rng(repeat).permutation(len(accuracy))
            train, test = order[:n], order[n:]
            truth = accuracy[test]
            shipped = predictor.Predictor(baseline=baseline)
            shipped.fit(features.take(train), accuracy[train], seed=repeat)
            assert shipped.weight is not None
            chosen.append(shipped.weight)
            rows[LEARNED].append(
                _row(predictor.evaluate(shipped.predict(features.take(test)), truth))
            )
            alone = predictor.Predictor(baseline=baseline, weights=(1.0,))
            alone.fit(features.take(train), accuracy[train], seed=repeat)
            rows[ALONE].append(_row(predictor.evaluate(alone.predict(features.take(test)), truth)))
            columns = {p: base_columns[test, i] for i, p in enumerate(baseline)}
            rows[BASELINE].append(_row(predictor.evaluate(ensemble.log_rank(columns), truth)))
            held_out = {p: values[test] for p, values in default_scores.items()}
            rows[DEFAULT].append(_row(predictor.evaluate(default.score(held_out), truth)))
        results[n] = {name: np.array(values) for name, values in rows.items()}
        weights[n] = np.array(chosen)
        print(f"  n={n}: done", file=sys.stderr)
    return Curve(results, weights)


def _half_spearman(
    job: tuple[predictor.Features, np.ndarray, np.ndarray, tuple[str, ...], int, int],
) -> float:
    """Mean held-out Spearman of the shipped predictor trained on n of ``rows`` and
    evaluated on the others of ``rows``, over ``repeats`` splits (split r uses seed r)."""
    features, accuracy, rows, baseline, n, repeats = job
    values = []
    for repeat in range(repeats):
        order = np.random.default_rng(repeat).permutation(rows)
        train, test = order[:n], order[n:]
        model = predictor.Predictor(baseline=baseline)
        model.fit(features.take(train), accuracy[train], seed=repeat)
        prediction = model.predict(features.take(test))
        values.append(predictor.evaluate(prediction, accuracy[test]).spearman)
    return float(np.mean(values))


def split_halves(size: int) -> dict[str, np.ndarray]:
    """The development and the confirmation half of ``size`` cells (a permutation with
    :data:`SPLIT_SEED`, cut in two)."""
    order = np.random.default_rng(SPLIT_SEED).permutation(size)
    return dict(zip(HALVES, (order[: size // 2], order[size // 2 :]), strict=True))


def picked_set(choice: dict[tuple[str, str, str, int], float], half: str) -> str:
    """The feature set with the higher mean held-out Spearman on ``half`` (over the datasets
    and sizes of ``choice``); ties go to the first set."""
    sets = list(dict.fromkeys(key[0] for key in choice))
    means = {
        name: np.mean([value for key, value in choice.items() if key[:2] == (name, half)])
        for name in sets
    }
    return max(sets, key=lambda name: means[name])


def feature_set_choice(
    features: dict[str, predictor.Features],
    accuracies: dict[str, np.ndarray],
    baseline: tuple[str, ...],
    repeats: int,
    processes: int,
) -> dict[tuple[str, str, str, int], float]:
    """(feature set, half, dataset, n) -> mean held-out Spearman inside that half.

    The cells are halved by a permutation with :data:`SPLIT_SEED`; within a half, the
    shipped predictor is trained on n cells and evaluated on the others of the half."""
    halves = split_halves(len(next(iter(accuracies.values()))))
    keys = [
        (name, half, d, n)
        for name in features
        for half in HALVES
        for d in accuracies
        for n in CHOICE_SIZES
    ]
    jobs = [(features[s], accuracies[d], halves[h], baseline, n, repeats) for s, h, d, n in keys]
    with get_context("spawn").Pool(processes) as pool:
        return dict(zip(keys, pool.map(_half_spearman, jobs, chunksize=1), strict=True))


def cross_validation(
    features: predictor.Features,
    accuracy: np.ndarray,
    baseline: tuple[str, ...],
    folds: int,
    seeds: int,
) -> np.ndarray:
    """(seeds, metrics) array of pooled out-of-fold metrics of the shipped predictor."""
    model = predictor.Predictor(baseline=baseline)
    return np.array(
        [
            _row(model.cross_validate(features, accuracy, k=folds, seed=seed).evaluation)
            for seed in range(seeds)
        ]
    )


# --------------------------------------------------------------------------- report


def _cell(values: np.ndarray) -> str:
    mean, std = np.nanmean(values), np.nanstd(values)
    return "n/a" if math.isnan(mean) else f"{mean:.3f} ± {std:.3f}"


def _paired(learned: np.ndarray, baseline: np.ndarray) -> str:
    """Mean paired difference ± its standard error, and the splits where learned was ahead."""
    diff = learned - baseline
    diff = diff[np.isfinite(diff)]
    if diff.size < 2:
        return "n/a"
    se = diff.std(ddof=1) / math.sqrt(diff.size)
    ahead, behind = np.count_nonzero(diff > 0), np.count_nonzero(diff < 0)
    return f"{diff.mean():+.3f} ± {se:.3f} ({ahead} ahead, {behind} behind)"


def _weights(chosen: np.ndarray) -> str:
    counts = {w: int(np.count_nonzero(chosen == w)) for w in predictor.WEIGHTS}
    return " / ".join(str(counts[w]) for w in predictor.WEIGHTS)


def _markdown(
    curves: dict[str, Curve],
    cv: dict[str, np.ndarray],
    whole: dict[str, dict[str, predictor.Evaluation]],
    choice: dict[tuple[str, str, str, int], float],
    args: argparse.Namespace,
    baseline: tuple[str, ...],
    feature_proxies: Sequence[str],
    source: str,
    seconds: float,
    n_cells: int,
) -> str:
    datasets = list(curves)
    sizes = list(next(iter(curves.values())).results)
    base = f"`log_rank({', '.join(baseline)})`"
    default = f"`{ensemble.recommended('nb201').ranker.describe()}`"
    if baseline == tuple(ensemble.recommended("nb201").ranker.proxies):
        provenance = "the first stage of the recommended ranker, `zero_cost.ensemble.recommended`"
    elif args.baseline:
        provenance = "given with `--baseline`"
    else:
        provenance = "a stand-in while `zero_cost.ensemble.recommended` names no proxies"
    origin = "The proxies: every registered proxy (`--all-proxies`)."
    if not args.all_proxies:
        origin = (
            f"The proxies: the `{picked_set(choice, HALVES[0])}` set, picked by the rule at"
            " the end (`fast`: every registered proxy but the slow"
            f" {', '.join(SLOW_PROXIES)}; `classic`: the ten classic ones and the baseline's)."
        )
    command = "    .venv/bin/python benchmarks/learned.py"
    if args.baseline:
        command += f" --baseline {' '.join(args.baseline)}"
    if args.all_proxies:
        command += " --all-proxies"
    lines = [
        "# Learned predictor on NAS-Bench-201: learning curves beside the label-free baseline",
        "",
        f"`zero_cost.predictor` on the {n_cells} cells of `../shared/data/nb201_dev.csv`, against",
        "the test accuracy on CIFAR-10, CIFAR-100 and ImageNet16-120 (IN16-120). Proxy scores",
        "as in `docs/reproduction.md` (one batch of 64 CIFAR-10 training images, seed 0;",
        f"source: {source}).",
        "",
        f"* **Features**: the proxy scores {', '.join(feature_proxies)} (log-scale proxies",
        "  such as synflow as their log), the NB201 encoding (one-hot op per edge, 30 values)",
        f"  and the quantile of the baseline ensemble's score. {origin}",
        f"* **Baseline**: {base}, the label-free ranker the predictor would replace"
        f" ({provenance}); it needs no labels and is evaluated on the same held-out cells.",
        f"* **Label-free default**: {default}, the ranker the service uses without labels",
        "  (`zero_cost.ensemble.recommended`, `docs/two_stage.md`): the baseline with its best",
        "  candidates re-ranked by a second stage; on the same held-out cells.",
        "* **Learned** is the predictor as it ships: a gradient-boosting model (hyperparameters",
        "  fixed in `GBM_PARAMS`, never tuned on these cells) on the accuracy quantile, blended",
        "  with the baseline at a model weight in {0, 0.25, 0.5, 0.75, 1} chosen by 5-fold",
        "  cross-validation on the n labelled cells only (the highest out-of-fold Spearman, ties",
        "  to the smaller weight; weight 0 = the baseline itself; fewer than 20 labels: the",
        "  baseline). The rule is in the docstring of `zero_cost/predictor.py`, fixed before",
        "  these results were computed. **Model alone** is the same model at weight 1, without",
        "  the choice.",
        "",
        "Every number is out-of-sample: held-out cells of a random split (the labelled cells",
        "are never evaluated), or out-of-fold predictions. The evaluation took",
        f"{seconds:.0f} s. Regenerate with:",
        "",
        command,
        "",
        "## Learning curve: held-out Spearman",
        "",
        f"Train on n random labelled cells, evaluate on the other {n_cells} - n;",
        f"{args.repeats} random splits per n (split r uses seed r, the same cells for every",
        "dataset), mean ± standard deviation over the splits.",
        "",
        "| n labelled | held out | "
        + " | ".join(
            f"{NAMES[d]} learned | {NAMES[d]} baseline | {NAMES[d]} default" for d in datasets
        )
        + " |",
        "|---|---|" + "---|---|---|" * len(datasets),
    ]
    for n in sizes:
        cells = []
        for d in datasets:
            r = curves[d].results[n]
            cells += [f"**{_cell(r[LEARNED][:, 0])}**", _cell(r[BASELINE][:, 0])]
            cells.append(_cell(r[DEFAULT][:, 0]))
        lines.append(f"| {n} | {n_cells - n} | {' | '.join(cells)} |")
    lines += [
        "",
        "Paired differences on the same splits (held-out Spearman, mean ± standard error over",
        "the splits, and in how many splits the first was ahead / behind), and the model",
        "weights chosen (number of splits at weight 0 / 0.25 / 0.5 / 0.75 / 1):",
        "",
        "| n labelled | dataset | learned - baseline | learned - default | model alone - baseline"
        " | weights chosen |",
        "|---|---|---|---|---|---|",
    ]
    for n in sizes:
        for d in datasets:
            r = curves[d].results[n]
            lines.append(
                f"| {n} | {NAMES[d]} | {_paired(r[LEARNED][:, 0], r[BASELINE][:, 0])} | "
                f"{_paired(r[LEARNED][:, 0], r[DEFAULT][:, 0])} | "
                f"{_paired(r[ALONE][:, 0], r[BASELINE][:, 0])} | {_weights(curves[d].weights[n])} |"
            )
    for d in datasets:
        lines += [
            "",
            f"## {NAMES[d]} (`{d}`): every metric",
            "",
            "Spearman rho, Kendall tau-b, precision@10% (overlap of the predicted and the true",
            "top 10 %) and top-10% Spearman (rho among the held-out cells whose true accuracy is",
            "in their top 10 %), held-out, mean ± standard deviation over the splits.",
            "",
            f"| n labelled | ranker | {' | '.join(HEADERS)} |",
            "|---|---|" + "---|" * len(METRICS),
        ]
        for n in sizes:
            r = curves[d].results[n]
            for name, label in (
                (LEARNED, "**learned**"),
                (ALONE, "model alone"),
                (BASELINE, base),
                (DEFAULT, default),
            ):
                values = " | ".join(_cell(r[name][:, m]) for m in range(len(METRICS)))
                lines.append(f"| {n} | {label} | {values} |")
    lines += [
        "",
        "## Cross-validation on all cells",
        "",
        f"{args.folds}-fold cross-validation of the shipped predictor on all {n_cells} cells (each",
        f"fold trained on about {n_cells - n_cells // args.folds} cells, making its own choice of",
        "weight there); metrics of the pooled out-of-fold predictions, mean ± standard deviation",
        f"over {args.cv_seeds} fold seeds. The label-free rankers need no training and are",
        "evaluated on all cells once.",
        "",
        f"| dataset | ranker | {' | '.join(HEADERS)} |",
        "|---|---|" + "---|" * len(METRICS),
    ]
    for d in datasets:
        values = " | ".join(f"**{_cell(cv[d][:, m])}**" for m in range(len(METRICS)))
        lines.append(f"| {NAMES[d]} | **learned (out-of-fold)** | {values} |")
        for name, label in ((BASELINE, base), (DEFAULT, default)):
            values = " | ".join(f"{v:.3f}" for v in _row(whole[d][name]))
            lines.append(f"| {NAMES[d]} | {label} | {values} |")
    lines += ["", "## Goals of the issue", ""]
    for d in datasets:
        verdicts = []
        for n in sizes:
            r = curves[d].results[n]
            mean = float(np.mean(r[LEARNED][:, 0]))
            goal = GOALS.get(n)
            if goal is None:
                goal = max(float(np.mean(r[BASELINE][:, 0])), float(np.mean(r[DEFAULT][:, 0])))
                name = f"label-free {goal:.4f}"
            else:
                name = f"goal {goal:.3f}"
            verdict = "met" if mean >= goal else "**not met**"
            verdicts.append(f"n = {n}: {mean:.4f} vs {name}, {verdict}")
        lines.append(f"* {NAMES[d]}: " + "; ".join(verdicts) + ".")
    top = METRICS.index("top_spearman")
    for name, label in ((BASELINE, "the baseline's"), (DEFAULT, "the label-free default's")):
        below = [
            f"{NAMES[d]} at n = {', '.join(str(n) for n in ns)}"
            for d in datasets
            if (
                ns := [
                    n
                    for n in sizes
                    if np.nanmean(curves[d].results[n][LEARNED][:, top])
                    < np.nanmean(curves[d].results[n][name][:, top])
                ]
            )
        ]
        lines += [
            "",
            f"Held-out top-10% Spearman of learned below {label} (the weight is chosen on",
            f"Spearman over all cells, not on the top): {'; '.join(below) or 'nowhere'}.",
        ]
    lines += [
        "",
        "The goal at 20 and 50 labels is the higher held-out Spearman of the baseline and the",
        "label-free default on the same splits;",
        f"0.94, 0.955 and 0.965 are the issue's goals for 100, 200 and 400 labels ({PUBLISHED}).",
        f"With {n_cells} cells the most labels that leave cells to evaluate is 320; the",
        "cross-validation above (folds of 320 labelled cells, pooled out-of-fold) is the",
        "steadier figure there.",
    ]
    lines += _choice_markdown(choice, datasets, n_cells, args.repeats)
    return "\n".join(lines)


def _choice_markdown(
    choice: dict[tuple[str, str, str, int], float],
    datasets: Sequence[str],
    n_cells: int,
    repeats: int,
) -> list[str]:
    """The section on how the feature set was chosen."""
    sets = list(dict.fromkeys(key[0] for key in choice))
    columns = [(d, n) for d in datasets for n in CHOICE_SIZES]

    def mean(name: str, half: str) -> float:
        return float(np.mean([choice[name, half, d, n] for d, n in columns]))

    picked = {half: picked_set(choice, half) for half in HALVES}
    lines = [
        "",
        "## How the feature set was chosen",
        "",
        f"The rule, fixed before the comparison: the {n_cells} cells are halved by a random",
        f"permutation with seed {SPLIT_SEED} into a development and a confirmation half. Within",
        f"a half the shipped predictor is trained on n = {' and '.join(map(str, CHOICE_SIZES))}",
        f"random cells of that half and evaluated on the rest of it ({repeats} splits, split r",
        "uses seed r); the feature set with the higher mean held-out Spearman over the",
        "datasets and both n **on the development half** is the one the tables above use",
        "(unless `--all-proxies`). The confirmation half",
        "took no part in the choice: it shows whether the gain holds on cells the choice never",
        "saw. `classic`: the ten classic proxies and the baseline's; `fast`: every registered",
        f"proxy but {', '.join(SLOW_PROXIES)} (over 10x a gradient pass per cell, see",
        "[performance.md](performance.md)).",
        "",
        "| feature set | half | "
        + " | ".join(f"{NAMES[d]} n={n}" for d, n in columns)
        + " | mean |",
        "|---|---|" + "---|" * (len(columns) + 1),
    ]
    for half in HALVES:
        for name in sets:
            values = " | ".join(f"{choice[name, half, d, n]:.3f}" for d, n in columns)
            lines.append(f"| `{name}` | {half} | {values} | {mean(name, half):.4f} |")
    agree = "the same" if picked[HALVES[0]] == picked[HALVES[1]] else "**another**"
    gain = mean("fast", HALVES[1]) - mean("classic", HALVES[1])
    lines += [
        "",
        f"The development half picks `{picked[HALVES[0]]}`; the confirmation half would pick "
        f"{agree} (`{picked[HALVES[1]]}`); `fast` minus `classic` there: {gain:+.4f}.",
        "The tables above use cells of both halves, so they carry a little of this choice;",
        "the confirmation half's rows are the figures free of it.",
        "",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scores-csv", type=Path, help="use this table of scores")
    parser.add_argument("--baseline", nargs="+", help="baseline proxies (default: recommended)")
    parser.add_argument(
        "--all-proxies",
        action="store_true",
        help=f"every registered proxy as a feature, {', '.join(SLOW_PROXIES)} included",
    )
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=10, help="random splits per size")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cv-seeds", type=int, default=3, help="fold seeds for the k-fold CV")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "learned.md")
    args = parser.parse_args(argv)
    if not (SHARED_DATA / "nb201_dev.csv").exists():
        print(f"reference data not found in {SHARED_DATA}", file=sys.stderr)
        return 2
    baseline = tuple(args.baseline) if args.baseline else default_baseline()
    sets = feature_sets(baseline)
    default = ensemble.recommended("nb201").ranker
    needed = list(dict.fromkeys(p for names in sets.values() for p in names))
    if args.all_proxies:
        needed = list(dict.fromkeys([*PROXIES, *baseline]))
    needed += [p for p in default.members if p not in needed]
    cells, scores, source = load_scores(args.scores_csv, needed, args.processes)
    start = time.perf_counter()
    archs = [c.arch_str for c in cells]

    def build(names: Sequence[str]) -> predictor.Features:
        return predictor.Features.build({p: scores[p] for p in names}, space="nb201", archs=archs)

    accuracies = {d: np.array([c.accuracies[d] for c in cells]) for d in args.datasets}
    print("choice of the feature set ...", file=sys.stderr)
    candidates = {name: build(names) for name, names in sets.items()}
    choice = feature_set_choice(candidates, accuracies, baseline, args.repeats, args.processes)
    feature_proxies = sets[picked_set(choice, HALVES[0])]
    if args.all_proxies:
        feature_proxies = needed
    features = build(feature_proxies)
    base_scores = ensemble.log_rank({p: scores[p] for p in baseline})
    default_scores = {p: scores[p] for p in default.members}
    curves, cv, whole = {}, {}, {}
    for d, accuracy in accuracies.items():
        print(f"{d}:", file=sys.stderr)
        curves[d] = learning_curve(
            features, accuracy, baseline, args.sizes, args.repeats, default_scores
        )
        cv[d] = cross_validation(features, accuracy, baseline, args.folds, args.cv_seeds)
        whole[d] = {
            BASELINE: predictor.evaluate(base_scores, accuracy),
            DEFAULT: predictor.evaluate(default.score(default_scores), accuracy),
        }
    seconds = time.perf_counter() - start
    text = _markdown(
        curves, cv, whole, choice, args, baseline, feature_proxies, source, seconds, len(cells)
    )
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
