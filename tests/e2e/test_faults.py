"""Nothing lost: the database killed mid-migration, a cut network, web killed
mid-write, a full disk. Each test breaks a running stack of the default
option (MySQL) the hard way and asserts what a user would expect: a clear
stop or a 503, never a half-written row or a replica on a half-migrated
schema, and service back without a restart where that is possible. The
figures go to the "faults" group of docs/reliability.md.
"""

import json
import os
import signal
import subprocess
import threading
import time

from harness.stack import revision_header, wait_until

# Several statements with a slow one in the middle, so that a kill lands
# half-way. SLEEP(15) also outlasts DB_READ_TIMEOUT (10 s): migrations must
# run without the request timeouts.
SLOW_REVISION = (
    revision_header("gadgets: a table, a slow step, a column and an index")
    + """

def upgrade():
    op.create_table("gadgets", sa.Column("id", sa.Integer(), primary_key=True))
    op.execute("SELECT SLEEP(15)")  # stands for an ALTER TABLE on a big table
    op.add_column("items", sa.Column("gadget_id", sa.Integer(), nullable=True))
    op.create_index("ix_items_gadget_id", "items", ["gadget_id"])


def downgrade():
    op.drop_index("ix_items_gadget_id", "items")
    op.drop_column("items", "gadget_id")
    op.drop_table("gadgets")
"""
)
STOPPED_IN_0002 = "Upgrade stopped in revision 0002: alembic_version is still at 0001"


def web_state(stack) -> dict:
    ids = stack.compose("ps", "-a", "-q", "web").stdout.split()
    assert len(ids) == 1, ids
    return json.loads(stack.run(["docker", "inspect", ids[0]], check=True).stdout)[0]["State"]


def status(stack, path: str) -> int:
    """The status of GET path, or 0 when nothing answers (refused, reset)."""
    try:
        return stack.http("GET", path, timeout=5).status
    except OSError:
        return 0


def migration_lock_holder(stack) -> str:
    return stack.db_query("SELECT IS_USED_LOCK(CONCAT('migrate:', DATABASE()))", user="root")


def test_database_killed_mid_migration_stops_web_with_the_repair(make_stack, figures, tmp_path):
    stack = make_stack(initialised=True, production=True)
    stack.up()
    (stack.path / "migrations" / "versions" / "0002_gadgets.py").write_text(SLOW_REVISION)
    deploy = stack.popen_make("prod-up", log=tmp_path / "deploy.log")
    try:
        gadgets = "SHOW TABLES LIKE 'gadgets'"
        wait_until(lambda: stack.db_query(gadgets, user="root"), 300, what="0002 to begin")
        stack.compose("kill", "db")  # SIGKILL, inside SLEEP(15): half of 0002 is done
    finally:
        deploy.wait(300)
    assert deploy.returncode != 0
    assert STOPPED_IN_0002 in stack.logs("web")

    # The next start: MySQL committed CREATE TABLE gadgets, so 0002 fails at
    # once, and says so; web exits instead of serving a half-migrated schema.
    started = time.monotonic()
    restart = stack.make("prod-up", check=False)
    refused_after = time.monotonic() - started
    output = restart.stdout + restart.stderr
    assert restart.returncode != 0
    assert "'gadgets' already exists" in output and STOPPED_IN_0002 in output
    assert "then run `flask db upgrade` again" in output
    state = web_state(stack)
    assert state["Status"] == "exited" and state["ExitCode"] != 0, state
    assert status(stack, "/health") == 0
    assert migration_lock_holder(stack) == "NULL"
    assert stack.db_query("SELECT version_num FROM alembic_version") == "0001"
    assert stack.db_query("SHOW COLUMNS FROM items LIKE 'gadget_id'") == ""

    # The repair the message gives: undo the half-done part, upgrade again.
    stack.db_query("DROP TABLE gadgets", user="root")
    started = time.monotonic()
    stack.up()
    repaired_after = time.monotonic() - started
    assert stack.db_query("SELECT version_num FROM alembic_version") == "0002"
    assert stack.http("GET", "/health").status == 200
    assert migration_lock_holder(stack) == "NULL"
    figures.setdefault("faults", {}).update({
        "db killed mid-migration: next start refused after (s)": round(refused_after, 1),
        "db killed mid-migration: up after the repair, with a 15 s step (s)":
            round(repaired_after, 1),
    })  # fmt: skip


# Runs inside the web container: polls the app on its own port (the host
# cannot reach it while its network is cut), one JSON line per request.
POLLER = """
import json, sys, time, urllib.error, urllib.request
while True:
    for path in ("/api/items", "/health"):
        started = time.time()
        try:
            with urllib.request.urlopen("http://127.0.0.1:8000" + path, timeout=120) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        except OSError as error:
            status, body = 0, str(error).encode()
        print(json.dumps({"path": path, "started": started, "seconds": time.time() - started,
                          "status": status, "body": body.decode()[:300]}), flush=True)
    time.sleep(0.2)
"""


