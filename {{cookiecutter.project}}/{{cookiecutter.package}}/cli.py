"""`flask wait-for-db`: wait for the database, with a deadline and a clear verdict
(and with --upgrade, then upgrade its schema): startup.py's start-up, for
anything the image runs that is not the server (bin/docker-entrypoint).
"""

import click
from flask import current_app

from .startup import POLL_INTERVAL, prepare


@click.command("wait-for-db")
@click.option("--timeout", type=float, help="Seconds to wait at most  [default: DB_WAIT_TIMEOUT]")
@click.option("--interval", default=POLL_INTERVAL, show_default=True, help="Seconds between tries.")
@click.option(
    "--upgrade",
    is_flag=True,
    help="Then run `flask db upgrade` in this same process, unless SKIP_MIGRATIONS=1.",
)
def wait_for_db_command(timeout: float | None, interval: float, upgrade: bool) -> None:
    """Wait until the database accepts the app's user, or exit non-zero saying why."""
    prepare(current_app, upgrade, timeout, interval)
