"""The migrations, driven through the real `flask db` and `flask wait-for-db`
commands: in a new process where what they print is tested, in this one
(Flask's CLI runner) where their outcome is."""

from sqlalchemy import create_engine, make_url, text


def test_upgrade_check_downgrade_and_upgrade_again(app, flask_db):
    for step in (["upgrade"], ["check"], ["downgrade", "base"], ["upgrade"]):
        result = flask_db(*step)
        assert result.exit_code == 0, f"flask db {' '.join(step)}:\n{result.output}"


def test_models_and_migrations_agree(app, flask_db):
    result = flask_db("check")
    assert result.exit_code == 0, result.output
    assert "No new upgrade operations detected" in result.output


def test_there_is_one_head(app, flask_db):
    result = flask_db("heads")
    assert result.exit_code == 0, result.output
    heads = [line for line in result.output.splitlines() if "(head)" in line]
{%- if cookiecutter.example_api == "yes" %}
    assert len(heads) == 1, result.output
{%- else %}
    # No model yet, so no revision: the first `make migrate` writes the head.
    assert heads == [], result.output
{%- endif %}


def test_wait_for_db_returns_at_once_when_the_database_answers(app, database_url, flask):
    result = flask(database_url, "wait-for-db", "--timeout", "5")
    assert result.returncode == 0, result.stderr
    assert "is ready" in result.stdout


def test_wait_for_db_with_upgrade_brings_the_schema_to_head(app, database_url, flask, flask_db):
    """What the entrypoint runs: the wait, then `flask db upgrade`, in one process."""
    assert flask_db("downgrade", "base").exit_code == 0
    result = flask(database_url, "wait-for-db", "--timeout", "5", "--upgrade")
    assert result.returncode == 0, result.stderr
    assert "is ready" in result.stdout
    assert "No new upgrade operations detected" in flask_db("check").output


def test_skip_migrations_leaves_the_schema_to_a_release_step(app, database_url, flask, flask_db):
    """What a one-off command (`make flask`) and the replicas of a release job do."""
    assert flask_db("downgrade", "base").exit_code == 0
    result = flask(database_url, "wait-for-db", "--upgrade", SKIP_MIGRATIONS="1")
    assert result.returncode == 0, result.stderr
    assert "SKIP_MIGRATIONS=1: not running flask db upgrade" in result.stdout
    current = flask_db("current")
    assert current.exit_code == 0 and "(head)" not in current.output, current.output
    assert flask_db("upgrade").exit_code == 0  # for the fixture's clean-up


def test_an_older_release_starts_on_a_database_a_newer_one_migrated(
    database_url, flask, newer_release_migrated
):
    """A rollback: the start serves on a schema ahead of this code (additive
    migrations), as /health does, instead of failing on an upgrade it cannot make."""
    result = flask(database_url, "wait-for-db", "--upgrade")
    assert result.returncode == 0, result.stderr
    assert "the database is ahead of this code" in result.stdout + result.stderr


def test_wait_for_db_gives_up_after_its_deadline_saying_what_to_check(flask):
    # Nothing listens on port 9 of this host: connection refused, retried.
    url = "mysql+pymysql://app:secret@127.0.0.1:9/app?charset=utf8mb4"
    result = flask(url, "wait-for-db", "--timeout", "2", "--interval", "0.2")
    assert result.returncode == 1
    assert "did not answer within 2 s" in result.stderr
    assert "make ps" in result.stderr


def test_wait_for_db_fails_at_once_on_a_wrong_password(app, mysql_url, flask):
    url = make_url(mysql_url).set(password="wrong-password")
    result = flask(url.render_as_string(hide_password=False), "wait-for-db", "--timeout", "30")
    assert result.returncode == 1
    assert "access denied" in result.stderr


def test_wait_for_db_fails_at_once_on_an_unknown_database(app, mysql_url, flask):
    url = make_url(mysql_url).set(database="no_such_database")
    result = flask(url.render_as_string(hide_password=False), "wait-for-db", "--timeout", "30")
    assert result.returncode == 1
    assert "unknown database" in result.stderr


def test_upgrade_waits_for_the_migration_lock_and_says_so(app, mysql_url, flask, flask_db):
    engine = create_engine(mysql_url)
    try:
        with engine.connect() as holder:
            lock = f"migrate:{engine.url.database}"
            holder.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": lock})
            result = flask(mysql_url, "db", "upgrade", MIGRATION_LOCK_TIMEOUT="1")
            holder.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": lock})
    finally:
        engine.dispose()
    assert result.returncode != 0
    assert "could not take migration lock" in result.stderr
    assert flask_db("upgrade").exit_code == 0


def test_tables_use_utf8mb4(app, mysql_url):
    engine = create_engine(mysql_url)
    try:
        with engine.connect() as connection:
            collations = connection.execute(
                text(
                    "SELECT table_name, table_collation FROM information_schema.tables "
                    "WHERE table_schema = DATABASE()"
                )
            ).all()
    finally:
        engine.dispose()
    assert collations, "the migrations created no table"
    assert all(collation.startswith("utf8mb4") for _, collation in collations), collations
