"""The ground truth and how well the proxies predict it: ``accuracies`` and ``correlate``."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from zero_cost.client import FigureFormat

from ._common import (
    CliError,
    emit_json,
    format_fixed,
    get_state,
    reporting_errors,
    split_names,
    stderr_console,
    stdout_console,
)
from .spec_files import batches, read_specs

commands = typer.Typer()


@commands.command()
def accuracies(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV with arch_str (or spec) and a value column.")],
    dataset: Annotated[str, typer.Option(help="Dataset the accuracies are on.")] = "cifar10",
    metric: Annotated[str, typer.Option(help="Metric name.")] = "test_accuracy",
    column: Annotated[str, typer.Option(help="CSV column holding the value.")] = "cifar10_test",
    space: Annotated[str, typer.Option(help="Space of rows without a space column.")] = "nb201",
    epochs: Annotated[int, typer.Option(min=0, help="Training epochs behind the values.")] = 0,
    source: Annotated[str, typer.Option(help="Where the values come from.")] = "",
) -> None:
    """Report trained accuracies (the ground truth of `correlate`).

    Reads a CSV with a column arch_str (or spec) and the value column (--column), stores
    every architecture if new and posts the accuracies in batches of 5,000; prints how many
    were new (an identical report is stored once).
    """
    state = get_state(ctx)
    with reporting_errors(state):
        specs = read_specs(file, space)
        with open(file, newline="") as f:
            rows = list(csv.DictReader(f))
        if rows and column not in rows[0]:
            raise CliError(f"{file}: no column {column!r}; columns: {', '.join(rows[0])}")
        items = []
        for number, (spec, row) in enumerate(zip(specs, rows, strict=True), start=2):
            try:
                value = float(row[column])
            except ValueError:
                raise CliError(
                    f"{file}:{number}: {column}={row[column]!r} is not a number"
                ) from None
            items.append(
                {
                    "architecture": spec,
                    "dataset": dataset,
                    "metric": metric,
                    "value": value,
                    "epochs": epochs,
                    "source": source,
                }
            )
        created = 0
        with state.client() as client:
            for batch in batches(items):
                created += client.add_accuracies(batch)
    if state.json:
        emit_json({"submitted": len(items), "created": created})
        return
    typer.echo(f"{len(items)} accuracies submitted, {created} new ({dataset}/{metric})")


@commands.command()
def correlate(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="Dataset of the reported accuracies.")] = "cifar10",
    metric: Annotated[str, typer.Option(help="Accuracy metric.")] = "test_accuracy",
    proxies: Annotated[
        str | None, typer.Option(help="Comma-separated proxies (default: all scored).")
    ] = None,
    ensembles: Annotated[
        str | None, typer.Option(help="Comma-separated ensembles (default: all).")
    ] = None,
    profile_id: Annotated[
        int | None,
        typer.Option(
            "--data-profile-id",
            "--profile-id",  # deprecated name, until 0.3.0
            help="Data profile (needed when several have scores).",
        ),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(min=0, help="Bootstrap resamples for the 95% CIs (0: none).")
    ] = 1000,
    plot: Annotated[
        Path | None,
        typer.Option(help="Also write a figure drawn by the service to this .png or .svg file."),
    ] = None,
    plot_kind: Annotated[
        Literal["bars", "scatter", "precision"],
        typer.Option(
            help="bars: rho and tau with CIs per proxy and ensemble; scatter: one proxy's or "
            "ensemble's score against accuracy (--name); precision: precision@k curves."
        ),
    ] = "bars",
    name: Annotated[
        str | None, typer.Option(help="The proxy or ensemble of --plot-kind scatter.")
    ] = None,
    scale: Annotated[
        Literal["value", "rank"], typer.Option(help="Scatter x axis: score values or ranks.")
    ] = "value",
) -> None:
    """How well each proxy and ensemble ranks the reported accuracies.

    One row per proxy and ensemble: n, Spearman and Kendall tau-b with bootstrap 95%
    intervals, Pearson, pairwise agreement and precision at the top 1/5/10%. With --plot,
    also writes a figure of the same analysis (format from the file's suffix).
    """
    state = get_state(ctx)
    proxy_names = split_names(proxies) if proxies else None
    ensemble_names = split_names(ensembles) if ensembles is not None else None
    with reporting_errors(state), state.client() as client:
        fmt = _plot_format(plot, plot_kind, name)
        body = client.correlations(
            dataset,
            metric,
            proxies=proxy_names,
            ensembles=ensemble_names,
            data_profile_id=profile_id,
            bootstrap=bootstrap,
        )
        if plot is not None:
            profile = body["data_profile_id"]
            if plot_kind == "scatter":
                figure = client.scatter_plot(
                    dataset,
                    name,
                    metric,
                    proxies=proxy_names,
                    data_profile_id=profile,
                    scale=scale,
                    fmt=fmt,
                )
            elif plot_kind == "precision":
                figure = client.precision_plot(
                    dataset,
                    metric,
                    proxies=proxy_names,
                    ensembles=ensemble_names,
                    data_profile_id=profile,
                    fmt=fmt,
                )
            else:
                figure = client.correlations_plot(
                    dataset,
                    metric,
                    proxies=proxy_names,
                    ensembles=ensemble_names,
                    data_profile_id=profile,
                    bootstrap=bootstrap,
                    fmt=fmt,
                )
            plot.write_bytes(figure)
            stderr_console().print(f"{plot_kind} figure written to {plot}")
    if state.json:
        emit_json(body)
        return
    table = Table(
        title=f"{body['dataset']}/{body['metric']}: {body['n_architectures']} architectures, "
        f"profile {body['data_profile_id']}"
    )
    table.add_column("name", no_wrap=True)
    table.add_column("kind")
    for column in ("n", "spearman", "kendall", "pearson", "pairwise"):
        table.add_column(column, justify="right")
    for k in ("1%", "5%", "10%"):
        table.add_column(f"p@{k}", justify="right")
    for row in body["rows"]:
        precision = row["precision_at_k"]
        table.add_row(
            row["name"],
            row["kind"],
            str(row["n"]),
            format_fixed(row["spearman"]) + _interval(row["spearman_ci"]),
            format_fixed(row["kendall_tau_b"]) + _interval(row["kendall_ci"]),
            format_fixed(row["pearson"]),
            format_fixed(row["pairwise_agreement"]),
            *(format_fixed(precision.get(k)) for k in ("0.01", "0.05", "0.1")),
        )
    stdout_console().print(table)


def _plot_format(plot: Path | None, kind: str, name: str | None) -> FigureFormat | None:
    """The figure format for ``--plot`` (its suffix), checked before anything is fetched."""
    if plot is None:
        return None
    suffix = plot.suffix.lower()
    if suffix not in {".png", ".svg"}:
        raise CliError(f"--plot: {plot} must end in .png or .svg")
    if kind == "scatter" and not name:
        raise CliError("--name: --plot-kind scatter needs a proxy or ensemble, e.g. synflow")
    if not plot.parent.is_dir():
        raise CliError(f"--plot: no such folder {plot.parent}")
    return "png" if suffix == ".png" else "svg"


def _interval(interval: Sequence[float | None]) -> str:
    """A confidence interval appended to its estimate, " [low, high]"; empty when unknown."""
    low, high = (list(interval) + [None, None])[:2]
    return "" if low is None or high is None else f" [{low:.3f}, {high:.3f}]"
