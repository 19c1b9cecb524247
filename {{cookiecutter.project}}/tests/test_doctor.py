"""doctor.py: the checks of `make doctor` that run in the web container, each
with the line bin/doctor prints. The logins need a MySQL-family server
(TEST_DATABASE_URL); the schema is checked on any database."""

import secrets

from click.testing import CliRunner
{%- if cookiecutter.example_api == "yes" %}
from flask_migrate import downgrade, upgrade
{%- endif %}
from sqlalchemy import make_url

from {{ cookiecutter.package }} import doctor


def a_wrong_password() -> str:
    return f"not-the-password-{secrets.token_hex(8)}"


def test_a_schema_at_head_passes(app, capsys):
    assert doctor.check_schema() == 0
    assert capsys.readouterr().out == "ok    migrations: the database is at head\n"


def test_a_schema_a_newer_release_migrated_passes(app, newer_release_migrated, capsys):
    assert doctor.check_schema() == 0
    assert capsys.readouterr().out == (
        "ok    migrations: the database is ahead of this code (a newer release migrated it)\n"
    )


{% if cookiecutter.example_api == "yes" -%}
def test_a_schema_behind_the_migrations_fails_with_make_upgrade(app, capsys):
    downgrade(revision="base")
    try:
        assert doctor.check_schema() == 1
    finally:
        upgrade()
    assert capsys.readouterr().err == (
        "FAIL  migrations: the database is behind the migrations: 'make upgrade'\n"
    )


{% endif -%}
def test_an_unreachable_database_fails_with_make_logs(unreachable_app, capsys):
    with unreachable_app.app_context():
        assert doctor.check_schema() == 1
    assert capsys.readouterr().err == (
        "FAIL  migrations: the app cannot reach the database: see 'make logs'\n"
    )


def test_passwords_are_skipped_when_the_server_does_not_answer(capsys):
    # Nothing listens on port 9 of this host: the db service is not running.
    assert doctor.check_passwords("mysql+pymysql://app:secret@127.0.0.1:9/app", {}) == 0
    said = capsys.readouterr()
    assert said.out == f"skip  {doctor.NOT_RUNNING}\n"  # once, not once per account
    assert said.err == ""


def test_passwords_are_skipped_when_the_app_is_not_on_mysql(capsys):
    assert doctor.check_passwords("sqlite://", {}) == 0
    assert capsys.readouterr().out.startswith("skip  passwords: the app's database is not")


def test_a_password_that_opens_the_database_passes(mysql_url, capsys):
    url = make_url(mysql_url)
    assert doctor.log_in(mysql_url, url.username, url.password) is None
    # The root password is not the test server's: that account fails alone.
    passwords = {"MYSQL_PASSWORD": url.password, "MYSQL_ROOT_PASSWORD": a_wrong_password()}
    assert doctor.check_passwords(mysql_url, passwords) == 1
    said = capsys.readouterr()
    opens = f"ok    passwords: MYSQL_PASSWORD in .env opens the database as {url.username}\n"
    assert said.out == opens
    assert said.err.startswith("FAIL  passwords: MYSQL_ROOT_PASSWORD in .env is not the password")


def test_an_edited_password_fails_with_the_fix(mysql_url, capsys):
    url = make_url(mysql_url)
    passwords = {"MYSQL_PASSWORD": a_wrong_password(), "MYSQL_ROOT_PASSWORD": a_wrong_password()}
    assert doctor.check_passwords(mysql_url, passwords) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.splitlines() == [
        f"FAIL  passwords: {variable} in .env is not the password {user} was created with "
        "(read at first init only): put the old value back, or ALTER USER in 'make dbshell', "
        "or 'make reset-db'"
        for variable, user in [("MYSQL_PASSWORD", url.username), ("MYSQL_ROOT_PASSWORD", "root")]
    ]


def test_the_command_reads_the_passwords_on_stdin_and_exits_with_its_failures(
    app, database_url, monkeypatch
):
    # bin/doctor's way: the app's settings from the environment, the passwords
    # (never on the command line) on stdin, one a line.
    monkeypatch.setenv("DATABASE_URL", database_url)
    password = make_url(database_url).password or ""
    result = CliRunner().invoke(doctor.main, input=f"{password}\n{a_wrong_password()}\n")
    assert "ok    migrations: the database is at head\n" in result.stdout
    failures = result.stderr.count("FAIL  ")
    assert result.exit_code == failures, result.output
    if database_url.startswith("sqlite"):
        assert failures == 0 and "skip  passwords:" in result.stdout
    else:  # the app's user opens it; the root password handed over is wrong
        assert failures == 1 and "MYSQL_PASSWORD in .env opens the database" in result.stdout
        assert "FAIL  passwords: MYSQL_ROOT_PASSWORD" in result.stderr
