"""Scoring a whole space or a large file of specs through the service: ``bulk``.

The run goes in three steps:

1. **Store** every architecture (``POST /v1/architectures``, deduplicated by the service), so
   that each spec has an id; specs of one architecture become one row.
2. **Score** the distinct ids in fixed-size chunks, one score job per chunk, with at most
   ``--in-flight`` chunks unfinished on the server at a time, under one progress bar.
3. **Read** each chunk's scores (``GET /v1/scores?job_id=``) and write one file.

Stopping and resuming: each chunk's job is submitted with an ``Idempotency-Key`` that is a
hash of the chunk's request (its architecture ids, proxies, data, init seed and repeats).
Running the same command again re-submits the same chunks with the same keys, and the service
answers each with the job the earlier run made, in its current state: finished chunks are
skipped at once, unfinished ones are followed where they are (their jobs went on in the
service while no client watched), and nothing is scored twice. Ctrl-C or SIGTERM stops the
client only; the jobs stay queued.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

import zero_cost
from zero_cost.client import Client, Job, StoredArchitecture
from zero_cost.repeats import Repeats

from ._common import (
    DEFAULT_DATA_FILE,
    BatchSizeOption,
    CliError,
    ProxyListOption,
    RepeatBatchesOption,
    RepeatInitSeedsOption,
    ServiceDataOption,
    data_config,
    emit_json,
    get_state,
    parse_settings,
    reporting_errors,
    split_names,
    stderr_console,
)
from .spec_files import SUBMIT_BATCH, batches, read_specs

commands = typer.Typer()

KEY_PREFIX = "zero-cost-bulk:"
"""The start of every idempotency key this command sends (the rest is a SHA-256 in hex)."""
FIXED_COLUMNS = ("id", "space", "spec", "canonical_key")
"""The columns before the proxies' in the output file."""
METADATA_KEY = b"zero_cost"
"""The Parquet schema metadata key holding the run's metadata as JSON."""


# -- the spec list -----------------------------------------------------------------------------


def _nb201_cells() -> Iterator[str]:
    """Every NAS-Bench-201 cell (5^6 = 15,625), ops varying fastest on the last edge."""
    from zero_cost.spaces.nb201 import EDGES, OPS, NB201Arch

    for ops in itertools.product(OPS, repeat=len(EDGES)):
        yield NB201Arch(ops).arch_str


def _nats_sss_widths() -> Iterator[str]:
    """Every NATS-Bench size-space width list (8^5 = 32,768), the last layer varying
    fastest."""
    from zero_cost.spaces.nats_sss import LAYERS, WIDTHS

    for widths in itertools.product(WIDTHS, repeat=LAYERS):
        yield ":".join(map(str, widths))


ENUMERABLE: dict[str, Callable[[], Iterator[str]]] = {
    "nb201": _nb201_cells,
    "nats_sss": _nats_sss_widths,
}
"""The spaces ``--all`` can list, each in a fixed order."""


def enumerate_space(space: str) -> list[str]:
    """Every spec of ``space``, always in the same order.

    Raises:
        CliError: the space is unknown or too large to list.
    """
    if space not in ENUMERABLE:
        from zero_cost import spaces

        known = "" if space in spaces.names() else " (unknown space)"
        raise CliError(
            f"--all: the {space} space{known} cannot be enumerated; --all lists "
            f"{', '.join(sorted(ENUMERABLE))}. Give a FILE of specs instead."
        )
    return list(ENUMERABLE[space]())


