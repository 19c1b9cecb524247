"""Database failures: a 503 JSON body with a log line for requests, bounded
waits, and a failed upgrade that says what state it left."""

import runpy
import shutil

import pymysql
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError, OperationalError

from {{ cookiecutter.package }}.config import PROJECT_ROOT, ConfigError, connect_args

MYSQL_URL = "mysql+pymysql://app:secret@db:3306/app"


def mysql_error(code: int, message: str) -> OperationalError:
    """The error SQLAlchemy raises when PyMySQL reports (code, message)."""
    driver_error = pymysql.err.OperationalError(code, message)
    return OperationalError("INSERT INTO items ...", {}, driver_error)


@pytest.mark.parametrize(
    ("code", "reason", "message"),
    [
        (2003, "Can't connect to MySQL server on 'db' (timed out)", "the database is unavailable"),
        (2013, "Lost connection to MySQL server during query", "the database is unavailable"),
        (1114, "The table 'items' is full", "the database is out of space"),
    ],
)
def test_database_errors_are_a_503_json_body_and_a_log_line(
    code, reason, message, caplog, make_app
):
    app = make_app()

    def fail():
        raise mysql_error(code, reason)

    app.add_url_rule("/fail", view_func=fail)
    response = app.test_client().get("/fail")
    assert response.status_code == 503
    assert response.get_json()["error"] == "Service Unavailable"
    assert response.get_json()["message"].startswith(message)
    assert f"503: {message}" in caplog.text and reason in caplog.text


@pytest.mark.parametrize(
    ("driver_error", "invalidated", "status"),
    [
        # A socket PyMySQL had closed already (a cut network, mid-request).
        (pymysql.err.InterfaceError(0, ""), True, 503),
        (pymysql.err.InternalError("Packet sequence number wrong - got 3 expected 1"), True, 503),
        # The connection is fine: the statement is wrong, a bug.
        (pymysql.err.ProgrammingError(1146, "Table 'app.nope' doesn't exist"), False, 500),
    ],
)
def test_a_driver_error_that_lost_the_connection_is_a_503_any_other_a_500(
    driver_error, invalidated, status, make_app
):
    app = make_app(PROPAGATE_EXCEPTIONS=False)  # the 500 a client gets, not the exception

    def fail():
        raise DBAPIError.instance(
            "SELECT 1", {}, driver_error, pymysql.err.Error, connection_invalidated=invalidated
        )

    app.add_url_rule("/fail", view_func=fail)
    response = app.test_client().get("/fail")
    assert response.status_code == status
    assert response.is_json


{% if cookiecutter.example_api == "yes" -%}
def test_an_unreachable_database_makes_the_api_answer_503(unreachable_app):
    response = unreachable_app.test_client().get("/api/items")
    assert response.status_code == 503
    assert response.get_json()["message"].startswith("the database is unavailable")


{% endif -%}
def test_mysql_connections_get_timeouts_below_the_worker_timeout():
    timeouts = connect_args(MYSQL_URL, {})
    worker_timeout = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))["timeout"]
    # A dead pooled connection costs a read timeout (pre-ping), then a connect.
    assert timeouts["read_timeout"] + timeouts["connect_timeout"] < worker_timeout
    assert timeouts["write_timeout"] < worker_timeout


def test_timeouts_come_from_the_environment():
    assert connect_args(MYSQL_URL, {"DB_READ_TIMEOUT": "60"})["read_timeout"] == 60


@pytest.mark.parametrize("value", ["ten", "0", "-5"])
def test_a_bad_timeout_is_refused_in_one_line(value):
    with pytest.raises(ConfigError, match=f"DB_CONNECT_TIMEOUT={value} is not a whole number"):
        connect_args(MYSQL_URL, {"DB_CONNECT_TIMEOUT": value})


def test_driver_options_follow_the_final_database_url(make_app):
    # PyMySQL's options would make sqlite3.connect() fail.
    sqlite_options = make_app().config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert "read_timeout" not in sqlite_options["connect_args"]
    options = make_app(MYSQL_URL).config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["connect_args"]["read_timeout"] > 0


BROKEN_REVISION = '''"""fails half-way

Revision ID: 9999
"""

import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = {head!r}


def upgrade():
    op.create_table("gadgets", sa.Column("id", sa.Integer(), primary_key=True))
    op.execute("THIS IS NOT SQL")
'''


def test_a_failed_upgrade_ends_with_the_state_and_the_repair(tmp_path, flask):
    migrations = tmp_path / "migrations"
    shutil.copytree(PROJECT_ROOT / "migrations", migrations)
    head = ScriptDirectory(str(migrations)).get_current_head()
    (migrations / "versions" / "9999_broken.py").write_text(BROKEN_REVISION.format(head=head))
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    result = flask(database, "db", "upgrade", "--directory", str(migrations))
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    at = head or "base (empty)"
    assert f"Upgrade stopped in revision 9999: alembic_version is still at {at}" in last_line
    assert "then run `flask db upgrade` again" in last_line
