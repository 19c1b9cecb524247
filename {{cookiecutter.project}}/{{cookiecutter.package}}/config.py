"""Settings, read from the environment when the app is created: one name, one
default, one place. Nothing here reads the environment at import."""

import os
from pathlib import Path

from flask.helpers import get_debug_flag
from sqlalchemy.engine import URL, make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER_SECRETS = {"", "change-me"}


class ConfigError(RuntimeError):
    """A setting makes it unsafe or impossible to start."""


def read_secret(name: str, env=os.environ) -> str:
    """Return the secret NAME, or the content of the file that NAME_FILE names.

    Docker Swarm secrets and Kubernetes secret volumes hand secrets over as
    files, and the official MySQL images read MYSQL_PASSWORD_FILE and the like:
    the app takes the same convention. Trailing newlines are stripped, as the
    database image's shell does, so one file gives both sides the same password.
    """
    value, path = env.get(name, ""), env.get(f"{name}_FILE", "")
    if value and path:
        raise ConfigError(f"{name} and {name}_FILE are both set: set only one of them")
    if not path:
        return value
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\n")
    except OSError as error:
        raise ConfigError(f"{name}_FILE={path} cannot be read: {error.strerror}") from None


MYSQL_PORT = 3306  # the server's own default


def database_url(env=os.environ) -> str:
    """Return DATABASE_URL, else the MySQL URL of the db service, else local SQLite."""
    if url := read_secret("DATABASE_URL", env):
        return url
    if env.get("MYSQL_DATABASE"):
        return URL.create(
            "mysql+pymysql",
            username=env.get("MYSQL_USER"),
            password=read_secret("MYSQL_PASSWORD", env),
            host=env.get("DB_HOST") or "db",
            port=int(env.get("DB_PORT") or MYSQL_PORT),
            database=env["MYSQL_DATABASE"],
            query={"charset": "utf8mb4"},
        ).render_as_string(hide_password=False)
    # Without Docker the project still runs, on an embedded database.
    return f"sqlite:///{PROJECT_ROOT / 'instance' / 'local.sqlite3'}"


def database_tls(env=os.environ) -> dict:
    """PyMySQL's TLS options. DB_SSL_CA makes TLS required, with the server's
    certificate checked against that CA (and against DB_HOST with
    DB_SSL_VERIFY_IDENTITY=1); without it, TLS is used when the server offers
    it, unverified, as PyMySQL does by default."""
    ca = env.get("DB_SSL_CA")
    if not ca:
        return {}
    if not Path(ca).is_file():
        raise ConfigError(f"DB_SSL_CA={ca} is not a file: mount the database's CA certificate")
    verify_identity = env.get("DB_SSL_VERIFY_IDENTITY", "0") == "1"
    return {"ssl_ca": ca, "ssl_verify_cert": True, "ssl_verify_identity": verify_identity}


# PyMySQL's socket timeouts, in seconds. Without them a request whose
# database went silent (a cut network) waits for TCP to give up, long after
# gunicorn's WORKER_TIMEOUT (gunicorn.conf.py) killed the worker. A
# pool_pre_ping on a dead connection costs one read timeout, a reconnect one
# connect timeout: together below the worker timeout (a test checks).
DATABASE_TIMEOUTS = {
    "connect_timeout": ("DB_CONNECT_TIMEOUT", 5),
    "read_timeout": ("DB_READ_TIMEOUT", 10),
    "write_timeout": ("DB_WRITE_TIMEOUT", 10),
}


def database_timeouts(env=os.environ) -> dict:
    """PyMySQL's connect/read/write timeouts from DB_*_TIMEOUT (whole seconds, > 0)."""
    timeouts = {}
    for option, (name, default) in DATABASE_TIMEOUTS.items():
        raw = env.get(name) or str(default)
        if not raw.isdecimal() or int(raw) == 0:
            raise ConfigError(f"{name}={raw} is not a whole number of seconds above 0")
        timeouts[option] = int(raw)
    return timeouts


def connect_args(url: str, env=os.environ) -> dict:
    """The driver's connection options for url: PyMySQL's (timeouts, TLS), or none."""
    if make_url(url).get_driver_name() != "pymysql":
        return {}
    return {**database_timeouts(env), **database_tls(env)}


