"""Shared fixtures of the end-to-end tier (needs a Docker engine)."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest


def docker_unavailable_reason() -> str | None:
    """Return why Docker cannot be used here, or None when it answers."""
    try:
        proc = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker is not usable: {exc}"
    if proc.returncode != 0:
        return f"`docker info` failed (run .ci/docker-up.sh): {proc.stderr.strip()[-300:]}"
    return None


def skip_or_fail(reason: str) -> None:
    """Skip, or fail when REQUIRE_E2E=1 says a skipped e2e tier is an error."""
    # CI sets REQUIRE_E2E=1 so a broken engine cannot pass as "all skipped".
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(f"REQUIRE_E2E=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Skip (or fail, with REQUIRE_E2E=1) when no Docker engine answers."""
    reason = docker_unavailable_reason()
    if reason:
        skip_or_fail(reason)


@pytest.fixture(scope="session")
def standin_images(docker_engine) -> dict[str, str]:
    """Build or reuse the local stand-in images; map PYTHON_IMAGE, MYSQL_IMAGE... to names."""
    from standins import build

    try:
        return build.ensure_images()
    except build.StandinError as exc:
        # Docker answers, so a failed build is a real error, never a skip.
        pytest.fail(f"stand-in images could not be built: {exc}", pytrace=False)


# --- Baked stacks -----------------------------------------------------------

TEMPLATE = Path(__file__).resolve().parents[2]
STANDINS = os.environ.get("E2E_STANDINS") == "1"
# Stack names carry the test run's pid: a run removes only the stacks of runs
# that are gone, never those of another run going on beside it.
STACK_PREFIX = f"e2e{os.getpid()}x"
STACK_NAME = re.compile(r"e2e(\d+)x")
SCENARIO_TIMES: dict[str, float] = {}


def compose_projects() -> set[str]:
    """Return the Compose project names of every container on this engine."""
    result = subprocess.run(
        ["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return {name for name in result.stdout.split() if name}


def remove_compose_project(name: str) -> None:
    """Remove a stack's containers, volumes and networks by their Compose label."""
    label = f"label=com.docker.compose.project={name}"
    for kind, listing in (
        ("container", ["docker", "ps", "-aq", "--filter", label]),
        ("volume", ["docker", "volume", "ls", "-q", "--filter", label]),
        ("network", ["docker", "network", "ls", "-q", "--filter", label]),
    ):
        ids = subprocess.run(listing, capture_output=True, text=True).stdout.split()
        if ids:
            flag = ["-f"] if kind == "container" else []
            subprocess.run(["docker", kind, "rm", *flag, *ids], capture_output=True)


def process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@pytest.fixture(scope="session")
def clean_engine(docker_engine) -> None:
    """Remove stacks a killed earlier run left behind, so they break nothing now."""
    for name in compose_projects():
        match = STACK_NAME.match(name)
        if match and process_is_gone(int(match.group(1))):
            remove_compose_project(name)


def images_for(standins: dict[str, str], database: str) -> dict[str, str]:
    """The stand-ins a bake runs on: MYSQL_IMAGE is the server of its option."""
    if not standins:
        return {}
    images = {key: value for key, value in standins.items() if key != "MARIADB_IMAGE"}
    if database.startswith("mariadb"):
        images["MYSQL_IMAGE"] = standins["MARIADB_IMAGE"]
    return images


def stack_factory(request, base: Path):
    """Yield a function that bakes a project into base and returns its Stack."""
    from cookiecutter.main import cookiecutter

    from harness.stack import Stack

    standins = request.getfixturevalue("standin_images") if STANDINS else {}
    stacks = []

    def make(extra_files=(), production=False, **answers):
        output = base / f"bake{len(stacks)}"
        path = Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers,
                                 output_dir=str(output)))  # fmt: skip
        name = f"{STACK_PREFIX}{uuid.uuid4().hex[:10]}"
        images = images_for(standins, answers.get("database", "mysql-8.4"))
        stack = Stack(path, name, images, list(extra_files), production)
        stacks.append(stack)
        return stack

    started = time.monotonic()
    yield make
    SCENARIO_TIMES[request.node.nodeid] = time.monotonic() - started
    for stack in stacks:
        stack.down()


@pytest.fixture
def make_stack(request, clean_engine, tmp_path):
    """Bake a project and return a Stack for it; tear every stack down afterwards."""
    yield from stack_factory(request, tmp_path)


@pytest.fixture(scope="module")
def make_stack_module(request, clean_engine, tmp_path_factory):
    """Like make_stack, for a stack that a whole module's tests share."""
    yield from stack_factory(request, tmp_path_factory.mktemp("module"))


# The doc is written (with --reliability-doc) only when every group below
# was measured, green: a plain test run changes no tracked file.
RELIABILITY_GROUPS = {
    "replicas", "startup failures", "failed migration", "database restart",
    "graceful stop", "backup", "secrets and exposure", "bad input", "doctor",
    "authentication", "restore", "faults", "swarm",
}  # fmt: skip


@pytest.fixture(scope="session")
def figures(request) -> dict:
    """Collect the reliability figures, for --reliability-doc."""
    # Asked for now, not at teardown: by then the session's stand-ins are gone.
    images = request.getfixturevalue("standin_images") if STANDINS else {}
    collected: dict[str, dict] = {}
    yield collected
    doc = request.config.getoption("--reliability-doc")
    if doc and RELIABILITY_GROUPS <= set(collected) and not request.session.testsfailed:
        write_reliability_doc(Path(doc), collected, images)


def command_output(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True).stdout.strip()


def servers_run(images: dict[str, str]) -> str:
    """Say what the figures ran on: engine, Compose, database servers."""
    engine = command_output("docker", "version", "--format", "{{.Server.Version}}")
    compose = command_output("docker", "compose", "version", "--short")
    servers = [
        command_output("docker", "run", "--rm", "--entrypoint", binary, images[key], "--version")
        for key, binary in (("MYSQL_IMAGE", "mysqld"), ("MARIADB_IMAGE", "mariadbd"))
        if key in images
    ]
    on = "; ".join(servers) if servers else "the official images"
    return f"Docker Engine {engine}, Compose {compose}; database servers: {on}"


def write_reliability_doc(doc: Path, collected: dict, images: dict[str, str]) -> None:
    lines = [
        "# Reliability figures",
        "",
        "Written by the end-to-end tier (`make reliability`) on a full, green",
        "run; each figure comes from a test that asserts the behaviour around it.",
        f"Times are wall times on this machine ({os.cpu_count()} cores): read them",
        "as orders of magnitude.",
        "",
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, on {servers_run(images)}.",
        "",
        "| scenario | figure | value |",
        "|---|---|---|",
    ]
    for scenario, values in collected.items():
        for name, value in values.items():
            lines.append(f"| {scenario} | {name} | {value} |")
    doc.write_text("\n".join(lines) + "\n")


def pytest_terminal_summary(terminalreporter):
    if SCENARIO_TIMES:
        terminalreporter.section("end-to-end scenario wall times")
        for nodeid, seconds in SCENARIO_TIMES.items():
            terminalreporter.write_line(f"{seconds:7.1f} s  {nodeid}")
