"""Running the service: ``serve``, ``worker`` and the ``db`` migrations.

The server-side modules are imported inside the commands, so that the client commands do
not load them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import emit_json, get_state

commands = typer.Typer()
db_commands = typer.Typer(
    help="Database schema migrations (Alembic, run from the installed package).",
    no_args_is_help=True,
)


@commands.command()
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

    from ..config import Settings
    from ..db import migrations
    from ..main import create_app

    settings = Settings()
    if settings.is_sqlite:
        migrations.upgrade(settings.database_url)
    uvicorn.run(create_app(settings), host=host, port=port)


@commands.command()
def worker(
    device: Annotated[
        str | None,
        typer.Option(
            help="Torch device, e.g. cuda:1 to pin the worker and its scoring processes to "
            "the second visible GPU (default: ZC_DEVICE, else the first GPU, else the CPU).",
        ),
    ] = None,
    items_in_flight: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Items scored at once on the device, one scoring process each "
            "(default: ZC_ITEMS_IN_FLIGHT, 1).",
        ),
    ] = None,
) -> None:
    """Run one scoring worker until SIGTERM/SIGINT (it finishes the items in hand).

    Workers claim queued items from the database named by DATABASE_URL; run one per GPU
    (`--device cuda:N`, or CUDA_VISIBLE_DEVICES=N) or CPU core, any number against one
    PostgreSQL database.
    """
    from ..config import Settings
    from ..worker import main as worker_main

    options = {"device": device, "items_in_flight": items_in_flight}
    settings = Settings(**{name: value for name, value in options.items() if value is not None})
    worker_main(settings)


@db_commands.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Migrate the configured database (DATABASE_URL) up to REVISION (default: head)."""
    from ..config import Settings
    from ..db import migrations

    settings = Settings()
    migrations.upgrade(settings.database_url, revision)
    typer.echo(f"database upgraded to {revision}")


@db_commands.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the configured database's revision and the code's head revision."""
    from ..config import Settings
    from ..db import migrations
    from ..db.session import make_engine

    engine = make_engine(Settings().database_url)
    try:
        current = migrations.current_revision(engine)
    finally:
        engine.dispose()
    head = migrations.head_revision()
    if get_state(ctx).json:
        emit_json({"current": current, "head": head, "up_to_date": current == head})
        return
    typer.echo(f"current: {current or '(empty database)'}")
    typer.echo(f"head:    {head}")
    if current != head:
        typer.echo("run 'zero-cost db upgrade' to migrate")