def _spec_items(
    file: Path | None, all_specs: bool, space: str, settings: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The ``{space, spec[, settings]}`` items to score: the file's or the whole space's;
    ``settings`` for every item that names none."""
    if (file is None) == (not all_specs):
        raise CliError("give either a FILE of specs or --all (with --space), not both")
    items = (
        read_specs(file, space)
        if file is not None
        else [{"space": space, "spec": spec} for spec in enumerate_space(space)]
    )
    if settings:
        items = [item if item.get("settings") else item | {"settings": settings} for item in items]
    if not items:
        raise CliError("nothing to score: the file lists no specs")
    return items


# -- chunks and their keys ---------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreRequest:
    """What every chunk's score job asks for, apart from its architectures."""

    proxies: tuple[str, ...]
    data: Mapping[str, Any] | None
    init_seed: int
    repeats: Repeats


@dataclass
class Chunk:
    """A slice of the run's architecture ids, its idempotency key and its job (None until
    submitted)."""

    architecture_ids: list[int]
    key: str
    job: Job | None = None


def chunk_key(architecture_ids: Sequence[int], request: ScoreRequest) -> str:
    """The idempotency key of a chunk's score job: a hash of everything its request holds,
    so that the same chunk always gets the same key and another request never does."""
    canonical = json.dumps(
        {
            "architectures": list(architecture_ids),
            "proxies": list(request.proxies),
            "data": request.data,
            "init_seed": request.init_seed,
            "repeats": [request.repeats.init_seeds, request.repeats.batches],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return KEY_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


def make_chunks(ids: Sequence[int], size: int, request: ScoreRequest) -> list[Chunk]:
    """``ids`` in consecutive chunks of at most ``size``, each with its key."""
    return [Chunk(list(part), chunk_key(part, request)) for part in batches(ids, size)]


# -- the three steps ---------------------------------------------------------------------------


@dataclass
class Stored:
    """The run's architectures: distinct ids in first-seen order, each with its record and
    the first spec that named it."""

    ids: list[int] = field(default_factory=list)
    records: dict[int, StoredArchitecture] = field(default_factory=dict)
    specs: dict[int, Any] = field(default_factory=dict)


def store_architectures(client: Client, items: Sequence[dict[str, Any]], batch: int) -> Stored:
    """Store every item (the service deduplicates them), ``batch`` per request."""
    stored = Stored()
    for part in batches(items, batch):
        for record, item in zip(client.submit(part), part, strict=True):
            if record.id not in stored.records:
                stored.ids.append(record.id)
                stored.records[record.id] = record
                stored.specs[record.id] = item["spec"]
    return stored


def score_chunks(
    client: Client,
    chunks: Sequence[Chunk],
    request: ScoreRequest,
    *,
    in_flight: int,
    poll_seconds: float,
    on_progress: Callable[[Sequence[Chunk]], None],
) -> None:
    """Submit the chunks in order, at most ``in_flight`` unfinished on the server at once,
    and follow them until every job is finished. A chunk whose job is already finished (a
    resumed run) does not count against ``in_flight``."""
    waiting = deque(chunks)
    running: list[Chunk] = []
    while True:
        while waiting and len(running) < in_flight:
            chunk = waiting.popleft()
            chunk.job = client.score(
                chunk.architecture_ids,
                request.proxies,
                data=request.data,
                init_seed=request.init_seed,
                repeats=request.repeats,
                wait=False,
                idempotency_key=chunk.key,
            )
            if not chunk.job.done:
                running.append(chunk)
        on_progress(chunks)
        if not running:
            return
        time.sleep(poll_seconds)
        for chunk in running:
            chunk.job = client.job(chunk.job.id)
        running = [chunk for chunk in running if not chunk.job.done]


@dataclass
class Results:
    """The scores of a finished run: architecture id -> proxy -> value, the proxies'
    versions and the items' errors."""

    values: dict[int, dict[str, float | None]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)


def read_results(client: Client, chunks: Sequence[Chunk]) -> Results:
    """Each finished chunk's scores (the scores its job asked for) and item errors."""
    results = Results()
    for chunk in chunks:
        assert chunk.job is not None  # score_chunks submitted every chunk
        for score in client.all_scores(job_id=chunk.job.id):
            results.values.setdefault(score["architecture_id"], {})[score["proxy"]] = score["value"]
            results.versions.setdefault(score["proxy"], score["proxy_version"])
        results.errors += chunk.job.errors
    return results


# -- the output file ---------------------------------------------------------------------------


def table_rows(stored: Stored, results: Results, proxies: Sequence[str]) -> list[dict[str, Any]]:
    """One row per architecture, in run order: id, space, spec (JSON unless a string),
    canonical key and each proxy's value (None when missing or not finite)."""
    rows = []
    for architecture_id in stored.ids:
        spec = stored.specs[architecture_id]
        values = results.values.get(architecture_id, {})
        rows.append(
            {
                "id": architecture_id,
                "space": stored.records[architecture_id].space,
                "spec": spec if isinstance(spec, str) else json.dumps(spec, separators=(",", ":")),
                "canonical_key": stored.records[architecture_id].canonical_key,
            }
            | {proxy: values.get(proxy) for proxy in proxies}
        )
    return rows


def metadata_path(path: Path) -> Path:
    """Where the metadata of a CSV file goes: beside it, ``NAME.csv.json``."""
    return path.with_name(path.name + ".json")


def write_table(
    path: Path, rows: Sequence[dict[str, Any]], proxies: Sequence[str], metadata: dict[str, Any]
) -> None:
    """Write ``rows`` to ``path`` (.parquet or .csv), replacing it whole (never a partial
    file). Parquet carries ``metadata`` as JSON under the schema metadata key ``zero_cost``;
    a CSV file stays a plain table and its metadata goes to ``NAME.csv.json`` beside it."""
    columns = [*FIXED_COLUMNS, *proxies]
    partial = path.with_name(f".{path.name}.partial")
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema(
            [
                ("id", pa.int64()),
                ("space", pa.string()),
                ("spec", pa.string()),
                ("canonical_key", pa.string()),
                *[(proxy, pa.float64()) for proxy in proxies],
            ],
            metadata={METADATA_KEY: json.dumps(metadata)},
        )
        table = pa.table({c: [row[c] for row in rows] for c in columns}, schema=schema)
        pq.write_table(table, partial)
    else:
        with open(partial, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows({c: "" if row[c] is None else row[c] for c in columns} for row in rows)
        meta = metadata_path(path)
        meta_partial = meta.with_name(f".{meta.name}.partial")
        meta_partial.write_text(json.dumps(metadata, indent=2) + "\n")
        os.replace(meta_partial, meta)
    os.replace(partial, path)


def _check_output(path: Path) -> None:
    """Refuse an output file that could not be written, before any work is done."""
    if path.suffix.lower() not in {".parquet", ".csv"}:
        raise CliError(f"--out: {path} must end in .parquet or .csv")
    if not path.parent.is_dir():
        raise CliError(f"--out: no such directory: {path.parent}")


# -- progress ----------------------------------------------------------------------------------


class RateColumn(ProgressColumn):
    """Architectures finished per second, over the last half minute."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("- /s" if speed is None else f"{speed:.1f}/s")


class ChunkProgress:
    """One bar over all chunks: architectures finished of all, rate, elapsed time and ETA.
    The first update sets the starting point, so that a resumed run's rate and ETA count
    only what this run sees being scored."""

    def __init__(self, total: int) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=stderr_console(),
        )
        self.task = self.bar.add_task("scoring", total=total)
        self.started = False
        self.done = 0

    def update(self, chunks: Sequence[Chunk]) -> None:
        """Move the bar to the items finished in the submitted chunks' jobs."""
        self.done = sum(chunk.job.finished for chunk in chunks if chunk.job is not None)
        if self.started:
            self.bar.update(self.task, completed=self.done)
        else:
            self.bar.reset(self.task, completed=self.done)
            self.started = True


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM handler: stop like Ctrl-C."""
    raise KeyboardInterrupt


# -- the command -------------------------------------------------------------------------------


@commands.command()
def bulk(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="The result file: .parquet or .csv.")],
    file: Annotated[
        Path | None, typer.Argument(help="Specs to score (.json, .jsonl, .csv or .onnx).")
    ] = None,
    all_specs: Annotated[
        bool, typer.Option("--all", help="Score every architecture of --space (nb201, nats_sss).")
    ] = False,
    space: Annotated[
        str, typer.Option(help="The space of --all, and of specs that do not name one.")
    ] = "nb201",
    settings: Annotated[
        str | None,
        typer.Option(
            help="Space settings (JSON) of specs that name none, e.g. '{\"channels\": 8}'."
        ),
    ] = None,
    proxies: ProxyListOption = "snip,grasp,synflow",
    data: ServiceDataOption = None,
    data_file: Annotated[
        Path, typer.Option(help="The .npz of --data npz (its file name is looked up).")
    ] = DEFAULT_DATA_FILE,
    batch_size: BatchSizeOption = 64,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the network init and batch.")] = 0,
    repeat_init_seeds: RepeatInitSeedsOption = 1,
    repeat_batches: RepeatBatchesOption = 1,
    chunk_size: Annotated[
        int,
        typer.Option(
            min=1, help="Architectures per score job (at most the server's max_batch_items)."
        ),
    ] = 1000,
    in_flight: Annotated[
        int, typer.Option(min=1, help="Chunks unfinished on the server at once.")
    ] = 4,
    poll_seconds: Annotated[
        float, typer.Option(min=0.05, help="Seconds between looks at the running jobs.")
    ] = 1.0,
) -> None:
    """Score a whole space (--all) or a FILE of specs through the service into one file.

    Stores the architectures, scores them in chunks of --chunk-size (one score job each)
    under one progress bar, then writes OUT: one row per architecture (id, space, spec,
    canonical_key) and one column per proxy (its value; empty when missing or not
    finite). Parquet files carry the run's metadata (data profile, proxy versions, init
    seed, repeats, jobs) as JSON under the schema metadata key "zero_cost"; CSV files get
    it in OUT.json beside them.

    Ctrl-C or SIGTERM stops the client; the jobs go on in the service. Run the same
    command again to resume: every chunk is sent with the same Idempotency-Key and answered
    with its earlier job, so nothing is scored twice.
    """
    state = get_state(ctx)
    proxy_names = list(dict.fromkeys(split_names(proxies)))  # one column each
    with reporting_errors(state):
        if not proxy_names:
            raise CliError("--proxies: name at least one proxy")
        _check_output(out)
        items = _spec_items(file, all_specs, space, parse_settings(settings))
        request = ScoreRequest(
            tuple(proxy_names),
            data_config(data, batch_size, data_file, seed=seed),
            seed,
            Repeats(repeat_init_seeds, repeat_batches),
        )
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            with state.client() as client:
                summary = _run(
                    client, items, request, out, state.url, chunk_size, in_flight, poll_seconds
                )
        finally:
            signal.signal(signal.SIGTERM, previous)
    if state.json:
        emit_json(summary)
        return
    stderr_console().print(
        f"wrote {out}: {summary['architectures']:,} architectures x {len(proxy_names)} "
        f"proxies, {summary['missing']:,} values missing (jobs {summary['jobs'][0]}-"
        f"{summary['jobs'][-1]}, data profile {summary['data_profile_id']})"
    )


def _run(
    client: Client,
    items: Sequence[dict[str, Any]],
    request: ScoreRequest,
    out: Path,
    url: str,
    chunk_size: int,
    in_flight: int,
    poll_seconds: float,
) -> dict[str, Any]:
    """Store, score and read ``items`` and write ``out``; a summary of the run. On Ctrl-C
    or SIGTERM, says how to resume and exits with status 130."""
    console = stderr_console()
    progress: ChunkProgress | None = None
    try:
        limit = client.config()["max_batch_items"]
        stored = store_architectures(client, items, min(SUBMIT_BATCH, limit))
        console.print(f"{len(items):,} specs: {len(stored.ids):,} architectures")
        chunks = make_chunks(stored.ids, min(chunk_size, limit), request)
        progress = ChunkProgress(len(stored.ids))
        with progress.bar:
            score_chunks(
                client,
                chunks,
                request,
                in_flight=in_flight,
                poll_seconds=poll_seconds,
                on_progress=progress.update,
            )
        results = read_results(client, chunks)
    except KeyboardInterrupt:
        done = "" if progress is None else f" with {progress.done:,} architectures scored"
        console.print(
            f"stopped{done}; the submitted jobs go on in the service. Run the same command "
            "again to resume (nothing is scored twice)."
        )
        raise typer.Exit(130) from None
    jobs = [chunk.job for chunk in chunks if chunk.job is not None]
    profile_id = jobs[0].data_profile_id
    assert profile_id is not None  # every service that has score jobs reports it
    rows = table_rows(stored, results, request.proxies)
    missing = sum(row[proxy] is None for row in rows for proxy in request.proxies)
    failed = sum(job.counts.get("failed", 0) for job in jobs)
    metadata = {
        "zero_cost_version": zero_cost.__version__,
        "service": url,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_profile": client.data_profile(profile_id),
        "proxies": {proxy: results.versions.get(proxy) for proxy in request.proxies},
        "init_seed": request.init_seed,
        "repeats": {"init_seeds": request.repeats.init_seeds, "batches": request.repeats.batches},
        "architectures": len(rows),
        "missing": missing,
        "jobs": [job.id for job in jobs],
        "failed": failed,
        "errors": results.errors,
    }
    write_table(out, rows, request.proxies, metadata)
    if failed:
        console.print(
            f"[yellow]warning:[/yellow] {failed:,} architectures failed; their errors are in "
            "the file's metadata"
        )
    return {
        "out": str(out),
        "architectures": len(rows),
        "missing": missing,
        "failed": failed,
        "jobs": metadata["jobs"],
        "data_profile_id": profile_id,
    }
