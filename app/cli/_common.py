"""What the command modules share: the global options, output, error reporting and progress."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx2
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

from zero_cost.client import ApiError, Client, Job

from ..schemas import MAX_REPEATS

RepeatInitSeedsOption = Annotated[
    int,
    typer.Option(
        min=1,
        max=MAX_REPEATS,
        help="Score each proxy with so many init seeds (seed, seed + 1, ...) and use the mean.",
    ),
]
RepeatBatchesOption = Annotated[
    int,
    typer.Option(
        min=1,
        max=MAX_REPEATS,
        help="Score each proxy on so many batches (drawn with the data seed, + 1, ...) and use "
        "the mean.",
    ),
]
ProxyListOption = Annotated[
    str, typer.Option(help="Comma-separated proxies, e.g. snip,grasp,synflow.")
]
ServiceDataOption = Annotated[
    Literal["synthetic", "npz"] | None,
    typer.Option(
        help="Scoring batch: Gaussian noise, or CIFAR images from an .npz in the server's data "
        "directory (ZC_DATA_DIR): --data-file where the command has it, else "
        "cifar10_sample.npz. Default: the service's default data profile (GET /v1/config)."
    ),
]
BatchSizeOption = Annotated[
    int, typer.Option(min=1, help="Images in the scoring batch (with --data).")
]
SpecSpaceOption = Annotated[str, typer.Option(help="Space of specs that do not name one.")]

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_DATA_FILE = Path("../shared/data/cifar10_sample.npz")


@dataclass
class State:
    """The global options (``--url``, ``--api-key``, ``--json``), kept in the typer context."""

    url: str = DEFAULT_URL
    api_key: str | None = None
    json: bool = False

    def client(self) -> Client:
        """A client of the service at ``url``."""
        return Client(self.url, self.api_key, retries=3)


class CliError(Exception):
    """A failure to report in one line, exit status 1."""


def get_state(ctx: typer.Context) -> State:
    """The global options of this invocation (the defaults when the root callback did not
    run)."""
    if not isinstance(ctx.obj, State):
        ctx.obj = State()
    return ctx.obj


def parse_settings(text: str | None) -> dict[str, Any] | None:
    """The JSON object of a --settings option (None when not given): space settings."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(f"--settings: invalid JSON: {error}") from None
    if not isinstance(value, dict):
        raise CliError("--settings: expected a JSON object, e.g. '{\"channels\": 8}'")
    return value


# -- output -----------------------------------------------------------------------------------


def stdout_console() -> Console:
    """Tables on stdout; when piped (not a terminal, COLUMNS unset) 160 columns wide, so
    that rows are not folded to 80."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=160)
    return console


def stderr_console() -> Console:
    """Messages and progress bars, apart from the results on stdout."""
    return Console(stderr=True)


def emit_json(value: Any) -> None:
    """Print ``value`` as strict JSON (NaN and infinities become null) on stdout."""
    typer.echo(json.dumps(_finite(value), indent=2, allow_nan=False))


def _finite(value: Any) -> Any:
    """NaN/inf -> None, recursively, so the JSON output is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def format_number(value: float | None, digits: int = 4) -> str:
    """A score for a table: ``digits`` significant digits, large integers with commas,
    "-" for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def format_fixed(value: float | None) -> str:
    """A correlation or precision for a table: three decimals, "-" for none."""
    return "-" if value is None else f"{value:.3f}"


def short_spec(spec: Any, width: int = 200) -> str:
    """An architecture spec on one line of at most ``width`` characters."""
    text = spec if isinstance(spec, str) else json.dumps(spec, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"


# -- options ----------------------------------------------------------------------------------


def split_names(text: str) -> list[str]:
    """The names of a comma-separated option, blanks dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


def data_config(
    source: str | None, batch_size: int, data_file: Path, seed: int | None = None
) -> dict[str, Any] | None:
    """The ``data`` of a score or rank request: the scoring batch's source and size (and
    seed, when given); for ``npz``, the file's name in the server's data directory. None
    (the service's default data profile) when no source is given."""
    if source is None:
        return None
    config: dict[str, Any] = {"source": source, "batch_size": batch_size}
    if seed is not None:
        config["seed"] = seed
    if source == "npz":
        config["file"] = data_file.name
    return config


# -- errors and progress ------------------------------------------------------------------------


@contextmanager
def reporting_errors(state: State) -> Iterator[None]:
    """Turn service and connection failures into one red line and exit status 1."""
    try:
        yield
    except ApiError as error:
        where = f" (field {error.field})" if error.field else ""
        stderr_console().print(
            f"[red]error:[/red] {error.status} {error.code}: {error.message}{where}"
        )
        raise typer.Exit(1) from None
    except httpx2.TransportError as error:
        stderr_console().print(
            f"[red]error:[/red] cannot reach the service at {state.url}: {error}"
        )
        raise typer.Exit(1) from None
    except (CliError, ValueError, KeyError, OSError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        stderr_console().print(f"[red]error:[/red] {message}")
        raise typer.Exit(1) from None


def progress_bar() -> Progress:
    """A progress bar on stderr: count, elapsed time and ETA."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=False,
    )


def job_progress(description: str) -> tuple[Progress, Callable[[Job], None]]:
    """A progress bar for a score job and the ``on_progress`` callback that moves it."""
    progress = progress_bar()
    task = progress.add_task(description, total=None)

    def update(job: Job) -> None:
        progress.update(task, total=job.total, completed=job.finished)

    return progress, update
