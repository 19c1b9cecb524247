"""Before the app serves: wait for its database, then bring the schema to head.

The server runs this in its master before it binds its socket
(gunicorn.conf.py), so nothing listens on a schema that is not ready and no
client ever sees a 5xx from a start. Anything else run in the image (a
one-off `flask` command, `make debug`, the Kubernetes migration Job) runs it
through `flask wait-for-db --upgrade` (cli.py, bin/docker-entrypoint).

The wait is ours, not a retry library's: its point is the verdict, "wait on
transient errors, stop at once on fatal ones, say which", and that is
shorter to read here than to configure.
"""

import logging
import time

import click
import flask_migrate
from flask import Flask
from pymysql.constants import CR, ER
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from . import health
from .extensions import db

log = logging.getLogger(__name__)


def say(message: str) -> None:
    """Tell how the start goes: a log line in the server (which configured
    logging: logs.py), printed by a command (which did not)."""
    if logging.getLogger().handlers:
        log.info(message)
    else:
        click.echo(message)


# Seconds between tries while the database starts: a refused connection costs
# next to nothing, and the first good one decides when the app can serve.
POLL_INTERVAL = 0.1

# Errors that retrying cannot fix, and what to check.
FATAL_ERRORS = {
    # A user without global rights gets this, not BAD_DB_ERROR, for a missing database.
    ER.DBACCESS_DENIED_ERROR: (
        "unknown database, or one MYSQL_USER has no rights on: check MYSQL_DATABASE "
        "in .env (the database and its user are created at first init only)"
    ),
    ER.ACCESS_DENIED_ERROR: (
        "access denied: MYSQL_USER/MYSQL_PASSWORD in .env differ from those the database "
        "was initialised with (they are read at first init only; see README, 'Access denied')"
    ),
    ER.BAD_DB_ERROR: (
        "unknown database: MYSQL_DATABASE in .env names a database the server does not have"
    ),
    # PyMySQL never falls back to plain text when TLS is required.
    CR.CR_SSL_CONNECTION_ERROR: (
        "TLS is required (DB_SSL_CA is set) but the server does not offer it: "
        "turn TLS on in the database server, or unset DB_SSL_CA"
    ),
}


class DatabaseNotReady(click.ClickException):
    """Exit status 1 with one `ERROR:` line, as every command of the project says it."""

    def show(self, file=None) -> None:
        click.echo(f"ERROR: {self.format_message()}", file=file, err=True)


def error_code(error: OperationalError) -> int | None:
    args = getattr(error.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def try_connect() -> None:
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def wait_for_database(timeout: float, interval: float) -> None:
    """Return once the database accepts the app's user; raise DatabaseNotReady saying why not."""
    url = db.engine.url.render_as_string(hide_password=True)
    deadline = time.monotonic() + timeout
    waiting_said = False
    while True:
        try:
            try_connect()
            say(f"database {url} is ready")
            return
        except OperationalError as error:
            code = error_code(error)
            if code in FATAL_ERRORS:
                message = f"cannot use database {url}: {FATAL_ERRORS[code]}"
                raise DatabaseNotReady(message) from error
            if time.monotonic() >= deadline:
                raise DatabaseNotReady(
                    f"database {url} did not answer within {timeout:g} s "
                    f"(last error: {error.orig}); check that the db service is running "
                    "and healthy (`make ps`, `make logs`) and that DB_HOST/DB_PORT are right"
                ) from error
            if not waiting_said:
                say(f"waiting up to {timeout:g} s for database {url}: {error.orig}")
                waiting_said = True
            time.sleep(interval)


def schema_is_ahead() -> bool:
    """True when the database is at revisions this code does not know: a newer
    release migrated it, and this one (an older release, rolled back to)
    serves on it, as /health allows; its upgrade could only fail."""
    state = health.schema_state(health.database_revisions(), health.migration_scripts())
    return state == "ahead"


def prepare(
    app: Flask, upgrade: bool = True, timeout: float | None = None, interval: float = POLL_INTERVAL
) -> None:
    """Wait for the database (DB_WAIT_TIMEOUT unless timeout is given), then, if
    upgrade and not SKIP_MIGRATIONS, run Flask-Migrate's `flask db upgrade`:
    under env.py's MySQL lock, so replicas starting together cannot apply a
    revision twice. Never `migrate`: revisions are written by developers and
    committed. A failed upgrade raises, so the caller stops instead of serving
    the wrong schema.
    """
    with app.app_context():
        wait_for_database(app.config["DB_WAIT_TIMEOUT"] if timeout is None else timeout, interval)
        if upgrade and app.config["SKIP_MIGRATIONS"]:
            say("SKIP_MIGRATIONS=1: not running flask db upgrade")
        elif upgrade and schema_is_ahead():
            say(
                "the database is ahead of this code (a newer release migrated it): "
                "not running flask db upgrade"
            )
        elif upgrade:
            flask_migrate.upgrade()
        # Close the pool's connections: the server forks its workers next,
        # and a connection must never be shared by two processes.
        db.engine.dispose()
