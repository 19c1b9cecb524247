"""Fixtures. Every app is made with the testing settings (config.TestingConfig
owns their values) on a database URL: the test database with the schema built
by the migrations (`app`), any URL (`make_app`), or a database that cannot
answer (`unreachable_app`). `flask` runs the command line as a developer does,
`flask_db` runs `flask db` in this process."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from flask_migrate import upgrade
from sqlalchemy import delete, text

from {{ cookiecutter.package }} import config, create_app
from {{ cookiecutter.package }}.extensions import db, migrate


def pytest_configure():
    # Before the test modules are collected: one of them builds an app then.
    os.environ["APP_ENV"] = "testing"


def test_database_url(tmp_path_factory) -> str:
    """TEST_DATABASE_URL, else <MYSQL_DATABASE>_test on the db service, else SQLite."""
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"]
    if os.environ.get("MYSQL_DATABASE"):  # inside the web container: never the dev data
        test_env = {**os.environ, "DATABASE_URL": ""}
        test_env["MYSQL_DATABASE"] = os.environ["MYSQL_DATABASE"] + "_test"
        return config.database_url(test_env)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return test_database_url(tmp_path_factory)


@pytest.fixture
def mysql_url(database_url) -> str:
    """The test database's URL when it is on a MySQL-family server; skips otherwise."""
    if not database_url.startswith(("mysql", "mariadb")):
        pytest.skip("needs TEST_DATABASE_URL on a MySQL or MariaDB server")
    return database_url


@pytest.fixture
def make_app():
    """make_app(url, **settings): an app of the testing settings on that
    database (in-memory SQLite by default), without a schema."""

    def make(database_url: str = "sqlite://", **settings):
        return create_app({"SQLALCHEMY_DATABASE_URI": database_url, **settings})

    return make


@pytest.fixture
def unreachable_app(make_app, tmp_path):
    """An app whose database cannot be opened (its folder does not exist)."""
    return make_app(f"sqlite:///{tmp_path / 'missing-dir' / 'db.sqlite3'}")


@pytest.fixture
def app(make_app, database_url):
    app = make_app(database_url)
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        # Empty every table so each test starts clean; the schema stays.
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(delete(table))
        db.engine.dispose()


@pytest.fixture
def newer_release_migrated(app):
    """The app's database at a revision this code does not know, as a newer
    release leaves it during a rolling update or before a rollback."""
    with db.engine.begin() as connection:
        connection.execute(text(
            "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) PRIMARY KEY)"
        ))  # fmt: skip
        ours = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        connection.execute(text("DELETE FROM alembic_version"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('f00dfeedbeef')"))
    yield
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
        for revision in ours:
            connection.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@migrate.configure
def print_to_the_runners_output(config):
    """Alembic prints to the sys.stdout of its import (a default argument):
    make it print to the one of the command, which Flask's CLI runner reads."""
    config.stdout = sys.stdout
    return config


@pytest.fixture
def flask_db(make_app, database_url):
    """flask_db(*args, **settings): a `flask db` command on the test database,
    in this process through Flask's CLI runner: the same commands without a
    Python start and an import of the app each (a second or two apiece).
    What a command prints for a developer is tested with `flask`."""
    apps = []

    def invoke(*args: str, **settings):
        apps.append(make_app(database_url, **settings))
        return apps[-1].test_cli_runner().invoke(args=["db", *args])

    yield invoke
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def flask():
    """flask(url, *args, **env): the `flask` command in a new process, in the
    project's folder, on that database, as a developer runs it."""

    def run(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
        environment = {
            **os.environ,
            "DATABASE_URL": database_url,
            "FLASK_APP": "{{ cookiecutter.package }}",
            "FLASK_SKIP_DOTENV": "1",
            # `make test` runs with SKIP_MIGRATIONS=1; a test says when it wants it.
            "SKIP_MIGRATIONS": "0",
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "flask", *args],
            cwd=config.PROJECT_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture
def serve(database_url, tmp_path):
    """serve(**env): the real server (gunicorn, gunicorn.conf.py) in a new process
    on the test database; returns its URL and a function that reads its output
    so far. Stopped at the end of the test."""
    servers = []

    def start(**env: str):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        output = tmp_path / f"server-{port}.log"
        environment = {
            **os.environ,
            "APP_ENV": "production",
            "SECRET_KEY": "a-secret-for-this-test-only",
            "DATABASE_URL": database_url,
            "SKIP_MIGRATIONS": "0",
            "PORT": str(port),
            "WEB_CONCURRENCY": "1",
            **env,
        }
        with output.open("wb") as sink:
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
                cwd=config.PROJECT_ROOT,
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        servers.append(server)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/health/live", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start:\n{output.read_text()}") from None
                time.sleep(0.1)
        return url, output.read_text

    yield start
    for server in servers:
        server.terminate()
        server.wait(timeout=30)
