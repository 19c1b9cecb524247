"""Shared fixtures of the end-to-end tier (needs a Docker engine)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from harness.bakery import TEMPLATE, require


def docker_unavailable_reason() -> str | None:
    """Return why Docker cannot be used here, or None when it answers."""
    try:
        proc = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker is not usable: {exc}"
    if proc.returncode != 0:
        return f"`docker info` failed (run .ci/docker-up.sh): {proc.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Skip (or fail, with REQUIRE_E2E=1) when no Docker engine answers."""
    reason = docker_unavailable_reason()
    if reason:
        # CI sets REQUIRE_E2E=1 so a broken engine cannot pass as "all skipped".
        require("e2e", reason)


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

STANDINS = os.environ.get("E2E_STANDINS") == "1"
# Stack names carry the test run's pid: a run removes only the stacks of runs
# that are gone, never those of another run going on beside it.
STACK_PREFIX = f"e2e{os.getpid()}x"
STACK_NAME = re.compile(r"e2e(\d+)x")
SEEDS_FOLDER = re.compile(r"e2e(\d+)-seeds")
# Per scenario: its wall time, and how each of its stacks' databases started.
SCENARIO_TIMES: dict[str, tuple[float, list[str]]] = {}
# The words of that table, which bench/suite.py reads back from the log.
STARTS = {True: "initialised", False: "empty"}


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
    for folder in Path(tempfile.gettempdir()).glob("e2e*-seeds"):
        if (match := SEEDS_FOLDER.fullmatch(folder.name)) and process_is_gone(int(match[1])):
            shutil.rmtree(folder, ignore_errors=True)


def images_for(standins: dict[str, str], database: str) -> dict[str, str]:
    """The stand-ins a bake runs on: MYSQL_IMAGE is the server of its option."""
    if not standins:
        return {}
    images = {key: value for key, value in standins.items() if key != "MARIADB_IMAGE"}
    if database.startswith("mariadb"):
        images["MYSQL_IMAGE"] = standins["MARIADB_IMAGE"]
    return images


def stack_factory(request, base: Path):
    """Yield a function that bakes a project into base and returns its Stack.

    initialised (no default, so that each scenario says it): True starts the
    stack on a copy of a database initialised once per run, as after a
    restart with a kept volume; False leaves the first init to `make up`,
    for the scenarios about a first init or a fresh clone.
    """
    from cookiecutter.main import cookiecutter

    from harness.stack import Stack

    standins = request.getfixturevalue("standin_images") if STANDINS else {}
    stacks, starts = [], []

    def make(*, initialised: bool, extra_files=(), production=False, **answers):
        if initialised and answers.get("db_storage", "volume") != "volume":
            raise ValueError("initialised=True copies into the named volume: db_storage=volume")
        output = base / f"bake{len(stacks)}"
        path = Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers,
                                 output_dir=str(output)))  # fmt: skip
        name = f"{STACK_PREFIX}{uuid.uuid4().hex[:10]}"
        images = images_for(standins, answers.get("database", "mysql-8.4"))
        stack = Stack(path, name, images, list(extra_files), production)
        stacks.append(stack)
        starts.append(STARTS[initialised])
        if initialised:
            request.getfixturevalue("initialised_databases").copy_into(stack)
        return stack

    started = time.monotonic()
    yield make
    SCENARIO_TIMES[request.node.nodeid] = (time.monotonic() - started, starts)
    for stack in stacks:
        stack.down()


def run_pid(config) -> int:
    """The test run's pid: under pytest-xdist, the controller's (pytest_configure_node)."""
    return getattr(config, "workerinput", {}).get("e2e_run_pid", os.getpid())


def seeds_folder(pid: int) -> Path:
    """Where the workers of run pid share their initialised databases' records."""
    return Path(tempfile.gettempdir()) / f"e2e{pid}-seeds"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    node.workerinput["e2e_run_pid"] = os.getpid()


@pytest.fixture(scope="session")
def initialised_databases(request, clean_engine):
    """The run's initialised databases (harness.initialised), shared by its
    workers; the run's own process removes them at its end."""
    from harness.initialised import InitialisedDatabases

    pid = run_pid(request.config)
    seeds_folder(pid).mkdir(exist_ok=True)
    return InitialisedDatabases(seeds_folder(pid), f"e2e{pid}x")


def remove_seeds(pid: int) -> None:
    """Remove run pid's initialised databases: their stacks and their folder."""
    for name in compose_projects():
        if name.startswith(f"e2e{pid}xseed"):
            remove_compose_project(name)
    shutil.rmtree(seeds_folder(pid), ignore_errors=True)


@pytest.fixture
def make_stack(request, clean_engine, tmp_path):
    """Bake a project and return a Stack for it; tear every stack down afterwards."""
    yield from stack_factory(request, tmp_path)


@pytest.fixture(scope="module")
def make_stack_module(request, clean_engine, tmp_path_factory):
    """Like make_stack, for a stack that a whole module's tests share."""
    yield from stack_factory(request, tmp_path_factory.mktemp("module"))


@pytest.fixture(scope="session")
def figures(request) -> dict:
    """Collect the figures scenarios measure; with --figures=PATH, save them there
    after a green run (`make reliability` turns them into docs/reliability.md)."""
    # Asked for now, not at teardown: by then the session's stand-ins are gone.
    images = request.getfixturevalue("standin_images") if STANDINS else {}
    collected: dict[str, dict] = {}
    yield collected
    path = request.config.getoption("--figures")
    if path and not request.session.testsfailed:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"groups": collected, "images": images}, indent=1))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """`make e2e-stacks` hands the workers one test at a time (--dist loadgroup),
    except the tests that share a module's stack (make_stack_module): they are
    one group, on one worker, and they go first, being the longest units of
    work; one started last would end the run alone."""
    for item in items:
        if "make_stack_module" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    items.sort(key=lambda item: "make_stack_module" not in item.fixturenames)


def pytest_sessionfinish(session):
    # An xdist worker hands its scenarios' times to the controller (workeroutput);
    # the run's own process, when every worker is done, removes the seeds.
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["scenario_times"] = json.dumps(SCENARIO_TIMES)
    elif seeds_folder(os.getpid()).exists():
        remove_seeds(os.getpid())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """Collect a finished xdist worker's scenario times (controller side)."""
    SCENARIO_TIMES.update(json.loads(node.workeroutput.get("scenario_times", "{}")))


def pytest_terminal_summary(terminalreporter):
    if SCENARIO_TIMES:
        terminalreporter.section("end-to-end scenario wall times")
        for nodeid, (seconds, starts) in SCENARIO_TIMES.items():
            # A scenario without a stack of its own (a module's shared one) says "-".
            database = "+".join(starts) or "-"
            terminalreporter.write_line(f"{seconds:7.1f} s  {database:<11}  {nodeid}")
