"""`make backup` and `make restore` on real servers: GTIDs on and off, bad files, live writes.

A restore loads the dump into a scratch database, checks it, and swaps its
tables in with one RENAME TABLE. These tests prove that a good dump replaces
everything, on the server it came from and on others whatever their GTID
mode, and that a bad file changes nothing and says so in one ERROR: line.
The figures they measure go to the "restore" group of docs/reliability.md.
"""

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.stack import wait_until

EMOJI_NAME = "Tea 🍵 茶"
# Rows added with SQL so that a dump is big enough to cut in the middle of
# its INSERT: 10 x 10 x 5 = 500 rows of about 100 bytes.
BULK_ROWS = """INSERT INTO items (name, description)
SELECT CONCAT('bulk ', a.d * 50 + b.d * 5 + c.d), REPEAT('x', 100)
FROM (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL
      SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL
      SELECT 8 UNION ALL SELECT 9) AS a,
     (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL
      SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL
      SELECT 8 UNION ALL SELECT 9) AS b,
     (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL
      SELECT 4) AS c"""
# mysqld with GTIDs off, as MySQL 8.4 and most self-run servers are; Compose
# replaces the command list, so the character set is given again.
GTID_OFF = """services:
  db:
    command:
      - --character-set-server=utf8mb4
      - --gtid-mode=OFF
      - --enforce-gtid-consistency=OFF
"""


@pytest.fixture(scope="module")
def mysql_stack(make_stack_module):
    """One stack of the default option (MySQL, GTIDs on) for this module's checks."""
    stack = make_stack_module(initialised=True)
    stack.up()
    return stack


def post_items(stack, *names: str) -> list[int]:
    ids = []
    for name in names:
        response = stack.http("POST", "/api/items", {"name": name})
        assert response.status == 201, response.body
        ids.append(response.body["id"])
    return ids


def snapshot(stack) -> dict[str, str]:
    """Everything a restore must keep or replace: the tables and all their rows."""
    return {
        "tables": stack.db_query("SHOW TABLES", user="root"),
        "items": stack.db_query("SELECT * FROM items ORDER BY id", user="root"),
        "alembic_version": stack.db_query("SELECT version_num FROM alembic_version", user="root"),
    }


def row_count(stack) -> int:
    return int(stack.db_query("SELECT COUNT(*) FROM items", user="root"))


def databases(stack) -> list[str]:
    return stack.db_query("SHOW DATABASES", user="root").split()


def gtid_mode(stack) -> str:
    return stack.db_query("SELECT @@GLOBAL.gtid_mode", user="root")


