"""The baked Swarm stack (deploy/swarm) on a Swarm of three engines.

The nodes are Docker engines in privileged containers on a network of the
test's own (a manager and two workers), each loaded with the images the test
built; nothing is pulled. The host's docker CLI drives the manager over TCP
(DOCKER_HOST), through the bake's own `make swarm-*` targets, as a user's
CLI drives a remote Swarm. A client reads and writes through the proxy
published on the manager while a release rolls out, a bad release is rolled
back, and a worker node is killed.

The scenarios share one Swarm and run in order: each starts from the stack
the one before left. Timings are figures (docs/reliability.md), never
assertions.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import re
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from swarm import images as swarm_images

from harness import httpclient
from harness.bakery import run
from harness.stack import revision_header, wait_until

# Everything a run creates is named and labelled after it: a later run
# removes what a killed one left (its pid is gone), never a live run's.
LABEL = "e2e.swarm"
RUN = f"e2e-swarm-{os.getpid()}x{uuid.uuid4().hex[:6]}"
ROLES = ("manager", "worker1", "worker2")
STACK = "flask-app"
REPLICAS = 3
ENGINE_PORT = 2375

ADDITIVE_REVISION = """
def upgrade():
    op.add_column("items", sa.Column("note", sa.String(200), nullable=True))


def downgrade():
    op.drop_column("items", "note")
"""
# A release whose healthcheck never passes: the current code, its server
# listening where the stack's healthcheck does not look (gunicorn.conf.py
# reads PORT). Nothing else fails: it starts, and never turns healthy.
BAD_RELEASE = "FROM {image}\nENV PORT=8001\n"


def docker(*args: str, host: str | None = None, check=True, timeout=600, stdin_text=None):
    """Run the docker CLI, against the host's engine or a node's (host=IP)."""
    engine = {"DOCKER_HOST": f"tcp://{host}:{ENGINE_PORT}"} if host else {}
    return run(["docker", *args], None, timeout, check=check, stdin_text=stdin_text, **engine)


def remove_leftovers() -> None:
    """Remove the nodes and networks of earlier runs whose process is gone."""
    listing = docker("ps", "-a", "--filter", f"label={LABEL}", "--format",
                     f'{{{{.ID}}}} {{{{.Label "{LABEL}"}}}}')  # fmt: skip
    for line in listing.stdout.splitlines():
        container, pid = line.split()
        if not Path(f"/proc/{pid}").exists():
            docker("rm", "-f", "-v", container, check=False)
    networks = docker("network", "ls", "--filter", f"label={LABEL}", "--format",
                      f'{{{{.ID}}}} {{{{.Label "{LABEL}"}}}}')  # fmt: skip
    for line in networks.stdout.splitlines():
        network, pid = line.split()
        if not Path(f"/proc/{pid}").exists():
            docker("network", "rm", network, check=False)


@dataclass
class Node:
    role: str
    container: str
    ip: str

    def docker(self, *args: str, **kwargs):
        return docker(*args, host=self.ip, **kwargs)


@dataclass
class Swarm:
    nodes: list[Node]
    network: str

    @property
    def manager(self) -> Node:
        return self.nodes[0]


def start_node(role: str, network: str, image: str) -> Node:
    container = f"{RUN}-{role}"
    docker("run", "--detach", "--privileged", "--name", container, "--hostname", role,
           "--network", network, "--label", f"{LABEL}={os.getpid()}", image)  # fmt: skip
    ip = docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                container).stdout.strip()  # fmt: skip
    node = Node(role, container, ip)
    wait_until(lambda: node.docker("info", check=False).returncode == 0, 60,
               what=f"the engine of {role}")  # fmt: skip
    return node


def join_swarm(swarm: Swarm) -> None:
    manager = swarm.manager
    manager.docker("swarm", "init", "--advertise-addr", manager.ip)
    token = manager.docker("swarm", "join-token", "-q", "worker").stdout.strip()
    for worker in swarm.nodes[1:]:
        worker.docker("swarm", "join", "--token", token, f"{manager.ip}:2377")


@pytest.fixture(scope="module")
def swarm(request, docker_engine, standin_images):
    """Three engines in containers, joined in a Swarm; removed afterwards."""
    remove_leftovers()
    built = swarm_images.ensure_images(standin_images["PYTHON_IMAGE"])
    network = RUN
    docker("network", "create", "--label", f"{LABEL}={os.getpid()}", network)

    def remove():
        for role in ROLES:
            docker("rm", "-f", "-v", f"{RUN}-{role}", check=False)
        docker("network", "rm", network, check=False)

    request.addfinalizer(remove)
    with concurrent.futures.ThreadPoolExecutor(len(ROLES)) as pool:
        nodes = list(pool.map(lambda role: start_node(role, network, built["NODE_IMAGE"]), ROLES))
    result = Swarm(nodes, network)
    join_swarm(result)
    return result


def load_everywhere(swarm: Swarm, images: list[str], database: str, workdir: Path) -> None:
    """`docker save` once, `docker load` into every node side by side (no registry);
    the database's image into the manager only."""
    archives = {"web": workdir / "web-images.tar", "db": workdir / "db-image.tar"}
    docker("save", "--output", str(archives["web"]), *images)
    docker("save", "--output", str(archives["db"]), database)

    def load(node: Node) -> None:
        for role in ("web", "db") if node is swarm.manager else ("web",):
            node.docker("load", "--quiet", "--input", str(archives[role]))

    with concurrent.futures.ThreadPoolExecutor(len(swarm.nodes)) as pool:
        list(pool.map(load, swarm.nodes))
    for archive in archives.values():
        archive.unlink()


