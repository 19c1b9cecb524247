"""What every measurement shares: paths, images, bakes, stacks and probes."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# The end-to-end tier's Stack (make, compose, down -v, free ports): tests/ is
# on PYTHONPATH (`make bench`).
from harness.bakery import TEMPLATE, env_values
from harness.httpclient import JSON, StatusPoller, get, request
from harness.stack import COMPOSE, Stack, file_flags, free_port, wait_until

REPO = TEMPLATE
BENCH = REPO / "bench"

# Its own project name, so its images (bench-app-web...) never replace the
# flask-app-web images a test run on the same engine is using.
PROJECT = "bench-app"
PACKAGE = "bench_app"
STACK_PREFIX = "bench"

__all__ = ["JSON", "StatusPoller", "env_values", "free_port", "get", "request", "wait_until"]


def log(message: str) -> None:
    """Print a progress line on stderr (stdout gets the table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def template_commit() -> str:
    """The template's commit the figures come from (-dirty: with uncommitted changes)."""
    describe = ["git", "-C", str(REPO), "describe", "--always", "--dirty"]
    return subprocess.run(describe, capture_output=True, text=True).stdout.strip()


def median(values) -> float:
    """Return the median, or NaN for no values."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def timed(function, *args, **kwargs) -> float:
    """Call function and return the seconds it took."""
    started = time.monotonic()
    function(*args, **kwargs)
    return time.monotonic() - started


def images() -> dict[str, str]:
    """Return PYTHON_IMAGE, MYSQL_IMAGE (and UV_IMAGE, MARIADB_IMAGE): from the environment,
    else the stand-ins."""
    if os.environ.get("PYTHON_IMAGE") and os.environ.get("MYSQL_IMAGE"):
        # UV_IMAGE unset: the Dockerfile's pinned default; MARIADB_IMAGE unset:
        # the MariaDB bake's own (images_for).
        names = ("PYTHON_IMAGE", "MYSQL_IMAGE", "UV_IMAGE", "MARIADB_IMAGE")
        return {name: os.environ[name] for name in names if os.environ.get(name)}
    script = REPO / "tests" / "e2e" / "standins" / "build.py"
    output = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def images_for(images_: dict[str, str], database: str) -> dict[str, str]:
    """The images a bake of this database option runs on: MYSQL_IMAGE is its server."""
    chosen = {name: image for name, image in images_.items() if name != "MARIADB_IMAGE"}
    if database.startswith("mariadb"):
        if "MARIADB_IMAGE" in images_:
            chosen["MYSQL_IMAGE"] = images_["MARIADB_IMAGE"]
        else:
            chosen.pop("MYSQL_IMAGE", None)  # the bake's own pin (mariadb:11.8)
    return chosen


def bake(workdir: Path, **answers: str) -> Path:
    """Bake the template into workdir: its defaults (project bench-app) but for answers."""
    from cookiecutter.main import cookiecutter

    workdir.mkdir(parents=True, exist_ok=True)
    path = cookiecutter(
        str(REPO), no_input=True, output_dir=str(workdir),
        extra_context={"project": PROJECT, **answers},
    )  # fmt: skip
    return Path(path)


@dataclass
class BenchStack(Stack):
    """A Stack whose Compose files are given explicitly (none: Compose's defaults)."""

    files: tuple[str, ...] = ()

    @property
    def compose_args(self) -> list[str]:
        return [*COMPOSE.split(), *file_flags(self.files)]

    def env(self) -> dict[str, str]:
        # What the baked Makefile exports, for the compose calls made without make;
        # BENCH_PROJECT names the bake's images in compose/prestart.yml.
        return {
            **super().env(), "HOST_UID": str(os.getuid()), "HOST_GID": str(os.getgid()),
            "BENCH_PROJECT": self.path.name,
        }  # fmt: skip


def new_stack(project: Path, images_: dict[str, str], files=()) -> BenchStack:
    """Return a stack with a unique bench* name and free ports."""
    name = f"{STACK_PREFIX}{uuid.uuid4().hex[:10]}"
    return BenchStack(project, name, images_, [], files=tuple(files))


class DbProbe(threading.Thread):
    """From t0 on, connect as the app's user every interval and run SELECT 1."""

    def __init__(self, port: int, credentials: dict[str, str], t0: float, interval=0.1):
        super().__init__(daemon=True)
        self.port, self.credentials, self.t0, self.interval = port, credentials, t0, interval
        self.ready: float | None = None
        self.halt = threading.Event()

    def query(self) -> bool:
        import pymysql

        try:
            connection = pymysql.connect(
                host="127.0.0.1", port=self.port, user=self.credentials["MYSQL_USER"],
                password=self.credentials["MYSQL_PASSWORD"],
                database=self.credentials["MYSQL_DATABASE"], connect_timeout=1, read_timeout=2,
            )  # fmt: skip
        except (pymysql.MySQLError, OSError):
            return False
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except (pymysql.MySQLError, OSError):
            return False
        finally:
            connection.close()

    def run(self) -> None:
        while not self.halt.is_set():
            if self.query():
                self.ready = time.monotonic() - self.t0
                return
            self.halt.wait(self.interval)

    def stop(self) -> None:
        self.halt.set()
        if self.is_alive():
            self.join(timeout=5)


def docker_time(stamp: str) -> float:
    """Turn Docker's RFC 3339 nanosecond timestamp into epoch seconds."""
    stamp = stamp.replace("Z", "+00:00")
    head, _, tail = stamp.partition(".")
    if tail:
        digits = "".join(c for c in tail if c.isdigit())
        zone = tail[len(digits) :]
        stamp = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(stamp).timestamp()


def started_at(stack: BenchStack, service: str) -> float:
    """When a service's container last started, in epoch seconds (Docker's clock)."""
    state = json.loads(
        stack.run(["docker", "inspect", stack.container_id(service)], check=True).stdout
    )[0]
    return docker_time(state["State"]["StartedAt"])


MEMORY_UNITS = {"B": 1e-6, "KiB": 1024 / 1e6, "MiB": 2**20 / 1e6, "GiB": 2**30 / 1e6}


def cpu_seconds(container_id: str) -> float:
    """CPU time the container's processes have used, from its cgroup (v1 or v2)."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text()) / 1e9
    root = Path("/sys/fs/cgroup")
    # cgroup v2: the cgroupfs driver's path, then systemd's
    for group in (
        root / "docker" / container_id,
        root / "system.slice" / f"docker-{container_id}.scope",
    ):
        if (group / "cpu.stat").exists():
            usage = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
            return int(usage["usage_usec"]) / 1e6
    raise RuntimeError(f"no cgroup CPU counter for container {container_id[:12]}")


def memory_mb(container: str) -> float:
    """Memory in use as `docker stats` counts it (page cache left out), in MB."""
    usage = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", container],
        capture_output=True, text=True, check=True,
    ).stdout.split("/")[0].strip()  # fmt: skip
    number, unit = re.fullmatch(r"([\d.]+)\s*([A-Za-z]+)", usage).groups()
    return float(number) * MEMORY_UNITS[unit]


def log_events(stack: BenchStack, service: str) -> list[tuple[float, str]]:
    """Return a service's log lines as (epoch seconds, text)."""
    result = stack.run(["docker", "logs", "-t", stack.container_id(service)], check=False)
    events = []
    for line in (result.stdout + result.stderr).splitlines():
        stamp, _, text = line.partition(" ")
        try:
            events.append((docker_time(stamp), text))
        except ValueError:
            continue
    return sorted(events)
