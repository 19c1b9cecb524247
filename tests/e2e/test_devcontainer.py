"""The dev container (.devcontainer/): what an editor does with it, through the Dev Containers CLI.

`devcontainer up` on a fresh bake brings up `make up`'s stack (the
development web service and its database, from the bake's Compose files),
and `devcontainer exec` runs the project's tests and a `flask db` command
in it, as the image's tools, as a user who is not root.
"""

import json
import uuid
from functools import partial
from pathlib import Path

import pytest

from harness.stack import wait_until

# Installed from tests/devcontainer/package-lock.json by `make venv`.
CLI = Path(__file__).resolve().parents[1] / "devcontainer/node_modules/.bin/devcontainer"


@pytest.fixture
def devcontainer(make_stack):
    """devcontainer(subcommand, *args): the CLI in a fresh bake's folder, on its stack."""
    if not CLI.exists():
        pytest.fail(f"{CLI} is missing: `make venv` installs it", pytrace=False)
    # Opening a project in an editor is not about a first init: an initialised database.
    stack = make_stack(initialised=True)

    def run(subcommand: str, *args: str, timeout: float = 900):
        command = [str(CLI), subcommand, "--workspace-folder", ".", *args]
        return stack.run(command, timeout=timeout, check=True)

    run.stack = stack
    return run


def test_an_editor_opens_the_stack_and_runs_the_tests_and_flask_db_in_it(devcontainer):
    stack = devcontainer.stack
    up = devcontainer("up")
    outcome = json.loads(up.stdout.strip().splitlines()[-1])
    assert outcome["outcome"] == "success", up.stdout[-2000:]
    assert outcome["composeProjectName"] == stack.name
    assert outcome["remoteWorkspaceFolder"] == "/app"

    # make up's stack, on the port make up publishes: the development server
    # answers once it has migrated the database.
    def healthy() -> bool:
        try:
            return stack.http("GET", "/health").status == 200
        except OSError:  # Docker's port accepts before gunicorn listens, then resets
            return False

    wait_until(healthy, timeout=300, what="web on WEB_PORT")
    assert set(stack.compose("ps", "--services").stdout.split()) == {"db", "web"}

    def inside(*command: str, timeout: float = 900) -> str:
        return devcontainer("exec", *command, timeout=timeout).stdout

    # Not root, and the image's tools first on the PATH an editor's terminal gets.
    assert inside("id", "-u").strip() != "0"
    assert inside("sh", "-c", "command -v python").strip() == "/opt/venv/bin/python"

    tests = inside("pytest", "-q")
    assert " passed" in tests.splitlines()[-1] and "failed" not in tests, tests[-3000:]

    assert "(head)" in inside("flask", "db", "current")

    # The server reloads on every save, not the first one only: each reload
    # sets up gunicorn's logging again in its master, which must not keep
    # the project's modules for the next workers to inherit.
    (module,) = stack.path.glob("*/health.py")
    original = module.read_text()
    for _ in range(2):
        token = uuid.uuid4().hex
        module.write_text(original + SAVED_ROUTE.format(token=token))
        wait_until(partial(serves, stack, token), 60, 0.2, "the saved route, reloaded")


SAVED_ROUTE = """

@bp.get("/health/saved")
def saved():
    return {{"token": "{token}"}}
"""


def serves(stack, token: str) -> bool:
    try:  # while the reloader restarts, nothing listens for a moment
        return stack.http("GET", "/health/saved", timeout=2).body.get("token") == token
    except OSError:
        return False
