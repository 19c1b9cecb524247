"""End to end: bake, `make up` under a real Docker engine, use it as a user does.

Each test is one scenario with its own Compose project; its wall time is
printed at the end of the run (information, never an assertion).
"""

import http.client
import os
import re
import time
import uuid

from harness.bakery import env_values
from harness.stack import wait_until

EMOJI_NAME = "Tea 🍵 茶 𝄞"


def create_item(stack, name="Tea"):
    response = stack.http("POST", "/api/items", {"name": name})
    assert response.status == 201, response.body
    return response.body


def test_make_up_serves_health_and_the_api_and_make_test_spares_the_dev_data(make_stack):
    # A newcomer's first `make up`: the first init included.
    stack = make_stack(initialised=False)
    stack.make("up")
    # `make up` returned: both services are already healthy.
    assert stack.inspect("db")["State"]["Health"]["Status"] == "healthy"
    assert stack.inspect("web")["State"]["Health"]["Status"] == "healthy"
    health = stack.http("GET", "/health")
    assert health.status == 200, health.body
    assert health.body["schema"] == "at head"

    item = create_item(stack)
    assert stack.http("GET", f"/api/items/{item['id']}").body["name"] == "Tea"

    # The API's tests write and delete rows, which is what could touch the
    # development data (the whole suite runs in a container in
    # test_devcontainer.py, and in the baked CI's job in test_project_ci_replay.py).
    result = stack.make("test", args="tests/test_api.py")
    assert " passed" in result.stdout
    # The tests ran on <db>_test: the development row is untouched and alone.
    assert stack.db_query("SELECT id, name FROM items") == f"{item['id']}\tTea"


EDITED_ROUTE = """

@bp.get("/health/edited")
def edited():
    return {{"token": "{token}"}}
"""


def test_an_edit_is_served_by_the_development_server_without_a_restart(make_stack):
    stack = make_stack(initialised=True)
    stack.make("up")
    (module,) = stack.path.glob("*/health.py")
    token = uuid.uuid4().hex
    module.write_text(module.read_text() + EDITED_ROUTE.format(token=token))

    def served() -> bool:
        try:  # while the reloader restarts, nothing listens for a moment
            return stack.http("GET", "/health/edited", timeout=2).body.get("token") == token
        except OSError:
            return False

    wait_until(served, 30, 0.2, "the edited route, served by the reloaded server")


def test_the_database_speaks_utf8mb4_end_to_end(make_stack):
    stack = make_stack(initialised=True)
    stack.make("up")
    item = create_item(stack, EMOJI_NAME)
    assert stack.http("GET", f"/api/items/{item['id']}").body["name"] == EMOJI_NAME
    collation = stack.db_query(
        "SELECT table_collation FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name = 'items'"
    )
    assert collation.startswith("utf8mb4"), collation
    assert stack.db_query("SELECT @@character_set_server") == "utf8mb4"

    # Typed into `make dbshell` (the image sets no locale): stored as typed.
    sql = f"INSERT INTO items (name, description) VALUES ('{EMOJI_NAME} typed', '');"
    stack.run(["make", "dbshell", f"COMPOSE={stack.compose_command}"], stdin_text=sql, check=True)
    names = [item["name"] for item in stack.http("GET", "/api/items").body["items"]]
    assert f"{EMOJI_NAME} typed" in names, names


