"""Fixtures: an app on the test database, with the schema built by the migrations."""

import os

import pytest
from flask_migrate import upgrade
from sqlalchemy import delete

from {{ cookiecutter.package }} import config, create_app
from {{ cookiecutter.package }}.extensions import db


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
def app(database_url):
    app = create_app(
        {
            "ENVIRONMENT": "testing",
            "TESTING": True,
            "SECRET_KEY": "testing-only-secret",
            "SQLALCHEMY_DATABASE_URI": database_url,
        }
    )
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
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