class InContainerPoller:
    """Run POLLER in the web container and collect its answers."""

    def __init__(self, stack):
        command = [*stack.compose_args, "exec", "-T", "web", "python", "-c", POLLER]
        self.process = subprocess.Popen(
            command, cwd=stack.path, env=stack.env(), stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
            start_new_session=True,
        )  # fmt: skip
        self.results: list[dict] = []
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        for line in self.process.stdout:
            self.results.append(json.loads(line))

    def since(self, moment: float) -> list[dict]:
        return [r for r in self.results if r["started"] >= moment]

    def stop(self):
        # The whole group: a wrapper around docker (or its compose plugin)
        # left alive would hold the pipe open, and the reader with it.
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.reader.join(30)
        self.process.stdout.close()


def test_a_cut_network_gives_bounded_503s_and_heals_without_restart(make_stack, figures):
    stack = make_stack(initialised=True, production=True)
    stack.up()
    assert stack.http("POST", "/api/items", {"name": "before the cut"}).status == 201
    web_before = web_state(stack)["StartedAt"]
    container, network = stack.container_id("web"), f"{stack.name}_default"
    poller = InContainerPoller(stack)
    try:
        wait_until(lambda: len(poller.results) >= 4, 60, what="the poller to start")
        cut = time.time()
        stack.run(["docker", "network", "disconnect", network, container], check=True)
        # Long enough for requests on pooled connections to meet the timeouts.
        wait_until(lambda: len([r for r in poller.since(cut) if r["status"] == 503]) >= 4,
                   90, what="503s during the cut")  # fmt: skip
        time.sleep(max(0.0, cut + 25 - time.time()))
        healed = time.time()
        stack.run(["docker", "network", "connect", network, container], check=True)
        wait_until(lambda: [r for r in poller.since(healed) if r["status"] == 200
                            and r["path"] == "/api/items"], 60, what="a good request")  # fmt: skip
        during = [r for r in poller.results if cut <= r["started"] < healed]
        first_good = min(r["started"] + r["seconds"] for r in poller.since(healed)
                         if r["status"] == 200 and r["path"] == "/api/items")  # fmt: skip
    finally:
        poller.stop()
    # A 500 is a bug: web's log holds its traceback.
    assert {r["status"] for r in during} <= {200, 503}, (during, stack.logs("web")[-4000:])
    failures = [r for r in during if r["status"] == 503]
    for answer in failures:
        body = json.loads(answer["body"])
        if answer["path"] == "/health":
            assert body["database"] == "unreachable", body
        else:
            assert body["error"] == "Service Unavailable", body
            assert body["message"].startswith("the database is unavailable"), body
    # A request gunicorn killed at its 30 s timeout would have no answer (status
    # 0), which the assertion above refuses; how long the longest took is a figure.
    longest = max(r["seconds"] for r in during)
    assert web_state(stack)["StartedAt"] == web_before, "web restarted"
    assert "503: the database is unavailable" in stack.logs("web")
    figures.setdefault("faults", {}).update({
        "network cut 25 s: requests answered 503": len(failures),
        "network cut: longest request (s)": round(longest, 1),
        "network cut: first good request after reconnect (s)": round(first_good - healed, 1),
    })  # fmt: skip


# Runs inside the web container, with the app's own session: one transaction
# of many INSERTs, the commit last.
WRITE_IN_ONE_TRANSACTION = """
import sys, time
from flask_app import create_app
from flask_app.extensions import db
from flask_app.models.item import Item
rows, pause = int(sys.argv[1]), float(sys.argv[2])
with create_app().app_context():
    for n in range(rows):
        db.session.add(Item(name=f"batch {n}", description=""))
        db.session.flush()  # the INSERT reaches the server now; the COMMIT comes last
        time.sleep(pause)
    db.session.commit()
"""
BATCH_ROWS = 50


