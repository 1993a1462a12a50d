"""Figures of the correlation analysis, rendered server-side to SVG or PNG bytes.

Pure functions of arrays and report rows (no database): the plot endpoints, the dashboard
and ``zero-cost correlate --plot`` draw the same figures. Every figure is its own
``matplotlib.figure.Figure`` on an Agg canvas, never pyplot's global state, so figures can
be drawn in several request threads at once.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from numpy.typing import ArrayLike
from scipy import stats

Format = Literal["svg", "png"]
MEDIA_TYPES: dict[str, str] = {"svg": "image/svg+xml", "png": "image/png"}
SIZE = (5.6, 4.0)  # inches; PNGs are drawn at DPI dots per inch
DPI = 130
PROXY_COLOR, ENSEMBLE_COLOR = "#4c72b0", "#dd8452"
SPEARMAN_COLOR, KENDALL_COLOR = "#4c72b0", "#55a868"
DECADES_FOR_LOG = 2.0  # positive values spanning this many decades get a log axis


def _figure() -> Figure:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def render(figure: Figure, fmt: Format) -> bytes:
    """The figure as SVG or PNG bytes (no timestamps, so equal figures give equal bytes)."""
    if fmt not in MEDIA_TYPES:
        raise ValueError(f"unknown figure format {fmt!r}; use svg or png")
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    figure.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    return buffer.getvalue()


def _no_data(figure: Figure, message: str) -> None:
    axes = figure.subplots()
    axes.set_axis_off()
    axes.text(0.5, 0.5, message, ha="center", va="center", color="#666", wrap=True)


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def scatter(
    scores: ArrayLike,
    accuracy: ArrayLike,
    *,
    name: str,
    accuracy_label: str,
    spearman: float | None,
    kendall: float | None,
    scale: Literal["value", "rank"] = "value",
    log_values: bool = False,
    fmt: Format = "svg",
) -> bytes:
    """A proxy's or ensemble's score per architecture (x) against its accuracy (y).

    ``scale="rank"`` plots the score's rank (1 = lowest score); ``"value"`` the score
    itself, on a log axis when it spans decades. ``log_values`` says the scores are natural
    logs of a log-scale proxy's values (synflow): the axis then shows powers of ten.
    Pairs with a non-finite side are left out. The title gives Spearman's rho and Kendall's
    tau-b (computed by the caller, over the same pairs).
    """
    x = np.asarray(scores, dtype=float)
    y = np.asarray(accuracy, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    figure = _figure()
    title = (
        f"{name} vs {accuracy_label}\n"
        f"Spearman ρ = {_number(spearman)}, Kendall τ = {_number(kendall)} (n = {x.size})"
    )
    figure.suptitle(title, fontsize=11)
    if x.size == 0:
        _no_data(figure, f"no architecture has both a {name} score and an accuracy")
        return render(figure, fmt)
    axes = figure.subplots()
    if scale == "rank":
        x = stats.rankdata(x)
        axes.set_xlabel(f"{name} rank (1 = lowest score, {x.size} = highest)")
    elif log_values:
        x = x / math.log(10.0)
        axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"$10^{{{v:g}}}$"))
        axes.set_xlabel(f"{name} (log scale)")
    elif x.min() > 0 and math.log10(x.max() / x.min()) >= DECADES_FOR_LOG:
        axes.set_xscale("log")
        axes.set_xlabel(f"{name} (log scale)")
    else:
        axes.set_xlabel(name)
    axes.scatter(x, y, s=14, alpha=0.55, color=PROXY_COLOR, edgecolors="none")
    axes.set_ylabel(accuracy_label)
    axes.grid(True, alpha=0.3)
    return render(figure, fmt)


def correlation_bars(
    rows: Sequence[Mapping[str, Any]], *, title: str, fmt: Format = "svg"
) -> bytes:
    """Spearman's rho and Kendall's tau-b with their confidence intervals, one pair of bars
    per proxy and ensemble (``rows`` as in GET /v1/correlations; ensembles after a rule)."""
    figure = _figure()
    figure.suptitle(title, fontsize=11)
    if not rows:
        _no_data(figure, "no scores with accuracies yet")
        return render(figure, fmt)
    axes = figure.subplots()
    positions = np.arange(len(rows), dtype=float)
    width = 0.38
    series = (
        ("Spearman ρ", "spearman", "spearman_ci", -width / 2, SPEARMAN_COLOR),
        ("Kendall τ-b", "kendall_tau_b", "kendall_ci", width / 2, KENDALL_COLOR),
    )
    for label, key, ci_key, offset, color in series:
        values = np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=float)
        low, high = [], []
        for row, value in zip(rows, values, strict=True):
            interval = list(row.get(ci_key) or [None, None])
            if math.isfinite(value) and None not in interval:
                low.append(value - interval[0])
                high.append(interval[1] - value)
            else:
                low.append(0.0)
                high.append(0.0)
        bars = axes.bar(
            positions + offset,
            np.nan_to_num(values),
            width,
            label=label,
            color=color,
            yerr=np.array([low, high]).clip(min=0),
            capsize=3,
            error_kw={"elinewidth": 1, "ecolor": "#333"},
        )
        for bar, value in zip(bars, values, strict=True):
            if not math.isfinite(value):
                middle = bar.get_x() + bar.get_width() / 2
                axes.annotate("n/a", (middle, 0), ha="center", va="bottom", fontsize=7)
    ensembles = [i for i, r in enumerate(rows) if r.get("kind") == "ensemble"]
    if ensembles and len(ensembles) < len(rows):
        axes.axvline(ensembles[0] - 0.5, color="#999", linestyle="--", linewidth=1)
    axes.set_xticks(positions, [r["name"] for r in rows], rotation=30, ha="right")
    for tick, row in zip(axes.get_xticklabels(), rows, strict=True):
        if row.get("kind") == "ensemble":
            tick.set_fontweight("bold")
    axes.axhline(0, color="#333", linewidth=0.8)
    axes.set_ylabel("rank correlation with accuracy")
    axes.set_ylim(min(-0.1, axes.get_ylim()[0]), max(1.05, axes.get_ylim()[1]))
    axes.grid(True, axis="y", alpha=0.3)
    figure.legend(loc="outside lower center", fontsize=8, ncols=2, frameon=False)
    return render(figure, fmt)


def precision_curves(
    fractions: Sequence[float],
    curves: Sequence[tuple[str, str, Sequence[float]]],
    *,
    title: str,
    fmt: Format = "svg",
) -> bytes:
    """Precision@k against the top fraction k for each ``(name, kind, precisions)`` curve,
    with the expectation of a random ordering (precision = k) for reference."""
    figure = _figure()
    figure.suptitle(title, fontsize=11)
    if not curves:
        _no_data(figure, "no scores with accuracies yet")
        return render(figure, fmt)
    axes = figure.subplots()
    percent = 100 * np.asarray(fractions, dtype=float)
    for name, kind, values in curves:
        ensemble = kind == "ensemble"
        axes.plot(
            percent,
            np.asarray(values, dtype=float),
            marker="o",
            markersize=3,
            linewidth=2.2 if ensemble else 1.3,
            linestyle="-" if ensemble else "--",
            label=name,
        )
    axes.plot(percent, percent / 100, color="#999", linestyle=":", label="random")
    axes.set_xscale("log")
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100) if percent.min() <= t <= percent.max()]
    axes.set_xticks(ticks or list(percent))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
    axes.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    axes.set_xlabel("top k (% of architectures)")
    axes.set_ylabel("precision@k")
    axes.set_ylim(-0.02, 1.02)
    axes.grid(True, alpha=0.3)
    figure.legend(loc="outside lower center", fontsize=8, ncols=4, frameon=False)
    return render(figure, fmt)