@dataclass
class Releases:
    """The web images of the test: v1, v2 (an additive migration), bad."""

    v1: str
    v2: str
    bad: str


def build_releases(project: Path, images: dict[str, str]) -> Releases:
    name = f"{RUN}-web"
    releases = Releases(f"{name}:v1", f"{name}:v2", f"{name}:bad")
    build_args = [f"--build-arg={key}={images[key]}" for key in ("PYTHON_IMAGE", "UV_IMAGE")]
    docker("build", "--quiet", *build_args, "-t", releases.v1, str(project))
    revision = project / "migrations" / "versions" / "0002_add_item_note.py"
    revision.write_text(revision_header("Add a note to items.") + ADDITIVE_REVISION)
    docker("build", "--quiet", *build_args, "-t", releases.v2, str(project))
    revision.unlink()
    docker("build", "--quiet", "-t", releases.bad, "-",
           stdin_text=BAD_RELEASE.format(image=releases.v2))  # fmt: skip
    return releases


@dataclass
class Stack:
    """The baked project, deployed on the Swarm with its own make targets."""

    project: Path
    swarm: Swarm
    releases: Releases
    settings: dict[str, str]

    def make(self, *args: str, check=True, timeout=900) -> subprocess.CompletedProcess:
        """A make target of the bake, its Docker CLI speaking to the manager's engine."""
        engine = f"tcp://{self.swarm.manager.ip}:{ENGINE_PORT}"
        return run(["make", *args], self.project, timeout, check=check,
                   **self.settings, DOCKER_HOST=engine)  # fmt: skip

    def deploy(self, image: str, check=True) -> subprocess.CompletedProcess:
        return self.make("swarm-deploy", f"WEB_IMAGE={image}", check=check)

    def manager(self, *args: str, **kwargs):
        return self.swarm.manager.docker(*args, **kwargs)

    def service(self, name: str) -> dict:
        return json.loads(self.manager("service", "inspect", f"{STACK}_{name}").stdout)[0]

    def update_state(self) -> str:
        return (self.service("web").get("UpdateStatus") or {}).get("State", "")

    def tasks(self, name: str, *filters: str) -> list[dict]:
        """The tasks of a service (those Swarm keeps running, or every one), with their node,
        image, state and error."""
        flags = [flag for f in filters for flag in ("--filter", f)]
        listing = self.manager("service", "ps", "--no-trunc", *flags, f"{STACK}_{name}",
                               "--format", "{{json .}}")  # fmt: skip
        return [json.loads(line) for line in listing.stdout.splitlines()]

    def running_tasks(self, name: str) -> list[dict]:
        return self.tasks(name, "desired-state=running")

    def health(self, task: dict) -> str:
        """The health of a task's container, asked of its node ("gone" if removed)."""
        (node,) = [n for n in self.swarm.nodes if n.role == task["Node"]]
        label = f"label=com.docker.swarm.task.id={task['ID']}"
        ids = node.docker("ps", "-aq", "--filter", label).stdout.split()
        if not ids:
            return "gone"
        return json.loads(node.docker("inspect", ids[0]).stdout)[0]["State"]["Health"]["Status"]

    def logs(self, name: str) -> str:
        """Every container's log of a service, read from each node's engine (its
        tasks' containers stay there until pruned). Not `docker service logs`,
        which streams through the manager and can hang for good in this run."""
        label = f"label=com.docker.swarm.service.name={STACK}_{name}"
        logs = []
        for node in self.swarm.nodes:
            listing = node.docker("ps", "-aq", "--filter", label, check=False, timeout=60)
            for container in listing.stdout.split():
                result = node.docker("logs", container, check=False, timeout=60)
                logs.append(result.stdout + result.stderr)
        return "\n".join(logs)

    def sql(self, statement: str) -> str:
        """Run SQL as the app's user in the db task, on the manager."""
        db = self.manager("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_db")
        client = "$(command -v mariadb || command -v mysql)"
        login = '-u"$MYSQL_USER" -p"$(cat "$MYSQL_PASSWORD_FILE")" "$MYSQL_DATABASE"'
        script = f'exec {client} --batch --skip-column-names {login} -e "$0"'
        return self.manager("exec", db.stdout.split()[0], "sh", "-c", script, statement).stdout

    def item_names(self) -> set[str]:
        return set(self.sql("SELECT name FROM items").split())

    @property
    def proxy(self) -> tuple[str, int]:
        """The proxy's address on the manager node (published in host mode)."""
        return self.swarm.manager.ip, int(self.settings["PROXY_PORT"])


