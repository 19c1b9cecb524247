"""`make restore` ({{ cookiecutter.package }}/restore.py): how it reads a dump, what it
refuses and says, and, on a MySQL or MariaDB server whose test user may create
the scratch databases, that a restore replaces every table or none."""

import io
import os
import signal
import threading
import time

import pymysql
import pytest
from click.testing import CliRunner

from {{ cookiecutter.package }} import restore
from {{ cookiecutter.package }}.restore import Failed, Interrupted, Progress, Server

COMPLETED = b"-- Dump completed on 2026-01-01  0:00:00\n"


def statements_of(text: bytes) -> list[tuple[int, bytes]]:
    lines = io.BytesIO(text)
    return list(restore.statements(restore.without_gtid_statements(lines)))


def test_statements_end_with_the_delimiter_at_the_end_of_a_line():
    dump = (
        b"-- MySQL dump\n\n/*!40101 SET NAMES utf8mb4 */;\n"
        b"CREATE TABLE `t` (\n  `id` int,\n  `name` varchar(9)\n);\n"
        b"INSERT INTO `t` VALUES (1,'a;\\nb'),(2,'c;');\n" + COMPLETED
    )
    assert statements_of(dump) == [
        (3, b"/*!40101 SET NAMES utf8mb4 */"),
        (4, b"CREATE TABLE `t` (\n  `id` int,\n  `name` varchar(9)\n)"),
        (8, b"INSERT INTO `t` VALUES (1,'a;\\nb'),(2,'c;')"),
    ]


def test_delimiter_lines_change_the_delimiter_around_a_trigger():
    dump = (
        b"DELIMITER ;;\n"
        b"/*!50003 CREATE TRIGGER `x` BEFORE INSERT ON `t` FOR EACH ROW BEGIN\n"
        b"  SET NEW.a = 1;\n  SET NEW.b = 2;\nEND */;;\n"
        b"DELIMITER ;\nSELECT 1;\n"
    )
    assert statements_of(dump) == [
        (2, b"/*!50003 CREATE TRIGGER `x` BEFORE INSERT ON `t` FOR EACH ROW BEGIN\n"
            b"  SET NEW.a = 1;\n  SET NEW.b = 2;\nEND */"),
        (7, b"SELECT 1"),
    ]  # fmt: skip


def test_gtid_statements_are_left_out_even_over_several_lines():
    dump = (
        b"SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN;\n"
        b"SET @@SESSION.SQL_LOG_BIN= 0;\n"
        b"SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'a:1-5,\nb:1-3';\n"
        b"CREATE TABLE t (id int);\n"
        b"SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN;\n"
    )
    assert statements_of(dump) == [
        (1, b"SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN"),
        (5, b"CREATE TABLE t (id int)"),
    ]


def test_mariadb_dumps_sandbox_line_and_a_last_statement_without_delimiter():
    dump = b"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump\nSELECT 1;\nSELECT 2\n"
    assert statements_of(dump) == [(3, b"SELECT 1"), (4, b"SELECT 2")]


def test_bytes_that_are_not_utf8_pass_through_unchanged():
    assert statements_of(b"INSERT INTO b VALUES ('\xff\xfe');\n") == [
        (1, b"INSERT INTO b VALUES ('\xff\xfe')")
    ]


@pytest.mark.parametrize(
    ("dump", "message"),
    [
        (b"CREATE TABLE t (id int);\nINSERT INTO t VALU", "does not end with '-- Dump completed'"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "does not end with '-- Dump completed'"),
        (b"", "does not end with '-- Dump completed'"),
        (b"CREATE DATABASE `x`;\nUSE `x`;\n" + COMPLETED, "names its databases"),
    ],
    ids=["cut short", "not SQL", "empty", "whole databases"],
)
def test_a_bad_file_is_refused_before_the_server_is_asked(dump, message):
    with pytest.raises(Failed, match=message) as refused:
        restore.check_dump(io.BytesIO(dump), "it's a.sql")
    assert str(refused.value).startswith("it's a.sql ")
    assert str(refused.value).endswith("; nothing changed")


def test_a_complete_dump_passes_the_checks_with_blank_lines_after_its_last():
    restore.check_dump(io.BytesIO(b"SELECT 1;\n" + COMPLETED + b"\n\n"), "a.sql")


def test_errors_read_as_the_client_prints_them():
    error = pymysql.err.ProgrammingError(1064, "You have an error in your SQL syntax")
    assert restore.client_error(error, 12) == (
        "ERROR 1064 at line 12: You have an error in your SQL syntax"
    )
    assert restore.client_error(pymysql.err.OperationalError(2003, "no")) == "ERROR 2003: no"


