"""How the app logs in to a real MySQL server: caching_sha2_password and TLS.

MySQL users authenticate with caching_sha2_password. The first login after a
server restart (or FLUSH PRIVILEGES: the server's cache is then cold) is a
full authentication, which sends the password: over TLS when the connection
has it, otherwise encrypted with the server's RSA key (PyMySQL needs the
`cryptography` package for that). These scenarios run both paths, and TLS
required by the server and verified by the app.
"""

import shlex

from harness.stack import wait_until

# Runs in the web container: one query through the app's own engine.
APP_QUERY = """
import sys
from sqlalchemy import text
from flask_app import create_app
from flask_app.extensions import db
with create_app().app_context():
    print(db.session.execute(text(sys.argv[1])).scalar() or "-")
"""
# The same, as if PyMySQL[rsa] had been trimmed to PyMySQL.
WITHOUT_CRYPTOGRAPHY = 'import sys; sys.modules["cryptography"] = None\n' + APP_QUERY
SSL_VERSION = "SELECT variable_value FROM performance_schema.session_status "
SSL_VERSION += "WHERE variable_name = 'Ssl_version'"


def db_command(tmp_path, *flags: str) -> str:
    """Write a Compose file that gives the db server these flags; return its path."""
    extra = tmp_path / "db-flags.yml"
    items = "".join(f"\n      - {flag}" for flag in ("--character-set-server=utf8mb4", *flags))
    extra.write_text(f"services:\n  db:\n    command:{items}\n")
    return str(extra)


def app_query(stack, sql: str, script: str = APP_QUERY, **env: str):
    """Run SQL through the app's engine in a fresh web container (no entrypoint)."""
    flags = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    flags += ["--entrypoint", "python"]
    command = ["run", "--rm", "--no-deps", "-T", *flags, "web", "-c", script, sql]
    return stack.compose(*command, check=False)


def cold_login_cache(stack) -> None:
    """Empty the server's cache of caching_sha2_password logins (root, on the socket)."""
    stack.compose("exec", "-T", "db", "sh", "-c",
                  'exec mysql -uroot -p"$MYSQL_ROOT_PASSWORD" -e "FLUSH PRIVILEGES"')  # fmt: skip


def restart_db(stack) -> None:
    """Restart the database container (the web one keeps running) and wait until healthy."""
    stack.run(["docker", "restart", stack.container_id("db")], check=True)
    healthy = lambda: stack.inspect("db")["State"]["Health"]["Status"] == "healthy"  # noqa: E731
    wait_until(healthy, 120, what="db healthy after its restart")


def test_without_tls_a_cold_login_uses_the_rsa_exchange(make_stack, tmp_path, figures):
    stack = make_stack(initialised=True, extra_files=[db_command(tmp_path, "--tls-version=")])
    stack.make("up")
    assert app_query(stack, SSL_VERSION).stdout.strip() in {"", "-"}, "TLS was not off"

    restart_db(stack)
    # The db healthcheck logged the app's user in again: make the cache cold.
    cold_login_cache(stack)
    trimmed = app_query(stack, "SELECT 1", WITHOUT_CRYPTOGRAPHY)
    assert trimmed.returncode != 0
    assert "'cryptography' package is required" in trimmed.stderr, trimmed.stderr[-1500:]

    cold_login_cache(stack)
    # The running app's pooled connection died with the server: pre-ping, then
    # a full login through the RSA exchange.
    assert stack.http("GET", "/api/items").status == 200
    cold_login_cache(stack)
    doctor = stack.make("doctor")
    assert "FAIL" not in doctor.stdout + doctor.stderr
    assert "opens the database as flask_app" in doctor.stdout
    figures.setdefault("authentication", {}).update(
        {"cold login without TLS, without cryptography": "refused",
         "cold login without TLS, as baked (RSA)": "200"}
    )  # fmt: skip


def test_tls_required_by_the_server_is_verified_by_the_app(make_stack, tmp_path, figures):
    required = db_command(tmp_path, "--require-secure-transport=ON")
    stack = make_stack(initialised=True, extra_files=[required])
    # PyMySQL uses TLS when offered: the stack comes up as it is.
    stack.make("up")
    plain = stack.compose("exec", "-T", "db", "sh", "-c",
                          'exec mysql --ssl-mode=DISABLED -h127.0.0.1 -u"$MYSQL_USER" '
                          '-p"$MYSQL_PASSWORD" -e "SELECT 1"', check=False)  # fmt: skip
    assert plain.returncode != 0 and "3159" in plain.stderr, "the server took plain text"

    # The server's CA (made at first init) where the dev container sees it.
    stack.compose("cp", "db:/var/lib/mysql/ca.pem", "ca.pem")
    verified = app_query(stack, SSL_VERSION, DB_SSL_CA="/app/ca.pem")
    assert verified.returncode == 0, verified.stderr[-1500:]
    assert verified.stdout.strip().startswith("TLSv1."), verified.stdout

    # The web service itself, restarted with the CA: serves over verified TLS.
    stack.run(["sh", "-c", "echo DB_SSL_CA=/app/ca.pem >> .env"], check=True)
    stack.compose("up", "--detach", "--wait", "web")
    assert stack.http("GET", "/health").status == 200
    figures.setdefault("authentication", {}).update(
        {"TLS required by the server, CA set in the app": verified.stdout.strip()}
    )


def test_with_a_ca_set_the_app_never_falls_back_to_plain_text(make_stack, tmp_path):
    stack = make_stack(initialised=True, extra_files=[db_command(tmp_path, "--tls-version=")])
    stack.make("up")
    stack.compose("cp", "db:/var/lib/mysql/ca.pem", "ca.pem")
    wait = stack.compose(
        "run", "--rm", "--no-deps", "-T", "-e", "DB_SSL_CA=/app/ca.pem", "--entrypoint", "flask",
        "web", *shlex.split("wait-for-db --timeout 30"), check=False,
    )  # fmt: skip
    assert wait.returncode != 0
    assert "TLS is required (DB_SSL_CA is set) but the server does not offer it" in wait.stderr
    # A verdict, not a wait: it did not retry until the timeout.
    assert "waiting up to" not in wait.stdout
