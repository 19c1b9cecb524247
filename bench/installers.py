"""pip against uv, side by side: cold build, rebuilds after a code-only and a one-dependency
change, and the image's size over its base."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

from common import BENCH, PACKAGE, PROJECT, log, median, timed
from images import SIX_VERSIONS, change_code, change_dependencies, image_size, relock

# pip: the image as it was built before uv.lock; uv: the baked Dockerfile as it is.
DOCKERFILES = {"pip": BENCH / "Dockerfile.pip", "uv": Path("Dockerfile")}
CACHE_MOUNT = re.compile(r"--mount=type=cache,(?:id=[^,]+,)?target=/root/\.cache/uv")


def empty_download_cache(project: Path) -> None:
    """Point uv's cache mount at a new, empty one: a cold build downloads everything."""
    # --no-cache drops the layer cache but keeps cache mounts; a fresh id does not.
    dockerfile = project / "Dockerfile"
    mount = f"--mount=type=cache,id=bench-{uuid.uuid4().hex},target=/root/.cache/uv"
    dockerfile.write_text(CACHE_MOUNT.sub(mount, dockerfile.read_text()))


def build(project: Path, images: dict[str, str], installer: str, cold: bool = False) -> float:
    """Build the production image with one installer; return the seconds it took."""
    args = [f"PYTHON_IMAGE={images['PYTHON_IMAGE']}", f"PACKAGE={PACKAGE}"]
    if images.get("UV_IMAGE"):
        args.append(f"UV_IMAGE={images['UV_IMAGE']}")
    command = ["docker", "build", "--quiet", "-f", str(project / DOCKERFILES[installer]),
               *(f"--build-arg={arg}" for arg in args), "-t", f"{PROJECT}-{installer}",
               *(["--no-cache"] if cold else []), str(project)]  # fmt: skip
    return timed(subprocess.run, command, capture_output=True, text=True, check=True, timeout=1200)


def installers(project: Path, images: dict[str, str], runs: int) -> dict:
    """Time both installers' builds, alternating, on the same bake and base."""
    figures = {name: {"cold": [], "code": [], "deps": []} for name in DOCKERFILES}
    pyproject, lock = project / "pyproject.toml", project / "uv.lock"
    originals = {path: path.read_text() for path in (pyproject, lock, project / "Dockerfile")}
    locks = []
    try:
        for run in range(runs):
            empty_download_cache(project)
            for name in DOCKERFILES:
                figures[name]["cold"].append(build(project, images, name, cold=True))
                log(f"{name} cold build {run + 1}/{runs}: {figures[name]['cold'][-1]:.1f} s")
        for run in range(runs):
            change_code(project)
            for name in DOCKERFILES:
                figures[name]["code"].append(build(project, images, name))
                log(f"{name} code-only rebuild {run + 1}/{runs}: {figures[name]['code'][-1]:.1f} s")
        for run in range(runs):
            change_dependencies(project, originals[pyproject], SIX_VERSIONS[run % 5])
            # uv builds from the lock: re-locking is the developer's step (`make add`).
            locks.append(timed(relock, project))
            for name in DOCKERFILES:
                figures[name]["deps"].append(build(project, images, name))
                log(
                    f"{name} dependency rebuild {run + 1}/{runs}: {figures[name]['deps'][-1]:.1f} s"
                )
        for path, text in originals.items():
            path.write_text(text)
        base = image_size(images["PYTHON_IMAGE"])
        for name in DOCKERFILES:
            build(project, images, name)  # the pristine image again, for its size
            figures[name]["over_base"] = image_size(f"{PROJECT}-{name}") - base
    finally:
        for path, text in originals.items():
            path.write_text(text)
        for name in DOCKERFILES:
            subprocess.run(["docker", "rmi", f"{PROJECT}-{name}"], capture_output=True)
    return {"base": base, "lock": locks, **figures, "lock_median": median(locks)}