def pymysql_connect_options(url: str, env=os.environ) -> dict:
    """pymysql.connect()'s arguments for a MySQL URL, for the tools that talk to
    the server without SQLAlchemy (doctor.py, restore.py): its host, port,
    user and password, with the app's driver options (connect_args)."""
    parsed = make_url(url)
    return {
        "host": parsed.host,
        "port": parsed.port or MYSQL_PORT,
        "user": parsed.username,
        "password": parsed.password or "",
        **connect_args(url, env),
    }


class Config:
    """Production's settings. The environment's values are read when an instance
    is made, by create_app (Flask's from_object takes the instance): a variable
    set before the app is created counts, whenever the module was imported."""

    ENVIRONMENT = "production"
    DEBUG = False
    TESTING = False
    # Bound the request body: oversized JSON is refused with 413, not parsed.
    MAX_CONTENT_LENGTH = 64 * 1024

    def __init__(self, env=os.environ):
        self.SECRET_KEY = read_secret("SECRET_KEY", env)
        self.SQLALCHEMY_DATABASE_URI = database_url(env)
        self.SQLALCHEMY_ENGINE_OPTIONS = {
            # A pooled connection may have been dropped by wait_timeout or a
            # database restart: test it before use instead of failing a request.
            "pool_pre_ping": True,
            # The pool's own rollback when a connection comes back is a second
            # round trip for nothing: every way this app returns one (the
            # session closed at the end of a request, a `with engine.connect()`
            # block) has rolled its transaction back already.
            "pool_reset_on_return": None,
            # Recycle well before MySQL's wait_timeout (8 h) and proxies' idle limits.
            "pool_recycle": int(env.get("DB_POOL_RECYCLE", "280")),
            # "connect_args" depend on the final URL: create_app adds them.
        }
        # How long a replica waits while another one runs the migrations.
        self.MIGRATION_LOCK_TIMEOUT = int(env.get("MIGRATION_LOCK_TIMEOUT") or 300)
        # How long the start waits for the database (startup.py). It covers a
        # first init: the server starts beside the database, not after it.
        self.DB_WAIT_TIMEOUT = float(env.get("DB_WAIT_TIMEOUT") or 120)
        # 1: the server does not run `flask db upgrade` at start (a release job does).
        self.SKIP_MIGRATIONS = env.get("SKIP_MIGRATIONS", "0") == "1"


class ProductionConfig(Config):
    pass


class DevelopmentConfig(Config):
    ENVIRONMENT = "development"
    DEBUG = True
    # Debug mode would hand an unexpected error to the server, which answers
    # with a page of its own: errors.py answers in JSON here too, and Flask
    # logs the traceback (`make logs`).
    PROPAGATE_EXCEPTIONS = False

    def __init__(self, env=os.environ):
        super().__init__(env)
        self.SECRET_KEY = self.SECRET_KEY or "development-only-secret"


class TestingConfig(Config):
    ENVIRONMENT = "testing"
    TESTING = True

    def __init__(self, env=os.environ):
        super().__init__(env)
        self.SECRET_KEY = "testing-only-secret"


# The environments APP_ENV may name, each once: the settings class says its own name.
ENVIRONMENTS = {
    config.ENVIRONMENT: config for config in (DevelopmentConfig, ProductionConfig, TestingConfig)
}


def for_environment(name: str) -> type[Config]:
    """Return the settings class for APP_ENV, refusing an unknown name."""
    if name not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV={name!r} is not one of {', '.join(ENVIRONMENTS)}")
    return ENVIRONMENTS[name]


def from_environment(env=os.environ) -> Config:
    """The settings APP_ENV picks (production by default), read from env now."""
    return for_environment(env.get("APP_ENV", "production"))(env)


def check_production(config) -> None:
    """Refuse to serve production with a guessable secret or the debugger on."""
    if config["SECRET_KEY"] in PLACEHOLDER_SECRETS:
        raise ConfigError(
            "SECRET_KEY is missing or still the placeholder: set a random value in .env "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if config["DEBUG"] or get_debug_flag():
        raise ConfigError("debug mode is on in production: unset FLASK_DEBUG")