@pytest.fixture(scope="module")
def stack(request, swarm, standin_images, tmp_path_factory, figures):
    """The project baked, its releases built and loaded, v1 deployed."""
    from cookiecutter.main import cookiecutter

    output = tmp_path_factory.mktemp("swarm")
    project = Path(cookiecutter(str(Path(__file__).parents[2]), no_input=True,
                                output_dir=str(output)))  # fmt: skip
    releases = build_releases(project, standin_images)
    web = [releases.v1, releases.v2, releases.bad]
    request.addfinalizer(lambda: docker("image", "rm", *web, check=False))
    proxy = swarm_images.ensure_images(standin_images["PYTHON_IMAGE"])["PROXY_IMAGE"]
    mysql = standin_images["MYSQL_IMAGE"]
    started = time.monotonic()
    load_everywhere(swarm, [*web, proxy], mysql, output)
    loaded = time.monotonic() - started
    settings = {"MYSQL_IMAGE": mysql, "PROXY_IMAGE": proxy, "PROXY_PORT": "80",
                "WEB_REPLICAS": str(REPLICAS), "WEB_CONCURRENCY": "1"}  # fmt: skip
    deployed = Stack(project, swarm, releases, settings)
    deployed.make("swarm-db-node", "node=manager")
    started = time.monotonic()
    deployed.deploy(releases.v1)
    converged = time.monotonic() - started
    figures.setdefault("swarm", {}).update(
        {"images loaded into 3 nodes (s)": round(loaded, 1),
         "first deploy converged, database init included (s)": round(converged, 1)}
    )  # fmt: skip
    return deployed


class Client(threading.Thread):
    """Writes an item, then reads a page, through the proxy, until stopped."""

    def __init__(self, proxy: tuple[str, int], prefix: str):
        super().__init__(daemon=True)
        self.proxy, self.prefix = proxy, prefix
        # (when, "write" or "read", the status, or the error's name)
        self.results: list[tuple[float, str, object]] = []
        # The names of the items whose write was answered 201.
        self.acknowledged: list[str] = []
        self.running = True

    def request(self, method: str, path: str, body=None) -> object:
        data = None if body is None else json.dumps(body).encode()
        host, port = self.proxy
        headers = httpclient.JSON if data else {}
        try:
            return httpclient.request(port, method, path, data, headers, 15, host)[0]
        except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out
            return type(error).__name__

    def run(self):
        number = 0
        while self.running:
            number += 1
            name = f"{self.prefix}-{number}"
            status = self.request("POST", "/api/items", {"name": name})
            self.results.append((time.monotonic(), "write", status))
            if status == 201:
                self.acknowledged.append(name)
            self.results.append((time.monotonic(), "read", self.request("GET", "/api/items")))
            time.sleep(0.1)

    def stop(self):
        self.running = False
        self.join(60)

    def failures(self, since: float = 0.0) -> list[tuple[float, str, object]]:
        expected = {"write": 201, "read": 200}
        return [r for r in self.results if r[0] >= since and r[2] != expected[r[1]]]


@pytest.fixture
def client(stack, request):
    prefix = re.sub(r"\W", "", request.node.name)[-20:]
    running = Client(stack.proxy, prefix)
    wait_until(lambda: running.request("GET", "/health") == 200, 120, what="/health via the proxy")
    running.start()
    yield running
    running.stop()