def test_the_db_healthcheck_stays_unhealthy_while_the_init_server_runs(make_stack, tmp_path):
    # Widen the window of the temporary socket-only server where the stand-in
    # allows it; the official images ignore this variable.
    pause = tmp_path / "init-pause.yml"
    pause.write_text("services:\n  db:\n    environment:\n      STANDIN_INIT_PAUSE: '15'\n")
    stack = make_stack(initialised=False, extra_files=[str(pause)])
    log = tmp_path / "make-up.log"
    up = stack.popen_make("up", log=log)
    try:
        wait_until(lambda: temporary_server_answers(stack), 180, what="the temporary init server")
        # A socket ping passes now (the naive healthcheck); the baked one must not.
        assert stack.inspect("db")["State"]["Health"]["Status"] != "healthy"
        assert run_db_healthcheck(stack).returncode != 0, "healthy during the first init"
        # web starts beside db, but its server listens only once the real
        # server answers the app's user and the schema is migrated.
        while temporary_server_answers(stack):
            assert not listening(stack.web_port), "web listened during the first init"
            time.sleep(0.2)
    finally:
        up.wait(timeout=600)
    assert up.returncode == 0, log.read_text()[-4000:]
    assert run_db_healthcheck(stack).returncode == 0
    assert "init process done" in stack.logs("db").lower()


def listening(port: int) -> bool:
    """True when the server answers HTTP at all (any status) on the published port.

    A TCP connect is no test: Docker's proxy accepts on the host's port and
    closes when nothing listens in the container.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/health/live")
        connection.getresponse()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def temporary_server_answers(stack) -> bool:
    """True while first init runs its temporary server: a socket ping answers."""
    if "temporary server started" not in stack.logs("db").lower():
        return False
    ping = stack.compose("exec", "-T", "db", "mysqladmin", "--protocol=socket", "ping", check=False)
    return ping.returncode == 0


def run_db_healthcheck(stack):
    """Run the db service's own healthcheck command in its container."""
    test = stack.inspect("db")["Config"]["Healthcheck"]["Test"]
    assert test[0] == "CMD-SHELL"
    return stack.run(["docker", "exec", stack.container_id("db"), "sh", "-c", test[1]], check=False)


def test_down_then_up_keeps_the_data_and_does_not_initialise_again(make_stack):
    # On an initialised volume, as after a first `make up`: the first init's
    # own scenarios are those of an empty one.
    stack = make_stack(initialised=True)
    stack.make("up")
    item = create_item(stack)
    stack.make("down")
    stack.make("up")
    assert "init process done" not in stack.logs("db").lower()
    assert stack.http("GET", f"/api/items/{item['id']}").body["name"] == "Tea"


def test_an_initialised_stack_starts_on_its_copy_without_a_first_init(make_stack):
    # What initialised=True promises the other scenarios: Compose adopts the
    # volume holding the copy without a word, the server starts on it as on a
    # kept volume, and the app's user logs in with the .env it was given.
    stack = make_stack(initialised=True)
    result = stack.make("up")
    assert "already exists" not in result.stderr, result.stderr[-2000:]
    assert "init process done" not in stack.logs("db").lower()
    assert stack.http("GET", "/health").body["schema"] == "at head"
    assert stack.db_query("SELECT CURRENT_USER()").startswith(stack_user(stack) + "@")


def stack_user(stack) -> str:
    return env_values((stack.path / ".env").read_text())["MYSQL_USER"]


WIDGET_MODEL = '''"""A model added after the project was baked."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class Widget(db.Model):
    __tablename__ = "widgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50), unique=True)
'''


def test_the_migration_loop_of_the_seeds_works_with_make(make_stack):
    stack = make_stack(initialised=True)
    stack.make("up")
    (stack.path / "flask_app" / "models" / "widget.py").write_text(WIDGET_MODEL)
    versions = stack.path / "migrations" / "versions"
    # Root's containers run as the image's user, uid 10001 (Makefile), which
    # may write only where the tree lets it.
    owner = os.getuid() or 10001
    if owner != os.getuid():
        versions.chmod(0o777)

    stack.make("migrate", m="add widgets")
    [revision] = versions.glob("*_add_widgets.py")
    assert "widgets" in revision.read_text()
    assert revision.stat().st_uid == owner, "the revision must belong to the host user (not root)"
    new_id = revision.read_text().split("revision = ")[1].split("\n")[0].strip("'\"")

    stack.make("upgrade")
    assert new_id in stack.make("db", cmd="history").stdout
    assert f"{new_id} (head)" in stack.make("db", cmd="current").stdout
    assert stack.db_query("SHOW TABLES LIKE 'widgets'") == "widgets"

    stack.make("downgrade")
    assert "0001" in stack.make("db", cmd="current").stdout
    assert stack.db_query("SHOW TABLES LIKE 'widgets'") == ""

    stack.make("upgrade")
    check = stack.make("check")
    assert "No new upgrade operations detected" in check.stdout + check.stderr


