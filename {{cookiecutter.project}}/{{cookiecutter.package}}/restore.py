"""`make restore`: replace every table of the database with those of a dump
made by `make backup`, all at once or not at all.

No tool does it: the database client runs a dump statement by statement
against the live database, so a dump that stops half-way leaves tables
dropped and half filled, and neither server has a "swap databases"
statement. So: load the dump into a scratch database, check that it is this
project's, then swap its tables in with one RENAME TABLE (atomic in MySQL and
MariaDB: every table moves, or none).

The restore service of docker-compose.yml runs it, the one service that gets
the database's root password: `python -m {{ cookiecutter.package }}.restore NAME < dump`,
where NAME is the file's name as the user typed it, for the messages only.
"""

import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import click
import pymysql
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from . import config

# mysqldump and mariadb-dump end every complete dump with this line: a dump
# cut short (disk full, killed) or a file that is not a dump has none.
COMPLETED = b"-- Dump completed"
# A dump of whole databases (--databases, --all-databases) names them: it
# would write into the live database, not the scratch one.
NAMES_DATABASES = re.compile(rb"^(USE|CREATE DATABASE)[ \t\n\r\f\v]")
# The client's DELIMITER command, around triggers and routines: never sent.
DELIMITER = re.compile(rb"^delimiter[ \t]+(\S+)", re.IGNORECASE)
# mariadb-dump's first line: a command to its client, a comment to a server.
SANDBOX_MODE = b"/*M!999999\\- "
# The signals that interrupt a restore, and the exit status of each (128 + its number).
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
DATABASE_NAME = re.compile(r"[A-Za-z0-9_$-]+")


class Failed(Exception):
    """The restore stops: its message is the one ERROR: line the user reads."""


class Interrupted(BaseException):
    """A signal arrived. A BaseException, so no `except Exception` swallows it."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


@dataclass
class Progress:
    """What an interrupt reports: whether the swap has happened."""

    swapped: bool = False


# --- The dump, before anything touches the server -----------------------------


def last_line(dump: BinaryIO) -> bytes:
    """The last line of the dump that is not blank (NUL bytes left out)."""
    dump.seek(0, 2)
    dump.seek(max(0, dump.tell() - 4096))
    tail = dump.read().replace(b"\0", b"")
    lines = [line for line in tail.split(b"\n") if line.strip()]
    return lines[-1].strip() if lines else b""


def check_dump(dump: BinaryIO, name: str) -> None:
    """Refuse a dump cut short, or one that would write to named databases."""
    if not last_line(dump).startswith(COMPLETED):
        raise Failed(
            f"{name} does not end with '-- Dump completed': it is cut short or not a dump "
            "made by 'make backup'; nothing changed"
        )
    dump.seek(0)
    if any(NAMES_DATABASES.match(line) for line in dump):
        raise Failed(
            f"{name} names its databases (a --databases or --all-databases dump): 'make "
            "restore' takes a dump of the project's database alone ('make backup'); "
            "nothing changed"
        )
    dump.seek(0)


def without_gtid_statements(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """The dump's lines, numbered, without its GTID statements.

    Dumps made before `make backup` passed --set-gtid-purged=OFF set the
    server's GTID_PURGED (error 3546 on the server they came from; the list
    of GTIDs may take several lines) and turn off binary logging (replicas
    would miss the restore): both are left out.
    """
    skipping = False
    for number, line in enumerate(lines, 1):
        if line.startswith(b"SET @@GLOBAL.GTID_PURGED"):
            skipping = True
        if skipping:
            skipping = not line.rstrip().endswith(b";")
            continue
        if not line.startswith(b"SET @@SESSION.SQL_LOG_BIN"):
            yield number, line


def is_between_statements(line: bytes) -> bool:
    """A blank line, a comment line, or mariadb-dump's sandbox-mode line."""
    return not line.strip() or line.startswith((b"--", SANDBOX_MODE))


