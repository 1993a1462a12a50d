"""``zero-cost``: the command line of the scoring service.

Run the service (``serve``, ``worker``, ``db``), talk to it (``submit``, ``score``, ``status``,
``accuracies``, ``correlate``, ``rank``) and search with it (``search``). Commands that talk
to a service read its address from ``--url`` / ``ZC_URL`` and the key from ``--api-key`` /
``ZC_API_KEY``. Tables are for people; ``--json`` prints machine-readable JSON on stdout
(progress bars go to stderr either way).
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from zero_cost.client import ApiError, Client, Job

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_PROXIES = "synflow,nwot,jacob_cov,params,flops"
DEFAULT_DATA_FILE = Path("../shared/data/cifar10_sample.npz")
SUBMIT_BATCH = 5_000

app = typer.Typer(
    name="zero-cost",
    help="Training-free NAS scoring: run the service, score architectures, search.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="Database schema migrations (Alembic, run from the installed package).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
predictor_app = typer.Typer(
    help="Learned accuracy predictors: train one on the service, show its quality.",
    no_args_is_help=True,
)
app.add_typer(predictor_app, name="predictor")


@dataclass
class State:
    url: str = DEFAULT_URL
    api_key: str | None = None
    json: bool = False

    def client(self) -> Client:
        return Client(self.url, self.api_key, retries=3)


class CliError(Exception):
    """A failure to report in one line, exit status 1."""


def _state(ctx: typer.Context) -> State:
    if not isinstance(ctx.obj, State):
        ctx.obj = State()
    return ctx.obj


def _stdout() -> Console:
    """Tables on stdout; when piped (not a terminal, COLUMNS unset) 160 columns wide, so
    that rows are not folded to 80."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=160)
    return console


def _stderr() -> Console:
    return Console(stderr=True)


def _emit_json(value: Any) -> None:
    typer.echo(json.dumps(_clean(value), indent=2, allow_nan=False))


