import re

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from {{ cookiecutter.package }} import create_app
from {{ cookiecutter.package }}.config import (
    ENVIRONMENTS,
    ConfigError,
    database_tls,
    database_url,
    for_environment,
    read_secret,
)
from {{ cookiecutter.package }}.extensions import db


@pytest.fixture
def production(monkeypatch):
    """APP_ENV=production, without a FLASK_DEBUG the shell may have set."""
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    return monkeypatch


MYSQL_ENV = {
    "MYSQL_DATABASE": "shop",
    "MYSQL_USER": "shop",
    "MYSQL_PASSWORD": "p@ss:w/rd%",
    "DB_HOST": "db",
}


def test_database_url_prefers_database_url():
    assert database_url({**MYSQL_ENV, "DATABASE_URL": "sqlite://"}) == "sqlite://"


def test_database_url_is_built_from_the_db_service_variables():
    url = make_url(database_url(MYSQL_ENV))
    assert url.drivername == "mysql+pymysql"
    assert (url.username, url.password, url.host, url.port) == ("shop", "p@ss:w/rd%", "db", 3306)
    assert url.database == "shop"
    assert url.query["charset"] == "utf8mb4"


def test_database_url_falls_back_to_local_sqlite():
    assert database_url({}).startswith("sqlite:///")
    assert database_url({}).endswith("instance/local.sqlite3")


def test_a_secret_is_read_from_its_file_without_the_trailing_newline(tmp_path):
    secret = tmp_path / "mysql_password"
    secret.write_text("p@ss:w/rd%\n")
    env = {**MYSQL_ENV, "MYSQL_PASSWORD": "", "MYSQL_PASSWORD_FILE": str(secret)}
    assert read_secret("MYSQL_PASSWORD", env) == "p@ss:w/rd%"
    assert make_url(database_url(env)).password == "p@ss:w/rd%"


def test_database_url_is_read_from_its_file(tmp_path):
    secret = tmp_path / "database_url"
    secret.write_text("sqlite:///from-a-file.sqlite3\n")
    assert database_url({"DATABASE_URL_FILE": str(secret)}) == "sqlite:///from-a-file.sqlite3"


def test_secret_key_is_read_from_its_file_when_the_app_is_created(tmp_path, production):
    secret = tmp_path / "secret_key"
    secret.write_text("k" * 32 + "\n")
    production.setenv("SECRET_KEY", "")
    production.setenv("SECRET_KEY_FILE", str(secret))
    assert create_app().config["SECRET_KEY"] == "k" * 32


def test_a_secret_set_both_ways_is_refused(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("from-the-file")
    env = {"SECRET_KEY": "from-the-env", "SECRET_KEY_FILE": str(secret)}
    with pytest.raises(ConfigError, match="^SECRET_KEY and SECRET_KEY_FILE are both set"):
        read_secret("SECRET_KEY", env)


def test_a_missing_secret_file_is_refused(tmp_path):
    missing = tmp_path / "nowhere"
    message = f"^MYSQL_PASSWORD_FILE={re.escape(str(missing))} cannot be read"
    with pytest.raises(ConfigError, match=message):
        database_url({**MYSQL_ENV, "MYSQL_PASSWORD": "", "MYSQL_PASSWORD_FILE": str(missing)})


def test_without_a_ca_tls_is_left_to_pymysql():
    assert database_tls({}) == {}


def test_a_ca_makes_tls_required_and_verified(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    options = database_tls({"DB_SSL_CA": str(ca)})
    assert options == {"ssl_ca": str(ca), "ssl_verify_cert": True, "ssl_verify_identity": False}
    strict = database_tls({"DB_SSL_CA": str(ca), "DB_SSL_VERIFY_IDENTITY": "1"})
    assert strict["ssl_verify_identity"] is True


def test_a_missing_ca_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="DB_SSL_CA=.* is not a file"):
        database_tls({"DB_SSL_CA": str(tmp_path / "nowhere.pem")})


def test_unknown_environment_is_refused():
    listed = ", ".join(ENVIRONMENTS)
    with pytest.raises(ConfigError, match=f"APP_ENV='staging' is not one of {listed}$"):
        for_environment("staging")


# What each environment does to the app, seen through Flask's own flags.
BEHAVIOUR = {
    "production": {"debug": False, "testing": False},
    "development": {"debug": True, "testing": False},
    "testing": {"debug": False, "testing": True},
}


def test_every_environment_has_its_behaviour_checked():
    assert set(BEHAVIOUR) == set(ENVIRONMENTS)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_app_env_picks_the_settings(environment, production):
    production.setenv("APP_ENV", environment)
    production.setenv("SECRET_KEY", "x" * 32)
    app = create_app()
    assert app.config["ENVIRONMENT"] == environment
    assert {"debug": app.debug, "testing": app.testing} == BEHAVIOUR[environment]


def test_settings_are_read_when_the_app_is_created_not_at_import(production, tmp_path):
    url = f"sqlite:///{tmp_path / 'set-after-import.sqlite3'}"
    production.setenv("SECRET_KEY", "set-after-import-" + "x" * 16)
    production.setenv("DATABASE_URL", url)
    production.setenv("MIGRATION_LOCK_TIMEOUT", "42")
    app = create_app()
    assert app.config["SECRET_KEY"] == "set-after-import-" + "x" * 16
    assert app.config["SQLALCHEMY_DATABASE_URI"] == url
    assert app.config["MIGRATION_LOCK_TIMEOUT"] == 42


@pytest.mark.parametrize("secret", ["", "change-me"])
def test_production_refuses_a_missing_or_placeholder_secret(production, secret):
    production.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_refuses_debug(production):
    production.setenv("SECRET_KEY", "x" * 32)
    with pytest.raises(ConfigError, match="debug"):
        create_app({"DEBUG": True})


def test_production_refuses_flask_debug_from_the_environment(production):
    production.setenv("SECRET_KEY", "x" * 32)
    production.setenv("FLASK_DEBUG", "1")
    with pytest.raises(ConfigError, match="debug"):
        create_app()


def test_production_starts_with_a_real_secret(production):
    production.setenv("SECRET_KEY", "x" * 32)
    assert not create_app().debug


def test_a_pooled_connection_dropped_behind_the_apps_back_is_replaced(app):
    with db.engine.connect() as connection:
        pooled = connection.connection.dbapi_connection
    # Back in the pool, idle: what a server restart or its wait_timeout does to it.
    pooled.close()
    # The pool tests the connection on checkout (pool_pre_ping) and opens a new one.
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    if db.engine.dialect.name == "mysql":
        with db.engine.connect() as connection:
            wait_timeout = connection.execute(text("SELECT @@SESSION.wait_timeout")).scalar()
        # Connections are recycled before this server would drop them as idle.
        assert 0 < app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_recycle"] < wait_timeout
