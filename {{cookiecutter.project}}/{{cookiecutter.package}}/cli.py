"""`flask wait-for-db`: wait for the database, with a deadline and a clear verdict."""

import sys
import time

import click
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from .extensions import db

# MySQL client/server error codes that retrying cannot fix.
FATAL_ERRORS = {
    # A user without global rights gets 1044, not 1049, for a missing database.
    1044: (
        "unknown database, or one MYSQL_USER has no rights on: check MYSQL_DATABASE "
        "in .env (the database and its user are created at first init only)"
    ),
    1045: (
        "access denied: MYSQL_USER/MYSQL_PASSWORD in .env differ from those the database "
        "was initialised with (they are read at first init only; see README, 'Access denied')"
    ),
    1049: "unknown database: MYSQL_DATABASE in .env names a database the server does not have",
    # PyMySQL's CR_SSL_CONNECTION_ERROR: never falls back to plain text.
    2026: (
        "TLS is required (DB_SSL_CA is set) but the server does not offer it: "
        "turn TLS on in the database server, or unset DB_SSL_CA"
    ),
}


def error_code(error: OperationalError) -> int | None:
    args = getattr(error.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def try_connect() -> None:
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@click.command("wait-for-db")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait at most.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between tries.")
def wait_for_db_command(timeout: float, interval: float) -> None:
    """Wait until the database accepts the app's user, or exit non-zero saying why."""
    url = db.engine.url.render_as_string(hide_password=True)
    deadline = time.monotonic() + timeout
    waiting_said = False
    while True:
        try:
            try_connect()
            click.echo(f"database {url} is ready")
            return
        except OperationalError as error:
            code = error_code(error)
            if code in FATAL_ERRORS:
                fail(f"cannot use database {url}: {FATAL_ERRORS[code]}")
            if time.monotonic() >= deadline:
                fail(
                    f"database {url} did not answer within {timeout:g} s "
                    f"(last error: {error.orig}); check that the db service is running "
                    "and healthy (`make ps`, `make logs`) and that DB_HOST/DB_PORT are right"
                )
            if not waiting_said:
                click.echo(f"waiting up to {timeout:g} s for database {url}: {error.orig}")
                waiting_said = True
            time.sleep(interval)


def fail(message: str) -> None:
    click.echo(f"ERROR: {message}", err=True)
    sys.exit(1)
