"""Learned accuracy predictors: ``predictor train`` and ``predictor show``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from ._common import (
    State,
    emit_json,
    format_number,
    get_state,
    reporting_errors,
    split_names,
    stdout_console,
)

commands = typer.Typer(
    help="Learned accuracy predictors: train one on the service, show its quality.",
    no_args_is_help=True,
)


@commands.command("train")
def predictor_train(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="Dataset of the accuracies to learn.")],
    metric: Annotated[str, typer.Option(help="Metric of the accuracies.")] = "test_accuracy",
    proxies: Annotated[
        str | None, typer.Option(help="Comma-separated proxies (default: all with scores).")
    ] = None,
    features: Annotated[
        Literal["proxies", "proxies+encoding"], typer.Option(help="Feature set.")
    ] = "proxies+encoding",
    profile: Annotated[
        int | None,
        typer.Option(
            "--data-profile-id",
            "--profile",  # deprecated name, until 0.3.0
            help="Data profile id (default: the only one with scores).",
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            "--init-seed", "--seed", min=0, help="Init seed of the scores."  # --seed: deprecated
        ),
    ] = 0,
    min_labels: Annotated[int, typer.Option(min=2, help="Fewer labels: the fallback.")] = 20,
    wait: Annotated[bool, typer.Option(help="Wait until it is trained, then show it.")] = False,
) -> None:
    """Train a learned predictor on the service (a job: a worker trains it) and print it."""
    state = get_state(ctx)
    with reporting_errors(state), state.client() as client:
        predictor = client.train_predictor(
            dataset,
            metric,
            proxies=split_names(proxies) if proxies else None,
            features=features,
            data_profile_id=profile,
            init_seed=seed,
            min_labels=min_labels,
            wait=wait,
        )
    _show_predictor(state, predictor)
    if predictor["status"] == "failed":
        raise typer.Exit(1)


@commands.command("show")
def predictor_show(
    ctx: typer.Context,
    predictor_id: Annotated[int, typer.Argument(help="The predictor's id.")],
) -> None:
    """Show a predictor: its state, cross-validated metrics and learning curve."""
    state = get_state(ctx)
    with reporting_errors(state), state.client() as client:
        predictor = client.predictor(predictor_id)
    _show_predictor(state, predictor)


def _show_predictor(state: State, predictor: dict[str, Any]) -> None:
    """The predictor as JSON (with ``--json``) or as tables."""
    if state.json:
        emit_json(predictor)
        return
    console = stdout_console()
    for table in _predictor_tables(predictor):
        console.print(table)


def _predictor_tables(predictor: dict[str, Any]) -> list[Table]:
    """Its configuration and state; its cross-validated metrics and learning curve when
    trained."""
    info = Table(
        title=f"predictor {predictor['id']} (version {predictor['version']}): {predictor['status']}"
    )
    info.add_column("field")
    info.add_column("value", overflow="fold")
    fields = ["dataset", "metric", "data_profile_id", "proxies", "features", "n_labels", "mode"]
    for name in fields:
        value = predictor[name]
        info.add_row(name, ", ".join(value) if isinstance(value, list) else str(value))
    for name in ("fallback_reason", "error"):
        if predictor.get(name):
            info.add_row(name, predictor[name])
    tables = [info]
    if predictor.get("metrics"):
        cv = Table(title="cross-validation, 5-fold")
        cv.add_column("metric")
        cv.add_column("value", justify="right")
        for name in ("n", "spearman", "kendall_tau_b", "precision_at_10", "top_spearman"):
            value = predictor["metrics"].get(name)
            cv.add_row(name, str(value) if isinstance(value, int) else format_number(value))
        tables.append(cv)
    if predictor.get("learning_curve"):
        curve = Table(title="learning curve: held-out rho")
        for name in ("labels", "mean", "std", "repeats"):
            curve.add_column(name, justify="right")
        for point in predictor["learning_curve"]:
            curve.add_row(
                str(point["labels"]),
                format_number(point["spearman_mean"]),
                format_number(point["spearman_std"]),
                str(point["repeats"]),
            )
        tables.append(curve)
    return tables
