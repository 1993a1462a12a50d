"""Running the service: ``serve``, ``worker``, ``worker-health`` and the ``db`` migrations.

The server-side modules are imported inside the commands, so that the client commands do
not load them.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from ._common import emit_json, get_state

if TYPE_CHECKING:
    from ..config import Settings

commands = typer.Typer()
db_commands = typer.Typer(
    help="Database schema migrations (Alembic, run from the installed package).",
    no_args_is_help=True,
)


@commands.command()
def serve(
    host: Annotated[
        str,
        typer.Option(
            help="Interface to listen on. Any but loopback needs ZC_API_KEYS (or "
            "ZC_ALLOW_ANONYMOUS=1)."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
) -> None:
    """Run the API server (uvicorn), configured from ZC_* environment variables.

    With a SQLite database (the default, DATABASE_URL unset) the schema is
    first migrated to the head revision and a scoring worker runs inside the server, so this
    one command gives a working service. PostgreSQL deployments run `zero-cost db upgrade`
    once instead (and `zero-cost worker` processes next to the API).

    An API without keys is served on loopback only, unless ZC_ALLOW_ANONYMOUS is set.
    """
    import uvicorn

    from ..config import Settings
    from ..db import migrations
    from ..main import create_app

    settings = Settings()
    check_exposure(host, settings)
    if settings.is_sqlite:
        migrations.upgrade(settings.database_url)
    uvicorn.run(create_app(settings), host=host, port=port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only: ``localhost`` or a loopback
    address. Any other name may resolve to any interface, so it is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, settings: Settings) -> None:
    """Refuse to serve an API without keys beyond this machine, unless that is allowed.

    Raises:
        typer.BadParameter: ``host`` is not loopback, ``settings`` has no API keys and
            ``allow_anonymous`` is off.
    """
    if is_loopback(host) or settings.api_keys or settings.allow_anonymous:
        return
    raise typer.BadParameter(
        f"refusing to serve on {host} without API keys: anyone who reaches it could read, "
        "score and store anything. Set ZC_API_KEYS (e.g. ZC_API_KEYS=<random key>:write), "
        "or set ZC_ALLOW_ANONYMOUS=1 to serve it open on purpose (a trusted network only).",
        param_hint="--host",
    )


@commands.command("worker-health")
def worker_health(
    max_age: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Seconds a heartbeat stays fresh (default: twice ZC_LEASE_SECONDS).",
        ),
    ] = None,
) -> None:
    """Exit 0 if a worker on this host has a fresh heartbeat, else 1: a container's health
    check.

    The worker's heartbeat (in the database named by DATABASE_URL, by the database clock)
    says that it runs and reaches the database. The host is this machine's hostname, which
    in a container is the container's own.
    """
    from ..config import Settings
    from ..db.session import DatabaseUnavailable, make_engine
    from ..db.worker_health import heartbeat_age

    settings = Settings()
    limit = 2 * settings.lease_seconds if max_age is None else max_age
    host = socket.gethostname()
    engine = make_engine(settings.database_url)
    try:
        age = heartbeat_age(engine, host)
    except DatabaseUnavailable as error:
        _unhealthy(f"database unavailable: {error}")
    finally:
        engine.dispose()
    if age is None:
        _unhealthy(f"no worker registered on {host}")
    if age > limit:
        _unhealthy(f"the heartbeat of the worker on {host} is {age:.0f} s old (limit {limit:g} s)")
    typer.echo(f"healthy: the worker on {host} beat {age:.1f} s ago")


def _unhealthy(reason: str) -> NoReturn:
    """Report ``reason`` on stderr and exit 1."""
    typer.echo(f"unhealthy: {reason}", err=True)
    raise typer.Exit(1)


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