def upgrade_runs(logs: str, revision: str) -> int:
    return len(re.findall(rf"Running upgrade\s+{revision}", logs))


def test_the_stack_converges_and_the_first_release_migrates_once(stack):
    tasks = stack.running_tasks("web")
    assert len(tasks) == REPLICAS
    assert all(t["CurrentState"].startswith("Running") for t in tasks)
    assert {t["Node"] for t in stack.running_tasks("db")} == {"manager"}
    assert len({t["Node"] for t in stack.running_tasks("proxy")}) == len(ROLES)
    db_logs = stack.logs("db")
    assert db_logs.count("Initializing database files") == 1
    assert upgrade_runs(stack.logs("web"), "-> 0001") == 1
    assert stack.sql("SELECT version_num FROM alembic_version").split() == ["0001"]


def test_a_rolling_update_that_migrates_fails_no_request(stack, client, figures):
    time.sleep(2)
    started = time.monotonic()
    stack.deploy(stack.releases.v2)
    seconds = time.monotonic() - started
    assert stack.update_state() == "completed"
    time.sleep(2)
    client.stop()
    assert client.failures() == []
    assert len(client.acknowledged) > 10
    assert set(client.acknowledged) <= stack.item_names()
    assert upgrade_runs(stack.logs("web"), "0001 -> 0002") == 1
    assert stack.sql("SELECT version_num FROM alembic_version").split() == ["0002"]
    images = {t["Image"] for t in stack.running_tasks("web")}
    assert images == {stack.releases.v2}
    figures.setdefault("swarm", {}).update(
        {"rolling update with a migration (s)": round(seconds, 1),
         "rolling update: requests": len(client.results),
         "rolling update: failed requests": len(client.failures())}
    )  # fmt: skip


def test_a_release_that_never_turns_healthy_is_rolled_back(stack, client, figures):
    before = {t["Image"] for t in stack.running_tasks("web")}
    started = time.monotonic()
    deploy = stack.deploy(stack.releases.bad, check=False)
    # make swarm-deploy waits for the outcome, and tells it.
    assert deploy.returncode != 0
    assert "did not complete: rollback_completed" in deploy.stderr
    wait_until(lambda: stack.update_state() == "rollback_completed", 600,
               interval=2, what="Swarm to roll the bad release back")  # fmt: skip
    seconds = time.monotonic() - started
    time.sleep(2)
    client.stop()
    assert client.failures() == []
    assert set(client.acknowledged) <= stack.item_names()
    tasks = stack.running_tasks("web")
    assert {t["Image"] for t in tasks} == before
    assert len(tasks) == REPLICAS
    # Swarm gave up on the bad release because of its healthcheck: its
    # containers, kept on their nodes, say so.
    bad = [t for t in stack.tasks("web") if t["Image"] == stack.releases.bad]
    health = [stack.health(task) for task in bad]
    assert "unhealthy" in health and "healthy" not in health, health
    figures.setdefault("swarm", {}).update(
        {"bad release rolled back after (s)": round(seconds, 1),
         "bad release: requests": len(client.results),
         "bad release: failed requests": len(client.failures())}
    )  # fmt: skip


def rescheduled(stack, dead: str) -> bool:
    tasks = stack.running_tasks("web")
    return len(tasks) == REPLICAS and all(
        t["Node"] != dead and t["CurrentState"].startswith("Running") for t in tasks
    )


def test_a_worker_node_killed_mid_traffic_loses_nothing_acknowledged(stack, client, figures):
    (victim,) = [n for n in stack.swarm.nodes if n.role == "worker1"]
    assert any(t["Node"] == victim.role for t in stack.running_tasks("web"))
    time.sleep(3)
    killed = time.monotonic()
    docker("kill", victim.container)
    wait_until(lambda: rescheduled(stack, victim.role), 300, interval=1,
               what="Swarm to reschedule the dead node's web tasks")  # fmt: skip
    recovered = time.monotonic()
    time.sleep(5)
    client.stop()
    failures = client.failures()
    # Failures are bounded in time: none once Swarm has rescheduled.
    assert client.failures(since=recovered) == []
    assert client.results[-1][2] == 200
    assert set(client.acknowledged) <= stack.item_names()
    figures.setdefault("swarm", {}).update(
        {"worker killed: tasks rescheduled after (s)": round(recovered - killed, 1),
         "worker killed: requests": len(client.results),
         "worker killed: failed requests": len(failures),
         "worker killed: last failure after the kill (s)":
             round(max((f[0] for f in failures), default=killed) - killed, 1)}
    )  # fmt: skip