def start_batch_write(stack, pause: float) -> subprocess.Popen:
    command = [*stack.compose_args, "exec", "-T", "web",
               "python", "-c", WRITE_IN_ONE_TRANSACTION, str(BATCH_ROWS), str(pause)]  # fmt: skip
    return subprocess.Popen(command, cwd=stack.path, env=stack.env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def rows_in_flight(stack) -> int:
    rows = stack.db_query("SELECT COALESCE(SUM(trx_rows_modified), 0) "
                          "FROM information_schema.innodb_trx", user="root")  # fmt: skip
    return int(rows)


def item_count(stack) -> int:
    return int(stack.db_query("SELECT COUNT(*) FROM items", user="root"))


def test_web_killed_mid_write_commits_all_or_nothing(make_stack, figures):
    stack = make_stack(initialised=True, production=True)
    stack.up()
    # The control: uninterrupted, the same write commits every row.
    assert start_batch_write(stack, pause=0).wait(120) == 0
    assert item_count(stack) == BATCH_ROWS

    writer = start_batch_write(stack, pause=0.2)
    wait_until(lambda: rows_in_flight(stack) >= 10, 60, what="rows in flight")
    in_flight = rows_in_flight(stack)
    stack.compose("kill", "web")  # SIGKILL: no commit, no rollback from the app
    writer.wait(60)
    # The server rolls the transaction back when the connection drops.
    wait_until(lambda: rows_in_flight(stack) == 0, 60, what="the rollback")
    committed = item_count(stack) - BATCH_ROWS
    assert committed == 0, "part of the killed write was committed"

    started = time.monotonic()
    stack.compose("start", "web")
    wait_until(lambda: status(stack, "/api/items") == 200, 120, what="web to serve again")
    back_after = time.monotonic() - started
    assert stack.http("POST", "/api/items", {"name": "after"}).status == 201
    assert item_count(stack) == BATCH_ROWS + 1
    figures.setdefault("faults", {}).update({
        "web killed mid-write: rows in flight just before the kill": in_flight,
        "web killed mid-write: of them committed": committed,
        "web killed mid-write: first good request after start (s)": round(back_after, 1),
    })  # fmt: skip


# The db's data directory on a small tmpfs. MySQL's own files take about
# 110 MB of it (with an 8 MB redo log), leaving some 50 MB to fill. Binary
# logging is off: on a full disk it makes mysqld wait or abort
# (binlog_error_action), which would hide InnoDB's own "table is full".
SMALL_DISK = """services:
  db:
    command:
      - --character-set-server=utf8mb4
      - --innodb-redo-log-capacity=8M
      - --skip-log-bin
    volumes:
      - type: tmpfs
        target: /var/lib/mysql
        tmpfs:
          size: 167772160
"""
# 1 MB rows, one statement each: the client stops at the first that fails.
FILL = (
    "CREATE TABLE filler (b LONGBLOB);" + "INSERT INTO filler VALUES (REPEAT('x', 1048576));" * 200
)


def fill_the_disk(stack) -> int:
    """Fill the database's disk with a filler table; return its size in MB."""
    result = stack.compose("exec", "-T", "db", "sh", "-c",
                           f'mysql -uroot -p"$MYSQL_ROOT_PASSWORD" "$MYSQL_DATABASE" -e "{FILL}"',
                           check=False)  # fmt: skip
    assert "ERROR 1114" in result.stderr, result.stderr[-500:]
    return int(stack.db_query("SELECT COUNT(*) FROM filler", user="root"))


def post_until_refused(stack, tries: int) -> list:
    """POST items until one is refused; return every response."""
    responses = []
    for n in range(tries):
        item = {"name": f"item {n}", "description": "y" * 1000}
        responses.append(stack.http("POST", "/api/items", item))
        if responses[-1].status != 201:
            break
    return responses


def test_a_full_disk_refuses_writes_with_503_and_recovers(make_stack, figures, tmp_path):
    override = tmp_path / "small-disk.yml"
    override.write_text(SMALL_DISK)
    # A tmpfs is new at each start of its container: nothing can be copied into
    # it beforehand, so its database is a first init, with the small disk's settings.
    stack = make_stack(initialised=False, production=True, extra_files=[str(override)])
    # Not `make prod-up`: it adds docker-compose.yml last, which would put
    # the named volume back over the tmpfs.
    stack.compose("up", "--detach", "--build", "--wait", "--wait-timeout", "300", timeout=600)
    assert stack.http("POST", "/api/items", {"name": "before"}).status == 201
    web_before = web_state(stack)["StartedAt"]
    filled_mb = fill_the_disk(stack)

    responses = post_until_refused(stack, tries=200)
    refused = responses[-1]
    assert refused.status == 503, [r.status for r in responses]
    assert refused.body["error"] == "Service Unavailable"
    assert refused.body["message"].startswith("the database is out of space"), refused.body
    assert "503: the database is out of space" in stack.logs("web")
    assert stack.http("GET", "/api/items?limit=1").status == 200  # reads still work
    assert stack.http("GET", "/health").status == 200

    stack.db_query("DROP TABLE filler", user="root")  # space returns
    started = time.monotonic()
    wait_until(lambda: stack.http("POST", "/api/items", {"name": "after"}).status == 201,
               60, what="a write to succeed")  # fmt: skip
    recovered_after = time.monotonic() - started
    assert web_state(stack)["StartedAt"] == web_before, "web restarted"
    figures.setdefault("faults", {}).update({
        "disk full: filler written before the disk was full (MB)": filled_mb,
        "disk full: writes accepted after that": len(responses) - 1,
        "disk full: first good write after space returned (s)": round(recovered_after, 2),
    })  # fmt: skip