def backup(stack, label: str) -> Path:
    """`make backup`, the file renamed to label.sql (two backups in a second share a name)."""
    result = stack.make("backup")
    match = re.search(r"^wrote (backups/\S+\.sql)$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    dump = stack.path / match.group(1)
    return dump.rename(dump.with_name(f"{label}.sql"))


def restore(stack, dump: Path):
    """`make restore file=...`; return the result and the seconds it took."""
    started = time.monotonic()
    result = stack.make("restore", file=str(dump), confirm="yes", check=False)
    return result, time.monotonic() - started


def restored(stack, dump: Path) -> float:
    """Restore a dump that must restore; return the seconds it took."""
    result, seconds = restore(stack, dump)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "restored " in result.stdout
    assert "ERROR" not in result.stderr, result.stderr
    return seconds


def the_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def assert_no_scratch_left(stack) -> None:
    left = [name for name in databases(stack) if name.endswith(("_restore", "_previous"))]
    assert not left, left


def old_style_dump(stack, path: Path) -> Path:
    """A dump as `make backup` made it before --set-gtid-purged=OFF: it sets GTID_PURGED."""
    result = stack.compose("exec", "-T", "db", "sh", "-c", (
        'exec mysqldump --single-transaction --routines --triggers --no-tablespaces '
        '-uroot -p"$MYSQL_ROOT_PASSWORD" "$MYSQL_DATABASE"'
    ))  # fmt: skip
    path.write_text(result.stdout)
    return path


def pipe_into_the_database(stack, dump: Path):
    """What `make restore` did before: the dump straight into the live database."""
    script = 'exec mysql -uroot -p"$MYSQL_ROOT_PASSWORD" "$MYSQL_DATABASE"'
    command = [*stack.compose_args, "exec", "-T", "db", "sh", "-c", script]
    return stack.run(command, check=False, stdin_text=dump.read_text())


def test_a_dump_restores_into_its_own_server_with_gtids_on_again_and_again(mysql_stack, figures):
    stack = mysql_stack
    assert gtid_mode(stack) == "ON"
    [*_, emoji_id] = post_items(stack, "one", "two", EMOJI_NAME)
    dump = backup(stack, "same-server")
    text = dump.read_text()
    assert "GTID_PURGED" not in text and "SQL_LOG_BIN" not in text
    assert text.rstrip().splitlines()[-1].startswith("-- Dump completed")
    before = snapshot(stack)
    old_dump = old_style_dump(stack, stack.path / "backups" / "old-style.sql")
    assert "SET @@GLOBAL.GTID_PURGED" in old_dump.read_text()

    # The bug: a dump that sets GTID_PURGED fails on the server it came from.
    piped = pipe_into_the_database(stack, old_dump)
    assert piped.returncode != 0 and "ERROR 3546" in piped.stderr, piped.stderr
    assert snapshot(stack) == before

    # Rows and a table the dump does not have: a restore removes both.
    post_items(stack, "written after the backup")
    stack.db_query("CREATE TABLE not_in_the_dump (id INT)", user="root")
    seconds = [restored(stack, dump) for _ in range(2)]  # twice: GTIDs never collide
    assert snapshot(stack) == before
    assert "not_in_the_dump" not in snapshot(stack)["tables"]
    assert_no_scratch_left(stack)
    assert stack.http("GET", f"/api/items/{emoji_id}").body["name"] == EMOJI_NAME
    assert stack.http("GET", "/health").status == 200

    # A dump made the old way restores too: its GTID statements are left out.
    post_items(stack, "written after the old-style backup")
    restored(stack, old_dump)
    assert snapshot(stack) == before
    figures.setdefault("restore", {}).update({
        "same server, GTIDs on: rows restored": row_count(stack),
        "same server, GTIDs on: slowest of 2 restores in a row (s)": round(max(seconds), 1),
        "old-style dump piped in as before: error": re.search(r"ERROR \d+", piped.stderr)[0],
    })  # fmt: skip


def test_a_dump_restores_into_other_servers_with_gtids_on_and_off(mysql_stack, make_stack, figures):
    source = mysql_stack
    post_items(source, "from the source server")
    dump = backup(source, "from-gtids-on")
    from_source = snapshot(source)

    # Other servers, each with its own first init (its own GTIDs).
    fresh = make_stack(initialised=False)
    fresh.up()
    assert gtid_mode(fresh) == "ON"
    restored(fresh, dump)
    assert snapshot(fresh) == from_source

    off = make_stack(initialised=False, extra_files=["gtid-off.yml"])
    (off.path / "gtid-off.yml").write_text(GTID_OFF)
    off.up()
    assert gtid_mode(off) == "OFF"
    assert off.db_query("SELECT @@character_set_server") == "utf8mb4"
    seconds = restored(off, dump)
    assert snapshot(off) == from_source
    rows_restored = row_count(off)

    # And back: a dump of the server with GTIDs off, into itself and into a
    # server with GTIDs on.
    post_items(off, "from the server with GTIDs off")
    dump_off = backup(off, "from-gtids-off")
    from_off = snapshot(off)
    post_items(off, "written after the backup")
    restored(off, dump_off)
    assert snapshot(off) == from_off
    restored(source, dump_off)
    assert snapshot(source) == from_off
    for stack in (source, fresh, off):
        assert_no_scratch_left(stack)
        assert stack.http("GET", "/health").status == 200
    figures.setdefault("restore", {}).update({
        "GTIDs on into a fresh server, GTIDs off: rows restored": rows_restored,
        "GTIDs on into a fresh server, GTIDs off: restore (s)": round(seconds, 1),
    })  # fmt: skip


def truncate(text: str) -> str:
    """Cut in the middle of the items INSERT, as a full disk or a killed copy does."""
    start = text.index("INSERT INTO `items`")
    end = text.index("\n", start)
    return text[: (start + end) // 2]


def whole_server_dump(stack, dump: Path) -> str:
    result = stack.compose("exec", "-T", "db", "sh", "-c", (
        'exec mysqldump --single-transaction --set-gtid-purged=OFF --no-tablespaces '
        '-uroot -p"$MYSQL_ROOT_PASSWORD" --databases "$MYSQL_DATABASE"'
    ))  # fmt: skip
    return result.stdout


def with_a_trigger(text: str) -> str:
    """A complete dump that also creates a trigger, which RENAME TABLE cannot move."""
    trigger = "CREATE TRIGGER items_named BEFORE INSERT ON items FOR EACH ROW SET NEW.name = 'x';\n"
    end = text.rindex("-- Dump completed")
    return text[:end] + trigger + text[end:]


def fails_to_load(text: str) -> str:
    """A complete-looking dump whose items INSERT is broken: the client stops there."""
    return text.replace("INSERT INTO `items` VALUES", "INSERT INTO `items` VALUES VALUES", 1)


BAD_FILES = {
    # case: (how to make it from a good dump, what the ERROR line says)
    "truncated dump": (lambda stack, dump: truncate(dump.read_text()), "does not end with"),
    "file that is not SQL": (lambda stack, dump: "\x89PNG\r\n\x1a\n" + "\x00" * 64,
                             "does not end with"),
    "dump that fails to load": (lambda stack, dump: fails_to_load(dump.read_text()),
                                "did not load (ERROR 1064"),
    "dump of another project": (
        lambda stack, dump: dump.read_text().replace("('0001')", "('9f3e2a1b7c4d')"),
        "revision 9f3e2a1b7c4d, which is not in migrations/versions/"),
    "dump without alembic_version": (
        lambda stack, dump: dump.read_text().replace("alembic_version", "schema_version"),
        "has no alembic_version table"),
    "dump of whole databases": (whole_server_dump, "names its databases"),
    "dump with a trigger": (lambda stack, dump: with_a_trigger(dump.read_text()),
                            "has 1 trigger(s), which 'make restore' cannot swap"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_changes_nothing_and_says_why(mysql_stack, figures, case):
    stack = mysql_stack
    if row_count(stack) < 500:
        stack.db_query(BULK_ROWS, user="root")
    make_bad, message = BAD_FILES[case]
    good = backup(stack, "good")
    bad = stack.path / "backups" / f"{case.replace(' ', '-')}.sql"
    bad.write_text(make_bad(stack, good))
    # The database moved on since the backup: a wrong restore would show.
    post_items(stack, f"written before the {case}")
    before, databases_before, rows_before = snapshot(stack), databases(stack), row_count(stack)

    result, seconds = restore(stack, bad)
    assert result.returncode != 0
    line = the_error_line(result)
    assert message in line, line
    assert "restored " not in result.stdout
    assert snapshot(stack) == before
    assert databases(stack) == databases_before
    assert stack.http("GET", "/health").status == 200
    figures.setdefault("restore", {}).update({
        f"{case}: rows kept": f"{row_count(stack)} of {rows_before}",
        f"{case}: refused after (s)": round(seconds, 2),
    })  # fmt: skip


class Writer(threading.Thread):
    """POST items w1, w2, ... one after the other until stopped; record (start, end) of each."""

    def __init__(self, stack):
        super().__init__(daemon=True)
        self.stack, self.done, self.failures, self.running = stack, [], [], True

    def run(self):
        while self.running:
            number, started = len(self.done) + 1, time.monotonic()
            try:
                response = self.stack.http("POST", "/api/items", {"name": f"w{number}"})
            except OSError as error:
                self.failures.append(repr(error))
                return
            if response.status != 201:
                self.failures.append(f"{response.status} {response.body}")
                return
            self.done.append((started, time.monotonic()))


def test_a_backup_taken_during_writes_restores_a_consistent_prefix(mysql_stack, figures):
    stack = mysql_stack
    stack.db_query("TRUNCATE TABLE items", user="root")  # ids start again at 1
    writer = Writer(stack)
    writer.start()
    try:
        wait_until(lambda: len(writer.done) >= 20 or writer.failures, 60, what="20 writes")
        started = time.monotonic()
        dump = backup(stack, "during-writes")
        ended = time.monotonic()
        # Writes go on after the backup too.
        wait_until(lambda: writer.done[-1][1] > ended + 0.5 or writer.failures, 60,
                   what="writes after the backup")  # fmt: skip
    finally:
        writer.running = False
        writer.join(30)
    assert not writer.failures, writer.failures
    during = [end for _, end in writer.done if started <= end <= ended]
    assert during, "no write finished while make backup ran"
    # Done before make backup started: committed before its snapshot. Begun
    # after it ended: committed after. The others may be on either side.
    done_before = sum(end < started for _, end in writer.done)
    begun_before_the_end = sum(start < ended for start, _ in writer.done)

    restored(stack, dump)
    rows = [line.split("\t") for line in stack.db_query(
        "SELECT id, name FROM items ORDER BY id", user="root").splitlines()]  # fmt: skip
    count = len(rows)
    assert [int(row_id) for row_id, _ in rows] == list(range(1, count + 1))
    assert [name for _, name in rows] == [f"w{n}" for n in range(1, count + 1)]
    assert done_before <= count <= begun_before_the_end, (done_before, count, begun_before_the_end)
    assert stack.db_query("SELECT version_num FROM alembic_version", user="root") == "0001"
    assert stack.http("GET", "/health").status == 200
    figures.setdefault("restore", {}).update({
        "backup during writes: writes finished while it ran": len(during),
        "backup during writes: rows restored, ids 1..N without a gap": count,
        "backup during writes: rows written in all": len(writer.done),
    })  # fmt: skip


def test_mariadb_restores_a_good_dump_and_refuses_a_truncated_one(make_stack, figures):
    stack = make_stack(initialised=True, database="mariadb-11.8")
    stack.up()
    post_items(stack, "one", EMOJI_NAME)
    stack.db_query(BULK_ROWS, user="root")
    dump = backup(stack, "mariadb")
    from_dump = snapshot(stack)
    post_items(stack, "written after the backup")
    stack.db_query("CREATE TABLE not_in_the_dump (id INT)", user="root")
    before = snapshot(stack)

    cut = stack.path / "backups" / "truncated.sql"
    cut.write_text(truncate(dump.read_text()))
    result, _ = restore(stack, cut)
    assert result.returncode != 0
    assert "does not end with" in the_error_line(result)
    assert snapshot(stack) == before
    kept, rows_before = row_count(stack), before["items"].count("\n") + 1

    seconds = restored(stack, dump)
    assert snapshot(stack) == from_dump
    assert "not_in_the_dump" not in snapshot(stack)["tables"]
    assert_no_scratch_left(stack)
    assert stack.http("GET", "/health").status == 200
    figures.setdefault("restore", {}).update({
        "mariadb-11.8: truncated dump: rows kept": f"{kept} of {rows_before}",
        "mariadb-11.8: rows restored": row_count(stack),
        "mariadb-11.8: restore (s)": round(seconds, 1),
    })  # fmt: skip


def with_many_rows(text: str, statements: int = 300, rows: int = 1000) -> str:
    """A complete dump that takes seconds to load: many INSERTs into items after its own."""
    values = ",".join(f"('big {n}',REPEAT('x',100))" for n in range(rows))
    insert = f"INSERT INTO `items` (`name`, `description`) VALUES {values};\n"
    end = text.rindex("-- Dump completed")
    return text[:end] + insert * statements + text[end:]


def loading(stack, database: str) -> bool:
    """Whether the restore is loading the dump's INSERTs into the scratch database."""
    return stack.db_query(
        "SELECT COUNT(*) FROM information_schema.processlist"
        f" WHERE db = '{database}_restore' AND info LIKE 'INSERT%'", user="root"
    ) != "0"  # fmt: skip


def test_an_interrupt_during_the_load_changes_nothing_and_says_so(mysql_stack, figures):
    stack = mysql_stack
    database = stack.db_query("SELECT DATABASE()", user="root")
    big = stack.path / "backups" / "big.sql"
    big.write_text(with_many_rows(backup(stack, "before-the-interrupt").read_text()))
    post_items(stack, "written before the interrupt")
    before, databases_before = snapshot(stack), databases(stack)

    # Ctrl-C in a terminal: SIGINT to make, Compose and all in its process group.
    log = stack.path / "interrupted.log"
    command = ["make", "restore", f"COMPOSE={stack.compose_command}", f"file={big}", "confirm=yes"]
    with log.open("w") as output:
        make = subprocess.Popen(
            command, cwd=stack.path, env=stack.env(), stdin=subprocess.DEVNULL,
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(lambda: loading(stack, database), 120, interval=0.1, what="the load")
        interrupted = time.monotonic()
        os.killpg(make.pid, signal.SIGINT)
        status = make.wait(60)
        seconds = time.monotonic() - interrupted
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
    said = log.read_text()
    assert status != 0, said
    assert f"ERROR: interrupted; {database} is unchanged" in said, said
    assert "restored " not in said
    # Nothing left behind, once the restore's clean-up is done.
    wait_until(lambda: databases(stack) == databases_before, 30, what="the clean-up")
    assert snapshot(stack) == before
    assert stack.http("GET", "/health").status == 200
    figures.setdefault("restore", {}).update({
        "interrupted during the load: dump size (MB)": round(big.stat().st_size / 1e6, 1),
        "interrupted during the load: make returned after (s)": round(seconds, 1),
    })  # fmt: skip
