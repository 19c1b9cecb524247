"""The web image is built from uv.lock alone, and the dependency loop runs in a container."""

import json
import os
import shutil
import tomllib

import pytest

# What the image's venv holds: distribution name and version, normalised as uv.lock writes them.
INSTALLED = """
import importlib.metadata as m, json, re
print(json.dumps({re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version
                  for d in m.distributions()}))
"""


def locked(project) -> dict[str, str]:
    packages = tomllib.loads((project / "uv.lock").read_text())["package"]
    return {p["name"]: p["version"] for p in packages if "registry" in p["source"]}


def test_the_production_image_holds_the_locked_packages_and_no_installer(make_stack):
    # Its own project name: its image tag is shared with no other test. No
    # database runs here: nothing to initialise.
    stack = make_stack(initialised=False, production=True, project="imgcheck", package="imgcheck")
    stack.compose("build", "web", timeout=1200)
    image = "imgcheck-web"

    def in_image(*command: str) -> str:
        return stack.run(["docker", "run", "--rm", "--entrypoint", command[0], image,
                          *command[1:]], check=True).stdout  # fmt: skip

    installed = json.loads(in_image("python", "-c", INSTALLED))
    lock = locked(stack.path)
    assert {name: lock.get(name) for name in installed} == installed
    # The runtime group and what it pulls in; not the dev group.
    assert {"flask", "werkzeug", "jinja2", "click", "cffi", "pycparser", "markupsafe"} <= set(
        installed
    )
    assert "pytest" not in installed and "ruff" not in installed
    # No installer ships: neither uv nor pip, in the venv or on PATH.
    assert "pip" not in installed
    script = "command -v uv || command -v pip || echo none"
    missing = stack.run(["docker", "run", "--rm", "--entrypoint", "sh", image, "-c", script],
                        check=True).stdout  # fmt: skip
    assert missing.strip() == "none"
    # Bytecode compiled at build time: the app user could not write it later.
    pyc = in_image("sh", "-c", "ls /opt/venv/lib/python3*/site-packages/flask/__pycache__")
    assert ".pyc" in pyc
    assert in_image("id", "-un").strip() == "app"


def test_the_dependency_loop_runs_in_a_container_and_writes_files_you_own(make_stack):
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH: `make venv` installs the pinned one into .venv")
    stack = make_stack(initialised=False, project="loopcheck", package="loopcheck")
    # A user other than the test's, to see whose files the container writes.
    os.chmod(stack.path, 0o777)
    for name in ("pyproject.toml", "uv.lock"):
        os.chmod(stack.path / name, 0o666)
    owner = {"HOST_UID": "4321", "HOST_GID": "4321"}
    stack.make("add", "package=six==1.16.0", timeout=1200, **owner)
    # `make add` adds to the runtime group, which the image installs.
    groups = tomllib.loads((stack.path / "pyproject.toml").read_text())["dependency-groups"]
    assert "six==1.16.0" in groups["runtime"]
    assert locked(stack.path)["six"] == "1.16.0"
    stat = (stack.path / "uv.lock").stat()
    assert (stat.st_uid, stat.st_gid) == (4321, 4321)
    check = stack.run([uv, "lock", "--check", "--offline"], check=False)
    assert check.returncode == 0, check.stderr
    # Loosen the pin by hand, then move the one package: the others stay put.
    pyproject = stack.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"six==1.16.0"', '"six>=1.16"'))
    before = locked(stack.path)
    stack.make("upgrade-deps", "package=six", **owner)
    after = locked(stack.path)
    assert after.pop("six") != before.pop("six")
    assert after == before
    outdated = stack.make("outdated", **owner)
    assert "Every locked package is at its newest release." in outdated.stdout or (
        "(latest:" in outdated.stdout
    )
