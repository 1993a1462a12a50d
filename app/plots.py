"""Figures of the correlation analysis and of pruning at initialisation, rendered
server-side to SVG or PNG bytes.

Pure functions of arrays and report rows (no database): the plot endpoints, the dashboard
and ``zero-cost correlate --plot`` draw the same figures. Every figure is its own
``matplotlib.figure.Figure`` on an Agg canvas, never pyplot's global state, so figures can
be drawn in several request threads at once.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator
from numpy.typing import ArrayLike
from scipy import stats

Format = Literal["svg", "png"]
MEDIA_TYPES: dict[str, str] = {"svg": "image/svg+xml", "png": "image/png"}
SIZE = (5.6, 4.0)  # inches; PNGs are drawn at DPI dots per inch
DPI = 130
PROXY_COLOR, ENSEMBLE_COLOR = "#4c72b0", "#dd8452"
SPEARMAN_COLOR, KENDALL_COLOR = "#4c72b0", "#55a868"
DECADES_FOR_LOG = 2.0  # positive values spanning this many decades get a log axis
PRUNE_SIZE = (7.2, 4.8)  # inches: room for layer names under the axis and a legend
MAX_NAMED_LAYERS = 30  # more layers than this: every n-th layer is named
COLLAPSE_MARKER = "v"  # a collapsed layer (no weight kept), drawn at the bottom


def _figure(size: tuple[float, float] = SIZE) -> Figure:
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
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


def _collapse_floor(fractions: Iterable[np.ndarray]) -> float:
    """Where a kept fraction of 0 is drawn on a log axis: half a decade below the smallest
    positive fraction (1 when there is none)."""
    smallest = min((float(f[f > 0].min()) for f in fractions if (f > 0).any()), default=1.0)
    return smallest / math.sqrt(10.0)


def _collapse_legend(figure: Figure, axes: Axes, columns: int) -> None:
    """The figure's legend: the axes' lines and one entry for the collapse marker."""
    handles, labels = axes.get_legend_handles_labels()
    marker = Line2D(
        [], [], color="#666", marker=COLLAPSE_MARKER, linestyle="none", markeredgecolor="#000"
    )
    figure.legend(
        [*handles, marker],
        [*labels, "collapsed layer (no weight kept)"],
        loc="outside lower center",
        fontsize=7,
        ncols=columns,
        frameon=False,
    )


def _compression_text(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _mark_collapsed(axes: Any, x: np.ndarray, floor: float, color: str) -> None:
    """Collapsed layers (kept fraction 0) at ``x``: their own marker on the ``floor``."""
    axes.plot(
        x,
        np.full(x.size, floor),
        marker=COLLAPSE_MARKER,
        markersize=8,
        linestyle="none",
        color=color,
        markeredgecolor="#000",
    )


def prune_layers(
    curves: Sequence[tuple[str, ArrayLike]],
    *,
    layer_names: Sequence[str] | None,
    title: str,
    fmt: Format = "svg",
) -> bytes:
    """The kept fraction of each layer's weights (y, log axis) against the layer's index in
    the network (x), one line per ``(label, fractions)`` curve: a prune job's profile.

    A collapsed layer (fraction 0) is drawn with its own marker at the bottom, half a decade
    below the smallest kept fraction. ``layer_names`` (the curves' common layers, in order)
    label the x ticks, every n-th one when there are more than ``MAX_NAMED_LAYERS``; None
    when the curves' layers differ (the ticks are then indices).
    """
    series = [(label, np.asarray(values, dtype=float)) for label, values in curves]
    figure = _figure(PRUNE_SIZE)
    figure.suptitle(title, fontsize=9)
    if not any(values.size for _, values in series):
        _no_data(figure, "no layers to draw")
        return render(figure, fmt)
    axes = figure.subplots()
    floor = _collapse_floor(values for _, values in series)
    for label, values in series:
        index = np.arange(values.size)
        collapsed = values == 0
        (line,) = axes.plot(
            index,
            np.where(collapsed, floor, values),
            marker="o",
            markersize=3,
            linewidth=1.3,
            label=label,
        )
        _mark_collapsed(axes, index[collapsed], floor, line.get_color())
    axes.axhline(floor, color="#999", linestyle=":", linewidth=0.8)
    axes.set_yscale("log")
    axes.set_ylim(floor / 10**0.25, 1.5)
    axes.set_ylabel("kept fraction of the layer's weights")
    count = max(values.size for _, values in series)
    if layer_names is not None:
        step = math.ceil(count / MAX_NAMED_LAYERS)
        ticks = list(range(0, count, step))
        names = [layer_names[i].removesuffix(".weight") for i in ticks]
        axes.set_xticks(ticks, names, rotation=90, fontsize=6)
        axes.set_xlabel("layer" if step == 1 else f"layer (one in {step} named)")
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("layer index (the jobs' layers differ)")
    axes.grid(True, alpha=0.3)
    _collapse_legend(figure, axes, columns=2)
    return render(figure, fmt)


def prune_compression(
    groups: Sequence[tuple[str, ArrayLike, ArrayLike]],
    *,
    title: str,
    empty: str = "no succeeded prune jobs",
    fmt: Format = "svg",
) -> bytes:
    """Layer collapse (Tanaka et al. 2020, Fig. 1): for each ``(label, compressions,
    smallest fractions)`` group, the smallest kept fraction over the layers (y, log axis)
    against the achieved compression (x, log axis), one point per prune job.

    A point whose smallest fraction is 0 (a layer emptied) is drawn with its own marker at
    the bottom; a dashed vertical line in the group's colour marks the smallest compression
    at which the group first collapses a layer, also given in its label. The dotted line is
    1/compression, what pruning every layer alike keeps. ``empty`` is the figure's message
    when no group has a point.
    """
    series = []
    for label, compressions, fractions in groups:
        x = np.asarray(compressions, dtype=float)
        y = np.asarray(fractions, dtype=float)
        keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
        order = np.argsort(x[keep], kind="stable")
        series.append((label, x[keep][order], y[keep][order]))
    series = [(label, x, y) for label, x, y in series if x.size]
    figure = _figure(PRUNE_SIZE)
    figure.suptitle(title, fontsize=9)
    if not series:
        _no_data(figure, empty)
        return render(figure, fmt)
    axes = figure.subplots()
    low = min(float(x.min()) for _, x, _ in series)
    high = max(float(x.max()) for _, x, _ in series)
    floor = _collapse_floor([*(y for _, _, y in series), np.array([1 / high])])
    for label, x, y in series:
        collapsed = y == 0
        if collapsed.any():
            first = float(x[collapsed].min())
            label = f"{label}: collapses at {_compression_text(first)}"
        (line,) = axes.plot(
            x, np.where(collapsed, floor, y), marker="o", markersize=4, linewidth=1.3, label=label
        )
        if collapsed.any():
            _mark_collapsed(axes, x[collapsed], floor, line.get_color())
            axes.axvline(first, color=line.get_color(), linestyle="--", linewidth=1)
    reference = np.geomspace(low, high, 50) if high > low else np.array([low])
    axes.plot(
        reference, 1 / reference, color="#999", linestyle=":", label="1/compression", zorder=1
    )
    axes.axhline(floor, color="#999", linestyle=":", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_ylim(floor / 10**0.25, 1.5)
    axes.set_xlabel("achieved compression (prunable weights / kept weights)")
    axes.set_ylabel("smallest kept fraction of a layer")
    axes.grid(True, alpha=0.3)
    _collapse_legend(figure, axes, columns=2)
    return render(figure, fmt)
