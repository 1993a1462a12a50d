"""Storing and scoring architectures: ``submit``, ``score`` and ``status``."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from zero_cost.repeats import Repeats

from ._common import (
    DEFAULT_DATA_FILE,
    BatchSizeOption,
    CliError,
    ProxyListOption,
    RepeatBatchesOption,
    RepeatInitSeedsOption,
    SpecSpaceOption,
    State,
    data_config,
    emit_json,
    format_number,
    get_state,
    job_progress,
    progress_bar,
    reporting_errors,
    short_spec,
    split_names,
    stdout_console,
)
from .spec_files import batches, read_specs

commands = typer.Typer()


@commands.command()
def submit(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help=".json, .jsonl, .csv or .onnx file of specs.")],
    space: SpecSpaceOption = "nb201",
) -> None:
    """Store architectures in the service (one record per architecture).

    FILE is .json (a list of specs or of {space, spec, settings} objects), .jsonl (one per
    line) or .csv (column arch_str or spec, optional column space). Sent in batches of
    5,000; prints each architecture's id, canonical key, parameter count and whether it is new.
    """
    state = get_state(ctx)
    with reporting_errors(state):
        items = read_specs(file, space)
        stored = []
        with state.client() as client:
            for batch in batches(items):
                stored.extend(client.submit(batch))
    rows = [
        {
            "id": a.id,
            "space": a.space,
            "canonical_key": a.canonical_key,
            "params": a.params,
            "flops": a.flops,
            "is_degenerate": a.is_degenerate,
            "created": a.created,
        }
        for a in stored
    ]
    if state.json:
        emit_json(rows)
        return
    table = Table(title=f"{len(rows)} architectures, {sum(bool(r['created']) for r in rows)} new")
    for column in ("id", "canonical key", "params", "new"):
        table.add_column(column, justify="right" if column in {"id", "params"} else "left")
    for r in rows:
        table.add_row(
            str(r["id"]), r["canonical_key"][:12], f"{r['params']:,}", "yes" if r["created"] else ""
        )
    stdout_console().print(table)


@commands.command("score")
def score_command(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="Specs to score (.json, .jsonl, .csv or .onnx).")
    ] = None,
    ids: Annotated[
        str | None, typer.Option(help="Comma-separated ids of stored architectures.")
    ] = None,
    proxies: ProxyListOption = "snip,grasp,synflow",
    data: Annotated[
        Literal["synthetic", "npz"] | None,
        typer.Option(
            help="Scoring batch: Gaussian noise, or CIFAR images from an .npz. Default: the "
            "service's default data profile (GET /v1/config); with --local, noise."
        ),
    ] = None,
    data_file: Annotated[
        Path,
        typer.Option(
            help="The .npz for --data npz (path relative to the working directory): read "
            "here with --local; with a service, its file name is looked up in the server's "
            "data directory (ZC_DATA_DIR)."
        ),
    ] = DEFAULT_DATA_FILE,
    batch_size: BatchSizeOption = 64,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the network init and batch.")] = 0,
    repeat_init_seeds: RepeatInitSeedsOption = 1,
    repeat_batches: RepeatBatchesOption = 1,
    space: SpecSpaceOption = "nb201",
    local: Annotated[
        bool, typer.Option("--local", help="Score in this process, without a service.")
    ] = False,
) -> None:
    """Score architectures with zero-cost proxies and print one row per architecture.

    With a service: submits the specs of FILE (and/or --ids), queues a score job and
    follows it with a progress bar. With --local: builds and scores each network here
    (no server, no database). Log-scale proxies (synflow) are shown as their natural log.
    With repeats, each proxy's score is its mean over the init seeds and batches (geometric
    for log-scale proxies), shown with its standard deviation.
    """
    state = get_state(ctx)
    proxy_names = split_names(proxies)
    repeats = Repeats(repeat_init_seeds, repeat_batches)
    with reporting_errors(state):
        items = read_specs(file, space) if file is not None else []
        id_list = [int(part) for part in split_names(ids)] if ids else []
        if not proxy_names:
            raise CliError("--proxies: name at least one proxy")
        if local:
            if id_list:
                raise CliError("--ids needs a service; --local scores the specs of FILE")
            if not items:
                raise CliError("nothing to score: give a FILE of specs")
            rows = _score_local(items, proxy_names, data, data_file, batch_size, seed, repeats)
            job = None
        else:
            config = data_config(data, batch_size, data_file, seed=seed)
            job, rows = _score_remote(state, items, id_list, proxy_names, config, seed, repeats)
    if state.json:
        emit_json({"job": job, "architectures": rows})
        return
    title = "scores (local)" if job is None else f"job {job['id']}: {job['status']}"
    stdout_console().print(_score_table(rows, proxy_names, title))
    if job is not None and job["errors"]:
        stdout_console().print(_errors_table(job["errors"]))


def _score_local(
    items: Sequence[dict[str, Any]],
    proxies: Sequence[str],
    data: str | None,
    data_file: Path,
    batch_size: int,
    seed: int,
    repeats: Repeats,
) -> list[dict[str, Any]]:
    """Build and score each network in this process; one row per item, ``id`` None."""
    from zero_cost import data as datasets
    from zero_cost import spaces
    from zero_cost.repeats import score_repeated

    draws = range(seed, seed + repeats.batches)
    if data == "npz":
        batch_list = [datasets.npz_batch(data_file, batch_size, seed=s) for s in draws]
    else:
        batch_list = [datasets.synthetic_batch(batch_size, seed=s) for s in draws]
    init_seeds = range(seed, seed + repeats.init_seeds)
    parsed = []
    for i, item in enumerate(items):
        try:
            space = spaces.get(item["space"], **item.get("settings", {}))
            parsed.append((space, space.parse(item["spec"])))
        except (spaces.SpecError, KeyError) as error:
            message = error.args[0] if error.args else error
            raise CliError(f"spec {i}: {message}") from None
    rows = []
    with progress_bar() as progress:
        task = progress.add_task("scoring", total=len(items))
        for item, (space, arch) in zip(items, parsed, strict=True):
            build = functools.partial(space.build, arch, batch_list[0].num_classes)
            results = score_repeated(build, proxies, batch_list, init_seeds)
            rows.append(
                {
                    "id": None,
                    "space": item["space"],
                    "spec": space.to_spec(arch),
                    "scores": {
                        name: {
                            "value": r.value,
                            "log_value": r.log_value,
                            "std": r.std,
                            "k": r.k,
                            "status": r.status,
                            "error": r.error,
                        }
                        for name, r in results.items()
                    },
                }
            )
            progress.advance(task)
    return rows


def _score_remote(
    state: State,
    items: Sequence[dict[str, Any]],
    ids: Sequence[int],
    proxies: Sequence[str],
    data: dict[str, Any],
    seed: int,
    repeats: Repeats,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Store ``items``, score them and the stored ``ids`` in one job followed to its end;
    the job's details and one row per architecture with its scores of this seed and
    repeats."""
    with state.client() as client:
        stored = []
        for batch in batches(items):
            stored.extend(client.submit(batch))
        specs: dict[int, Any] = {}
        for a, item in zip(stored, items, strict=True):
            specs.setdefault(a.id, item["spec"])
        architecture_ids = list(dict.fromkeys([a.id for a in stored] + list(ids)))
        if not architecture_ids:
            raise CliError("nothing to score: give a FILE of specs and/or --ids")
        progress, update = job_progress("scoring")
        with progress:
            job = client.score(
                architecture_ids,
                proxies,
                data=data,
                init_seed=seed,
                repeats=repeats,
                on_progress=update,
            )
        details = client.job_details(job.id)
        profile_id = details["data_profile_id"]
        rows = []
        for architecture_id in architecture_ids:
            found = {}
            stored_scores = client.scores(
                architecture_id=architecture_id,
                data_profile_id=profile_id,
                repeat_init_seeds=repeats.init_seeds,
                repeat_batches=repeats.batches,
            )
            for s in stored_scores:
                if s["init_seed"] == seed and s["proxy"] in proxies:
                    found[s["proxy"]] = {
                        key: s[key] for key in ("value", "log_value", "std", "k", "status", "error")
                    }
            spec = specs.get(architecture_id)
            if spec is None:
                spec = client.architecture(architecture_id)["spec"]
            rows.append({"id": architecture_id, "spec": spec, "scores": found})
    return details, rows


