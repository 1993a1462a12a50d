"""Picking architectures with the service: ``rank`` a list of candidates, ``search`` a space."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from zero_cost.client import Client
from zero_cost.ensemble import Ranker, SecondStage
from zero_cost.ensemble import ranker as choose_ranker
from zero_cost.repeats import Repeats

from ._common import (
    DEFAULT_DATA_FILE,
    BatchSizeOption,
    CliError,
    RepeatBatchesOption,
    RepeatInitSeedsOption,
    ServiceDataOption,
    SpecSpaceOption,
    data_config,
    emit_json,
    format_number,
    get_state,
    job_progress,
    parse_settings,
    progress_bar,
    reporting_errors,
    short_spec,
    split_names,
    stdout_console,
)
from .spec_files import read_specs

ProxiesOption = Annotated[
    str | None,
    typer.Option(help="Comma-separated proxies (default: the space's recommended ranker)."),
]
SecondStageOption = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated proxies whose log_rank re-ranks the first stage's best (default: "
        "the recommended ranker's second stage without --proxies, else none)."
    ),
]
FractionOption = Annotated[
    float | None,
    typer.Option(help="With --second-stage: the share of the first stage's best re-ranked."),
]


commands = typer.Typer()


@commands.command()
def rank(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Candidate specs (.json, .jsonl, .csv or .onnx).")],
    proxies: ProxiesOption = None,
    ensemble: Annotated[
        Literal["log_rank", "mean_rank", "vote"] | None,
        typer.Option(help="How to combine proxies (default: log_rank, or the recommended's)."),
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="How many of the best to print.")] = 10,
    data: ServiceDataOption = None,
    batch_size: BatchSizeOption = 64,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the network init.")] = 0,
    repeat_init_seeds: RepeatInitSeedsOption = 1,
    repeat_batches: RepeatBatchesOption = 1,
    space: SpecSpaceOption = "nb201",
    second_stage: SecondStageOption = None,
    second_stage_fraction: FractionOption = None,
) -> None:
    """Rank the candidates of FILE best-first by an ensemble of proxies; print the top.

    Unscored candidates are scored first (the command waits, with a progress bar). The
    ensemble score is relative to the candidates ranked together. With repeats, each proxy
    is scored so many times and the ensemble ranks the means.
    """
    state = get_state(ctx)
    config = data_config(data, batch_size, DEFAULT_DATA_FILE)
    with reporting_errors(state), state.client() as client:
        chosen = _ranker(proxies, ensemble, space, second_stage, second_stage_fraction)
        ensemble = chosen.method
        items = read_specs(file, space)
        if not items:
            raise CliError(f"{file}: no candidates")
        repeats = Repeats(repeat_init_seeds, repeat_batches)
        kwargs = {
            "ensemble": ensemble,
            "second_stage": chosen.second_stage,
            "data": config,
            "init_seed": seed,
            "repeats": repeats,
        }
        ranking = client.rank(items, chosen.proxies, wait=True, **kwargs)
        unscored = [r.architecture_id for r in ranking if r.rank is None]
        if unscored:
            progress, update = job_progress("scoring")
            with progress:
                client.score(
                    unscored,
                    chosen.proxies,
                    data=config,
                    init_seed=seed,
                    repeats=repeats,
                    on_progress=update,
                )
            ranking = client.rank(items, chosen.proxies, wait=True, **kwargs)
        best = ranking[:top]
        specs = {r.architecture_id: client.architecture(r.architecture_id)["spec"] for r in best}
    rows = [
        {
            "rank": r.rank,
            "id": r.architecture_id,
            "spec": specs[r.architecture_id],
            "score": r.score,
            "scores": r.scores,
        }
        for r in best
    ]
    if state.json:
        emit_json(
            {
                "candidates": len(ranking),
                "ensemble": ensemble,
                "second_stage": None
                if chosen.second_stage is None
                else asdict(chosen.second_stage),
                "top": rows,
            }
        )
        return
    table = Table(title=f"top {len(rows)} of {len(ranking)} by {chosen.describe()}")
    table.add_column("rank", justify="right")
    table.add_column("id", justify="right")
    table.add_column("architecture", overflow="fold")
    table.add_column("score", justify="right")
    for r in rows:
        table.add_row(
            "-" if r["rank"] is None else str(r["rank"]),
            str(r["id"]),
            short_spec(r["spec"]),
            format_number(r["score"]),
        )
    stdout_console().print(table)


@commands.command()
def search(
    ctx: typer.Context,
    space: Annotated[
        str,
        typer.Option(
            help="Search space: nb201, darts, nats_sss, transnas_micro or transnas_macro."
        ),
    ] = "nb201",
    settings: Annotated[
        str | None,
        typer.Option(
            help='Space settings as a JSON object, e.g. \'{"channels": 8, "layers": 5}\' for '
            "darts (default: the space's)."
        ),
    ] = None,
    budget: Annotated[
        int,
        typer.Option(
            min=1, help="Distinct architectures to evaluate (initial population included)."
        ),
    ] = 1000,
    population: Annotated[int, typer.Option(min=1, help="Population size P.")] = 50,
    sample: Annotated[int, typer.Option(min=1, help="Tournament sample size S.")] = 10,
    batch: Annotated[int, typer.Option(min=1, help="Proposals ranked per request.")] = 25,
    proxies: ProxiesOption = None,
    ensemble: Annotated[
        Literal["log_rank", "mean_rank", "vote", "learned"] | None,
        typer.Option(help="How to combine proxies; 'learned': the service's predictor."),
    ] = None,
    data: ServiceDataOption = None,
    batch_size: BatchSizeOption = 64,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the search and network init.")] = 0,
    top: Annotated[
        int, typer.Option(min=1, help="How many of the best architectures to print.")
    ] = 10,
    random_baseline: Annotated[
        bool,
        typer.Option(
            "--random", help="Random search instead (the baseline): BUDGET random architectures."
        ),
    ] = False,
    dataset: Annotated[
        str | None, typer.Option(help="With --ensemble learned: the predictor's dataset.")
    ] = None,
    metric: Annotated[str, typer.Option(help="With --ensemble learned.")] = "test_accuracy",
    accuracies: Annotated[
        Path | None,
        typer.Option(
            help="With --ensemble learned: CSV of true accuracies (arch_str or spec + column)."
        ),
    ] = None,
    accuracy_column: Annotated[
        str, typer.Option(help="The --accuracies column with the values.")
    ] = "cifar10_test",
    retrain_every: Annotated[
        int, typer.Option(min=1, help="With --ensemble learned: proposals between retrainings.")
    ] = 100,
    min_labels: Annotated[
        int, typer.Option(min=2, help="With --ensemble learned: labels before the model.")
    ] = 20,
    second_stage: SecondStageOption = None,
    second_stage_fraction: FractionOption = None,
) -> None:
    """Regularized evolution (Real et al., AAAI 2019) over a space with a mutation.

    A population of random architectures; each cycle draws S members, mutates the fittest
    and the oldest member dies. Mutations: nb201 and transnas_micro cells get another op on
    one edge, darts genotypes another op or input on one edge of one cell, nats_sss another
    width for one layer, transnas_macro skeletons one module changed, added or removed.
    Fitness is the service's ensemble score; since it is relative to the architectures
    ranked together, every batch of proposals is ranked together with the current
    population, and at the end all architectures evaluated are ranked in one call to pick
    the best. Stops after BUDGET distinct architectures (by canonical key).

    With --ensemble learned --dataset D --accuracies FILE the service's learned predictor
    ranks: the accuracies in FILE of the architectures evaluated are reported as they come
    (as if they had been trained), and the predictor is retrained every --retrain-every
    proposals.
    """
    from zero_cost import search as searching

    state = get_state(ctx)
    config = data_config(data, batch_size, DEFAULT_DATA_FILE)
    with reporting_errors(state), state.client() as client:
        chosen = _ranker(proxies, ensemble, space, second_stage, second_stage_fraction)
        ensemble = chosen.method
        searching.check_space(space)
        space_settings = parse_settings(settings)
        if ensemble == "learned":
            if dataset is None or accuracies is None:
                raise CliError("--ensemble learned needs --dataset and --accuracies")
            ranker = searching.learning_ranker(
                client,
                chosen.proxies,
                dataset=dataset,
                metric=metric,
                accuracies=_read_accuracies(accuracies, accuracy_column),
                retrain_every=retrain_every,
                min_labels=min_labels,
                data=config,
                init_seed=seed,
                space=space,
                settings=space_settings,
            )
        else:
            ranker = searching.service_ranker(
                client,
                chosen.proxies,
                ensemble=ensemble,
                second_stage=chosen.second_stage,
                data=config,
                init_seed=seed,
                space=space,
                settings=space_settings,
            )
        with progress_bar() as progress:
            task = progress.add_task("proposals", total=budget)

            def update(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            started = time.perf_counter()
            if random_baseline:
                result = searching.random_search(
                    ranker,
                    budget,
                    seed=seed,
                    space=space,
                    settings=space_settings,
                    on_progress=update,
                )
            else:
                result = searching.regularized_evolution(
                    ranker,
                    budget,
                    population_size=population,
                    sample_size=sample,
                    batch_size=batch,
                    seed=seed,
                    space=space,
                    settings=space_settings,
                    on_progress=update,
                )
            seconds = time.perf_counter() - started
        learned_note = _learned_note(client, dataset, metric) if ensemble == "learned" else None
    best = result.ranking[:top]
    if state.json:
        emit_json(
            {
                "algorithm": "random" if random_baseline else "regularized_evolution",
                "space": space,
                "settings": space_settings,
                "evaluated": result.evaluated,
                "rank_calls": result.rank_calls,
                "stopped_early": result.stopped_early,
                "seconds": seconds,
                "best": [{"spec": c.spec, "score": c.score} for c in best],
                "predictor": learned_note,
            }
        )
        return
    what = "random search" if random_baseline else "regularized evolution"
    table = Table(
        title=f"{what} in {space}: best {len(best)} of {result.evaluated} architectures "
        f"by {chosen.describe()}, {seconds:.0f} s"
    )
    table.add_column("#", justify="right")
    table.add_column("architecture", overflow="fold")
    table.add_column("score", justify="right")
    for position, candidate in enumerate(best, start=1):
        table.add_row(str(position), _spec_text(candidate.spec), format_number(candidate.score))
    console = stdout_console()
    console.print(table)
    if learned_note:
        console.print(learned_note)
    if result.stopped_early:
        console.print("stopped early: no new architecture could be bred from the population")


def _ranker(
    proxies: str | None,
    ensemble: str | None,
    space: str,
    second_stage: str | None,
    fraction: float | None,
) -> Ranker:
    """The ranker of the options (``zero_cost.ensemble.ranker``); with --ensemble learned
    the predictor ranks alone, without a second stage."""
    stage = None
    if second_stage is not None:
        try:
            stage = SecondStage(
                tuple(split_names(second_stage)), 0.2 if fraction is None else fraction
            )
        except ValueError as error:
            raise CliError(f"--second-stage: {error}") from None
    elif fraction is not None:
        raise CliError("--second-stage-fraction needs --second-stage")
    names = None if proxies is None else split_names(proxies)
    if ensemble == "learned":
        if stage is not None:
            raise CliError("--second-stage: a learned predictor ranks alone")
        return Ranker(choose_ranker(names, None, space).proxies, "learned")
    return choose_ranker(names, ensemble, space, stage)


def _learned_note(client: Client, dataset: str, metric: str) -> str:
    """What ranked with --ensemble learned: the newest trained predictor, said to be in
    fallback mode when it is, or the log_rank ensemble when none was trained."""
    trained = [
        p for p in client.predictors(dataset=dataset, metric=metric) if p["status"] == "succeeded"
    ]
    if not trained:
        return "no predictor could be trained (too few labels): ranked by log_rank"
    newest = trained[0]
    name = f"predictor {newest['id']} (version {newest['version']}, {newest['n_labels']} labels)"
    if newest["mode"] == "fallback":
        return f"{name} is in fallback mode, not a learned model: {newest['fallback_reason']}"
    return f"ranked by learned {name}"


def _spec_text(spec: Any) -> str:
    """A spec on one line, whole: strings as they are, others (DARTS genotypes) as compact
    JSON, which the service and ``zero-cost rank`` read back."""
    return spec if isinstance(spec, str) else json.dumps(spec, separators=(",", ":"))


def _read_accuracies(path: Path, column: str) -> dict[str, float]:
    """Each spec of a CSV (column ``arch_str`` or ``spec``, as the space's parse reads a
    string) -> its ``column``; ``learning_ranker`` matches them by identity key."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        key = "arch_str" if rows and "arch_str" in rows[0] else "spec"
        return {r[key]: float(r[column]) for r in rows}
    except (OSError, KeyError, ValueError) as error:
        raise CliError(f"{path}: cannot read arch_str (or spec) and {column}: {error}") from None
