"""Reliability and security of the baked stack, under a real Docker engine.

Each test prints nothing and asserts behaviour; the figures it measures go to
docs/reliability.md (`make reliability`, after a full green run).
"""

import json
import re
import socket
import threading
import time

import pytest

from harness.bakery import env_values
from harness.httpclient import StatusPoller
from harness.stack import revision_header, wait_until

SLEEP_IN_FIRST_REVISION = """def upgrade():
    import time

    time.sleep(4)  # widen the window in which replicas race for the schema
"""


def slow_first_revision(stack) -> None:
    revision = stack.path / "migrations" / "versions" / "0001_create_items.py"
    text = revision.read_text().replace("def upgrade():\n", SLEEP_IN_FIRST_REVISION, 1)
    revision.write_text(text)


def scale_web(stack, replicas: int) -> float:
    started = time.monotonic()
    # Without the lock some replicas crash: that `up` fails, and is meant to.
    stack.compose("up", "--detach", "--build", "--scale", f"web={replicas}", "--wait",
                  "--wait-timeout", "300", timeout=600, check=False)  # fmt: skip
    return time.monotonic() - started


def web_containers(stack) -> list[dict]:
    ids = stack.compose("ps", "-a", "-q", "web").stdout.split()
    return [json.loads(stack.run(["docker", "inspect", cid], check=True).stdout)[0] for cid in ids]


def upgrade_runs(stack) -> int:
    return len(re.findall(r"Running upgrade\s+-> 0001", stack.logs("web")))


# The default option runs on MySQL; the MariaDB one proves the same race.
DATABASES = pytest.mark.parametrize("database", ["mysql-8.4", "mariadb-11.8"])


@DATABASES
def test_three_replicas_on_a_fresh_database_migrate_once(make_stack, figures, database):
    stack = make_stack(initialised=True, production=True, database=database)
    stack.web_port = None
    slow_first_revision(stack)
    seconds = scale_web(stack, 3)
    containers = web_containers(stack)
    assert len(containers) == 3
    assert all(c["State"]["Health"]["Status"] == "healthy" for c in containers)
    assert stack.db_query("SELECT version_num FROM alembic_version") == "0001"
    runs = upgrade_runs(stack)
    assert runs == 1
    figures.setdefault("replicas", {}).update(
        {f"{database}: 3 replicas healthy after (s)": round(seconds, 1),
         f"{database}: revision runs": runs}
    )  # fmt: skip


def test_without_the_lock_the_same_replicas_collide(make_stack, figures):
    """The control experiment: the lock, and nothing else, makes the test above pass."""
    stack = make_stack(initialised=True, production=True)
    stack.web_port = None
    slow_first_revision(stack)
    env_py = stack.path / "migrations" / "env.py"
    locked = "with get_engine().connect() as connection, migration_lock(connection):"
    assert locked in env_py.read_text()
    unlocked = "with get_engine().connect() as connection:"
    env_py.write_text(env_py.read_text().replace(locked, unlocked))
    scale_web(stack, 3)
    exited = [c for c in web_containers(stack) if c["State"]["Status"] == "exited"]
    # Replicas that find the database ready together race either for
    # alembic's own version table (one crashes before "Running upgrade") or
    # for the revision's tables (it runs more than once).
    duplicates = re.findall(r"Table '\w+' already exists", stack.logs("web"))
    assert upgrade_runs(stack) > 1 or duplicates, "without the lock the replicas did not race"
    assert exited, "a replica survived a duplicate CREATE TABLE"
    figures.setdefault("replicas", {}).update(
        {
            "without the lock: revision runs": upgrade_runs(stack),
            "without the lock: replicas that crashed": len(exited),
        }
    )


def run_web_once(stack, *env: str):
    """Start a one-off web container as `up` would (entrypoint, then the server)."""
    flags = [item for pair in (("-e", e) for e in env) for item in pair]
    started = time.monotonic()
    result = stack.compose("run", "--rm", "--no-deps", *flags, "web", check=False, timeout=300)
    return result, time.monotonic() - started