def _clean(value: Any) -> Any:
    """NaN/inf -> None, recursively, so the JSON output is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def _fixed(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@contextmanager
def _reporting(state: State) -> Iterator[None]:
    """Turn service and connection failures into one red line and exit status 1."""
    try:
        yield
    except ApiError as error:
        where = f" (field {error.field})" if error.field else ""
        _stderr().print(f"[red]error:[/red] {error.status} {error.code}: {error.message}{where}")
        raise typer.Exit(1) from None
    except httpx.TransportError as error:
        _stderr().print(f"[red]error:[/red] cannot reach the service at {state.url}: {error}")
        raise typer.Exit(1) from None
    except (CliError, ValueError, KeyError, OSError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        _stderr().print(f"[red]error:[/red] {message}")
        raise typer.Exit(1) from None


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=_stderr(),
        transient=False,
    )


# -- global options -------------------------------------------------------------------------


@app.callback()
def main_options(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option("--url", envvar="ZC_URL", help="Base URL of the scoring service.")
    ] = DEFAULT_URL,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="ZC_API_KEY", help="API key sent as X-API-Key."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")
    ] = False,
) -> None:
    """Training-free NAS scoring: run the service, score architectures, search."""
    ctx.obj = State(url=url, api_key=api_key, json=json_output)


# -- running the service --------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
) -> None:
    """Run the API server (uvicorn), configured from ZC_* environment variables.

    With a SQLite database (the default, DATABASE_URL unset) the schema is
    first migrated to the head revision and a scoring worker runs inside the server, so this
    one command gives a working service. PostgreSQL deployments run `zero-cost db upgrade`
    once instead (and `zero-cost worker` processes next to the API).
    """
    import uvicorn

    from .config import Settings
    from .db import migrations
    from .main import create_app

    settings = Settings()
    if settings.is_sqlite:
        migrations.upgrade(settings.database_url)
    uvicorn.run(create_app(settings), host=host, port=port)


@app.command()
def worker() -> None:
    """Run one scoring worker until SIGTERM/SIGINT (it finishes the item in hand).

    Workers claim queued items from the database named by DATABASE_URL; run one per GPU
    or CPU core, any number against one PostgreSQL database.
    """
    from .worker import main as worker_main

    worker_main()


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Migrate the configured database (DATABASE_URL) up to REVISION (default: head)."""
    from .config import Settings
    from .db import migrations

    settings = Settings()
    migrations.upgrade(settings.database_url, revision)
    typer.echo(f"database upgraded to {revision}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the configured database's revision and the code's head revision."""
    from .config import Settings
    from .db import migrations
    from .db.session import make_engine

    engine = make_engine(Settings().database_url)
    try:
        current = migrations.current_revision(engine)
    finally:
        engine.dispose()
    head = migrations.head_revision()
    if _state(ctx).json:
        _emit_json({"current": current, "head": head, "up_to_date": current == head})
        return
    typer.echo(f"current: {current or '(empty database)'}")
    typer.echo(f"head:    {head}")
    if current != head:
        typer.echo("run 'zero-cost db upgrade' to migrate")


# -- reading spec files ---------------------------------------------------------------------


def _spec_value(text: str) -> Any:
    """A CSV cell: JSON when it looks like a list or object (NASLib tuples), else the string."""
    text = text.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def _item(entry: Any, space: str, where: str) -> dict[str, Any]:
    if isinstance(entry, dict) and "spec" in entry:
        unknown = set(entry) - {"space", "spec", "settings"}
        if unknown:
            raise CliError(f"{where}: unexpected keys {sorted(unknown)}")
        item = {"space": entry.get("space", space), "spec": entry["spec"]}
        if entry.get("settings"):
            item["settings"] = entry["settings"]
        return item
    return {"space": space, "spec": entry}


def read_specs(path: Path, space: str = "nb201") -> list[dict[str, Any]]:
    """Architecture specs ``{space, spec[, settings]}`` from a .json, .jsonl or .csv file.

    .json: a list of specs or of ``{space, spec, settings}`` objects; .jsonl: one per line;
    .csv: a column ``arch_str`` or ``spec`` and optionally ``space``.
    """
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            entries = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise CliError(f"{path}: invalid JSON: {error}") from None
        if not isinstance(entries, list):
            raise CliError(f"{path}: expected a JSON list of specs")
        return [_item(e, space, f"{path}[{i}]") for i, e in enumerate(entries)]
    if suffix == ".jsonl":
        items = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as error:
                    raise CliError(f"{path}:{number}: invalid JSON: {error}") from None
                items.append(_item(entry, space, f"{path}:{number}"))
        return items
    if suffix == ".csv":
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            return []
        column = "arch_str" if "arch_str" in rows[0] else "spec" if "spec" in rows[0] else None
        if column is None:
            raise CliError(f"{path}: needs a column 'arch_str' or 'spec'")
        return [
            {"space": (row.get("space") or space).strip(), "spec": _spec_value(row[column])}
            for row in rows
        ]
    raise CliError(f"{path}: unsupported file type {suffix!r}; use .json, .jsonl or .csv")


def _batches(items: Sequence[Any], size: int = SUBMIT_BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _short_spec(spec: Any, width: int = 200) -> str:
    text = spec if isinstance(spec, str) else json.dumps(spec, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"


# -- submit -----------------------------------------------------------------------------------


@app.command()
def submit(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help=".json, .jsonl or .csv file of specs.")],
    space: Annotated[str, typer.Option(help="Space of specs that do not name one.")] = "nb201",
) -> None:
    """Store architectures in the service (deduplicated by canonical key).

    FILE is .json (a list of specs or of {space, spec, settings} objects), .jsonl (one per
    line) or .csv (column arch_str or spec, optional column space). Sent in batches of
    5,000; prints each architecture's id, canonical key, parameter count and whether it is new.
    """
    state = _state(ctx)
    with _reporting(state):
        items = read_specs(file, space)
        stored = []
        with state.client() as client:
            for batch in _batches(items):
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
        _emit_json(rows)
        return
    table = Table(title=f"{len(rows)} architectures, {sum(bool(r['created']) for r in rows)} new")
    for column in ("id", "canonical key", "params", "new"):
        table.add_column(column, justify="right" if column in {"id", "params"} else "left")
    for r in rows:
        table.add_row(
            str(r["id"]), r["canonical_key"][:12], f"{r['params']:,}", "yes" if r["created"] else ""
        )
    _stdout().print(table)


# -- score ----------------------------------------------------------------------------------


def _follow(description: str) -> tuple[Progress, Callable[[Job], None]]:
    progress = _progress()
    task = progress.add_task(description, total=None)

    def update(job: Job) -> None:
        progress.update(task, total=job.total, completed=job.finished)

    return progress, update


def _score_local(
    items: Sequence[dict[str, Any]],
    proxies: Sequence[str],
    data: str,
    data_file: Path,
    batch_size: int,
    seed: int,
) -> list[dict[str, Any]]:
    from zero_cost import data as datasets
    from zero_cost import score, spaces

    if data == "npz":
        batch = datasets.npz_batch(data_file, batch_size, seed=seed)
    else:
        batch = datasets.synthetic_batch(batch_size, seed=seed)
    parsed = []
    for i, item in enumerate(items):
        try:
            space = spaces.get(item["space"], **item.get("settings", {}))
            parsed.append((space, space.parse(item["spec"])))
        except (spaces.SpecError, KeyError) as error:
            message = error.args[0] if error.args else error
            raise CliError(f"spec {i}: {message}") from None
    rows = []
    with _progress() as progress:
        task = progress.add_task("scoring", total=len(items))
        for item, (space, arch) in zip(items, parsed, strict=True):
            model = space.build(arch, num_classes=batch.num_classes, seed=seed)
            results = score(model, proxies, batch.inputs, batch.targets, seed=seed)
            rows.append(
                {
                    "id": None,
                    "space": item["space"],
                    "spec": space.to_spec(arch),
                    "scores": {
                        name: {
                            "value": r.value,
                            "log_value": r.log_value,
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
    data_config: dict[str, Any],
    seed: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with state.client() as client:
        stored = []
        for batch in _batches(items):
            stored.extend(client.submit(batch))
        specs: dict[int, Any] = {}
        for a, item in zip(stored, items, strict=True):
            specs.setdefault(a.id, item["spec"])
        architecture_ids = list(dict.fromkeys([a.id for a in stored] + list(ids)))
        if not architecture_ids:
            raise CliError("nothing to score: give a FILE of specs and/or --ids")
        progress, update = _follow("scoring")
        with progress:
            job = client.score(
                architecture_ids, proxies, data=data_config, init_seed=seed, on_progress=update
            )
        body = client.request("GET", f"/v1/score-jobs/{job.id}").json()
        profile_id = body["data_profile_id"]
        rows = []
        for architecture_id in architecture_ids:
            found = {}
            for s in client.scores(architecture_id=architecture_id, profile_id=profile_id):
                if s["seed"] == seed and s["proxy"] in proxies:
                    found[s["proxy"]] = {
                        "value": s["value"],
                        "log_value": s["log_value"],
                        "status": s["status"],
                        "error": s["error"],
                    }
            spec = specs.get(architecture_id)
            if spec is None:
                spec = client.architecture(architecture_id)["spec"]
            rows.append({"id": architecture_id, "spec": spec, "scores": found})
    return body, rows


def _score_table(rows: Sequence[dict[str, Any]], proxies: Sequence[str], title: str) -> Table:
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
                cells.append(_fmt(s["log_value"] if log_scale[p] else s["value"]))
        table.add_row("" if row["id"] is None else str(row["id"]), _short_spec(row["spec"]), *cells)
    return table


@app.command("score")
def score_command(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="Specs to score (.json, .jsonl or .csv).")
    ] = None,
    ids: Annotated[
        str | None, typer.Option(help="Comma-separated ids of stored architectures.")
    ] = None,
    proxies: Annotated[
        str, typer.Option(help="Comma-separated proxies, e.g. snip,grasp,synflow.")
    ] = "snip,grasp,synflow",
    data: Annotated[
        Literal["synthetic", "npz"],
        typer.Option(help="Scoring batch: Gaussian noise, or CIFAR images from an .npz."),
    ] = "synthetic",
    data_file: Annotated[
        Path,
        typer.Option(
            help="The .npz for --data npz (path relative to the working directory): read "
            "here with --local; with a service, its file name is looked up in the server's "
            "data directory (ZC_DATA_DIR)."
        ),
    ] = DEFAULT_DATA_FILE,
    batch_size: Annotated[int, typer.Option(min=1, help="Images in the scoring batch.")] = 64,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the network init and batch.")] = 0,
    space: Annotated[str, typer.Option(help="Space of specs that do not name one.")] = "nb201",
    local: Annotated[
        bool, typer.Option("--local", help="Score in this process, without a service.")
    ] = False,
) -> None:
    """Score architectures with zero-cost proxies and print one row per architecture.

    With a service: submits the specs of FILE (and/or --ids), queues a score job and
    follows it with a progress bar. With --local: builds and scores each network here
    (no server, no database). Log-scale proxies (synflow) are shown as their natural log.
    """
    state = _state(ctx)
    proxy_names = _names(proxies)
    with _reporting(state):
        items = read_specs(file, space) if file is not None else []
        id_list = [int(part) for part in _names(ids)] if ids else []
        if not proxy_names:
            raise CliError("--proxies: name at least one proxy")
        if local:
            if id_list:
                raise CliError("--ids needs a service; --local scores the specs of FILE")
            if not items:
                raise CliError("nothing to score: give a FILE of specs")
            rows = _score_local(items, proxy_names, data, data_file, batch_size, seed)
            job = None
        else:
            config: dict[str, Any] = {"source": data, "batch_size": batch_size, "seed": seed}
            if data == "npz":
                config["file"] = data_file.name
            job, rows = _score_remote(state, items, id_list, proxy_names, config, seed)
    if state.json:
        _emit_json({"job": job, "architectures": rows})
        return
    title = "scores (local)" if job is None else f"job {job['id']}: {job['status']}"
    _stdout().print(_score_table(rows, proxy_names, title))
    if job is not None and job["errors"]:
        _stdout().print(_errors_table(job["errors"]))


# -- status ---------------------------------------------------------------------------------


def _errors_table(errors: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="errors")
    for column in ("architecture", "status", "attempts", "error"):
        table.add_column(column, overflow="fold")
    for e in errors:
        table.add_row(str(e["architecture_id"]), e["status"], str(e["attempts"]), e["error"] or "")
    return table


@app.command()
def status(
    ctx: typer.Context,
    job: Annotated[int, typer.Argument(help="The score job's id.")],
) -> None:
    """Show a score job: its status, item counts by state and per-item errors."""
    state = _state(ctx)
    with _reporting(state), state.client() as client:
        body = client.request("GET", f"/v1/score-jobs/{job}").json()
    if state.json:
        _emit_json(body)
        return
    table = Table(title=f"job {body['id']}: {body['status']}")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_row("proxies", ", ".join(body["proxies"]))
    table.add_row("data profile", str(body["data_profile_id"]))
    table.add_row("init seed", str(body["init_seed"]))
    table.add_row("total", str(body["total"]))
    for name, count in sorted(body["counts"].items()):
        table.add_row(name, str(count))
    console = _stdout()
    console.print(table)
    if body["errors"]:
        console.print(_errors_table(body["errors"]))


# -- accuracies and correlations ------------------------------------------------------------


@app.command()
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
    state = _state(ctx)
    with _reporting(state):
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
            for batch in _batches(items):
                created += client.add_accuracies(batch)
    if state.json:
        _emit_json({"submitted": len(items), "created": created})
        return
    typer.echo(f"{len(items)} accuracies submitted, {created} new ({dataset}/{metric})")


def _ci(interval: Sequence[float | None]) -> str:
    low, high = (list(interval) + [None, None])[:2]
    return "" if low is None or high is None else f" [{low:.3f}, {high:.3f}]"


def _plot_format(plot: Path | None, kind: str, name: str | None) -> str | None:
    """The figure format for ``--plot`` (its suffix), checked before anything is fetched."""
    if plot is None:
        return None
    fmt = plot.suffix.lower().lstrip(".")
    if fmt not in {"png", "svg"}:
        raise CliError(f"--plot: {plot} must end in .png or .svg")
    if kind == "scatter" and not name:
        raise CliError("--name: --plot-kind scatter needs a proxy or ensemble, e.g. synflow")
    if not plot.parent.is_dir():
        raise CliError(f"--plot: no such folder {plot.parent}")
    return fmt


@app.command()
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
        int | None, typer.Option(help="Data profile (needed when several have scores).")
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
    state = _state(ctx)
    with _reporting(state), state.client() as client:
        fmt = _plot_format(plot, plot_kind, name)
        body = client.correlations(
            dataset,
            metric,
            proxies=_names(proxies) if proxies else None,
            ensembles=_names(ensembles) if ensembles is not None else None,
            profile_id=profile_id,
            bootstrap=bootstrap,
        )
        if plot is not None:
            params: dict[str, Any] = {
                "dataset": dataset,
                "metric": metric,
                "profile_id": body["data_profile_id"],
                "format": fmt,
            }
            if proxies:
                params["proxies"] = ",".join(_names(proxies))
            if plot_kind == "scatter":
                params |= {"name": name, "scale": scale}
            else:
                if ensembles is not None:
                    params["ensembles"] = ",".join(_names(ensembles))
                if plot_kind == "bars":
                    params["bootstrap"] = bootstrap
            path = {"bars": "correlations", "scatter": "scatter", "precision": "precision"}
            figure = client.request("GET", f"/v1/plots/{path[plot_kind]}", params=params)
            plot.write_bytes(figure.content)
            _stderr().print(f"{plot_kind} figure written to {plot}")
    if state.json:
        _emit_json(body)
        return
    table = Table(
        title=f"{body['dataset']}/{body['metric']}: {body['n_architectures']} architectures, "
        f"profile {body['data_profile_id']}"
    )
    table.add_column("name", no_wrap=True)
    table.add_column("kind")
    for name in ("n", "spearman", "kendall", "pearson", "pairwise"):
        table.add_column(name, justify="right")
    for k in ("1%", "5%", "10%"):
        table.add_column(f"p@{k}", justify="right")
    for row in body["rows"]:
        precision = row["precision_at_k"]
        table.add_row(
            row["name"],
            row["kind"],
            str(row["n"]),
            _fixed(row["spearman"]) + _ci(row["spearman_ci"]),
            _fixed(row["kendall_tau_b"]) + _ci(row["kendall_ci"]),
            _fixed(row["pearson"]),
            _fixed(row["pairwise_agreement"]),
            *(_fixed(precision.get(k)) for k in ("0.01", "0.05", "0.1")),
        )
    _stdout().print(table)


# -- rank and search ------------------------------------------------------------------------


def _data_config(data: str, batch_size: int, data_file: Path) -> dict[str, Any]:
    config: dict[str, Any] = {"source": data, "batch_size": batch_size}
    if data == "npz":
        config["file"] = data_file.name
    return config


DataOption = Annotated[
    Literal["synthetic", "npz"],
    typer.Option(help="Scoring batch: Gaussian noise, or the server's cifar10_sample.npz."),
]


@app.command()
def rank(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Candidate specs (.json, .jsonl or .csv).")],
    proxies: Annotated[str, typer.Option(help="Comma-separated proxies.")] = DEFAULT_PROXIES,
    ensemble: Annotated[
        Literal["log_rank", "mean_rank", "vote"], typer.Option(help="How to combine proxies.")
    ] = "log_rank",
    top: Annotated[int, typer.Option(min=1, help="How many of the best to print.")] = 10,
    data: DataOption = "synthetic",
    batch_size: Annotated[int, typer.Option(min=1, help="Images in the scoring batch.")] = 64,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the network init.")] = 0,
    space: Annotated[str, typer.Option(help="Space of specs that do not name one.")] = "nb201",
) -> None:
    """Rank the candidates of FILE best-first by an ensemble of proxies; print the top.

    Unscored candidates are scored first (the command waits, with a progress bar). The
    ensemble score is relative to the candidates ranked together.
    """
    state = _state(ctx)
    proxy_names = _names(proxies)
    config = _data_config(data, batch_size, DEFAULT_DATA_FILE)
    with _reporting(state), state.client() as client:
        items = read_specs(file, space)
        if not items:
            raise CliError(f"{file}: no candidates")
        kwargs = {"ensemble": ensemble, "data": config, "init_seed": seed}
        ranking = client.rank(items, proxy_names, wait=True, **kwargs)
        unscored = [r.architecture_id for r in ranking if r.rank is None]
        if unscored:
            progress, update = _follow("scoring")
            with progress:
                client.score(unscored, proxy_names, data=config, init_seed=seed, on_progress=update)
            ranking = client.rank(items, proxy_names, wait=False, **kwargs)
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
        _emit_json({"candidates": len(ranking), "ensemble": ensemble, "top": rows})
        return
    table = Table(
        title=f"top {len(rows)} of {len(ranking)} by {ensemble}({', '.join(proxy_names)})"
    )
    table.add_column("rank", justify="right")
    table.add_column("id", justify="right")
    table.add_column("architecture", overflow="fold")
    table.add_column("score", justify="right")
    for r in rows:
        table.add_row(
            "-" if r["rank"] is None else str(r["rank"]),
            str(r["id"]),
            _short_spec(r["spec"]),
            _fmt(r["score"]),
        )
    _stdout().print(table)


@app.command()
def search(
    ctx: typer.Context,
    space: Annotated[str, typer.Option(help="Search space (only nb201 is supported).")] = "nb201",
    budget: Annotated[
        int, typer.Option(min=1, help="Distinct cells to evaluate (initial population included).")
    ] = 1000,
    population: Annotated[int, typer.Option(min=1, help="Population size P.")] = 50,
    sample: Annotated[int, typer.Option(min=1, help="Tournament sample size S.")] = 10,
    batch: Annotated[int, typer.Option(min=1, help="Proposals ranked per request.")] = 25,
    proxies: Annotated[str, typer.Option(help="Comma-separated proxies.")] = DEFAULT_PROXIES,
    ensemble: Annotated[
        Literal["log_rank", "mean_rank", "vote", "learned"],
        typer.Option(help="How to combine proxies; 'learned': the service's predictor."),
    ] = "log_rank",
    data: DataOption = "synthetic",
    batch_size: Annotated[int, typer.Option(min=1, help="Images in the scoring batch.")] = 64,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the search and network init.")] = 0,
    top: Annotated[int, typer.Option(min=1, help="How many of the best cells to print.")] = 10,
    random_baseline: Annotated[
        bool,
        typer.Option("--random", help="Random search instead (the baseline): BUDGET random cells."),
    ] = False,
    dataset: Annotated[
        str | None, typer.Option(help="With --ensemble learned: the predictor's dataset.")
    ] = None,
    metric: Annotated[str, typer.Option(help="With --ensemble learned.")] = "test_accuracy",
    accuracies: Annotated[
        Path | None,
        typer.Option(help="With --ensemble learned: CSV of true accuracies (arch_str + column)."),
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
) -> None:
    """Regularized evolution (Real et al., AAAI 2019) over NAS-Bench-201 cells.

    A population of random cells; each cycle draws S members, mutates the fittest (one
    random edge gets another op) and the oldest member dies. Fitness is the service's
    ensemble score; since it is relative to the cells ranked together, every batch of
    proposals is ranked together with the current population, and at the end all cells
    evaluated are ranked in one call to pick the best. Stops after BUDGET distinct cells.

    With --ensemble learned --dataset D --accuracies FILE the service's learned predictor
    ranks: the accuracies in FILE of the cells evaluated are reported as they come (as if
    they had been trained), and the predictor is retrained every --retrain-every proposals.
    """
    from zero_cost import search as searching

    state = _state(ctx)
    proxy_names = _names(proxies)
    config = _data_config(data, batch_size, DEFAULT_DATA_FILE)
    with _reporting(state), state.client() as client:
        searching.check_space(space)
        if ensemble == "learned":
            if dataset is None or accuracies is None:
                raise CliError("--ensemble learned needs --dataset and --accuracies")
            ranker = searching.learning_ranker(
                client,
                proxy_names,
                dataset=dataset,
                metric=metric,
                accuracies=_read_accuracies(accuracies, accuracy_column),
                retrain_every=retrain_every,
                min_labels=min_labels,
                data=config,
                init_seed=seed,
                space=space,
            )
        else:
            ranker = searching.service_ranker(
                client, proxy_names, ensemble=ensemble, data=config, init_seed=seed, space=space
            )
        with _progress() as progress:
            task = progress.add_task("proposals", total=budget)

            def update(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            started = time.perf_counter()
            if random_baseline:
                result = searching.random_search(
                    ranker, budget, seed=seed, space=space, on_progress=update
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
                    on_progress=update,
                )
            seconds = time.perf_counter() - started
    best = result.ranking[:top]
    if state.json:
        _emit_json(
            {
                "algorithm": "random" if random_baseline else "regularized_evolution",
                "evaluated": result.evaluated,
                "rank_calls": result.rank_calls,
                "stopped_early": result.stopped_early,
                "seconds": seconds,
                "best": [{"arch_str": c.spec, "score": c.score} for c in best],
            }
        )
        return
    what = "random search" if random_baseline else "regularized evolution"
    table = Table(
        title=f"{what}: best {len(best)} of {result.evaluated} cells "
        f"by {ensemble}({', '.join(proxy_names)}), {seconds:.0f} s"
    )
    table.add_column("#", justify="right")
    table.add_column("arch_str", overflow="fold")
    table.add_column("score", justify="right")
    for position, candidate in enumerate(best, start=1):
        table.add_row(str(position), candidate.spec, _fmt(candidate.score))
    console = _stdout()
    console.print(table)
    if result.stopped_early:
        console.print("stopped early: no new cell could be bred from the population")


def _read_accuracies(path: Path, column: str) -> dict[str, float]:
    """canonical key of each NB201 cell of a CSV (``arch_str`` column) -> its ``column``."""
    from zero_cost import search as searching

    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        return {searching.canonical_key(r["arch_str"]): float(r[column]) for r in rows}
    except (OSError, KeyError, ValueError) as error:
        raise CliError(f"{path}: cannot read arch_str and {column}: {error}") from None


# -- learned predictors ------------------------------------------------------------------------


def _predictor_tables(predictor: dict[str, Any]) -> list[Table]:
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
            cv.add_row(name, str(value) if isinstance(value, int) else _fmt(value))
        tables.append(cv)
    if predictor.get("learning_curve"):
        curve = Table(title="learning curve: held-out rho")
        for name in ("labels", "mean", "std", "repeats"):
            curve.add_column(name, justify="right")
        for point in predictor["learning_curve"]:
            curve.add_row(
                str(point["labels"]),
                _fmt(point["spearman_mean"]),
                _fmt(point["spearman_std"]),
                str(point["repeats"]),
            )
        tables.append(curve)
    return tables


def _show_predictor(state: State, predictor: dict[str, Any]) -> None:
    if state.json:
        _emit_json(predictor)
        return
    console = _stdout()
    for table in _predictor_tables(predictor):
        console.print(table)


@predictor_app.command("train")
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
        int | None, typer.Option(help="Data profile id (default: the only one with scores).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Init seed of the scores.")] = 0,
    min_labels: Annotated[int, typer.Option(min=2, help="Fewer labels: the fallback.")] = 20,
    wait: Annotated[bool, typer.Option(help="Wait until it is trained, then show it.")] = False,
) -> None:
    """Train a learned predictor on the service (a job: a worker trains it) and print it."""
    state = _state(ctx)
    with _reporting(state), state.client() as client:
        predictor = client.train_predictor(
            dataset,
            metric,
            proxies=_names(proxies) if proxies else None,
            features=features,
            profile_id=profile,
            init_seed=seed,
            min_labels=min_labels,
            wait=wait,
        )
    _show_predictor(state, predictor)
    if predictor["status"] == "failed":
        raise typer.Exit(1)


@predictor_app.command("show")
def predictor_show(
    ctx: typer.Context,
    predictor_id: Annotated[int, typer.Argument(help="The predictor's id.")],
) -> None:
    """Show a predictor: its state, cross-validated metrics and learning curve."""
    state = _state(ctx)
    with _reporting(state), state.client() as client:
        predictor = client.predictor(predictor_id)
    _show_predictor(state, predictor)


def main() -> None:
    """Entry point of the ``zero-cost`` command."""
    app()


if __name__ == "__main__":
    main()