def statements(lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    """Each statement of the dump with the number of its first line, as the
    client splits them: the dump tools end every statement with the
    delimiter at the end of a line, and escape the newlines of strings, so a
    line that ends with the delimiter ends a statement. DELIMITER lines
    (around triggers and routines, whose bodies hold `;`) change it."""
    delimiter, pending, first = b";", [], 0
    for number, line in lines:
        if not pending:
            if is_between_statements(line):
                continue
            if change := DELIMITER.match(line):
                delimiter = change[1]
                continue
            first = number
        pending.append(line)
        if line.rstrip().endswith(delimiter):
            yield first, b"".join(pending).rstrip()[: -len(delimiter)]
            pending = []
    if pending:  # the last statement, without its delimiter: the client runs it too
        yield first, b"".join(pending).rstrip()


# --- The server ---------------------------------------------------------------


@dataclass
class Server:
    """How to connect (PyMySQL's options), and the database to restore."""

    database: str
    options: dict

    @classmethod
    def from_url(cls, url: str, env) -> "Server":
        """The server of a SQLAlchemy URL, with the app's TLS and connect timeout
        (config.py). No read or write timeout: a statement of a dump (a big
        INSERT, the swap waiting for the app's transactions) may take long."""
        options = {
            **config.pymysql_connect_options(url, env),
            "read_timeout": None,
            "write_timeout": None,
            "charset": "utf8mb4",
            "autocommit": True,
        }
        return cls(make_url(url).database or "", options)

    @classmethod
    def from_environment(cls, env) -> "Server":
        """The db service's database, as root: MYSQL_DATABASE and
        MYSQL_ROOT_PASSWORD (or its _FILE), on DB_HOST and DB_PORT as the app
        resolves them (config.database_url)."""
        as_root = {
            **env,
            "DATABASE_URL": "",
            "DATABASE_URL_FILE": "",
            "MYSQL_USER": "root",
            "MYSQL_PASSWORD": config.read_secret("MYSQL_ROOT_PASSWORD", env),
            "MYSQL_PASSWORD_FILE": "",
        }
        database = env.get("MYSQL_DATABASE", "")
        # Quoted wherever it goes into SQL; still, a name the database image
        # would not have created is a mistake in .env, better said at once.
        if not DATABASE_NAME.fullmatch(database):
            raise Failed(f"unexpected MYSQL_DATABASE '{database}'; nothing changed")
        return cls.from_url(config.database_url(as_root), env)

    def connect(self, database: str | None = None) -> pymysql.Connection:
        return pymysql.connect(database=database, **self.options)


def client_error(error: Exception, line: int | None = None) -> str:
    """The server's error as the client prints it: ERROR 1064 at line 12: ..."""
    code, *rest = error.args or ("?",)
    where = f" at line {line}" if line else ""
    message = " ".join(str(part) for part in rest)
    return f"ERROR {code}{where}: {message}" if message else f"ERROR {code}{where}"


def quote(name: str) -> str:
    """`name`, with a backtick in it doubled."""
    return "`" + name.replace("`", "``") + "`"


def run(connection, sql: str, args=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return list(cursor.fetchall())


def query(connection, sql: str, args, failing: str, database: str) -> list[tuple]:
    """The rows of a query of the checks; a failure stops the restore."""
    try:
        return run(connection, sql, args)
    except pymysql.MySQLError as error:
        raise Failed(f"{failing} ({client_error(error)}); {database} is unchanged") from None


# --- Load, check, swap ----------------------------------------------------------


def load(loader, dump: BinaryIO, name: str, database: str) -> None:
    """Run the dump's statements in the scratch database, stopping at the first error."""
    # Not `with`: closing a cursor reads what is left of its result, which a
    # statement cut short by a signal would never send.
    cursor = loader.cursor()
    for line, statement in statements(without_gtid_statements(dump)):
        try:
            cursor.execute(statement)
        except pymysql.MySQLError as error:
            raise Failed(
                f"{name} did not load ({client_error(error, line)}); {database} is unchanged"
            ) from None


def check_revisions(
    admin, dumped: list[str], scratch: str, name: str, database: str, known: set[str]
) -> list[str]:
    """The dump's Alembic revisions (dumped: the tables it created), each one
    of this project's migrations."""
    if "alembic_version" not in dumped:
        raise Failed(
            f"{name} has no alembic_version table: not a dump of this project's database; "
            f"{database} is unchanged"
        )
    rows = query(admin, f"SELECT version_num FROM {quote(scratch)}.alembic_version", None,
                 "could not read the dump's alembic_version", database)  # fmt: skip
    revisions = [revision for (revision,) in rows]
    for revision in revisions:
        if revision not in known:
            raise Failed(
                f"{name} is at revision {revision}, which is not in migrations/versions/: a dump "
                f"of another project, or of a newer version of this one; {database} is unchanged"
            )
    return revisions


# What RENAME TABLE cannot move: views and triggers cannot change database,
# routines and events would stay behind. Each: (table, its schema column, word).
NOT_TABLES = [
    ("views", "table_schema", "view(s)"),
    ("triggers", "trigger_schema", "trigger(s)"),
    ("routines", "routine_schema", "routine(s)"),
    ("events", "event_schema", "event(s)"),
]


def others_message(counts: list[int]) -> str:
    """'1 view(s), 2 trigger(s)': what either database holds besides tables."""
    return ", ".join(f"{n} {word}" for n, (*_, word) in zip(counts, NOT_TABLES, strict=True) if n)


def check_tables_only(admin, database: str, scratch: str) -> None:
    """Refuse rather than lose views, triggers, routines or events."""
    counts = [
        query(admin, f"SELECT COUNT(*) FROM information_schema.{table} WHERE {column} IN (%s, %s)",
              (database, scratch), "could not look for views, triggers, routines and events",
              database)[0][0]
        for table, column, _ in NOT_TABLES
    ]  # fmt: skip
    if others := others_message(counts):
        raise Failed(
            f"the dump or {database} has {others}, which 'make restore' cannot swap (it moves "
            f"tables only): restore by hand (README, Backup and restore); {database} is unchanged"
        )


def tables_of(admin, schema: str, failing: str, database: str) -> list[str]:
    rows = query(admin, "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                 (schema,), failing, database)  # fmt: skip
    return [table for (table,) in rows]


def rename_statement(database: str, scratch: str, previous: str, current, dumped) -> str:
    """One RENAME TABLE: the current tables out to previous, the dump's in."""
    moves = [(database, previous, table) for table in current]
    moves += [(scratch, database, table) for table in dumped]
    return "RENAME TABLE " + ", ".join(
        f"{quote(source)}.{quote(table)} TO {quote(target)}.{quote(table)}"
        for source, target, table in moves
    )


def swap(admin, rename: str, previous: str, database: str, progress: Progress) -> None:
    """The one statement that changes the database, with the signals held: an
    interrupt waits until it is done, so what is reported is what happened."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        run(admin, f"CREATE DATABASE {quote(previous)}")
        run(admin, rename)
        progress.swapped = True
    except pymysql.MySQLError as error:
        raise Failed(f"the swap failed ({client_error(error)}); {database} is unchanged") from None
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def clean_up(server: Server, sessions, scratch: str, previous: str) -> None:
    """After a failure before the swap: the scratch database goes, and the one
    the swap would have filled if it is empty (it holds the replaced tables
    if the swap happened after all, e.g. the connection broke as it returned).
    On a connection of its own: a signal may have cut the others mid-statement."""
    try:
        cleaner = server.connect()
    except pymysql.MySQLError as error:
        warn(f"could not drop the scratch database {scratch}: {client_error(error)}")
        return
    with cleaner:
        for session in sessions:
            # A statement cut short by a signal still runs on the server (the
            # driver only closed its socket), and may hold the scratch
            # database, which the DROP would wait for.
            try:
                cleaner.kill(session.thread_id())
            except pymysql.MySQLError:
                pass  # it had ended already
        try:
            run(cleaner, f"DROP DATABASE IF EXISTS {quote(scratch)}")
        except pymysql.MySQLError as error:
            warn(f"could not drop the scratch database {scratch}: {client_error(error)}")
        try:
            [(kept,)] = run(cleaner, "SELECT COUNT(*) FROM information_schema.tables"
                            " WHERE table_schema = %s", (previous,))  # fmt: skip
            if kept == 0:
                run(cleaner, f"DROP DATABASE IF EXISTS {quote(previous)}")
            else:
                warn(f"{previous} holds {kept} tables: the tables the restore replaced")
        except pymysql.MySQLError:
            pass  # the server is gone: the next restore drops what is left


def close(sessions) -> None:
    """Close what the driver has not closed already (it does on any error in a read)."""
    for session in sessions:
        if session.open:
            session.close()


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def connect(server: Server) -> pymysql.Connection:
    try:
        return server.connect()
    except pymysql.MySQLError as error:
        raise Failed(
            f"the db service does not answer ({client_error(error)}): 'make up' first; "
            "nothing changed"
        ) from None


def create_scratch(admin, server: Server, scratch: str, previous: str, sessions: list):
    """A new scratch database, and the session that loads into it. Any left
    over by a restore that was killed goes first: never the only copy of
    anything (the swap is atomic, and these hold a dump or replaced tables)."""
    try:
        run(admin, f"DROP DATABASE IF EXISTS {quote(scratch)}")
        run(admin, f"DROP DATABASE IF EXISTS {quote(previous)}")
        run(admin, f"CREATE DATABASE {quote(scratch)}")
        sessions.append(server.connect(scratch))
        return sessions[-1]
    except pymysql.MySQLError as error:
        raise Failed(
            f"could not create the scratch database {scratch} ({client_error(error)}); "
            f"{server.database} is unchanged"
        ) from None


def swap_in(admin, dumped: list[str], database: str, scratch: str, previous: str,
            progress: Progress) -> None:  # fmt: skip
    """Swap the dumped tables in from the scratch database."""
    current = tables_of(admin, database, f"could not list the tables of {database}", database)
    swap(admin, rename_statement(database, scratch, previous, current, dumped), previous,
         database, progress)  # fmt: skip


def drop_replaced(admin, scratch: str, previous: str) -> None:
    try:
        run(admin, f"DROP DATABASE {quote(scratch)}")
        run(admin, f"DROP DATABASE {quote(previous)}")
    except pymysql.MySQLError as error:
        warn(f"restored, but could not drop {scratch} and {previous} (the replaced tables): "
             f"{client_error(error)}")  # fmt: skip


def restore(dump: BinaryIO, name: str, server: Server, known: set[str], progress: Progress) -> str:
    """Restore the dump into server.database; return the line that says so."""
    check_dump(dump, name)
    database = server.database
    scratch, previous = f"{database}_restore", f"{database}_previous"
    admin = connect(server)
    sessions = [admin]
    try:
        try:
            loader = create_scratch(admin, server, scratch, previous, sessions)
            load(loader, dump, name, database)
            loader.close()
            dumped = tables_of(admin, scratch, "could not list the tables the dump created",
                               database)  # fmt: skip
            revisions = check_revisions(admin, dumped, scratch, name, database, known)
            check_tables_only(admin, database, scratch)
            swap_in(admin, dumped, database, scratch, previous, progress)
        finally:
            # Not a state machine: before the swap, any way out cleans up.
            if not progress.swapped:
                clean_up(server, sessions, scratch, previous)
        drop_replaced(admin, scratch, previous)
    finally:
        close(sessions)
    return (
        f"restored {name} into {database}: {len(dumped)} tables, "
        f"revision {' '.join(revisions) or 'none'}"
    )


def known_revisions() -> set[str]:
    """The revisions of migrations/versions/, as Alembic reads them."""
    scripts = ScriptDirectory(str(config.PROJECT_ROOT / "migrations"))
    return {script.revision for script in scripts.walk_revisions()}


def interrupted_message(database: str, progress: Progress) -> str:
    if progress.swapped:
        return f"interrupted after the swap: {database} holds the dump's tables"
    return f"interrupted; {database or 'the database'} is unchanged"


@contextmanager
def signals_interrupt():
    """SIGINT, SIGTERM and SIGHUP raise Interrupted; the handlers before are
    back afterwards. After the first, the others are ignored: the clean-up
    that the first one starts must run to its end."""

    def interrupt(number, frame):
        for each in SIGNALS:
            signal.signal(each, signal.SIG_IGN)
        raise Interrupted(128 + number)

    before = {each: signal.signal(each, interrupt) for each in SIGNALS}
    try:
        yield
    finally:
        for each, handler in before.items():
            signal.signal(each, handler)


def spool(source: BinaryIO) -> BinaryIO:
    """The dump from stdin, in a temporary file: the checks read it whole
    (its last line first) before anything loads."""
    spooled = tempfile.TemporaryFile()
    shutil.copyfileobj(source, spooled)
    spooled.seek(0)
    return spooled


@click.command()
@click.argument("name")
def main(name: str) -> None:
    """Restore the dump on stdin into MYSQL_DATABASE; NAME names it in messages."""
    progress, database = Progress(), os.environ.get("MYSQL_DATABASE", "")
    with signals_interrupt():
        try:
            with spool(sys.stdin.buffer) as dump:
                server = Server.from_environment(os.environ)
                print(restore(dump, name, server, known_revisions(), progress))
        except (Failed, config.ConfigError) as error:
            print(f"ERROR: {error}", file=sys.stderr)
            sys.exit(1)
        except Interrupted as interrupt:
            print(f"ERROR: {interrupted_message(database, progress)}", file=sys.stderr)
            sys.exit(interrupt.status)


if __name__ == "__main__":
    main()