def test_what_either_database_holds_besides_tables():
    assert restore.others_message([0, 1, 0, 2]) == "1 trigger(s), 2 event(s)"
    assert restore.others_message([0, 0, 0, 0]) == ""


def test_the_swap_is_one_statement_with_backticks_doubled():
    statement = restore.rename_statement("d", "d_restore", "d_previous", ["a`b"], ["c"])
    assert statement == (
        "RENAME TABLE `d`.`a``b` TO `d_previous`.`a``b`, `d_restore`.`c` TO `d`.`c`"
    )


def test_interrupts_say_whether_the_swap_happened():
    assert restore.interrupted_message("d", Progress()) == "interrupted; d is unchanged"
    assert restore.interrupted_message("d", Progress(swapped=True)) == (
        "interrupted after the swap: d holds the dump's tables"
    )


@pytest.mark.parametrize(("number", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                                (signal.SIGHUP, 129)])  # fmt: skip
def test_a_signal_interrupts_with_its_exit_status_and_a_second_is_ignored(number, status):
    with restore.signals_interrupt():
        with pytest.raises(Interrupted) as interrupted:
            signal.raise_signal(number)
        assert interrupted.value.status == status
        signal.raise_signal(signal.SIGINT)  # ignored: the clean-up goes on
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN


class SignalDuringTheRename:
    """A connection whose RENAME TABLE gets SIGINT while it runs."""

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args=None):
        if sql.startswith("RENAME TABLE"):
            signal.raise_signal(signal.SIGINT)

    def fetchall(self):
        return []


def test_a_signal_during_the_swap_waits_until_it_is_done():
    progress = Progress()
    with restore.signals_interrupt():
        with pytest.raises(Interrupted):
            restore.swap(SignalDuringTheRename(), "RENAME TABLE x", "d_previous", "d", progress)
    # Reported as it happened: after the swap.
    assert progress.swapped


def test_the_root_password_and_the_app_s_host_settings_make_the_server():
    env = {"MYSQL_DATABASE": "app", "MYSQL_ROOT_PASSWORD": "s3cret", "DB_PORT": "3307"}
    server = Server.from_environment(env)
    assert server.database == "app"
    assert {key: server.options[key] for key in ("host", "port", "user", "password")} == {
        "host": "db", "port": 3307, "user": "root", "password": "s3cret"
    }  # fmt: skip
    with pytest.raises(Failed, match="unexpected MYSQL_DATABASE 'a`b'; nothing changed"):
        Server.from_environment({**env, "MYSQL_DATABASE": "a`b"})


def test_the_known_revisions_are_those_of_migrations_versions():
    versions = restore.config.PROJECT_ROOT / "migrations" / "versions"
    assert len(restore.known_revisions()) == len(list(versions.glob("*.py")))


def test_the_command_prints_one_error_line_and_exits_1(monkeypatch):
    monkeypatch.setenv("MYSQL_DATABASE", "app")
    monkeypatch.setenv("MYSQL_ROOT_PASSWORD", "s3cret")
    result = CliRunner().invoke(restore.main, ["--", "-cut.sql"], input=b"SELECT 1;\n")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        "ERROR: -cut.sql does not end with '-- Dump completed': it is cut short or not a "
        "dump made by 'make backup'; nothing changed\n"
    )


# --- On a real server --------------------------------------------------------


@pytest.fixture
def server(mysql_url, app) -> Server:
    """The test database, migrated (`app`), as a restore's target: skipped
    unless its user may create the scratch databases beside it (the
    template's tests do; `make test`'s user has rights on its database only)."""
    server = Server.from_url(mysql_url, os.environ)
    with server.connect() as connection:
        try:
            restore.run(connection, f"CREATE DATABASE `{server.database}_restore`")
            restore.run(connection, f"DROP DATABASE `{server.database}_restore`")
        except pymysql.MySQLError as error:
            pytest.skip(f"the test user cannot create {server.database}_restore: {error}")
    yield server
    with server.connect(server.database) as connection:
        restore.run(connection, "DROP TABLE IF EXISTS not_in_the_dump")


def sql(server: Server, statement: str) -> list[tuple]:
    with server.connect(server.database) as connection:
        return restore.run(connection, statement)


def dump_of(server: Server) -> bytes:
    """A dump of the test database in the dump tools' shape: each table's
    CREATE TABLE, the alembic_version rows, the completion line."""
    parts = [b"-- MySQL dump\n/*!40101 SET NAMES utf8mb4 */;\n"]
    for (table,) in sql(server, "SHOW TABLES"):
        ((_, create),) = sql(server, f"SHOW CREATE TABLE `{table}`")
        parts.append(f"DROP TABLE IF EXISTS `{table}`;\n{create};\n".encode())
    for (revision,) in sql(server, "SELECT version_num FROM alembic_version"):
        parts.append(f"INSERT INTO `alembic_version` VALUES ('{revision}');\n".encode())
    return b"".join(parts)