def test_the_bind_mounted_data_dir_is_created_by_the_engine(make_stack):
    stack = make_stack(initialised=False, db_storage="bind")
    data = stack.path / "db" / "data"
    assert not data.exists()
    stack.make("up")
    assert (data / "mysql").is_dir()
    assert stack.http("GET", "/health").status == 200


def test_a_data_dir_mysql_would_refuse_is_refused_before_it_starts(make_stack):
    stack = make_stack(initialised=False, db_storage="bind")
    data = stack.path / "db" / "data"
    data.mkdir(parents=True)
    (data / "README").write_text("notes\n")
    result = stack.make("up", check=False)
    assert result.returncode != 0
    assert "db/data holds files but no database (README )" in result.stderr
    assert "dot-files and lost+found" in result.stderr
    # Refused before Compose ran: no container was even created.
    assert stack.compose("ps", "-a", "-q").stdout.strip() == ""

    # What MySQL does accept, the check lets through.
    (data / "README").unlink()
    (data / ".gitkeep").touch()
    stack.make("up")
    assert (data / "mysql").is_dir()


def test_a_crash_looping_database_fails_make_up_with_its_logs(make_stack, tmp_path, figures):
    bad_option = tmp_path / "bad-option.yml"
    # Compose 2.40 reports the failed database once web stops waiting for it:
    # web's bounded wait (DB_WAIT_TIMEOUT) is what ends `make up`.
    bad_option.write_text(
        "services:\n  db:\n    command: [--no-such-option=1]\n"
        "  web:\n    environment:\n      DB_WAIT_TIMEOUT: '20'\n"
    )
    stack = make_stack(initialised=True, extra_files=[str(bad_option)])
    started = time.monotonic()
    # UP_TIMEOUT far beyond the run's deadline (timeout): a `make up` that waited
    # for its own timeout instead of web's verdict fails the test.
    result = stack.make("up", check=False, timeout=300, UP_TIMEOUT=3600)
    seconds = time.monotonic() - started
    assert result.returncode != 0
    # The database's own words, shown by `make up` itself.
    assert "unknown variable 'no-such-option=1'" in result.stderr, result.stderr[-2000:]
    # Caught in whichever phase of its loop Compose saw last.
    assert re.search(r"--- db is (restarting|exited|running \(starting\))", result.stderr), (
        result.stderr[-2000:]
    )
    # What ended the wait: web's verdict, shown with its logs.
    assert "--- web is exited" in result.stderr, result.stderr[-2000:]
    assert "did not answer within 20 s" in result.stderr, result.stderr[-2000:]
    figures.setdefault("startup failures", {})[
        "crash-looping database: make up failed after (s)"
    ] = round(seconds, 1)


def test_the_mariadb_option_bakes_and_serves(make_stack):
    # The one stack whose first init runs on MariaDB.
    stack = make_stack(initialised=False, database="mariadb-11.8")
    stack.make("up")
    assert stack.http("GET", "/health").status == 200
    item = create_item(stack, EMOJI_NAME)
    assert stack.http("GET", f"/api/items/{item['id']}").body["name"] == EMOJI_NAME
    # make test's database on MariaDB (its <db>_test and the rights the init
    # script gave): the API's tests use it; the whole suite on MariaDB is
    # the tools tier's (tests/test_baked_suite.py).
    assert " passed" in stack.make("test", args="tests/test_api.py").stdout