def _score_table(rows: Sequence[dict[str, Any]], proxies: Sequence[str], title: str) -> Table:
    """One row per architecture, a column per proxy (its log for log-scale proxies)."""
    from zero_cost import proxies as registry

    table = Table(title=title)
    table.add_column("id", justify="right")
    table.add_column("architecture", overflow="fold")
    log_scale = {p: p in registry.names() and registry.get(p).log_scale for p in proxies}
    for p in proxies:
        table.add_column(f"log {p}" if log_scale[p] else p, justify="right")
    for row in rows:
        cells = []
        for p in proxies:
            s = row["scores"].get(p)
            if s is None:
                cells.append("-")
            elif s["status"] == "error":
                cells.append("error")
            else:
                text = format_number(s["log_value"] if log_scale[p] else s["value"])
                if s["k"] > 1 and s["std"] is not None:
                    text += f" ± {format_number(s['std'])}"
                cells.append(text)
        table.add_row("" if row["id"] is None else str(row["id"]), short_spec(row["spec"]), *cells)
    return table


@commands.command()
def status(
    ctx: typer.Context,
    job: Annotated[int, typer.Argument(help="The score job's id.")],
) -> None:
    """Show a score job: its status, item counts by state and per-item errors."""
    state = get_state(ctx)
    with reporting_errors(state), state.client() as client:
        details = client.job_details(job)
    if state.json:
        emit_json(details)
        return
    table = Table(title=f"job {details['id']}: {details['status']}")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_row("proxies", ", ".join(details["proxies"]))
    table.add_row("data profile", str(details["data_profile_id"]))
    table.add_row("init seed", str(details["init_seed"]))
    repeats = details.get("repeats", {"init_seeds": 1, "batches": 1})  # older services: once
    table.add_row("repeats", f"{repeats['init_seeds']} init seeds x {repeats['batches']} batches")
    table.add_row("total", str(details["total"]))
    for name, count in sorted(details["counts"].items()):
        table.add_row(name, str(count))
    console = stdout_console()
    console.print(table)
    if details["errors"]:
        console.print(_errors_table(details["errors"]))


def _errors_table(errors: Sequence[dict[str, Any]]) -> Table:
    """The items of a job that have an error: their status, attempts and error."""
    table = Table(title="errors")
    for column in ("architecture", "status", "attempts", "error"):
        table.add_column(column, overflow="fold")
    for e in errors:
        table.add_row(str(e["architecture_id"]), e["status"], str(e["attempts"]), e["error"] or "")
    return table
