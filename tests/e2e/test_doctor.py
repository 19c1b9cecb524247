"""`make doctor`: every check passes on a sane stack and fails, with its fix, when broken."""

import socket

from harness.bakery import set_env


def doctor(stack, *env: str, compose=None):
    """Run `make doctor` (with extra environment); return (exit code, FAIL lines, stdout)."""
    compose = compose or stack.compose_command
    command = ["env", *env, "make", "doctor", f"COMPOSE={compose}"]
    result = stack.run(command, check=False, timeout=300)
    failures = [line for line in result.stderr.splitlines() if line.startswith("FAIL")]
    return result.returncode, failures, result.stdout


def edit_env(stack, name: str, value: str) -> str:
    """Set name=value in the project's .env; return the old value."""
    return set_env(stack.path, name, value)


def in_db_image(stack, script: str) -> str:
    """Run a shell script in a throwaway db container, its data volume mounted."""
    run = ["run", "--rm", "--no-deps", "--entrypoint", "sh", "db", "-c", script]
    return stack.compose(*run).stdout


def test_doctor_passes_on_a_healthy_stack(make_stack, figures):
    stack = make_stack(initialised=True)
    stack.up()
    code, failures, stdout = doctor(stack)
    assert (code, failures) == (0, []), stdout
    checks = [line.split()[1] for line in stdout.splitlines() if line.startswith("ok")]
    for check in ("engine:", "compose:", ".env:", "port:", "data", "passwords:", "migrations:"):
        assert check in checks, (check, stdout)
    # Both accounts log in with .env's passwords, from the web container.
    assert "MYSQL_PASSWORD in .env opens the database as flask_app" in stdout
    assert "MYSQL_ROOT_PASSWORD in .env opens the database as root" in stdout
    assert "ok    migrations: the database is at head" in stdout
    figures.setdefault("doctor", {})["checks passing on a healthy stack"] = len(checks)


def test_each_doctor_check_fails_on_purpose_with_its_fix(make_stack, figures):
    # Its data dir checks need an empty volume; its `up` is a first init.
    stack = make_stack(initialised=False)
    broken = {}

    # Before `up`: no engine, no Compose, a placeholder secret, a taken port.
    broken["engine"] = doctor(stack, "DOCKER_HOST=unix:///nonexistent.sock")
    broken["compose"] = doctor(stack, compose="no-such-compose")
    old_secret = edit_env(stack, "SECRET_KEY", "change-me")
    broken[".env"] = doctor(stack)
    edit_env(stack, "SECRET_KEY", old_secret)
    with socket.create_server(("127.0.0.1", stack.web_port)):
        broken["port"] = doctor(stack)
        refused = stack.make("up", check=False)
        assert refused.returncode != 0 and "is taken by another program" in refused.stderr

    # A data volume with a file mysqld refuses to initialise over, and no database.
    in_db_image(stack, "touch /var/lib/mysql/README")
    broken["data dir"] = doctor(stack)
    stack.compose("down", "--volumes")
    # A database made by the other server family than the image's.
    version = in_db_image(stack, "(mariadbd --version || mysqld --version) 2>/dev/null")
    marker = "mysql.ibd" if "MariaDB" in version else "aria_log_control"
    in_db_image(stack, f"mkdir /var/lib/mysql/mysql && touch /var/lib/mysql/{marker}")
    broken["foreign data dir"] = doctor(stack)
    stack.compose("down", "--volumes")

    # After `up`: edited passwords, a database behind the migrations.
    stack.up()
    old_password = edit_env(stack, "MYSQL_PASSWORD", "edited-after-first-init")
    broken["passwords"] = doctor(stack)
    edit_env(stack, "MYSQL_PASSWORD", old_password)
    old_root_password = edit_env(stack, "MYSQL_ROOT_PASSWORD", "edited-after-first-init")
    broken["root password"] = doctor(stack)
    edit_env(stack, "MYSQL_ROOT_PASSWORD", old_root_password)
    stack.make("downgrade")
    broken["migrations"] = doctor(stack)
    stack.make("upgrade")
    # web stopped, as an edited password stops it at start: the checks run in
    # a one-off web container instead. Both passwords edited: all three of
    # its checks fail (the app's own login too), each counted, none taken
    # for a container that could not run them.
    stack.compose("stop", "web")
    edit_env(stack, "MYSQL_PASSWORD", "edited-after-first-init")
    edit_env(stack, "MYSQL_ROOT_PASSWORD", "edited-after-first-init")
    broken["passwords, web stopped"] = doctor(stack)
    _, failures, _ = broken["passwords, web stopped"]
    in_stack = [line for line in failures if "passwords:" in line or "migrations:" in line]
    assert len(in_stack) == 3 and "cannot run the checks" not in "".join(in_stack), failures
    edit_env(stack, "MYSQL_PASSWORD", old_password)
    edit_env(stack, "MYSQL_ROOT_PASSWORD", old_root_password)

    expected = {
        "engine": "no Docker engine answers",
        "compose": "does not run: install the Docker Compose v2 plugin",
        ".env": "still 'change-me'",
        "port": "is taken by another program",
        "data dir": "holds files but no database",
        "foreign data dir": "data dir: made by",
        "passwords": "MYSQL_PASSWORD in .env is not the password",
        "root password": "MYSQL_ROOT_PASSWORD in .env is not the password root",
        "migrations": "'make upgrade'",
        "passwords, web stopped": "MYSQL_PASSWORD in .env is not the password",
    }
    for check, (code, failures, _) in broken.items():
        assert code != 0, check
        assert any(expected[check] in line for line in failures), (check, failures)
    # Every fix applied, web still stopped: all pass again.
    code, failures, stdout = doctor(stack)
    assert (code, failures) == (0, []), stdout
    assert "opens the database as root" in stdout and "at head" in stdout, stdout
    figures.setdefault("doctor", {})["checks made to fail on purpose"] = len(broken)
