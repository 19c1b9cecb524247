"""The baked project's own tests pass, on SQLite and on a real MySQL-family server."""

import json
import os
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness.bakery import TEMPLATE, run, run_baked_suite, uv
from harness.httpclient import get
from harness.stack import wait_until

# The real servers of the template's options: MySQL 9.7 (for mysql-8.4 and
# mysql-9.7) and MariaDB 11.8. .ci/db-servers-up.sh starts both.
SERVERS = {"mysql": "MYSQL_TEST_SERVER_URL", "mariadb": "MARIADB_TEST_SERVER_URL"}


def test_the_baked_suite_passes_on_sqlite_without_the_example_api(bake):
    # With it (the default answers): test_make_local_test_runs_the_suite_on_sqlite.
    result = run_baked_suite(bake(example_api="no"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout


# The default bake (MySQL, the example API) on the real MySQL server is the
# baked CI's test job, replayed in tests/e2e/test_project_ci_replay.py.
@pytest.mark.parametrize(
    ("server", "example_api"), [("mysql", "no"), ("mariadb", "yes"), ("mariadb", "no")]
)
def test_the_baked_suite_passes_on_a_real_server(bake, new_database, server, example_api):
    database = new_database(SERVERS[server]).render_as_string(hide_password=False)
    result = run_baked_suite(bake(example_api=example_api), TEST_DATABASE_URL=database)
    assert result.returncode == 0, result.stdout[-3000:]
    # The MySQL-only tests ran: none was skipped.
    assert "skipped" not in result.stdout.splitlines()[-1], result.stdout[-500:]


def flask_db(project, *args, database_url):
    return run(
        [sys.executable, "-m", "flask", "db", *args],
        project,
        APP_ENV="testing",
        DATABASE_URL=database_url,
        FLASK_APP="flask_app",
        FLASK_SKIP_DOTENV="1",
    )


WIDGET_MODEL = """
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class Widget(db.Model):
    __tablename__ = "widgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50), unique=True)
"""


def test_a_new_model_module_is_seen_by_migrate_without_importing_it(bake, tmp_path):
    project = bake()
    url = f"sqlite:///{tmp_path / 'dev.sqlite3'}"
    assert flask_db(project, "upgrade", database_url=url).returncode == 0
    (project / "flask_app" / "models" / "widget.py").write_text(WIDGET_MODEL)

    drift = flask_db(project, "check", database_url=url)
    assert drift.returncode != 0, "flask db check missed the new model"
    said = drift.stdout + drift.stderr
    assert "New upgrade operations detected" in said and "widgets" in said, said[-2000:]

    migrate = flask_db(project, "migrate", "-m", "add widgets", database_url=url)
    assert migrate.returncode == 0, migrate.stderr
    [revision] = (project / "migrations" / "versions").glob("*_add_widgets.py")
    source = revision.read_text()
    assert "create_table('widgets'" in source or 'create_table("widgets"' in source
    # Named by the naming convention: a later downgrade can drop it.
    assert "uq_widgets_label" in source

    for step in (["upgrade"], ["check"], ["downgrade"], ["upgrade"]):
        result = flask_db(project, *step, database_url=url)
        assert result.returncode == 0, f"flask db {step}: {result.stderr}"


def locked_versions(lock: Path) -> dict[str, str]:
    """Map each package a uv.lock takes from an index to its version."""
    packages = tomllib.loads(lock.read_text())["package"]
    return {p["name"]: p["version"] for p in packages if "registry" in p["source"]}


def test_the_test_environment_has_the_baked_pins():
    """The template's lock pins every package of the baked lock, at the same version."""
    baked = locked_versions(TEMPLATE / "{{cookiecutter.project}}" / "uv.lock")
    ours = locked_versions(TEMPLATE / "uv.lock")
    assert baked and set(baked) <= set(ours), set(baked) - set(ours)
    assert {name: ours[name] for name in baked} == baked


def test_make_local_test_runs_the_suite_on_sqlite(bake):
    """The default bake's whole suite on SQLite, in the locked environment
    `make local-test` makes (no `make local` first)."""
    uv()
    path = bake()
    result = run(["make", "local-test", "args=-q"], path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # On SQLite: the tests that need a MySQL-family server skipped.
    last_line = result.stdout.strip().splitlines()[-1]
    assert " passed" in last_line and " skipped" in last_line, result.stdout[-500:]


def test_make_local_serves_on_sqlite_without_docker(bake):
    """`make local`: a venv, the migrations on SQLite, a development server."""
    project = bake()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["make", "local", f"LOCAL_PORT={port}"], cwd=project, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip

    def health() -> dict | None:
        if server.poll() is not None:
            pytest.fail(f"make local exited ({server.returncode}) before serving /health")
        status, raw = get(port, "/health")
        return json.loads(raw) if status == 200 else None

    try:
        body = wait_until(health, 300, 1, "make local to serve /health")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    assert body["status"] == "ok" and body["schema"] == "at head"
    assert (project / "instance" / "local.sqlite3").is_file()
