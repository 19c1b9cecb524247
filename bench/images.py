"""Image build times (cold, code-only change, dependency change) and image sizes."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from common import BENCH, PACKAGE, PROJECT, REPO, log, median, new_stack, timed

WEB_IMAGE = f"{PROJECT}-web"
NAIVE_IMAGE = f"{PROJECT}-naive"
# A real dependency change: add a small pure-Python package, a new pin each time.
SIX_VERSIONS = ("1.17.0", "1.16.0", "1.15.0", "1.14.0", "1.13.0")
RUNTIME_GROUP = "runtime = [\n"


def image_size(name: str) -> int:
    """Return an image's size in bytes."""
    output = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", name],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(output.strip())


def change_code(project: Path) -> None:
    """Change one source file (a unique comment: never a cache hit from an earlier run)."""
    api = project / PACKAGE / "api.py"
    api.write_text(api.read_text() + f"# bench {uuid.uuid4().hex}\n")


def change_dependencies(project: Path, original: str, version: str) -> None:
    """Add a pinned package to the runtime group (and a unique comment)."""
    assert RUNTIME_GROUP in original, "pyproject.toml changed: update bench/images.py"
    pin = f'{RUNTIME_GROUP}    "six=={version}",  # bench {uuid.uuid4().hex}\n'
    (project / "pyproject.toml").write_text(original.replace(RUNTIME_GROUP, pin, 1))


def relock(project: Path) -> None:
    """Update uv.lock after a pyproject.toml change, as `make lock` would (uv from .venv)."""
    uv = REPO / ".venv" / "bin" / "uv"  # the pinned uv `make venv` installs
    subprocess.run([str(uv), "lock", "--quiet"], cwd=project, check=True, timeout=600)


def builds(project: Path, images: dict[str, str], runs: int) -> dict:
    """Time cold builds, then rebuilds after a code-only and after a dependency change."""
    # The production image (docker-compose.yml alone): the one you ship.
    stack = new_stack(project, images, ("docker-compose.yml",))
    api, pyproject = project / PACKAGE / "api.py", project / "pyproject.toml"
    lock = project / "uv.lock"
    originals = {api: api.read_text(), pyproject: pyproject.read_text(), lock: lock.read_text()}
    cold, code, deps = [], [], []
    try:
        for run in range(runs):
            cold.append(timed(stack.compose, "build", "--no-cache", "web", timeout=1200))
            log(f"cold build {run + 1}/{runs}: {cold[-1]:.1f} s")
        for run in range(runs):
            change_code(project)
            code.append(timed(stack.compose, "build", "web", timeout=1200))
            log(f"code-only rebuild {run + 1}/{runs}: {code[-1]:.1f} s")
        for run in range(runs):
            change_dependencies(project, originals[pyproject], SIX_VERSIONS[run % 5])
            relock(project)  # the image installs from uv.lock alone
            deps.append(timed(stack.compose, "build", "web", timeout=1200))
            log(f"dependency rebuild {run + 1}/{runs}: {deps[-1]:.1f} s")
    finally:
        for path, text in originals.items():
            path.write_text(text)
    # Back to the pristine image, from the cache, for the size measure.
    stack.compose("build", "web", timeout=1200)
    cold_median = median(cold)
    return {
        "cold": cold,
        "code": code,
        "deps": deps,
        "code_ratio": median(code) / cold_median,
        "deps_ratio": median(deps) / cold_median,
    }


def sizes(project: Path, images: dict[str, str]) -> dict:
    """Compare the web image and a naive single-stage image with their common base."""
    log("naive single-stage image: build")
    subprocess.run(
        ["docker", "build", "--quiet", "-f", str(BENCH / "Dockerfile.naive"),
         "--build-arg", f"PYTHON_IMAGE={images['PYTHON_IMAGE']}",
         "--build-arg", f"PACKAGE={PACKAGE}", "-t", NAIVE_IMAGE, str(project)],
        capture_output=True, text=True, check=True, timeout=1200,
    )  # fmt: skip
    try:
        base = image_size(images["PYTHON_IMAGE"])
        web = image_size(WEB_IMAGE)
        naive = image_size(NAIVE_IMAGE)
    finally:
        subprocess.run(["docker", "rmi", NAIVE_IMAGE], capture_output=True)
    return {"base": base, "web": web, "naive": naive}
