"""The db stand-ins honour the official mysql / mariadb images' entrypoint contract.

Plain `docker run`, no Compose: these tests pin down the stand-ins themselves
(real MySQL 9.7 and MariaDB 11.8 servers), so the template's own e2e tests
can trust what they observe through them.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.bakery import run
from harness.stack import wait_until

pytestmark = pytest.mark.skipif(
    os.environ.get("E2E_STANDINS") != "1",
    reason="stand-in images are only used with E2E_STANDINS=1",
)

DATADIR = "/var/lib/mysql"
ENV = {
    "MYSQL_ROOT_PASSWORD": "root-secret",
    "MYSQL_DATABASE": "app_db",
    "MYSQL_USER": "app",
    "MYSQL_PASSWORD": "app-secret",
}
READY_TIMEOUT = 120
# mysqld's own refusal, word for word, as the official mysql image prints it.
MY_010457 = (
    "[ERROR] [MY-010457] [Server] --initialize specified but the data directory has files in it."
    " Aborting."
)
MY_013236 = (
    "[ERROR] [MY-013236] [Server] The designated data directory /var/lib/mysql/ is unusable."
    " You can remove all files that the server added to it."
)


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a docker command and return it, whatever its exit code."""
    return run(["docker", *args], None, timeout)


class Resources:
    """Unique container/volume names, all removed when the test ends."""

    def __init__(self) -> None:
        self.containers: list[str] = []
        self.volumes: list[str] = []

    def name(self, kind: str) -> str:
        """Return a fresh name and remember it for removal."""
        name = f"standin-test-{kind}-{uuid.uuid4().hex[:10]}"
        (self.volumes if kind == "vol" else self.containers).append(name)
        return name

    def remove_all(self) -> None:
        """Remove every container, then every volume, ignoring missing ones."""
        for name in self.containers:
            docker("rm", "-f", "-v", name)
        for name in self.volumes:
            docker("volume", "rm", "-f", name)


@pytest.fixture
def res(request) -> Resources:
    """Give the test a Resources registry with a cleanup finalizer."""
    resources = Resources()
    request.addfinalizer(resources.remove_all)
    return resources


@dataclass(frozen=True)
class Server:
    """A db stand-in image and the client name its official image offers."""

    image: str
    client: str


@pytest.fixture(params=["MYSQL_IMAGE", "MARIADB_IMAGE"], ids=["mysql", "mariadb"])
def server(request, standin_images) -> Server:
    """Each db stand-in in turn."""
    client = "mysql" if request.param == "MYSQL_IMAGE" else "mariadb"
    return Server(standin_images[request.param], client)


@pytest.fixture
def mysql_server(standin_images) -> Server:
    return Server(standin_images["MYSQL_IMAGE"], "mysql")


@pytest.fixture
def mariadb_server(standin_images) -> Server:
    return Server(standin_images["MARIADB_IMAGE"], "mariadb")


def env_args(env: dict[str, str]) -> list[str]:
    """Turn a dict into `-e KEY=VALUE` arguments."""
    return [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]


# The client each container has: the name its official image offers.
CLIENTS: dict[str, str] = {}


def start_db(server: Server, name: str, mount: str, env: dict, *args: str, extra=()) -> None:
    """Start the db image detached with a data mount, env and server args."""
    CLIENTS[name] = server.client
    mounts = ["-v", f"{mount}:{DATADIR}", *extra]
    proc = docker("run", "-d", "--name", name, *mounts, *env_args(env), server.image, *args)
    assert proc.returncode == 0, proc.stderr


def run_db(server: Server, name: str, mount: str, env: dict) -> subprocess.CompletedProcess:
    """Run the db image in the foreground, for starts expected to fail."""
    mount_args = ["-v", f"{mount}:{DATADIR}"]
    return docker("run", "--name", name, *mount_args, *env_args(env), server.image, timeout=180)


