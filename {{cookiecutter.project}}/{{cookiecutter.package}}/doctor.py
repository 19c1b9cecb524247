"""`python -m {{ cookiecutter.package }}.doctor`: the checks of `make doctor` that need the
stack, run in the web container: do the passwords in .env still open the
database, and is its schema at the migrations' head. bin/doctor runs the
host's checks and this, in one `docker compose exec`.

bin/doctor hands over .env's MYSQL_PASSWORD and MYSQL_ROOT_PASSWORD on stdin,
one a line: a command line shows in `ps`, an environment in `docker
inspect`, and web must never hold the root password. The lines printed are
bin/doctor's (ok on stdout, FAIL on stderr, each with its fix); the exit
status is the number of checks that failed.
"""

import sys

import click
import pymysql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from . import config, create_app
from .health import SCHEMA_MESSAGES, database_revisions, migration_scripts, schema_state

# Each password of .env, and the account the database created with it.
ACCOUNTS = {"MYSQL_PASSWORD": None, "MYSQL_ROOT_PASSWORD": "root"}  # None: the app's user
ACCESS_DENIED = 1045  # MySQL's ER_ACCESS_DENIED_ERROR
CANNOT_CONNECT = 2003  # the client's CR_CONN_HOST_ERROR: refused, no such host, timed out
NOT_RUNNING = "passwords: the db service is not running ('make up', then 'make doctor')"


# Each returns the number of failures it adds: bin/doctor counts them.
def ok(line: str) -> int:
    click.echo(f"ok    {line}")
    return 0


def skip(line: str) -> int:
    click.echo(f"skip  {line}")
    return 0


def fail(line: str) -> int:
    click.echo(f"FAIL  {line}", err=True)
    return 1


def log_in(database_url: str, user: str, password: str) -> None:
    """Log in as user to the app's database server: its host and port from the
    app's URL, over TCP with the app's driver options (timeouts, TLS), as the
    app connects."""
    options = config.pymysql_connect_options(database_url)
    pymysql.connect(**{**options, "user": user, "password": password}).close()


def refused(variable: str, user: str, error: pymysql.err.OperationalError) -> str:
    if error.args[0] != ACCESS_DENIED:
        return f"passwords: {user} cannot log in: {error.args[-1]}"
    return (
        f"passwords: {variable} in .env is not the password {user} was created with "
        "(read at first init only): put the old value back, or ALTER USER in "
        "'make dbshell', or 'make reset-db'"
    )


def check_passwords(database_url: str, passwords: dict[str, str]) -> int:
    # The database reads the passwords at its first init only: an edited .env
    # then ends in "Access denied". Log in with what .env says now.
    url = make_url(database_url)
    if url.get_driver_name() != "pymysql":
        return skip("passwords: the app's database is not a MySQL server (DATABASE_URL)")
    failures = 0
    for variable, user in ACCOUNTS.items():
        user = user or url.username
        try:
            log_in(database_url, user, passwords.get(variable, ""))
        except pymysql.err.OperationalError as error:
            if error.args[0] == CANNOT_CONNECT:  # nothing to log in to: said once
                return skip(NOT_RUNNING)
            failures += fail(refused(variable, user, error))
        else:
            ok(f"passwords: {variable} in .env opens the database as {user}")
    return failures


def check_schema() -> int:
    """The database's revision against the migrations' heads, as /health judges it."""
    try:
        current = database_revisions()
    except SQLAlchemyError:
        return fail("migrations: the app cannot reach the database: see 'make logs'")
    state = schema_state(current, migration_scripts())
    if state == "behind":
        return fail("migrations: the database is behind the migrations: 'make upgrade'")
    return ok(f"migrations: the database is {SCHEMA_MESSAGES[state]}")


@click.command()
def main() -> None:
    """Check the passwords and the schema; read MYSQL_PASSWORD and
    MYSQL_ROOT_PASSWORD (.env's current values) from stdin, one a line."""
    lines = sys.stdin.read().splitlines()
    passwords = dict(zip(ACCOUNTS, lines, strict=False))  # a missing line: an empty password
    try:
        app = create_app()
    except config.ConfigError as error:  # what would stop the server too
        sys.exit(fail(f"settings: {error}"))
    with app.app_context():
        sys.exit(check_passwords(app.config["SQLALCHEMY_DATABASE_URI"], passwords) + check_schema())


if __name__ == "__main__":
    main()