def databases(server: Server) -> set[str]:
    return {name for (name,) in sql(server, "SHOW DATABASES")}


def tables(server: Server) -> set[str]:
    return {name for (name,) in sql(server, "SHOW TABLES")}


def scratch_databases_left(server: Server) -> set[str]:
    return {f"{server.database}_restore", f"{server.database}_previous"} & databases(server)


def run_restore(server: Server, dump: bytes, progress=None) -> str:
    known = restore.known_revisions()
    return restore.restore(io.BytesIO(dump), "a.sql", server, known, progress or Progress())


def test_a_dump_replaces_every_table(server):
    dump = dump_of(server)
    dumped = tables(server)
    revisions = [revision for (revision,) in sql(server, "SELECT version_num FROM alembic_version")]
    sql(server, "CREATE TABLE not_in_the_dump (id INT)")
    line = run_restore(server, dump + COMPLETED)
    assert line == (
        f"restored a.sql into {server.database}: {len(dumped)} tables, "
        f"revision {' '.join(revisions) or 'none'}"
    )
    assert tables(server) == dumped
    assert not scratch_databases_left(server)


def assert_unchanged(server: Server, before: set[str]) -> None:
    assert tables(server) == before
    assert not scratch_databases_left(server)


ANOTHER_PROJECT = b"DELETE FROM alembic_version;\nINSERT INTO alembic_version VALUES ('f00d');\n"
# A routine as the dump tools write one: its body's `;` inside DELIMITER lines.
# (Not a trigger: creating one with binary logging on takes SUPER, which the
# test user may not have.)
A_ROUTINE = b"""DELIMITER ;;
CREATE PROCEDURE `count_revisions`()
BEGIN
  SELECT COUNT(*) FROM alembic_version;
  SELECT 1;
END ;;
DELIMITER ;
"""


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (b"INSERT INTO `alembic_version` VALUES VALUES ('x');\n",
         "did not load (ERROR 1064 at line"),
        (ANOTHER_PROJECT, "is at revision f00d, which is not in migrations/versions/"),
        (b"DROP TABLE `alembic_version`;\n", "has no alembic_version table"),
        (A_ROUTINE, "the dump or {database} has 1 routine(s), which 'make restore' cannot swap"),
    ],
    ids=["fails to load", "another project", "no alembic_version", "a routine"],
)  # fmt: skip
def test_a_dump_that_is_refused_changes_nothing(server, tail, message):
    dump = dump_of(server) + tail + COMPLETED
    sql(server, "CREATE TABLE not_in_the_dump (id INT)")
    before = tables(server)
    with pytest.raises(Failed) as refused:
        run_restore(server, dump)
    assert message.format(database=server.database) in str(refused.value)
    assert str(refused.value).endswith(f"; {server.database} is unchanged")
    assert_unchanged(server, before)


def sleeping(server: Server) -> int:
    """How many sessions in the scratch database run the dump's DO SLEEP."""
    [(count,)] = sql(
        server,
        "SELECT COUNT(*) FROM information_schema.processlist"
        f" WHERE db = '{server.database}_restore' AND info LIKE 'DO SLEEP%'",
    )
    return count


def wait_until(condition, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.05)


def test_an_interrupt_during_the_load_stops_it_and_changes_nothing(server):
    # The loading session holds a lock in the scratch database and sleeps:
    # the clean-up must end it, or its DROP DATABASE would wait a minute.
    dump = dump_of(server) + b"LOCK TABLES `alembic_version` WRITE;\nDO SLEEP(60);\n" + COMPLETED
    sql(server, "CREATE TABLE not_in_the_dump (id INT)")
    before = tables(server)

    def interrupt_when_sleeping():
        wait_until(lambda: sleeping(server))
        # To the main thread, blocked in its read, as a process of one thread gets it.
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    progress = Progress()
    started = time.monotonic()
    with restore.signals_interrupt():
        threading.Thread(target=interrupt_when_sleeping, daemon=True).start()
        with pytest.raises(Interrupted) as interrupted:
            run_restore(server, dump, progress)
    assert interrupted.value.status == 130 and not progress.swapped
    assert time.monotonic() - started < 20
    assert_unchanged(server, before)
    wait_until(lambda: not sleeping(server))  # KILL ends a session at its next check