def client(name: str, user: str, password: str, query: str, db: str = ""):
    """Run one query over TCP with the image's client inside the container."""
    # -h 127.0.0.1 forces TCP; without -h (or with localhost) the socket is used.
    tcp = ["-h", "127.0.0.1", "-P", "3306", "--protocol=TCP"]
    login = [f"-u{user}", f"-p{password}", "-N", "-B"]
    command = [CLIENTS[name], *tcp, *login, "-e", query, *([db] if db else [])]
    return docker("exec", name, *command)


def app_query(name: str, query: str, password: str = "app-secret"):
    """Run one query over TCP as the app user on the app database."""
    return client(name, "app", password, query, "app_db")


def logs(name: str) -> str:
    """Return the tail of what the container wrote (the server logs to stderr)."""
    proc = docker("logs", name)
    return (proc.stdout + proc.stderr)[-3000:]


def wait_for_tcp(name: str, password: str = "app-secret") -> None:
    """Wait until the app user can query over TCP; fail at once if the container dies."""

    def answers() -> bool:
        if app_query(name, "SELECT 1", password).returncode == 0:
            return True
        if docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() != "true":
            pytest.fail(f"{name} exited during start:\n{logs(name)}")
        return False

    wait_until(answers, READY_TIMEOUT, 1, f"{name} to answer over TCP")


def wait_for_log(name: str, text: str, timeout: float = READY_TIMEOUT) -> None:
    """Wait until the container's output contains text."""
    wait_until(lambda: text in logs(name), timeout, 0.5, f"{text!r} in the logs of {name}")


def container_ip(name: str) -> str:
    """Return the container's address on its (default bridge) network."""
    fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    return docker("inspect", "-f", fmt, name).stdout.strip()