@pytest.mark.parametrize(
    ("case", "env", "message", "at_once"),
    [
        ("database down", ["DB_HOST=db-that-is-not-there", "DB_WAIT_TIMEOUT=5"],
         "did not answer within 5 s", False),
        ("wrong password", ["MYSQL_PASSWORD=wrong"], "access denied", True),
        ("unknown database", ["MYSQL_DATABASE=no_such_db"], "unknown database", True),
    ],
)  # fmt: skip
def test_web_stops_with_the_cause_when_it_cannot_use_the_database(
    make_stack, figures, case, env, message, at_once
):
    stack = make_stack(initialised=True, production=True)
    stack.up()
    result, seconds = run_web_once(stack, *env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output
    # At once: the first refusal decides, without a single wait (the seconds it
    # took are a figure); an unreachable database is waited for until its deadline.
    assert ("waiting up to" in output) != at_once, output[-2000:]
    figures.setdefault("startup failures", {})[f"{case}: exits after (s)"] = round(seconds, 1)


BROKEN_REVISION = (
    revision_header("a revision that fails half-way")
    + """

def upgrade():
    op.create_table("gadgets", sa.Column("id", sa.Integer(), primary_key=True))
    op.execute("THIS IS NOT SQL")


def downgrade():
    op.drop_table("gadgets")
"""
)


def test_a_failed_migration_stops_web_and_a_fixed_one_starts_it(make_stack, figures):
    stack = make_stack(initialised=True, production=True)
    revision = stack.path / "migrations" / "versions" / "0002_broken.py"
    revision.write_text(BROKEN_REVISION)
    started = time.monotonic()
    result = stack.make("prod-up", check=False)
    assert result.returncode != 0
    assert "THIS IS NOT SQL" in result.stdout + result.stderr
    [web] = web_containers(stack)
    assert web["State"]["ExitCode"] != 0
    figures["failed migration"] = {"make up fails after (s)": round(time.monotonic() - started, 1)}
    # MySQL cannot roll back DDL: the table of the half-done revision stays.
    assert stack.db_query("SHOW TABLES LIKE 'gadgets'") == "gadgets"
    assert stack.db_query("SELECT version_num FROM alembic_version") == "0001"

    revision.write_text(BROKEN_REVISION.replace('    op.execute("THIS IS NOT SQL")\n', ""))
    stack.db_query("DROP TABLE gadgets", user="root")
    stack.up()
    assert stack.db_query("SELECT version_num FROM alembic_version") == "0002"
    assert stack.http("GET", "/health").status == 200


def kill_app_connections(stack) -> None:
    """Drop every connection of the app's user, as a db restart or a proxy would."""
    stack.compose("exec", "-T", "db", "sh", "-c", (
        'client=$(command -v mariadb || command -v mysql); '
        'for id in $("$client" -uroot -p"$MYSQL_ROOT_PASSWORD" -N -e '
        "\"SELECT id FROM information_schema.processlist WHERE user='$MYSQL_USER'\"); do "
        '"$client" -uroot -p"$MYSQL_ROOT_PASSWORD" -e "KILL $id" || true; done'
    ))  # fmt: skip


def app_connections(stack) -> int:
    """Count the server's connections of the app's user, as root sees them."""
    user = env_values((stack.path / ".env").read_text())["MYSQL_USER"]
    return int(stack.db_query(
        f"SELECT COUNT(*) FROM information_schema.processlist WHERE user = '{user}'", user="root"
    ))  # fmt: skip


@DATABASES
def test_web_rides_out_a_database_restart_and_idle_timeouts(make_stack, figures, database):
    stack = make_stack(initialised=True, production=True, database=database)
    stack.up()
    web_before = web_containers(stack)[0]["State"]["StartedAt"]
    # Longer than web's own bound (DB_CONNECT_TIMEOUT, 5 s): a 503 that took
    # the whole connect timeout still counts as an answer.
    poller = StatusPoller(stack.web_port, "/health", timeout=15)
    poller.start()
    try:
        wait_until(lambda: poller.statuses_since(0).count(200) >= 3, 30,
                   what="/health to answer 200 before the stop")  # fmt: skip
        stopped = poller.now()
        stack.compose("stop", "db")
        # An outage web has seen, and answered, more than once.
        wait_until(lambda: poller.statuses_since(stopped).count(503) >= 3, 30,
                   what="/health to say 503")  # fmt: skip
        started = poller.now()
        stack.compose("start", "db")
        wait_until(lambda: poller.samples[-1][1] == 200, 120, what="/health to recover")
    finally:
        poller.stop()
    others = [status for _, status in poller.samples if status not in {200, 503}]
    assert not others, others
    [web] = web_containers(stack)
    assert web["State"]["StartedAt"] == web_before and web["RestartCount"] == 0

    stack.db_query("SET GLOBAL wait_timeout = 2", user="root")
    kill_app_connections(stack)  # the pool's connections now have the 2 s timeout
    assert stack.http("GET", "/api/items").status == 200
    # The server drops the pool's idle connections once wait_timeout has passed.
    wait_until(lambda: app_connections(stack) == 0, 30, what="the idle connections to be dropped")
    assert [stack.http("GET", "/api/items").status for _ in range(6)] == [200] * 6
    figures.setdefault("database restart", {}).update({
        f"{database}: outage detected after (s)": round(poller.first(503, stopped) - stopped, 2),
        f"{database}: recovered after db start (s)": round(poller.first(200, started) - started, 2),
        f"{database}: requests tried": len(poller.samples),
        f"{database}: answers other than 200/503": len(others),
    })  # fmt: skip


def slow_post(port: int, body: bytes, stop_begins: threading.Event) -> str:
    """Send a POST whose body arrives 1 s after the stop began; return the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        head = (
            f"POST /api/items HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        connection.sendall(head.encode() + body[:5])
        stop_begins.wait(30)
        time.sleep(1)
        connection.sendall(body[5:])
        return connection.makefile("rb").readline().decode().strip()


def a_worker_holds_a_request(stack) -> bool:
    """Whether web has a connection on :8000 whose bytes so far a worker has read:
    established (state 01) with an empty receive queue, in the kernel's own table."""
    table = stack.compose("exec", "-T", "web", "cat", "/proc/net/tcp").stdout.splitlines()
    for line in table[1:]:
        _, local, _, state, queues = line.split()[:5]
        receive_queue = queues.split(":")[1]
        if local.endswith(":1F40") and state == "01" and int(receive_queue, 16) == 0:
            return True
    return False


def test_stopping_web_is_graceful_and_finishes_the_request_in_flight(make_stack, figures):
    stack = make_stack(initialised=True, production=True)
    stack.up()
    stop_begins, result = threading.Event(), {}
    client = threading.Thread(
        target=lambda: result.update(
            status=slow_post(stack.web_port, b'{"name": "late"}', stop_begins)
        )  # fmt: skip
    )
    client.start()
    wait_until(lambda: a_worker_holds_a_request(stack), 30, what="a worker to read the request")
    started = time.monotonic()
    stop_begins.set()
    stack.compose("stop", "web")
    seconds = time.monotonic() - started
    client.join(30)
    assert result.get("status", "").startswith("HTTP/1.1 201"), result
    [web] = web_containers(stack)
    # 0, not 137: gunicorn finished the request and exited before the grace
    # period ended (how long it took is a figure).
    assert web["State"]["ExitCode"] == 0
    figures["graceful stop"] = {"stop took (s)": round(seconds, 1), "in-flight request": "201"}


def item_names(stack) -> list[str]:
    return [item["name"] for item in stack.http("GET", "/api/items").body["items"]]


def test_backup_reset_and_restore_lose_nothing(make_stack, figures):
    # Its own first init comes after `make reset-db`.
    stack = make_stack(initialised=True)
    stack.up()
    for name in ("one", "two", "three"):
        assert stack.http("POST", "/api/items", {"name": name}).status == 201
    stack.make("backup")
    [dump] = (stack.path / "backups").glob("*.sql")
    assert "INSERT INTO `items`" in dump.read_text()

    refused = stack.make("reset-db", check=False)
    assert refused.returncode != 0 and "refusing without confirmation" in refused.stderr
    stack.make("down")
    label = f"label=com.docker.compose.project={stack.name}"
    volumes = stack.run(["docker", "volume", "ls", "-q", "--filter", label], check=True).stdout
    assert volumes.strip(), "make down removed the database volume"
    stack.up()
    assert item_names(stack) == ["one", "two", "three"]

    stack.make("reset-db", confirm="yes")
    stack.up()
    assert item_names(stack) == []
    stack.make("restore", file=str(dump.relative_to(stack.path)), confirm="yes")
    assert item_names(stack) == ["one", "two", "three"]
    figures["backup"] = {"dump size (bytes)": dump.stat().st_size, "rows restored": 3}
