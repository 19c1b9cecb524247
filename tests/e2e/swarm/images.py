"""Build the images of the Swarm test: its nodes and its proxy, without a registry.

`ensure_images(base)` returns {"NODE_IMAGE": ..., "PROXY_IMAGE": ...},
building what is missing FROM `base` (the python stand-in: a Debian 13
rootfs with apt). Each tag is a hash of its inputs (the Dockerfile, the base,
and for the node the engine binaries copied in), so a warm run only runs
`docker image inspect`, as the stand-ins of ../standins do.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from standins.build import StandinError, build_lock, image_exists, run

HERE = Path(__file__).resolve().parent
# The engine this machine runs (.ci/docker-up.sh: Debian sid's), for every
# node: the same release on each side of the test. runc stays Debian 13's.
ENGINE_BINARIES = ("dockerd", "docker-proxy", "containerd", "containerd-shim-runc-v2", "docker")


def engine_binaries() -> list[Path]:
    """Return the engine's binaries on PATH, links resolved."""
    paths = []
    for name in ENGINE_BINARIES:
        found = shutil.which(name)
        if found is None:
            raise StandinError(f"`{name}` not found on PATH: run .ci/docker-up.sh")
        paths.append(Path(found).resolve())
    return paths


def tag(name: str, base: str, files: list[Path]) -> str:
    """Name an image after its Dockerfile, its base and the files copied into it."""
    h = hashlib.sha256()
    for part in [(HERE / name / "Dockerfile").read_bytes(), base.encode()]:
        h.update(len(part).to_bytes(8, "big") + part)
    for path in files:
        with path.open("rb") as handle:
            h.update(path.name.encode() + hashlib.file_digest(handle, "sha256").digest())
    return f"e2e-swarm-{name}:{h.hexdigest()[:16]}"


def build(name: str, base: str, image: str, files: list[Path]) -> None:
    """docker build of HERE/name with files in its context's bin/."""
    with tempfile.TemporaryDirectory(prefix=f"e2e-swarm-{name}-") as context:
        shutil.copy(HERE / name / "Dockerfile", context)
        (Path(context) / "bin").mkdir()
        for path in files:
            shutil.copy(path, Path(context) / "bin" / path.name)
        labels = ["--label", f"e2e.standin=swarm-{name}"]
        run(["docker", "build", "-q", "--build-arg", f"BASE={base}", *labels, "-t", image,
             context])  # fmt: skip


def ensure_images(base: str) -> dict[str, str]:
    """Build the node and proxy images if missing; return their names."""
    binaries = engine_binaries()
    wanted = {"NODE_IMAGE": ("node", binaries), "PROXY_IMAGE": ("haproxy", [])}
    images = {key: tag(name, base, files) for key, (name, files) in wanted.items()}
    with build_lock():
        for key, (name, files) in wanted.items():
            if not image_exists(images[key]):
                build(name, base, images[key], files)
    return images
