"""A baked project driven the way a user drives it: `make` targets, Compose, HTTP."""

from __future__ import annotations

import json
import os
import random
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.bakery import run, user_environment
from harness.httpclient import JSON, request

COMPOSE = "docker compose"


def free_port() -> int:
    """A port free now on 127.0.0.1, below the kernel's ephemeral range (32768
    and up). A stack publishes it only later, once it starts: under
    pytest-xdist each worker draws from a block of its own, so that two
    workers' stacks never choose the same port."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    block = 12000 // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    low = 20000 + worker * block
    for _ in range(1000):
        port = random.randrange(low, low + block)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:  # taken now
                continue
        return port
    raise RuntimeError(f"no free port on 127.0.0.1 in {low}-{low + block - 1}")


def file_flags(files: list[str]) -> list[str]:
    """Compose's -f flag before each file."""
    return [word for name in files for word in ("-f", name)]


@dataclass
class Response:
    status: int
    body: dict


@dataclass
class Stack:
    """One baked project with its own Compose project name, ports and volumes."""

    path: Path
    name: str
    images: dict[str, str] = field(default_factory=dict)
    extra_files: list[str] = field(default_factory=list)
    production: bool = False
    # None publishes web on a free port per replica (needed by --scale).
    web_port: int | None = field(default_factory=free_port)
    db_port: int = field(default_factory=free_port)
    # More variables for Compose and make, e.g. {"DEBUG_PORT": "5679"}.
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def compose_files(self) -> list[str]:
        """The Compose files a user's stack loads: the override (development) too."""
        files = ["docker-compose.yml"]
        if not self.production:
            files.append("docker-compose.override.yml")
        return [*files, *self.extra_files]

    @property
    def compose_args(self) -> list[str]:
        """The Compose command as a list; bare `docker compose` when its own defaults apply."""
        if not self.extra_files and not self.production:
            return COMPOSE.split()
        return [*COMPOSE.split(), *file_flags(self.compose_files)]

    @property
    def compose_command(self) -> str:
        """The Compose command as a shell string, for make's COMPOSE."""
        return shlex.join(self.compose_args)

    def env(self) -> dict[str, str]:
        return {
            **user_environment(),
            **self.images,
            "COMPOSE_PROJECT_NAME": self.name,
            "WEB_PORT": "" if self.web_port is None else str(self.web_port),
            "DB_PUBLISHED_PORT": str(self.db_port),
            **self.settings,
        }

    def up(self, *args: str) -> None:
        """Start the stack as `make up` (or `make prod-up`) does, and wait until healthy."""
        self.make("prod-up" if self.production else "up", *args)

    def run(self, args, timeout=900, check=False, stdin_text=None):
        """run() in the project, with the stack's environment."""
        return run(args, self.path, timeout, check=check, stdin_text=stdin_text,
                   environment=self.env())  # fmt: skip

    def make_compose(self, targets) -> str:
        """COMPOSE for make. `prod-up` adds `-f docker-compose.yml` itself: loaded
        twice, the file's security_opt would repeat, which Compose refuses."""
        if "prod-up" not in targets or not self.production:
            return self.compose_command
        others = [name for name in self.compose_files if name != "docker-compose.yml"]
        return shlex.join([*COMPOSE.split(), *file_flags(others)])

    def make(self, *targets: str, check=True, timeout=900, **variables):
        assignments = [f"{key}={value}" for key, value in variables.items()]
        command = ["make", *targets, f"COMPOSE={self.make_compose(targets)}", *assignments]
        return self.run(command, timeout=timeout, check=check)

    def popen_make(self, *targets: str, log: Path) -> subprocess.Popen:
        """Start a make target in the background, its output to log (a pipe could fill)."""
        command = ["make", *targets, f"COMPOSE={self.make_compose(targets)}"]
        with log.open("w") as output:
            return subprocess.Popen(
                command, cwd=self.path, env=self.env(), stdin=subprocess.DEVNULL,
                stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def compose(self, *args: str, check=True, timeout=300) -> subprocess.CompletedProcess:
        return self.run([*self.compose_args, *args], timeout=timeout, check=check)

    def container_id(self, service: str) -> str:
        ids = self.compose("ps", "-q", service).stdout.split()
        assert ids, f"no {service} container"
        return ids[0]

    def inspect(self, service: str) -> dict:
        output = self.run(["docker", "inspect", self.container_id(service)], check=True).stdout
        return json.loads(output)[0]

    def logs(self, service: str) -> str:
        result = self.compose("logs", "--no-color", service, check=False)
        return result.stdout + result.stderr

    def db_query(self, sql: str, user: str = "app") -> str:
        """Run SQL in the db container as the app's user (or root), return the rows."""
        login = (
            '-u"$MYSQL_USER" -p"$MYSQL_PASSWORD" "$MYSQL_DATABASE"'
            if user == "app"
            else '-uroot -p"$MYSQL_ROOT_PASSWORD" "$MYSQL_DATABASE"'
        )
        client = "$(command -v mariadb || command -v mysql)"
        script = f"exec {client} --batch --skip-column-names {login}"
        result = self.compose("exec", "-T", "db", "sh", "-c", f"{script} -e {shlex.quote(sql)}")
        return result.stdout.strip()

    def http(self, method: str, path: str, body=None, timeout=10) -> Response:
        """Send a request to web (body as JSON); return its status and JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        status, raw = request(self.web_port, method, path, data, JSON if data else {}, timeout)
        return Response(status, json.loads(raw) if raw else {})

    def down(self) -> None:
        """Remove containers, networks and volumes; data under ./db/data too."""
        # Killed at once (--timeout 0): their data goes too, so a graceful
        # stop would only cost seconds per stack.
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "0", check=False)
        data = self.path / "db" / "data"
        if data.exists():
            # Owned by the database container's user: remove it from a container.
            self.run(
                ["docker", "run", "--rm", "--entrypoint", "sh", "-v", f"{data.parent}:/db",
                 self.images.get("MYSQL_IMAGE", "mysql:8.4"), "-c", "rm -rf /db/data"],
                check=False,
            )  # fmt: skip


def revision_header(message: str) -> str:
    """The head of a hand-written revision 0002 on the bake's first, 0001: its
    docstring, imports and identifiers. The caller adds upgrade() and downgrade()."""
    return f'''"""{message}

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
'''


def wait_until(condition, timeout: float, interval: float = 0.25, what: str = "condition"):
    """Poll condition() until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