def world_readable_dir(path: Path) -> Path:
    """Create path and let the container's mysql user read it."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def test_first_init_creates_the_database_and_a_user_who_can_query_over_tcp(server, res):
    name = res.name("db")
    start_db(server, name, res.name("vol"), ENV, "--character-set-server=utf8mb4")
    wait_for_tcp(name)

    # From another container, to prove the server listens beyond loopback.
    peer = res.name("peer")
    script = (
        "CREATE TABLE greeting (id INT PRIMARY KEY, word VARCHAR(20));"
        "INSERT INTO greeting VALUES (1, 'hello');"
        "SELECT word FROM greeting WHERE id = 1;"
    )
    login = ["-h", container_ip(name), "-uapp", "-papp-secret", "-N", "-B"]
    command = [server.client, *login, "-e", script, "app_db"]
    proc = docker("run", "--name", peer, server.image, *command)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hello"

    root = client(name, "root", "root-secret", "SELECT CURRENT_USER(), @@character_set_server")
    assert root.returncode == 0, root.stderr
    assert root.stdout.split() == ["root@%", "utf8mb4"]
    assert client(name, "root", "wrong", "SELECT 1").returncode != 0
    other_db = app_query(name, "CREATE DATABASE other_db")
    assert other_db.returncode != 0 and "Access denied" in other_db.stderr
    if server.client == "mysql":
        # MySQL 9.7's users authenticate with caching_sha2_password, as the
        # official image's do (mysql_native_password is gone in 9).
        plugins = client(name, "root", "root-secret", "SELECT user, plugin FROM mysql.user "
                         "WHERE user IN ('app', 'root') ORDER BY user, host")  # fmt: skip
        assert plugins.stdout.split() == [
            "app", "caching_sha2_password", "root", "caching_sha2_password",
            "root", "caching_sha2_password",
        ]  # fmt: skip
        version = client(name, "root", "root-secret", "SELECT @@version").stdout
        assert version.startswith("9.7."), version


def test_restart_on_the_same_volume_skips_init_and_ignores_a_changed_password(server, res):
    volume, first = res.name("vol"), res.name("db")
    start_db(server, first, volume, ENV)
    wait_for_tcp(first)
    created = app_query(first, "CREATE TABLE kept (v INT); INSERT INTO kept VALUES (42)")
    assert created.returncode == 0, created.stderr

    # PID 1 is the server itself, so SIGTERM stops it cleanly: exit status 0,
    # not the 137 of a kill when the 30 s are over.
    assert docker("stop", "-t", "30", first).returncode == 0
    assert docker("inspect", "-f", "{{.State.ExitCode}}", first).stdout.strip() == "0"
    docker("rm", first)

    second = res.name("db")
    start_db(server, second, volume, {**ENV, "MYSQL_PASSWORD": "changed-secret"})
    wait_for_tcp(second, password="app-secret")
    denied = app_query(second, "SELECT 1", password="changed-secret")
    assert denied.returncode != 0 and "Access denied" in denied.stderr
    assert app_query(second, "SELECT v FROM kept").stdout.strip() == "42"
    assert "Initializing database" not in logs(second)
    assert "skipping initialization" in logs(second)


def test_passwords_are_read_from_file_variants_as_root_only_files(server, res, tmp_path):
    """Docker secrets: MYSQL_ROOT_PASSWORD_FILE and MYSQL_PASSWORD_FILE, the
    files readable by root only and ending in a newline, which is dropped."""
    secrets = world_readable_dir(tmp_path / "secrets")
    for secret, password in (("root", "root-secret"), ("app", "app-secret")):
        (secrets / secret).write_text(f"{password}\n")
        (secrets / secret).chmod(0o400)
    env = {key: value for key, value in ENV.items() if not key.endswith("PASSWORD")}
    env["MYSQL_ROOT_PASSWORD_FILE"] = "/run/secrets/root"
    env["MYSQL_PASSWORD_FILE"] = "/run/secrets/app"
    name = res.name("db")
    start_db(server, name, res.name("vol"), env, extra=("-v", f"{secrets}:/run/secrets:ro"))
    wait_for_tcp(name)
    root = client(name, "root", "root-secret", "SELECT CURRENT_USER()")
    assert root.returncode == 0, root.stderr


def test_a_password_set_both_ways_is_refused(server, res, tmp_path):
    secret = world_readable_dir(tmp_path / "secrets") / "app"
    secret.write_text("app-secret\n")
    env = {**ENV, "MYSQL_PASSWORD_FILE": "/run/secrets/app"}
    name = res.name("db")
    mount = ["-v", f"{secret.parent}:/run/secrets:ro"]
    proc = docker("run", "--name", name, *mount, *env_args(env), server.image, timeout=180)
    assert proc.returncode == 1
    assert "both MYSQL_PASSWORD and MYSQL_PASSWORD_FILE are set" in proc.stderr


def write_init_scripts(initdb: Path, client_name: str) -> None:
    """Write one init file of each kind; each records that it ran."""
    (initdb / "10-schema.sql").write_text(
        "CREATE TABLE runs (seq INT AUTO_INCREMENT PRIMARY KEY, source VARCHAR(20));\n"
        "INSERT INTO runs (source) VALUES ('sql');\n"
    )
    gz_sql = gzip.compress(b"INSERT INTO runs (source) VALUES ('sql.gz');\n")
    (initdb / "20-data.sql.gz").write_bytes(gz_sql)
    (initdb / "30-sourced.sh").write_text(
        "docker_process_sql <<<\"INSERT INTO runs (source) VALUES ('sourced-sh')\"\n"
    )
    executed = initdb / "40-executed.sh"
    executed.write_text(
        "#!/bin/bash\nset -e\n"
        f'{client_name} -uroot -p"$MYSQL_ROOT_PASSWORD" "$MYSQL_DATABASE" '
        "-e \"INSERT INTO runs (source) VALUES ('executed-sh')\"\n"
    )
    (initdb / "50-notes.txt").write_text("ignored\n")
    for path in initdb.iterdir():
        path.chmod(0o755 if path == executed else 0o644)


def test_initdb_scripts_run_once_in_name_order(server, res, tmp_path):
    initdb = world_readable_dir(tmp_path / "initdb")
    write_init_scripts(initdb, server.client)
    name = res.name("db")
    initdb_mount = ("-v", f"{initdb}:/docker-entrypoint-initdb.d:ro")
    start_db(server, name, res.name("vol"), ENV, extra=initdb_mount)
    wait_for_tcp(name)
    query = "SELECT GROUP_CONCAT(source ORDER BY seq) FROM runs"
    expected = "sql,sql.gz,sourced-sh,executed-sh"
    assert app_query(name, query).stdout.strip() == expected

    assert docker("restart", name).returncode == 0
    wait_for_tcp(name)
    assert app_query(name, query).stdout.strip() == expected


def test_socket_ping_passes_while_a_tcp_query_fails_during_first_init(mysql_server, res):
    name = res.name("db")
    start_db(mysql_server, name, res.name("vol"), {**ENV, "STANDIN_INIT_PAUSE": "15"})
    wait_for_log(name, "STANDIN_INIT_PAUSE")

    # The classic too-early healthcheck: socket only. mysqladmin ping exits 0
    # even on "Access denied", so the unauthenticated form passes too.
    pings = (
        ["mysqladmin", "ping"],
        ["mysqladmin", "ping", "-h", "localhost"],
        ["mysqladmin", "ping", "-h", "localhost", "-uapp", "-papp-secret"],
    )
    for ping in pings:
        proc = docker("exec", name, *ping)
        assert proc.returncode == 0, proc.stderr
    assert "mysqld is alive" in proc.stdout
    tcp = app_query(name, "SELECT 1")
    assert tcp.returncode != 0 and "Can't connect" in tcp.stderr

    wait_for_tcp(name)
    assert "Temporary server stopped" in logs(name)


def test_mysql_initialises_over_dot_files_and_lost_found(mysql_server, res, tmp_path):
    datadir = world_readable_dir(tmp_path / "data")
    (datadir / ".gitkeep").write_text("")
    world_readable_dir(datadir / "lost+found")
    name = res.name("db")
    start_db(mysql_server, name, str(datadir), ENV)
    wait_for_tcp(name)
    assert (datadir / "mysql").is_dir()


def test_mysql_itself_refuses_a_data_dir_holding_other_files(mysql_server, res, tmp_path):
    datadir = world_readable_dir(tmp_path / "data")
    (datadir / "README").write_text("my notes\n")
    proc = run_db(mysql_server, res.name("db"), str(datadir), ENV)
    assert proc.returncode == 1
    assert MY_010457 in proc.stderr
    assert MY_013236 in proc.stderr
    assert [p.name for p in datadir.iterdir()] == ["README"]


def test_mariadb_initialises_over_anything(mariadb_server, res, tmp_path):
    datadir = world_readable_dir(tmp_path / "data")
    (datadir / "README").write_text("my notes\n")
    world_readable_dir(datadir / "lost+found")
    name = res.name("db")
    start_db(mariadb_server, name, str(datadir), ENV)
    wait_for_tcp(name)
    # ...and turns a folder in it into a schema of its own.
    schemas = client(name, "root", "root-secret", "SHOW DATABASES").stdout.split()
    assert "#mysql50#lost+found" in schemas


def test_a_bind_mounted_dir_that_docker_creates_is_initialised(server, res, tmp_path):
    datadir = world_readable_dir(tmp_path / "host") / "mysql-data"
    assert not datadir.exists()
    name = res.name("db")
    start_db(server, name, str(datadir), ENV)
    wait_for_tcp(name)
    assert (datadir / "mysql").is_dir()


def test_first_init_without_a_root_password_option_is_refused(server, res):
    env = {k: v for k, v in ENV.items() if k != "MYSQL_ROOT_PASSWORD"}
    proc = run_db(server, res.name("db"), res.name("vol"), env)
    assert proc.returncode == 1
    assert "Database is uninitialized and password option is not specified" in proc.stderr


@pytest.mark.parametrize(
    ("key", "names"),
    [("MYSQL_IMAGE", "mysql mysqladmin mysqldump mysqld"),
     ("MARIADB_IMAGE", "mariadb mariadb-admin mariadb-dump mariadbd")],
    ids=["mysql", "mariadb"],
)  # fmt: skip
def test_the_image_offers_the_client_names_of_its_official_image(standin_images, res, key, names):
    script = " && ".join(f"command -v {name}" for name in names.split())
    proc = docker("run", "--name", res.name("probe"), standin_images[key], "bash", "-c", script)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(proc.stdout.split()) == len(names.split())
