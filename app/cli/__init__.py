"""``zero-cost``: the command line of the scoring service.

Run the service (``serve``, ``worker``, ``db``), talk to it (``submit``, ``score``, ``bulk``,
``status``, ``accuracies``, ``correlate``, ``rank``, ``prune``) and search with it
(``search``). Commands that talk to a service read its address from ``--url`` / ``ZC_URL`` and
the key from ``--api-key`` / ``ZC_API_KEY``. Tables are for people; ``--json`` prints
machine-readable JSON on stdout (progress bars go to stderr either way).

This root holds the global options; the commands live in one module per role and talk to the
service through ``zero_cost.client.Client``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import analysis, bulk, ops, predictor, prune, scoring, search
from ._common import DEFAULT_URL, State

app = typer.Typer(
    name="zero-cost",
    help="Training-free NAS scoring: run the service, score architectures, search.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
# Help lists the commands in this order, the groups (db, predictor) last.
app.add_typer(ops.commands)  # serve, worker, worker-health
app.add_typer(scoring.commands)  # submit, score, status
app.add_typer(bulk.commands)  # bulk
app.add_typer(analysis.commands)  # accuracies, correlate
app.add_typer(search.commands)  # rank, search
app.add_typer(prune.commands)  # prune
app.add_typer(ops.db_commands, name="db")
app.add_typer(predictor.commands, name="predictor")


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


def main() -> None:
    """Entry point of the ``zero-cost`` command."""
    app()
